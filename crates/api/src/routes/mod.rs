//! The HTTP routes, one module per area of the API. Each area declares its
//! routes in one table that both the router and [`table_routes`] read, so
//! that no route can be served without the OpenAPI test seeing it.

pub(crate) mod admin;
mod auth;
mod currency;
mod health;
mod pagination;
mod payments;
mod sessions;
mod tokens;
mod usage;
mod users;

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, Resource, Route, web};
use utoipa::OpenApi;

use crate::error::ApiError;

/// Method, path with `{…}` placeholders, and the handler the method's
/// route gets.
pub(crate) type Endpoint = (Method, &'static str, fn(Route) -> Route);

/// Where the JSON API is mounted.
pub(crate) const API_PREFIX: &str = "/api/v1";

/// One area under [`API_PREFIX`]: its routes, and the OpenAPI paths of the
/// same handlers (relative to the prefix, like the routes).
struct Area {
    routes: &'static [Endpoint],
    openapi: fn() -> utoipa::openapi::OpenApi,
}

/// The areas under [`API_PREFIX`] outside the admin scope, in routing order.
const API_AREAS: [Area; 7] = [
    Area {
        routes: auth::ROUTES,
        openapi: auth::Api::openapi,
    },
    Area {
        routes: users::ROUTES,
        openapi: users::Api::openapi,
    },
    Area {
        routes: sessions::ROUTES,
        openapi: sessions::Api::openapi,
    },
    Area {
        routes: currency::ROUTES,
        openapi: currency::Api::openapi,
    },
    Area {
        routes: payments::ROUTES,
        openapi: payments::Api::openapi,
    },
    Area {
        routes: tokens::ROUTES,
        openapi: tokens::Api::openapi,
    },
    Area {
        routes: usage::ROUTES,
        openapi: usage::Api::openapi,
    },
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    for resource in resources(health::ROUTES) {
        cfg.service(resource);
    }
    cfg.service(web::scope(API_PREFIX).configure(|cfg| {
        for area in &API_AREAS {
            for resource in resources(area.routes) {
                cfg.service(resource);
            }
        }
        admin::configure(cfg);
    }));
    crate::openapi::configure(cfg);
}

/// One resource per path, in table order, so that a path's methods share
/// it (and a method it lacks gets the resource's 405).
pub(crate) fn resources(routes: &'static [Endpoint]) -> Vec<Resource> {
    let mut paths: Vec<&'static str> = Vec::new();
    for (_, path, _) in routes {
        if !paths.contains(path) {
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            routes
                .iter()
                .filter(|(_, p, _)| *p == path)
                .fold(web::resource(path), |resource, (method, _, to)| {
                    resource.route(to(web::method(method.clone())))
                })
        })
        .collect()
}

/// Every route of the tables above, as `(method, full path)`.
pub(crate) fn table_routes() -> Vec<(Method, String)> {
    let full = |prefix: &str, routes: &[Endpoint]| -> Vec<(Method, String)> {
        routes
            .iter()
            .map(|(method, path, _)| (method.clone(), format!("{prefix}{path}")))
            .collect()
    };
    let mut all = full("", health::ROUTES);
    for area in &API_AREAS {
        all.extend(full(API_PREFIX, area.routes));
    }
    all.extend(full(&admin_prefix(), admin::ROUTES));
    all
}

/// The OpenAPI paths of every route in the tables, at their full paths.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    let api = API_AREAS
        .iter()
        .fold(utoipa::openapi::OpenApi::default(), |api, area| {
            api.merge_from((area.openapi)())
        });
    health::Api::openapi()
        .nest(API_PREFIX, api)
        .nest(admin_prefix(), admin::Api::openapi())
}

fn admin_prefix() -> String {
    format!("{API_PREFIX}{}", admin::SCOPE)
}

/// For responses that carry a credential (a JWT, a token secret): no cache
/// along the way may keep a copy.
pub(crate) fn no_store() -> header::CacheControl {
    header::CacheControl(vec![header::CacheDirective::NoStore])
}

/// Unknown routes and methods answer problem+json too.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("No such endpoint"))
}

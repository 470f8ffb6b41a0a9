//! The operators' API: every route sits behind one superuser
//! guard, and every route comes from one table, so that neither the guard
//! nor the tests that prove it can miss a route added later.

mod audit;
mod jobs;
mod sessions;
mod tokens;
mod usage;
mod users;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;
use zenzefi_domain::admin::Owner;
use zenzefi_domain::page::{Keyed, Page, Paged};
use zenzefi_domain::validation::ValidationErrors;

use super::pagination::{CursorQuery, PageQuery, PagedResponse};
use super::{Endpoint, resources};
use crate::extract::require_superuser;

/// Where the scope is mounted, under `/api/v1`.
pub(super) const SCOPE: &str = "/admin";

/// Paths relative to [`SCOPE`].
pub(super) const ROUTES: &[Endpoint] = &[
    (Method::GET, "/users", |r| r.to(users::list)),
    (Method::GET, "/users/{user_id}", |r| r.to(users::get)),
    (Method::PATCH, "/users/{user_id}", |r| r.to(users::update)),
    (Method::GET, "/users/{user_id}/transactions", |r| {
        r.to(users::ledger)
    }),
    (Method::GET, "/tokens", |r| r.to(tokens::list)),
    (Method::DELETE, "/tokens/{token_id}", |r| {
        r.to(tokens::force_revoke)
    }),
    (Method::PATCH, "/tokens/{token_id}", |r| {
        r.to(tokens::set_rate_limit)
    }),
    (Method::GET, "/audit-logs", |r| r.to(audit::list)),
    (Method::GET, "/audit-logs/export", |r| r.to(audit::export)),
    (Method::GET, "/sessions", |r| r.to(sessions::list)),
    (Method::GET, "/jobs", |r| r.to(jobs::last_successes)),
    (Method::DELETE, "/sessions/{session_id}", |r| {
        r.to(sessions::terminate)
    }),
    (Method::GET, "/usage", |r| r.to(usage::series)),
    (Method::GET, "/usage/top", |r| r.to(usage::top)),
];

/// Every admin route as `(method, path)`, the path relative to
/// `/api/v1/admin` with `{…}` placeholders.
pub fn admin_routes() -> Vec<(Method, &'static str)> {
    ROUTES
        .iter()
        .map(|(method, path, _)| (method.clone(), *path))
        .collect()
}

/// The OpenAPI paths of [`ROUTES`], relative to the scope like them.
#[derive(OpenApi)]
#[openapi(paths(
    users::list,
    users::get,
    users::update,
    users::ledger,
    tokens::list,
    tokens::force_revoke,
    tokens::set_rate_limit,
    audit::list,
    audit::export,
    sessions::list,
    sessions::terminate,
    jobs::last_successes,
    usage::series,
    usage::top,
))]
pub(super) struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let guarded = web::scope(SCOPE).wrap(from_fn(require_superuser));
    cfg.service(
        resources(ROUTES)
            .into_iter()
            .fold(guarded, |scope, resource| scope.service(resource)),
    );
}

/// The owner of a listed row, next to the row's own fields.
#[derive(Serialize, ToSchema)]
struct OwnerFields {
    user_email: Option<String>,
    user_username: Option<String>,
}

impl From<Option<Owner>> for OwnerFields {
    fn from(owner: Option<Owner>) -> Self {
        let (user_email, user_username) = owner.map(|o| (o.email, o.username)).unzip();
        Self {
            user_email,
            user_username,
        }
    }
}

/// A listing's query: the page, and the listing's own filters beside it.
/// An operation documents it as `params(PageQuery, CursorQuery, F)`: IntoParams cannot
/// flatten.
#[derive(Deserialize)]
struct Listing<F> {
    #[serde(flatten)]
    page: PageQuery,
    #[serde(flatten)]
    cursor: CursorQuery,
    #[serde(flatten)]
    filters: F,
}

impl<F> Listing<F> {
    /// The page and what `read` makes of the filters, or every problem
    /// with either at once.
    fn read<T>(
        &self,
        read: impl FnOnce(&F, &mut Checked) -> T,
    ) -> Result<(Page, T), ValidationErrors> {
        let mut checked = Checked::default();
        let page = checked.page(&self.page, &self.cursor);
        let filters = read(&self.filters, &mut checked);
        checked.done()?;
        Ok((page, filters))
    }
}

/// A listing's answer: one page of rows, each shown as `item` makes it,
/// and the cursor of the next.
fn page_of<D: Keyed, T: Serialize>(
    rows: Paged<D>,
    page: Page,
    item: impl FnMut(D) -> T,
) -> HttpResponse {
    HttpResponse::Ok().json(PagedResponse::keyed(rows, page, item))
}

/// Query values read into typed ones, every problem collected so that a
/// client sees all of them at once. A value that failed reads as absent;
/// [`Checked::done`] then refuses the request.
#[derive(Default)]
pub(in crate::routes) struct Checked(ValidationErrors);

impl Checked {
    fn page(&mut self, query: &PageQuery, cursor: &CursorQuery) -> Page {
        let page = query.parse().unwrap_or_else(|errors| {
            self.0.0.extend(errors.0);
            Page::default()
        });
        let after = cursor.parse().unwrap_or_else(|errors| {
            self.0.0.extend(errors.0);
            None
        });
        Page { after, ..page }
    }

    pub(in crate::routes) fn uuid(
        &mut self,
        field: &'static str,
        raw: Option<&str>,
    ) -> Option<Uuid> {
        self.read(field, raw, |s| {
            Uuid::parse_str(s).map_err(|_| "must be a UUID".to_owned())
        })
    }

    pub(in crate::routes) fn flag(
        &mut self,
        field: &'static str,
        raw: Option<&str>,
    ) -> Option<bool> {
        self.read(field, raw, |s| match s {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        })
    }

    pub(in crate::routes) fn instant(
        &mut self,
        field: &'static str,
        raw: Option<&str>,
    ) -> Option<OffsetDateTime> {
        self.read(field, raw, |s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| "must be an RFC 3339 date-time, e.g. 2025-01-31T12:00:00Z".to_owned())
        })
    }

    /// One of a closed set of values, named in the message when it is not.
    pub(in crate::routes) fn one_of<T: Copy>(
        &mut self,
        field: &'static str,
        raw: Option<&str>,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        self.read(field, raw, |s| {
            all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| {
                let names: Vec<_> = all.iter().map(|v| name(*v)).collect();
                format!("must be one of: {}", names.join(", "))
            })
        })
    }

    pub(in crate::routes) fn read<T>(
        &mut self,
        field: &'static str,
        raw: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.0.check(field, raw.map(parse).transpose()).flatten()
    }

    pub(in crate::routes) fn done(self) -> Result<(), ValidationErrors> {
        if self.0.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

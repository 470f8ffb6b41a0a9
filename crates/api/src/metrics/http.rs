//! `zenzefi_http_requests_total` for every response, labelled by the route
//! template that matched, never by the raw path.

use actix_web::Error;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use metrics::{Counter, counter};

use super::{HTTP_REQUESTS_TOTAL, method_label};

/// What a request that matched no route is labelled with.
const UNMATCHED: &str = "<unmatched>";

/// Counts one finished request (`method` as it came in) by route and status.
pub fn count_response<B>(method: &Method, outcome: &Result<ServiceResponse<B>, Error>) {
    let method = method_label(method);
    let (route, status) = match outcome {
        Ok(res) => (route_label(res.request()), res.status()),
        Err(err) => (
            Cow::Borrowed(UNMATCHED),
            err.as_response_error().status_code(),
        ),
    };
    let status = status.as_u16();
    SERIES.with_borrow_mut(|series| {
        let by_route = match series.get_mut(route.as_ref()) {
            Some(by_route) => by_route,
            None => series.entry(route.clone().into_owned()).or_default(),
        };
        by_route
            .entry((method, status))
            .or_insert_with(|| {
                counter!(
                    HTTP_REQUESTS_TOTAL,
                    "method" => method,
                    "route" => route.into_owned(),
                    "status" => status.to_string(),
                )
            })
            .increment(1);
    });
}

type SeriesByRoute = HashMap<String, HashMap<(&'static str, u16), Counter>>;

thread_local! {
    /// Series handles per worker thread (see `super::proxied`); routes are
    /// templates, so the map stays as small as the router.
    static SERIES: RefCell<SeriesByRoute> = RefCell::default();
}

/// The route template of a request, as metrics and the access log name it:
/// the proxy's catch-all has one fixed label (and is the hot path, so it
/// skips the router's pattern lookup and its allocation).
pub fn route_label(req: &actix_web::HttpRequest) -> Cow<'static, str> {
    let path = req.path();
    if path.starts_with(crate::proxy::PREFIX) && path != "/api/v1/proxy/status" {
        return Cow::Borrowed(crate::proxy::ROUTE_TEMPLATE);
    }
    req.match_pattern()
        .map_or(Cow::Borrowed(UNMATCHED), Cow::Owned)
}

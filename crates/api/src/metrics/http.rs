//! `zenzefi_http_requests_total` for every response, labelled by the route
//! template that matched, never by the raw path.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics::counter;

use super::{HTTP_REQUESTS_TOTAL, method_label};

/// What a request that matched no route is labelled with.
const UNMATCHED: &str = "<unmatched>";

pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = method_label(req.method());
    // Handler and extractor errors arrive here as responses already.
    let outcome = next.call(req).await;
    let (route, status) = match &outcome {
        Ok(res) => (res.request().match_pattern(), res.status()),
        Err(err) => (None, err.as_response_error().status_code()),
    };
    counter!(
        HTTP_REQUESTS_TOTAL,
        "method" => method,
        "route" => route.unwrap_or_else(|| UNMATCHED.to_owned()),
        "status" => status.as_u16().to_string(),
    )
    .increment(1);
    outcome
}

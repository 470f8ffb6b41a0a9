use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures::future::{Ready, ready};
use zenzefi_domain::RequestContext;

use crate::request_id::RequestId;
use crate::state::AppState;

/// User agents are kept for operators, cut to a bounded length.
const MAX_USER_AGENT_CHARS: usize = 512;

/// Where a request comes from, as the domain records it.
pub struct Client(pub RequestContext);

impl FromRequest for Client {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Client(request_context(req))))
    }
}

pub fn request_context(req: &HttpRequest) -> RequestContext {
    let ip = match req.app_data::<actix_web::web::Data<AppState>>() {
        Some(state) => state.forwarding.client_ip(req),
        None => req.peer_addr().map(|a| a.ip()),
    };
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    RequestContext {
        ip,
        user_agent,
        request_id,
    }
}

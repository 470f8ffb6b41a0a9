use std::net::IpAddr;

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

fn request_context(req: &HttpRequest) -> RequestContext {
    RequestContext {
        ip: client_ip(req),
        user_agent: user_agent(req).map(str::to_owned),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned()),
    }
}

/// The client's address as the gateway vouches for it (see `Forwarding`).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    match req.app_data::<actix_web::web::Data<AppState>>() {
        Some(state) => state.forwarding.client_ip(req),
        None => req.peer_addr().map(|a| a.ip()),
    }
}

/// `User-Agent`, cut to `MAX_USER_AGENT_CHARS` characters; borrowed, so
/// the proxy pays for a copy only where one is kept.
pub fn user_agent(req: &HttpRequest) -> Option<&str> {
    let ua = req.headers().get(header::USER_AGENT)?.to_str().ok()?;
    Some(match ua.char_indices().nth(MAX_USER_AGENT_CHARS) {
        Some((cut, _)) => &ua[..cut],
        None => ua,
    })
}

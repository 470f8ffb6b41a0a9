//! The operators' web console (SPEC §15): a few static files compiled into
//! the binary and served under `/admin/`. The page is a client of the admin
//! API, so it holds no authority of its own; these routes serve files only.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// Where the console is mounted.
pub const PREFIX: &str = "/admin";

/// No inline script or style and nothing from another origin: the page
/// talks to the API it was served from and to nothing else.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

/// `(file name, content type, bytes)`; the first one is the page itself.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../console/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../console/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../console/favicon.svg"),
    ),
];

/// The console's routes as `(method, path)`, as the router has them.
pub fn routes() -> Vec<(Method, String)> {
    [
        PREFIX.to_owned(),
        format!("{PREFIX}/"),
        format!("{PREFIX}/{{file}}"),
    ]
    .into_iter()
    .map(|path| (Method::GET, path))
    .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PREFIX).route(web::get().to(redirect)))
        .service(web::resource(format!("{PREFIX}/")).route(web::get().to(page)))
        .service(web::resource(format!("{PREFIX}/{{file}}")).route(web::get().to(asset)));
}

/// `/admin` → `/admin/`, so that the page's relative asset URLs resolve.
async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, format!("{PREFIX}/")))
        .finish()
}

async fn page() -> HttpResponse {
    let (_, content_type, bytes) = ASSETS[0];
    served(content_type, bytes)
}

async fn asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match ASSETS.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, bytes)) => Ok(served(content_type, bytes)),
        None => Err(ApiError::not_found("No such console file")),
    }
}

/// Every file with the strict headers; `no-cache` so that a new binary's
/// files are picked up at once (they are small and revalidated cheaply).
fn served(content_type: &'static str, bytes: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(bytes)
}

#[cfg(test)]
mod tests {
    use zenzefi_domain::audit::{AuditAction, ResourceType};

    /// The quoted strings of `const NAME = [ … ];` in the console's script.
    fn script_list(name: &str) -> Vec<String> {
        let script = include_str!("../console/app.js");
        let start = format!("const {name} = [");
        let rest = &script[script.find(&start).expect(name) + start.len()..];
        rest[..rest.find("];").expect("the list's end")]
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    }

    #[test]
    fn the_audit_filters_offer_exactly_the_domains_values() {
        let actions: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(script_list("AUDIT_ACTIONS"), actions);
        let kinds: Vec<_> = ResourceType::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(script_list("RESOURCE_TYPES"), kinds);
    }
}

//! Which headers cross the proxy, in each direction (RFC 9110 §7.6.1).

/// Headers that describe one connection, never the message.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The gateway's own credentials; the upstream never sees them.
pub const ACCESS_TOKEN: &str = "x-access-token";
pub const DEVICE_ID: &str = "x-device-id";

/// Names looked up on every request, parsed once (the client's side) or
/// written as they are (the upstream's).
pub mod names {
    pub mod client {
        use actix_web::http::header::HeaderName;

        pub const ACCESS_TOKEN: HeaderName = HeaderName::from_static(super::super::ACCESS_TOKEN);
        pub const DEVICE_ID: HeaderName = HeaderName::from_static(super::super::DEVICE_ID);
    }

    pub mod upstream {
        pub const FORWARDED_FOR: &str = "x-forwarded-for";
        pub const FORWARDED_PROTO: &str = "x-forwarded-proto";
        pub const FORWARDED_HOST: &str = "x-forwarded-host";
        pub const REQUEST_ID: &str = "x-request-id";
    }
}

/// The lowercase header names listed by a message's `Connection` values.
pub fn connection_named<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Whether a header (lowercase `name`) of a message is end-to-end: not
/// hop-by-hop, not named by the message's `Connection` (`named`), not in
/// `also_drop`.
pub fn is_end_to_end(name: &str, named: &[String], also_drop: &[&str]) -> bool {
    !HOP_BY_HOP.contains(&name) && !also_drop.contains(&name) && !named.iter().any(|n| n == name)
}

/// Request headers the gateway replaces or consumes. `Forwarded` and
/// `X-Real-IP` are never believed, so never passed on either.
pub const REQUEST_DROPS: [&str; 9] = [
    ACCESS_TOKEN,
    DEVICE_ID,
    "host",
    "forwarded",
    "x-real-ip",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
];

/// Response headers the gateway sets itself: framing follows the body it
/// streams, and the request id is the gateway's.
pub const RESPONSE_DROPS: [&str; 2] = ["content-length", "x-request-id"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("connection", b"keep-alive, X-Secret-Hop"),
            ("x-secret-hop", b"1"),
            ("keep-alive", b"timeout=5"),
            ("transfer-encoding", b"chunked"),
            ("x-access-token", b"zzf_secret"),
            ("set-cookie", b"a=1"),
            ("set-cookie", b"b=2"),
            ("content-type", b"text/plain"),
        ];
        let named = connection_named(
            headers
                .iter()
                .filter(|(name, _)| *name == "connection")
                .map(|(_, value)| *value),
        );
        let kept: Vec<_> = headers
            .iter()
            .filter(|(name, _)| is_end_to_end(name, &named, &REQUEST_DROPS))
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v)))
            .collect();
        assert_eq!(
            kept,
            [
                "set-cookie: a=1",
                "set-cookie: b=2",
                "content-type: text/plain"
            ]
        );
    }
}

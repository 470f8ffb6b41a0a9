//! What forwarding headers are believed: only those a trusted
//! proxy (`server.trusted_proxies`) passes on, read from the nearest hop
//! outwards, so a client can add addresses but never displace real ones.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use zenzefi_bootstrap::TrustedProxies;

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The trusted proxies and the public origin that stands in for what an
/// untrusted client claims.
pub struct Forwarding {
    trusted: TrustedProxies,
    public_proto: String,
    public_host: String,
}

impl Forwarding {
    pub fn new(trusted: TrustedProxies, public_proto: &str, public_host: &str) -> Self {
        Self {
            trusted,
            public_proto: public_proto.to_owned(),
            public_host: public_host.to_owned(),
        }
    }

    /// The client's address: the rightmost `X-Forwarded-For` entry that is
    /// not a trusted proxy when the peer is one, else the peer.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        self.vouched(req).last()
    }

    /// The addresses the gateway vouches for, client first and the peer
    /// last: what the upstream gets as `X-Forwarded-For`.
    pub fn chain(&self, req: &HttpRequest) -> Vec<IpAddr> {
        let mut chain: Vec<IpAddr> = self.vouched(req).collect();
        chain.reverse();
        chain
    }

    /// `X-Forwarded-Proto` and `-Host` for the upstream: a trusted proxy's
    /// (the value it added last), else `server.public_url`'s.
    pub fn proto_and_host<'a>(&'a self, req: &'a HttpRequest) -> (&'a str, &'a str) {
        let from_proxy = self.peer_is_trusted(req);
        let supplied = |name: HeaderName| {
            from_proxy
                .then(|| last_value(req, name))
                .flatten()
                .filter(|value| !value.is_empty())
        };
        (
            supplied(FORWARDED_PROTO).unwrap_or(&self.public_proto),
            supplied(FORWARDED_HOST).unwrap_or(&self.public_host),
        )
    }

    fn peer_is_trusted(&self, req: &HttpRequest) -> bool {
        req.peer_addr()
            .is_some_and(|peer| self.trusted.contains(peer.ip()))
    }

    /// The peer, then `X-Forwarded-For` from right to left for as long as
    /// the address before was a trusted proxy and each entry is an address.
    fn vouched<'a>(&'a self, req: &'a HttpRequest) -> impl Iterator<Item = IpAddr> + 'a {
        let peer = req.peer_addr().map(|peer| peer.ip().to_canonical());
        // Headers are only read behind a trusted proxy.
        let values: Vec<&[u8]> = if self.peer_is_trusted(req) {
            req.headers()
                .get_all(FORWARDED_FOR)
                .map(|value| value.as_bytes())
                .collect()
        } else {
            Vec::new()
        };
        let entries = values
            .into_iter()
            .rev()
            .flat_map(|value| value.rsplit(|byte| *byte == b','))
            .map(parse_entry);
        peer.map(Some)
            .into_iter()
            .chain(entries)
            .scan(true, |open, ip| {
                if !*open {
                    return None;
                }
                let ip = ip?;
                *open = self.trusted.contains(ip);
                Some(ip)
            })
    }
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

/// The last comma-separated value of the last `name` header.
fn last_value(req: &HttpRequest, name: HeaderName) -> Option<&str> {
    let value = req.headers().get_all(name).last()?.to_str().ok()?;
    value.rsplit(',').next().map(str::trim)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn forwarding(trusted: &[&str]) -> Forwarding {
        let trusted: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
        Forwarding::new(
            TrustedProxies::parse(&trusted).unwrap(),
            "https",
            "gw.example",
        )
    }

    fn request(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:40000").parse().unwrap());
        for (name, value) in headers {
            req = req.append_header((*name, *value));
        }
        req.to_http_request()
    }

    fn shown(chain: Vec<IpAddr>) -> Vec<String> {
        chain.into_iter().map(|ip| ip.to_string()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let edge = forwarding(&["10.0.0.0/8"]);
        let req = request(
            "203.0.113.9",
            &[
                ("x-forwarded-for", "10.0.0.1"),
                ("x-forwarded-host", "evil.example"),
            ],
        );
        assert_eq!(shown(edge.chain(&req)), ["203.0.113.9"]);
        assert_eq!(edge.proto_and_host(&req), ("https", "gw.example"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let edge = forwarding(&["10.0.0.0/8"]);
        let cases: [(&[&str], &str, &[&str]); 5] = [
            (
                &["198.51.100.1, 203.0.113.7"],
                "203.0.113.7",
                &["203.0.113.7", "10.0.0.2"],
            ),
            (
                &["198.51.100.1", "203.0.113.7, 10.0.0.3"],
                "203.0.113.7",
                &["203.0.113.7", "10.0.0.3", "10.0.0.2"],
            ),
            // Every hop trusted: the furthest one is all that is known.
            (&["10.0.0.4"], "10.0.0.4", &["10.0.0.4", "10.0.0.2"]),
            // Garbage stops the walk at the last address vouched for.
            (&["203.0.113.7, garbage"], "10.0.0.2", &["10.0.0.2"]),
            (
                &["[2001:db8::1]:443"],
                "2001:db8::1",
                &["2001:db8::1", "10.0.0.2"],
            ),
        ];
        for (values, client, chain) in cases {
            let headers: Vec<(&str, &str)> =
                values.iter().map(|v| ("x-forwarded-for", *v)).collect();
            let req = request("10.0.0.2", &headers);
            assert_eq!(
                edge.client_ip(&req).unwrap().to_string(),
                client,
                "{values:?}"
            );
            assert_eq!(shown(edge.chain(&req)), chain, "{values:?}");
        }
    }

    #[test]
    fn a_trusted_proxy_supplies_scheme_and_host() {
        let edge = forwarding(&["10.0.0.0/8"]);
        let req = request(
            "10.0.0.2",
            &[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "evil.example, shop.example"),
            ],
        );
        assert_eq!(edge.proto_and_host(&req), ("http", "shop.example"));
        let silent = request("10.0.0.2", &[]);
        assert_eq!(edge.proto_and_host(&silent), ("https", "gw.example"));
    }
}

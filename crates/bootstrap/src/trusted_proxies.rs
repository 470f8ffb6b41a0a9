//! `server.trusted_proxies`: the peers whose forwarding headers count.

use std::net::IpAddr;

use ipnet::IpNet;

/// Networks (CIDR) of the proxies in front of the gateway. Empty: no peer is
/// a proxy, every forwarding header is the client's own claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Each entry a CIDR (`10.0.0.0/8`) or a single address (`10.0.0.7`).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not a CIDR or an IP address"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_and_single_addresses_are_trusted_and_nothing_else() {
        let trusted =
            TrustedProxies::parse(&["10.0.0.0/8".into(), " 192.0.2.7 ".into(), "fd00::/8".into()])
                .unwrap();
        for inside in ["10.1.2.3", "192.0.2.7", "::ffff:10.9.9.9", "fd12::1"] {
            assert!(trusted.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "192.0.2.8", "127.0.0.1", "2001:db8::1"] {
            assert!(!trusted.contains(ip(outside)), "{outside}");
        }
        assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in ["10.0.0.0/33", "proxy.internal", ""] {
            assert!(TrustedProxies::parse(&[bad.into()]).is_err(), "{bad:?}");
        }
    }
}

//! What the proxy may forward: a safe upstream path, allowed by the
//! token's scope, from a well-formed device.

mod path;

pub use path::{ProxyPath, UnsafePath};

use crate::token::Scope;

/// Paths a `certificates_only` token may reach: exact paths, and prefixes
/// (`…` in the product's path list), matched on the decoded, parameter-free path. Matching
/// a prefix is safe only because the path was already proven free of dot
/// segments and encoded separators.
const CERTIFICATE_PATHS: [&str; 3] = [
    "certificates/filter",
    "certificates/remove",
    "certificates/restore",
];
const CERTIFICATE_PREFIXES: [&str; 7] = [
    "certificates/details/",
    "certificates/export/",
    "certificates/import",
    "certificates/activeForTesting",
    "certificates/update",
    "certificates/checkSystemIntegrity",
    "configurations/certificatesColumn",
];

impl Scope {
    pub fn allows(self, path: &ProxyPath) -> bool {
        match self {
            Scope::Full => true,
            // A parameter could mean something to the upstream that the
            // plain path does not show: this scope takes none.
            Scope::CertificatesOnly if path.has_parameters() => false,
            Scope::CertificatesOnly => {
                let path = path.plain();
                CERTIFICATE_PATHS.contains(&path)
                    || CERTIFICATE_PREFIXES.iter().any(|p| path.starts_with(p))
            }
        }
    }
}

/// `X-Device-ID`: 8–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn parse(raw: &str) -> Option<Self> {
        let visible = raw.bytes().all(|b| b.is_ascii_graphic());
        ((8..=255).contains(&raw.len()) && visible).then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_only_reaches_the_certificate_paths_alone() {
        let allowed = |raw: &str| Scope::CertificatesOnly.allows(&ProxyPath::parse(raw).unwrap());
        for raw in [
            "certificates/filter",
            "certificates/details/42",
            "certificates/export/all",
            "certificates/importFile",
            "certificates/activeForTesting/7",
            "certificates/updateOne",
            "certificates/checkSystemIntegrityNow",
            "configurations/certificatesColumnWidth",
            "certificates/%66ilter",
            "certificates/details/a%2eb",
        ] {
            assert!(allowed(raw), "{raw}");
        }
        for raw in [
            "certificates/filterx",
            "certificates/details",
            "certificates",
            "Certificates/filter",
            "admin/users",
            "configurations/other",
            "certificates%2dfilter",
        ] {
            assert!(!allowed(raw), "{raw}");
        }
    }

    #[test]
    fn certificates_only_takes_no_path_parameters_anywhere() {
        for raw in [
            "certificates/filter;x",
            "certificates;x/filter",
            "certificates/details/42;jsessionid=1",
            "certificates/import;/admin",
            "certificates/filter%3Bx",
        ] {
            let path = ProxyPath::parse(raw).unwrap();
            assert!(!Scope::CertificatesOnly.allows(&path), "{raw}");
            assert!(Scope::Full.allows(&path), "{raw}");
        }
        assert!(Scope::Full.allows(&ProxyPath::parse("admin/users").unwrap()));
    }

    #[test]
    fn device_ids_are_visible_ascii_of_sane_length() {
        assert!(DeviceId::parse("device-01").is_some());
        assert!(DeviceId::parse("short").is_none());
        assert!(DeviceId::parse("has a space").is_none());
        assert!(DeviceId::parse(&"x".repeat(256)).is_none());
        assert!(DeviceId::parse("dévice-001").is_none());
    }
}

//! What the proxy may forward: a safe upstream path, allowed by
//! the token's scope, from a well-formed device.

use crate::token::Scope;

/// Why a raw request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("the path has an empty segment")]
    EmptySegment,
    #[error("the path has a dot segment")]
    DotSegment,
    #[error("the path has an encoded or literal separator or dot")]
    EncodedSeparator,
}

/// An upstream path that cannot climb out of where it points: no `.`/`..`
/// segments, no empty segments, and no percent-encoded `/`, `\` or `.` that
/// a server further down could decode into one. Checked on the raw request
/// target, before any decoding, so that what is checked is what is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPath(String);

/// Percent-encodings that could turn into a separator or a dot later.
const SMUGGLED: [&str; 3] = ["%2f", "%5c", "%2e"];

impl ProxyPath {
    /// `raw` is the path after the proxy prefix, without a leading `/` and
    /// without the query, exactly as received.
    pub fn parse(raw: &str) -> Result<Self, UnsafePath> {
        let lower = raw.to_ascii_lowercase();
        if raw.contains('\\') || SMUGGLED.iter().any(|s| lower.contains(s)) {
            return Err(UnsafePath::EncodedSeparator);
        }
        for segment in raw.split('/') {
            match segment {
                "" => return Err(UnsafePath::EmptySegment),
                "." | ".." => return Err(UnsafePath::DotSegment),
                _ => {}
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Paths a `certificates_only` token may reach: exact paths, and prefixes
/// (`…` in the product's path list). Matching a prefix is safe only because the path was
/// already proven free of dot segments and encoded separators.
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
            Scope::CertificatesOnly => {
                let path = path.as_str();
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
    fn traversal_attempts_are_refused() {
        for raw in [
            "certificates/filter/../../x",
            "certificates/./filter",
            "..",
            "certificates/filter/%2e%2e/x",
            "certificates/filter/%2E%2E/x",
            "certificates/filter%2Fx",
            "certificates/filter%5cx",
            "certificates\\filter",
            "certificates//filter",
            "certificates/filter/",
            "",
        ] {
            assert!(ProxyPath::parse(raw).is_err(), "{raw:?}");
        }
        for raw in [
            "certificates/filter",
            "a/b.c/d..e",
            "x%20y",
            "certificates/details/42",
        ] {
            assert!(ProxyPath::parse(raw).is_ok(), "{raw:?}");
        }
    }

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
        ] {
            assert!(allowed(raw), "{raw}");
        }
        for raw in [
            "certificates/filterx",
            "certificates/details",
            "certificates",
            "admin/users",
            "configurations/other",
        ] {
            assert!(!allowed(raw), "{raw}");
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

use std::fmt;

use serde::Deserialize;

/// A configured secret. Debug and logs show `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `url` fit for messages and logs: any userinfo (`user:password@`) is
/// replaced, since either part may be the credential.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://<redacted>@{host}{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_userinfo_is_redacted_and_the_rest_kept() {
        let cases = [
            (
                "postgres://app:s3cret@db.internal:5432/zenzefi",
                "postgres://<redacted>@db.internal:5432/zenzefi",
            ),
            (
                "redis://:s3cret@cache:6379/0",
                "redis://<redacted>@cache:6379/0",
            ),
            (
                "https://tok3n@up.example/a@b",
                "https://<redacted>@up.example/a@b",
            ),
            ("http://up.example:8080/base", "http://up.example:8080/base"),
            ("sqlite:zenzefi.db?mode=rwc", "sqlite:zenzefi.db?mode=rwc"),
        ];
        for (url, shown) in cases {
            assert_eq!(redacted_url(url), shown);
        }
    }
}

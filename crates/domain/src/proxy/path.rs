//! Which raw request paths the proxy may forward: a path is
//! judged as the upstream would read it (percent-decoded once, `;…`
//! parameters dropped per segment, as servlet containers do), while the
//! raw path is what is sent on.

/// Why a raw request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("the path has a malformed percent-encoding or is not UTF-8")]
    MalformedEncoding,
    #[error("the path has a control character")]
    ControlCharacter,
    #[error("the path is percent-encoded twice")]
    DoubleEncoding,
    #[error("the path has an encoded or backslash separator")]
    EncodedSeparator,
    #[error("the path has an empty segment")]
    EmptySegment,
    #[error("the path has a dot segment")]
    DotSegment,
}

/// An upstream path that cannot climb out of where it points, under any
/// reading a server further down may give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPath {
    raw: String,
    /// `None` when the raw path is its own plain reading (no escape, no
    /// parameter): the common case costs one copy, not three.
    plain: Option<String>,
    has_parameters: bool,
}

impl ProxyPath {
    /// `raw` is the path after the proxy prefix, without a leading `/` and
    /// without the query, exactly as received.
    pub fn parse(raw: &str) -> Result<Self, UnsafePath> {
        // A literal backslash is a separator to some servers: never forwarded.
        if raw.contains('\\') {
            return Err(UnsafePath::EncodedSeparator);
        }
        if !raw.bytes().any(|b| b == b'%' || b == b';') {
            if raw.chars().any(char::is_control) {
                return Err(UnsafePath::ControlCharacter);
            }
            raw.split('/').try_for_each(check_segment)?;
            return Ok(Self {
                raw: raw.to_owned(),
                plain: None,
                has_parameters: false,
            });
        }
        let decoded =
            String::from_utf8(percent_decode(raw)?).map_err(|_| UnsafePath::MalformedEncoding)?;
        if decoded.chars().any(char::is_control) {
            return Err(UnsafePath::ControlCharacter);
        }
        // Any `%` left would decode again further down (`%252e` → `.`).
        if decoded.contains('%') {
            return Err(UnsafePath::DoubleEncoding);
        }
        let mut plain = Vec::new();
        for segment in decoded.split('/') {
            let name = segment.split(';').next().unwrap_or_default();
            check_segment(name)?;
            plain.push(name);
        }
        Ok(Self {
            raw: raw.to_owned(),
            plain: Some(plain.join("/")),
            has_parameters: decoded.contains(';'),
        })
    }

    /// The raw path, as received: what is forwarded.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The path decoded once, without the segments' `;…` parameters: what a
    /// servlet container routes on.
    pub fn plain(&self) -> &str {
        self.plain.as_deref().unwrap_or(&self.raw)
    }

    /// Whether a `;` appears in the decoded path (a parameter, or an
    /// encoded `;` that some readings take for one).
    pub fn has_parameters(&self) -> bool {
        self.has_parameters
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits, or an
/// escape of `/` or `\`, refuses the path.
fn percent_decode(raw: &str) -> Result<Vec<u8>, UnsafePath> {
    let hex = |b: Option<&u8>| {
        b.and_then(|b| char::from(*b).to_digit(16))
            .ok_or(UnsafePath::MalformedEncoding)
    };
    let mut bytes = raw.bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            decoded.push(byte);
            continue;
        }
        let escape = [bytes.next(), bytes.next()];
        let value = hex(escape[0].as_ref())? * 16 + hex(escape[1].as_ref())?;
        let value = u8::try_from(value).map_err(|_| UnsafePath::MalformedEncoding)?;
        if matches!(value, b'/' | b'\\') {
            return Err(UnsafePath::EncodedSeparator);
        }
        decoded.push(value);
    }
    Ok(decoded)
}

/// Characters that Unicode compatibility normalisation (NFKC) turns into
/// dots or separators. Java servlet containers do not fold them, but an
/// application or file system further down may; no real path needs them
/// as a whole segment or as a separator, so refusing costs nothing.
const LOOK_ALIKES: [(char, &str); 7] = [
    ('\u{2024}', "."),  // ONE DOT LEADER
    ('\u{2025}', ".."), // TWO DOT LEADER
    ('\u{FE52}', "."),  // SMALL FULL STOP
    ('\u{FF0E}', "."),  // FULLWIDTH FULL STOP
    ('\u{FF0F}', "/"),  // FULLWIDTH SOLIDUS
    ('\u{FE68}', "\\"), // SMALL REVERSE SOLIDUS
    ('\u{FF3C}', "\\"), // FULLWIDTH REVERSE SOLIDUS
];

/// One decoded segment without its parameters.
fn check_segment(name: &str) -> Result<(), UnsafePath> {
    // Every look-alike is outside ASCII: an ASCII segment reads as itself.
    if name.is_ascii() {
        return check_folded(name);
    }
    let mut folded = String::with_capacity(name.len());
    for c in name.chars() {
        match LOOK_ALIKES.iter().find(|(alike, _)| *alike == c) {
            Some((_, ascii)) => folded.push_str(ascii),
            None => folded.push(c),
        }
    }
    check_folded(&folded)
}

/// One segment with every look-alike replaced by what it looks like.
fn check_folded(folded: &str) -> Result<(), UnsafePath> {
    if folded.contains(['/', '\\']) {
        return Err(UnsafePath::EncodedSeparator);
    }
    match folded {
        "" => Err(UnsafePath::EmptySegment),
        "." | ".." => Err(UnsafePath::DotSegment),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_are_never_ascii_so_ascii_segments_skip_folding() {
        assert!(LOOK_ALIKES.iter().all(|(alike, _)| !alike.is_ascii()));
    }

    fn refusal(raw: &str) -> UnsafePath {
        ProxyPath::parse(raw).expect_err(raw)
    }

    #[test]
    fn dot_segments_are_refused_however_they_are_spelt() {
        for raw in [
            "..",
            "certificates/./filter",
            "certificates/filter/../../x",
            "certificates/details/..;/..;/admin/secret",
            "certificates/importX/..;/admin",
            "certificates/details/..;x=1/admin",
            "certificates/details/.;/admin",
            "certificates/filter/%2e%2e/x",
            "certificates/filter/%2E%2e/x",
            "certificates/filter/.%2E;x/x",
            "certificates/details/%2e%2e;/admin",
            "certificates/details/%2e%2e%3bx/admin",
            "certificates/details/%2e",
            "certificates/details/%EF%BC%8E%EF%BC%8E/admin",
            "certificates/details/%E2%80%A5/admin",
            "certificates/details/.%E2%80%A4/admin",
            "certificates/details/%EF%B9%92;x/admin",
        ] {
            assert_eq!(refusal(raw), UnsafePath::DotSegment, "{raw}");
        }
    }

    #[test]
    fn empty_segments_are_refused_parameters_or_not() {
        for raw in [
            "",
            "certificates//filter",
            "certificates/filter/",
            "/certificates/filter",
            "certificates/;x/filter",
            "certificates/filter/;jsessionid=1",
        ] {
            assert_eq!(refusal(raw), UnsafePath::EmptySegment, "{raw:?}");
        }
    }

    #[test]
    fn separators_that_were_encoded_or_look_alike_are_refused() {
        for raw in [
            "certificates/filter%2Fx",
            "certificates/filter%2fx",
            "certificates/filter%5cx",
            "certificates/filter/%5C..%5Cx",
            "certificates\\filter",
            "certificates/details/x%EF%BC%8F..",
            "certificates/details/x%EF%BC%BC..",
            "certificates/details/%EF%B9%A8",
        ] {
            assert_eq!(refusal(raw), UnsafePath::EncodedSeparator, "{raw}");
        }
    }

    #[test]
    fn anything_that_would_decode_twice_is_refused() {
        for raw in [
            "certificates/filter/%252e%252e/x",
            "certificates/details/%25",
            "certificates/details/%252F",
            "certificates/details/a%2525b",
        ] {
            assert_eq!(refusal(raw), UnsafePath::DoubleEncoding, "{raw}");
        }
    }

    #[test]
    fn malformed_escapes_and_invalid_utf8_are_refused() {
        for raw in [
            "certificates/details/%c0%ae%c0%ae/admin",
            "certificates/details/%C0%AE",
            "certificates/details/%e0%80%ae",
            "certificates/details/%ff",
            "certificates/details/%zz",
            "certificates/details/%2",
            "certificates/details/%",
            "certificates/details/%+1",
        ] {
            assert_eq!(refusal(raw), UnsafePath::MalformedEncoding, "{raw}");
        }
    }

    #[test]
    fn control_characters_are_refused_nul_first() {
        for raw in [
            "certificates/details/%00",
            "certificates/details/a%00.pdf",
            "certificates/details/%0d%0aX-Injected:1",
            "certificates/details/%7f",
            "certificates/details/%C2%85",
        ] {
            assert_eq!(refusal(raw), UnsafePath::ControlCharacter, "{raw}");
        }
    }

    #[test]
    fn harmless_paths_are_kept_raw_and_read_decoded_without_parameters() {
        for (raw, plain, has_parameters) in [
            ("certificates/filter", "certificates/filter", false),
            ("a/b.c/d..e/...", "a/b.c/d..e/...", false),
            ("a%2eb/trailing.", "a.b/trailing.", false),
            ("x%20y", "x y", false),
            (
                "certificates/%64etails/42",
                "certificates/details/42",
                false,
            ),
            ("a;v=1/b;c", "a/b", true),
            ("a%3bb/c", "a/c", true),
            ("caf%C3%A9/%E2%80%A6", "café/…", false),
        ] {
            let path = ProxyPath::parse(raw).expect(raw);
            assert_eq!(path.as_str(), raw);
            assert_eq!(path.plain(), plain, "{raw}");
            assert_eq!(path.has_parameters(), has_parameters, "{raw}");
        }
    }
}

//! HTTP/1.1 as the gateway speaks it to the upstream (RFC 9112): request
//! heads written straight from the client's headers, response heads parsed
//! into actix's header map once, and the framing of each body.

use std::mem::MaybeUninit;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::web::{Bytes, BytesMut};

/// Response heads with more header lines than this are refused.
const MAX_HEADERS: usize = 128;
/// A response head that has not ended after this many bytes is refused.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;

/// What the upstream sent that HTTP/1.1 does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the upstream sent an invalid response: {0}")]
pub struct Malformed(pub &'static str);

/// How the request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// No body.
    None,
    /// The client's `Content-Length`, forwarded with it.
    Length,
    /// Unknown length: `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head being written, in wire format.
pub struct RequestHead {
    bytes: Vec<u8>,
    pub(super) upload: Upload,
    /// Retrying it on a new connection is safe (RFC 9110 §9.2.2), if it
    /// had no body.
    pub(super) idempotent: bool,
    /// A HEAD request: its answer has no body, whatever it declares.
    pub(super) head: bool,
}

impl RequestHead {
    /// Starts `METHOD target HTTP/1.1` and `Host`. The target's parts must
    /// pass [`forwardable`].
    pub(super) fn new(method: &str, target: &[&str], host: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(512);
        bytes.extend_from_slice(method.as_bytes());
        bytes.push(b' ');
        for part in target {
            bytes.extend_from_slice(part.as_bytes());
        }
        bytes.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        bytes.extend_from_slice(host);
        bytes.extend_from_slice(b"\r\n");
        Self {
            bytes,
            upload: Upload::None,
            idempotent: matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE"),
            head: method == "HEAD",
        }
    }

    /// One header line; names and values come from a parser that already
    /// refused line breaks in them.
    pub fn header(&mut self, name: &str, value: &[u8]) {
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(b": ");
        self.bytes.extend_from_slice(value);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// The request has a body: of the length its forwarded
    /// `Content-Length` header declares, or chunked when it has none.
    pub fn with_body(&mut self, declared_length: bool) {
        self.upload = if declared_length {
            Upload::Length
        } else {
            self.bytes
                .extend_from_slice(b"transfer-encoding: chunked\r\n");
            Upload::Chunked
        };
    }

    /// The head, ended.
    pub(super) fn finish(mut self) -> Bytes {
        self.bytes.extend_from_slice(b"\r\n");
        self.bytes.into()
    }
}

/// Whether `part` may go into a request line as it is: no spaces, no
/// control characters. Bytes past ASCII pass raw, as the client sent them.
pub fn forwardable(part: &str) -> bool {
    part.bytes().all(|b| b > b' ' && b != 0x7f)
}

/// Whether `value` may be sent as a header value as it is: visible ASCII,
/// spaces and tabs, nothing that could end the line.
pub fn header_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..0x7f).contains(&b))
}

/// Appends one chunk of a chunked upload.
pub fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        // An empty chunk would end the body.
        return;
    }
    let mut digits = [0u8; 16];
    let mut n = data.len();
    let mut at = digits.len();
    while {
        at -= 1;
        digits[at] = b"0123456789abcdef"[n % 16];
        n /= 16;
        n > 0
    } {}
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The end of a chunked upload: the last chunk, no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// How a response body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (HEAD, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may carry another request once this body has ended.
    pub keep_alive: bool,
}

/// Parses a response head from the front of `buf`, removing it;
/// `Ok(None)` while it is incomplete. Interim (1xx) answers are skipped.
pub fn parse_response(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<ResponseHead>, Malformed> {
    loop {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut slots,
        ) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
                return Err(Malformed("the response head is too large"));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Malformed("the response head does not parse")),
        };
        let status = response.code.unwrap_or_default();
        if status == 101 {
            return Err(Malformed("the upstream switched protocols"));
        }
        if (100..200).contains(&status) {
            drop(buf.split_to(len));
            continue;
        }
        let http11 = response.version == Some(1);
        // Where each name and value sits, to slice them off the frozen head.
        let base = buf.as_ptr() as usize;
        let mut spans = Vec::with_capacity(response.headers.len());
        let mut framing = Framing::UntilClose;
        let mut length: Option<u64> = None;
        let mut chunked = None;
        let mut close = !http11;
        for header in response.headers.iter() {
            let name = header.name;
            let value = header.value;
            if name.eq_ignore_ascii_case("content-length") {
                let n = content_length(value).ok_or(Malformed("invalid Content-Length"))?;
                if length.is_some_and(|seen| seen != n) {
                    return Err(Malformed("conflicting Content-Length values"));
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // Only the last coding counts: chunked must come last.
                chunked = Some(last_token(value).eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if !http11 && token.eq_ignore_ascii_case(b"keep-alive") {
                        close = false;
                    }
                }
            }
            let name_at = name.as_ptr() as usize - base;
            let value_at = value.as_ptr() as usize - base;
            spans.push((
                name_at..name_at + name.len(),
                value_at..value_at + value.len(),
            ));
        }
        if let Some(chunked) = chunked {
            framing = if chunked {
                Framing::Chunked
            } else {
                Framing::UntilClose
            };
        } else if let Some(n) = length {
            framing = Framing::Length(n);
        }
        if head_request || status == 204 || status == 304 {
            framing = Framing::Empty;
        }
        let head = buf.split_to(len).freeze();
        let mut headers = HeaderMap::with_capacity(spans.len());
        for (name, value) in spans {
            let name = HeaderName::from_bytes(&head[name])
                .map_err(|_| Malformed("invalid header name"))?;
            let value = HeaderValue::from_maybe_shared(head.slice(value))
                .map_err(|_| Malformed("invalid header value"))?;
            headers.append(name, value);
        }
        return Ok(Some(ResponseHead {
            status,
            headers,
            keep_alive: !close && framing != Framing::UntilClose,
            framing,
        }));
    }
}

/// A `Content-Length` value: digits, or a list of identical ones.
fn content_length(value: &[u8]) -> Option<u64> {
    let mut found = None;
    for part in value.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
}

fn last_token(value: &[u8]) -> &[u8] {
    value
        .rsplit(|&b| b == b',')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

/// Where a chunked body's decoder stands (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    Done,
}

/// One step of decoding a chunked body.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Data(Bytes),
    /// `buf` holds too little: read more, then decode again.
    NeedMore,
    End,
}

impl Chunked {
    /// Decodes from the front of `buf`, consuming what it used.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Malformed> {
        loop {
            match *self {
                Self::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&line).ok_or(Malformed("invalid chunk size"))?;
                    *self = if size == 0 {
                        Self::Trailers
                    } else {
                        Self::Data(size)
                    };
                }
                Self::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let left = left - n as u64;
                    *self = if left == 0 {
                        Self::DataEnd
                    } else {
                        Self::Data(left)
                    };
                    return Ok(Decoded::Data(buf.split_to(n).freeze()));
                }
                Self::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(Malformed("a chunk does not end with CRLF"));
                    }
                    drop(buf.split_to(2));
                    *self = Self::Size;
                }
                Self::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    // Trailers have nowhere to go: the relayed response's
                    // head has left already.
                    if line.is_empty() {
                        *self = Self::Done;
                    }
                }
                Self::Done => return Ok(Decoded::End),
            }
        }
    }
}

/// The next CRLF-ended line, without its CRLF; `None` until it is whole.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, Malformed> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let mut line = buf.split_to(end + 2);
            line.truncate(end);
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(Malformed("a chunk line is too long")),
        None => Ok(None),
    }
}

/// The hex size at the start of a chunk-size line (extensions ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    let rest = rest.trim_ascii_start();
    if digits.is_empty() || digits.len() > 15 || !(rest.is_empty() || rest[0] == b';') {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let d = char::from(d).to_digit(16)?;
        Some(n * 16 + u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, head_request: bool) -> Result<Option<ResponseHead>, Malformed> {
        parse_response(&mut BytesMut::from(text), head_request)
    }

    #[test]
    fn a_response_head_is_parsed_with_its_framing() {
        let head = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\nhello",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        let cookies: Vec<_> = head.headers.get_all("set-cookie").collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[test]
    fn the_body_stays_in_the_buffer_and_partial_heads_wait() {
        let mut buf = BytesMut::from("HTTP/1.1 204 No Content\r\n");
        assert!(parse_response(&mut buf, false).unwrap().is_none());
        buf.extend_from_slice(b"\r\nnext");
        let head = parse_response(&mut buf, false).unwrap().unwrap();
        assert_eq!(head.framing, Framing::Empty);
        assert_eq!(&buf[..], b"next");
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |text: &str, head: bool| parse(text, head).unwrap().unwrap();
        let chunked = framing(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\n\r\n",
            false,
        );
        assert_eq!(chunked.framing, Framing::Chunked);
        let close = framing("HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!(
            (close.framing, close.keep_alive),
            (Framing::UntilClose, false)
        );
        let head = framing("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true);
        assert_eq!((head.framing, head.keep_alive), (Framing::Empty, true));
        let not_modified = framing(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            false,
        );
        assert_eq!(not_modified.framing, Framing::Empty);
        let closing = framing(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert!(!closing.keep_alive);
        let old = framing("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false);
        assert!(!old.keep_alive);
        let interim = framing(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(interim.status, 201);
    }

    #[test]
    fn invalid_heads_are_refused() {
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "HTTQ/1.1 200 OK\r\n\r\n",
        ] {
            assert!(parse(text, false).is_err(), "{text:?} was accepted");
        }
        let mut huge = BytesMut::from("HTTP/1.1 200 OK\r\n");
        huge.extend_from_slice(&[b'x'; MAX_HEAD_BYTES]);
        assert!(parse_response(&mut huge, false).is_err());
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", false)
                .unwrap()
                .unwrap()
                .framing,
            Framing::Length(7)
        );
    }

    #[test]
    fn request_heads_carry_only_what_cannot_break_a_line() {
        assert!(forwardable("a/b%20c;d=e") && forwardable("caf\u{e9}"));
        assert!(!forwardable("a b") && !forwardable("a\r\nb") && !forwardable("a\u{7f}"));
        assert!(header_safe("203.0.113.7, 10.0.0.1") && header_safe("a\tb"));
        assert!(!header_safe("x\r\nInjected: 1") && !header_safe("caf\u{e9}"));
        let mut head = RequestHead::new("POST", &["/base", "/", "p", "?", "q=1"], b"up:9000");
        head.header("x-a", b"1");
        head.with_body(false);
        assert!(!head.idempotent && !head.head);
        assert_eq!(
            &head.finish()[..],
            b"POST /base/p?q=1 HTTP/1.1\r\nhost: up:9000\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    /// Decodes `wire` fed in pieces of `step` bytes.
    fn dechunk(wire: &[u8], step: usize) -> Result<Vec<u8>, Malformed> {
        let mut decoder = Chunked::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pieces = wire.chunks(step);
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(data) => out.extend_from_slice(&data),
                Decoded::End => return Ok(out),
                Decoded::NeedMore => match pieces.next() {
                    Some(piece) => buf.extend_from_slice(piece),
                    None => return Err(Malformed("truncated")),
                },
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_however_they_are_split() {
        let wire =
            b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n";
        for step in 1..=wire.len() {
            assert_eq!(
                dechunk(wire, step).unwrap(),
                b"helloabcdefghijklmnopqrstuvwxyz",
                "step {step}"
            );
        }
        let mut encoded = Vec::new();
        push_chunk(&mut encoded, &[7u8; 300]);
        push_chunk(&mut encoded, b"");
        encoded.extend_from_slice(LAST_CHUNK);
        assert_eq!(dechunk(&encoded, 64).unwrap(), vec![7u8; 300]);
    }

    #[test]
    fn broken_chunking_is_refused() {
        for wire in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"fffffffffffffffff\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
        ] {
            assert!(
                dechunk(wire, 3).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        assert!(dechunk(&[b'1'; MAX_LINE + 10], 64).is_err());
    }
}

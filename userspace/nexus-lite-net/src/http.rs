//! A bounded HTTP/1.0 subset: `fetchd`'s response parser and the request
//! parser of the tiny responder in `echod`.
//!
//! Total and bounded: the head (status/request line + headers) is at most
//! [`MAX_HEAD`] bytes and [`MAX_HEADERS`] lines, bodies at most
//! [`MAX_BODY`]; `Content-Length` is 1..=7 ASCII digits and duplicates must
//! agree. Parsers borrow from the input and never allocate.

use alloc::vec::Vec;

/// Longest head accepted.
pub const MAX_HEAD: usize = 2048;
/// Most header lines.
pub const MAX_HEADERS: usize = 32;
/// Longest body accepted.
pub const MAX_BODY: usize = 4096;
/// The path of the smoke's resource.
pub const HELLO_PATH: &str = "/hello";
/// The exact body the responder serves for [`HELLO_PATH`] and `fetchd` checks.
pub const HELLO_BODY: &[u8] = b"hello from neuron lite\n";

/// Why a message was not (yet) parsed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// More bytes are needed (and may come).
    Incomplete,
    /// The head or body exceed the bounds.
    TooLarge,
    /// Not a well-formed message; the reason.
    Malformed(&'static str),
}

/// A parsed response.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// Status code (100..=999).
    pub status: u16,
    /// `Content-Length`, if present.
    pub content_length: Option<usize>,
    /// The body.
    pub body: &'a [u8],
}

/// A parsed request head.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// Method (e.g. `GET`).
    pub method: &'a str,
    /// Request target (e.g. `/hello`).
    pub path: &'a str,
    /// Bytes of the head including the blank line.
    pub head_len: usize,
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Splits `b` into (head, rest) or reports why it cannot yet.
fn split_head(b: &[u8], eof: bool) -> Result<(&[u8], &[u8]), HttpError> {
    let limit = b.len().min(MAX_HEAD + 4);
    match find_head_end(&b[..limit]) {
        Some(i) => Ok((&b[..i], &b[i + 4..])),
        None if b.len() > MAX_HEAD => Err(HttpError::TooLarge),
        None if eof => Err(HttpError::Malformed("no end of head")),
        None => Err(HttpError::Incomplete),
    }
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Parses header lines; returns the Content-Length, if any.
fn headers<'a>(mut lines: impl Iterator<Item = &'a [u8]>) -> Result<Option<usize>, HttpError> {
    let mut cl: Option<usize> = None;
    let mut n = 0;
    for line in &mut lines {
        n += 1;
        if n > MAX_HEADERS {
            return Err(HttpError::TooLarge);
        }
        let colon = line
            .iter()
            .position(|&c| c == b':')
            .ok_or(HttpError::Malformed("header without colon"))?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if !is_token(name) {
            return Err(HttpError::Malformed("bad header name"));
        }
        if value.iter().any(|&c| c < 0x20 && c != b'\t') {
            return Err(HttpError::Malformed("control byte in header"));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            if value.is_empty() || value.len() > 7 || !value.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::Malformed("bad content-length"));
            }
            let v = value
                .iter()
                .fold(0usize, |a, &d| a * 10 + usize::from(d - b'0'));
            if cl.is_some_and(|c| c != v) {
                return Err(HttpError::Malformed("conflicting content-length"));
            }
            cl = Some(v);
        }
    }
    Ok(cl)
}

fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    core::iter::from_fn(move || {
        let r = rest?;
        match r.windows(2).position(|w| w == b"\r\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Parses a complete response in `b`. `eof` tells whether the peer closed
/// (needed to end a body without `Content-Length`, and to turn a short
/// message into an error rather than [`HttpError::Incomplete`]).
pub fn parse_response(b: &[u8], eof: bool) -> Result<Response<'_>, HttpError> {
    let (head, rest) = split_head(b, eof)?;
    let mut ls = lines(head);
    let status_line = ls.next().unwrap_or(&[]);
    let (version, after) = status_line
        .split_at_checked(8)
        .ok_or(HttpError::Malformed("short status line"))?;
    if version != b"HTTP/1.0" && version != b"HTTP/1.1" {
        return Err(HttpError::Malformed("bad version"));
    }
    let code = match after {
        [b' ', a, b, c] | [b' ', a, b, c, b' ', ..] => [*a, *b, *c],
        _ => return Err(HttpError::Malformed("bad status line")),
    };
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return Err(HttpError::Malformed("bad status code"));
    }
    let status = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    if after.iter().any(|&c| c < 0x20 && c != b'\t') {
        return Err(HttpError::Malformed("control byte in status line"));
    }
    let content_length = headers(ls)?;
    let body = match content_length {
        Some(n) if n > MAX_BODY => return Err(HttpError::TooLarge),
        Some(n) if rest.len() < n => {
            return Err(if eof {
                HttpError::Malformed("body shorter than content-length")
            } else {
                HttpError::Incomplete
            })
        }
        Some(n) if rest.len() > n => {
            return Err(HttpError::Malformed("bytes after the body"));
        }
        Some(_) => rest,
        None if rest.len() > MAX_BODY => return Err(HttpError::TooLarge),
        None if !eof => return Err(HttpError::Incomplete),
        None => rest,
    };
    Ok(Response {
        status,
        content_length,
        body,
    })
}

/// Parses a request head (`METHOD SP target SP HTTP/1.x`, headers); a body
/// is not supported (any `Content-Length` other than 0 is malformed).
pub fn parse_request_head(b: &[u8]) -> Result<RequestHead<'_>, HttpError> {
    let (head, _) = split_head(b, false)?;
    let mut ls = lines(head);
    let line = ls.next().unwrap_or(&[]);
    let mut parts = line.split(|&c| c == b' ');
    let (Some(m), Some(p), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("bad request line"));
    };
    if !is_token(m) || p.first() != Some(&b'/') || p.iter().any(|&c| c <= 0x20 || c >= 0x7f) {
        return Err(HttpError::Malformed("bad method or target"));
    }
    if v != b"HTTP/1.0" && v != b"HTTP/1.1" {
        return Err(HttpError::Malformed("bad version"));
    }
    if headers(ls)?.is_some_and(|n| n != 0) {
        return Err(HttpError::Malformed("request body not supported"));
    }
    Ok(RequestHead {
        method: core::str::from_utf8(m).map_err(|_| HttpError::Malformed("utf8"))?,
        path: core::str::from_utf8(p).map_err(|_| HttpError::Malformed("utf8"))?,
        head_len: head.len() + 4,
    })
}

/// Builds `GET <path> HTTP/1.0` with a `Host` header.
pub fn build_get(path: &str, host: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + path.len() + host.len());
    v.extend_from_slice(b"GET ");
    v.extend_from_slice(path.as_bytes());
    v.extend_from_slice(b" HTTP/1.0\r\nHost: ");
    v.extend_from_slice(host.as_bytes());
    v.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    v
}

/// Builds an HTTP/1.0 response with `Content-Length`.
pub fn build_response(status: u16, reason: &str, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 + body.len());
    v.extend_from_slice(b"HTTP/1.0 ");
    let s = status.min(999);
    v.extend_from_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
        b' ',
    ]);
    v.extend_from_slice(reason.as_bytes());
    v.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: ");
    let mut digits = [0u8; 20];
    let mut n = body.len();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(&digits[i..]);
    v.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    v.extend_from_slice(body);
    v
}

/// The responder's answer to a request head: 200 + [`HELLO_BODY`] for
/// `GET /hello`, 404 for other paths, 405 for other methods.
pub fn respond(req: &RequestHead<'_>) -> Vec<u8> {
    match (req.method, req.path) {
        ("GET", HELLO_PATH) => build_response(200, "OK", HELLO_BODY),
        ("GET", _) => build_response(404, "Not Found", b"not found\n"),
        _ => build_response(405, "Method Not Allowed", b""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn hello_roundtrip() {
        let get = build_get(HELLO_PATH, "127.0.0.1:8080");
        assert_eq!(
            get,
            b"GET /hello HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n"
        );
        let head = parse_request_head(&get).unwrap();
        assert_eq!(
            (head.method, head.path, head.head_len),
            ("GET", "/hello", get.len())
        );
        let resp = respond(&head);
        let r = parse_response(&resp, false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.content_length, Some(HELLO_BODY.len()));
        assert_eq!(r.body, HELLO_BODY);
        // Every prefix is incomplete (not an error, not a success).
        for cut in 0..resp.len() {
            assert_eq!(
                parse_response(&resp[..cut], false),
                Err(HttpError::Incomplete)
            );
            assert!(matches!(
                parse_response(&resp[..cut], true),
                Err(HttpError::Malformed(_))
            ));
        }
        for cut in 0..get.len() {
            assert_eq!(parse_request_head(&get[..cut]), Err(HttpError::Incomplete));
        }
        let nf = respond(&parse_request_head(b"GET /x HTTP/1.1\r\n\r\n").unwrap());
        assert_eq!(parse_response(&nf, false).unwrap().status, 404);
        let na = respond(&parse_request_head(b"PUT /hello HTTP/1.1\r\n\r\n").unwrap());
        assert_eq!(parse_response(&na, false).unwrap().status, 405);
    }

    #[test]
    fn response_without_length_needs_eof() {
        let r = b"HTTP/1.1 200\r\nX: y\r\n\r\nabc";
        assert_eq!(parse_response(r, false), Err(HttpError::Incomplete));
        let p = parse_response(r, true).unwrap();
        assert_eq!(
            (p.status, p.content_length, p.body),
            (200, None, &b"abc"[..])
        );
    }

    #[test]
    fn malformed_responses() {
        let bad: &[&[u8]] = &[
            b"HTTP/2.0 200 OK\r\n\r\n",
            b"HTTP/1.0 20 OK\r\n\r\n",
            b"HTTP/1.0 2000 OK\r\n\r\n",
            b"HTTP/1.0 abc OK\r\n\r\n",
            b"HTTP/1.0 099 OK\r\n\r\n",
            b"HTTP/1.0\r\n\r\n",
            b"\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nNoColon\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nBad Name: x\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n: x\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: \r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: 1 2\r\n\r\n",
            b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\nContent-Length: 2\r\n\r\nx",
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nxy",
            b"HTTP/1.0 200 OK\r\nX: a\x01b\r\n\r\n",
        ];
        for b in bad {
            assert!(
                matches!(parse_response(b, true), Err(HttpError::Malformed(_))),
                "{:?}",
                core::str::from_utf8(b)
            );
        }
        let dup_ok = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\ncontent-length:  1 \r\n\r\nx";
        assert_eq!(parse_response(dup_ok, false).unwrap().body, b"x");
    }

    #[test]
    fn bounds() {
        let big_len = b"HTTP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n";
        assert!(matches!(
            parse_response(big_len, true),
            Err(HttpError::Malformed(_))
        ));
        let too_long_body = b"HTTP/1.0 200 OK\r\nContent-Length: 5000\r\n\r\n";
        assert_eq!(
            parse_response(too_long_body, false),
            Err(HttpError::TooLarge)
        );
        let mut head = b"HTTP/1.0 200 OK\r\n".to_vec();
        head.extend(vec![b'a'; MAX_HEAD]);
        assert_eq!(parse_response(&head, false), Err(HttpError::TooLarge));
        let mut many = b"HTTP/1.0 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"A: b\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_response(&many, true), Err(HttpError::TooLarge));
        let mut unbounded = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        unbounded.extend(vec![0u8; MAX_BODY + 1]);
        assert_eq!(parse_response(&unbounded, true), Err(HttpError::TooLarge));
    }

    #[test]
    fn malformed_requests() {
        for b in [
            &b"GET /hello\r\n\r\n"[..],
            b"GET hello HTTP/1.0\r\n\r\n",
            b"GET /a b HTTP/1.0\r\n\r\n",
            b"G@T /a HTTP/1.0\r\n\r\n",
            b"GET /a HTTP/3\r\n\r\n",
            b"POST /a HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
        ] {
            assert!(matches!(
                parse_request_head(b),
                Err(HttpError::Malformed(_))
            ));
        }
    }

    #[test]
    fn noise_never_panics() {
        let mut s = 0x1234_5678u32;
        for n in 0..3000 {
            let mut b: Vec<u8> = (0..n % 300)
                .map(|_| {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    let alphabet = b"HTTP/1.0 2:\r\n Content-Lngth0123456789xX";
                    alphabet[(s >> 16) as usize % alphabet.len()]
                })
                .collect();
            if n % 2 == 0 {
                b.splice(0..0, b"HTTP/1.1 200 OK\r\n".iter().copied());
            }
            let _ = parse_response(&b, n % 3 == 0);
            let _ = parse_request_head(&b);
        }
    }
}

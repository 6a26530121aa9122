//! fetchd's pure parts, host-tested: the check of the fetched response and
//! the bounded response accumulator.
//!
//! fetchd proves the lite path end to end from a local client: an ICMP echo
//! over `lo` requested from netstackd-lite (`SELFTEST: net lo ping ok`), and
//! `GET http://127.0.0.1:8080/hello` over the loopback stream shim to the
//! responder in echod, checking status 200 and the exact body
//! (`SELFTEST: net fetch ok`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use nexus_lite_net::http::{self, HttpError};

/// The URL fetched (for the marker).
pub const URL: &str = "http://127.0.0.1:8080/hello";
/// Server address.
pub const ADDR: [u8; 4] = [127, 0, 0, 1];
/// Server port.
pub const PORT: u16 = 8080;
/// How long to retry connecting while the responder starts (ns).
pub const CONNECT_WAIT_NS: u64 = 10_000_000_000;
/// How long the exchange may take once connected (ns).
pub const FETCH_NS: u64 = 3_000_000_000;
/// How long the lo ping may take (ns).
pub const PING_NS: u64 = 1_000_000_000;
/// Most response bytes kept.
pub const MAX_RESPONSE: usize = http::MAX_HEAD + 4 + http::MAX_BODY;

/// Accumulates a response; bounded by [`MAX_RESPONSE`].
#[derive(Debug, Default)]
pub struct ResponseBuf {
    buf: Vec<u8>,
}

/// The outcome of a fetch.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Read more.
    More,
    /// Status 200 and exactly the expected body; its length.
    Ok(usize),
    /// Anything else; why.
    Fail(&'static str),
}

impl ResponseBuf {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes read (`eof` when the peer closed) and checks the
    /// response against `expected` once complete.
    pub fn feed(&mut self, b: &[u8], eof: bool, expected: &[u8]) -> Checked {
        if self.buf.len() + b.len() > MAX_RESPONSE {
            return Checked::Fail("response too large");
        }
        self.buf.extend_from_slice(b);
        match http::parse_response(&self.buf, eof) {
            Ok(r) if r.status != 200 => Checked::Fail("status is not 200"),
            Ok(r) if r.body != expected => Checked::Fail("unexpected body"),
            Ok(r) => Checked::Ok(r.body.len()),
            Err(HttpError::Incomplete) => Checked::More,
            Err(HttpError::TooLarge) => Checked::Fail("response too large"),
            Err(HttpError::Malformed(why)) => Checked::Fail(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(resp: &[u8], chunk: usize) -> Checked {
        let mut r = ResponseBuf::new();
        for c in resp.chunks(chunk) {
            match r.feed(c, false, http::HELLO_BODY) {
                Checked::More => {}
                done => return done,
            }
        }
        r.feed(&[], true, http::HELLO_BODY)
    }

    #[test]
    fn good_response_in_any_chunking() {
        let ok = http::build_response(200, "OK", http::HELLO_BODY);
        for chunk in [1, 2, 7, 64, 4096] {
            assert_eq!(run(&ok, chunk), Checked::Ok(http::HELLO_BODY.len()));
        }
    }

    #[test]
    fn wrong_status_body_or_garbage_fail() {
        assert_eq!(
            run(&http::build_response(404, "Not Found", http::HELLO_BODY), 5),
            Checked::Fail("status is not 200")
        );
        assert_eq!(
            run(
                &http::build_response(200, "OK", b"hello from elsewhere\n"),
                5
            ),
            Checked::Fail("unexpected body")
        );
        assert!(matches!(run(b"SSH-2.0\r\n\r\n", 3), Checked::Fail(_)));
        assert!(
            matches!(run(b"HTTP/1.0 200 OK\r\n", 3), Checked::Fail(_)),
            "EOF in head"
        );
        let mut r = ResponseBuf::new();
        assert_eq!(
            r.feed(&alloc::vec![b'x'; MAX_RESPONSE + 1], false, b""),
            Checked::Fail("response too large")
        );
    }
}

//! echod's pure parts, host-tested: the HTTP responder session (bounded
//! request accumulation and the answer) and the service constants.
//!
//! echod serves two things through netstackd-lite's sockets facade:
//! UDP echo on port 7 of every interface (`virt0` and `lo`: one socket bound
//! to 0.0.0.0:7, each datagram sent back to its source address and port),
//! and the smoke's tiny HTTP/1.0 responder on the loopback stream shim at
//! 127.0.0.1:8080 (`GET /hello` → 200 + `nexus_lite_net::http::HELLO_BODY`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use nexus_lite_net::http::{self, HttpError};

/// The UDP echo port.
pub const ECHO_PORT: u16 = 7;
/// The HTTP responder's loopback port.
pub const HTTP_PORT: u16 = 8080;
/// How long one UDP wait lasts before the responder gets a turn (ns).
pub const UDP_SLICE_NS: u64 = 20_000_000;
/// How long a connection may take to send its request (ns).
pub const HTTP_REQUEST_NS: u64 = 2_000_000_000;

/// One responder connection: collects the request head (at most
/// `http::MAX_HEAD` bytes) and yields the response once.
#[derive(Debug, Default)]
pub struct HttpSession {
    buf: Vec<u8>,
}

/// What to do after feeding bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Read more.
    More,
    /// Send these bytes, then close.
    Respond(Vec<u8>),
    /// Close without answering (garbage or too large).
    Close,
}

impl HttpSession {
    /// A new session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes read from the stream (`eof` when the peer closed).
    pub fn feed(&mut self, b: &[u8], eof: bool) -> Step {
        let room = (http::MAX_HEAD + 4).saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&b[..b.len().min(room)]);
        match http::parse_request_head(&self.buf) {
            Ok(h) => Step::Respond(http::respond(&h)),
            Err(HttpError::Incomplete) if !eof && b.len() <= room => Step::More,
            Err(HttpError::Malformed(_)) => {
                Step::Respond(http::build_response(400, "Bad Request", b""))
            }
            Err(_) => Step::Close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_in_pieces_gets_the_hello_body() {
        let req = http::build_get(http::HELLO_PATH, "127.0.0.1:8080");
        let mut s = HttpSession::new();
        for (i, b) in req.iter().enumerate() {
            let step = s.feed(core::slice::from_ref(b), false);
            if i + 1 < req.len() {
                assert_eq!(step, Step::More, "byte {i}");
            } else {
                let Step::Respond(r) = step else { panic!() };
                let p = http::parse_response(&r, false).unwrap();
                assert_eq!((p.status, p.body), (200, http::HELLO_BODY));
            }
        }
    }

    #[test]
    fn garbage_eof_and_flooding_end_the_session() {
        let mut s = HttpSession::new();
        let Step::Respond(r) = s.feed(b"BLAH\r\n\r\n", false) else {
            panic!()
        };
        assert_eq!(http::parse_response(&r, false).unwrap().status, 400);
        assert_eq!(HttpSession::new().feed(b"GET /hel", true), Step::Close);
        let mut s = HttpSession::new();
        let chunk = [b'a'; 1000];
        let mut last = Step::More;
        for _ in 0..10 {
            last = s.feed(&chunk, false);
            if last != Step::More {
                break;
            }
        }
        assert_eq!(last, Step::Close);
        assert!(s.buf.len() <= http::MAX_HEAD + 4, "bounded");
    }
}

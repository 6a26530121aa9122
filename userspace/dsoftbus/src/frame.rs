//! Length-prefixed framing on a TCP byte stream, shared by the handshake and the records.
//!
//! Design notes:
//! - A frame is a u16 big-endian body length followed by the body. A body is never empty;
//!   its maximum depends on the phase: [`MAX_HANDSHAKE_FRAME_LEN`](crate::MAX_HANDSHAKE_FRAME_LEN)
//!   while the handshake runs, [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN) afterwards. A header
//!   announcing more is rejected as soon as its two bytes are in, before any body arrives.
//! - [`RxBuf`] is the receive side: a fixed buffer of one maximal wire frame
//!   ([`MAX_WIRE_FRAME`]). Callers either copy bytes in with `feed`
//!   or read straight into `space()` and `commit` the count (no extra copy). Because a
//!   valid frame always fits, a full buffer always holds a complete frame (or an error),
//!   so the stream can never deadlock on buffer space.
//! - The buffer moves from the handshake into the session unchanged, so bytes the peer
//!   sent right after its last handshake frame are never lost.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::{FRAME_HEADER_LEN, MAX_WIRE_FRAME};

/// A framing violation. Terminal for the stream it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// A header announced an empty body.
    Empty,
    /// A header announced a body longer than the phase allows (carries the length seen).
    TooLarge(u16),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Empty => f.write_str("empty frame"),
            FrameError::TooLarge(len) => write!(f, "frame of {len} bytes exceeds the limit"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Writes `body` as one frame into `out`; returns the bytes written, or `None` if the body is
/// empty, longer than `u16::MAX`, or `out` is too small.
pub fn write_frame(body: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = u16::try_from(body.len()).ok().filter(|l| *l > 0)?;
    let total = FRAME_HEADER_LEN + body.len();
    let out = out.get_mut(..total)?;
    out[..FRAME_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    out[FRAME_HEADER_LEN..].copy_from_slice(body);
    Some(total)
}

/// Receive buffer holding at most one maximal wire frame plus whatever follows it.
pub struct RxBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for RxBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl RxBuf {
    /// An empty buffer of [`MAX_WIRE_FRAME`] bytes.
    pub fn new() -> Self {
        RxBuf {
            buf: vec![0u8; MAX_WIRE_FRAME],
            start: 0,
            end: 0,
        }
    }

    /// An empty buffer with no storage yet: a session starts with it and
    /// takes over the handshake's receive buffer when it is established.
    pub(crate) fn empty() -> Self {
        RxBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// [`next_frame`](Self::next_frame), answering where the body lies in the buffer
    /// (for decrypting it in place with [`bytes_mut`](Self::bytes_mut)).
    pub(crate) fn next_frame_range(
        &mut self,
        max_body: usize,
    ) -> Result<Option<core::ops::Range<usize>>, FrameError> {
        let Some(len) = self.header(max_body)? else {
            return Ok(None);
        };
        if self.buffered() < FRAME_HEADER_LEN + len {
            return Ok(None);
        }
        let body_start = self.start + FRAME_HEADER_LEN;
        self.start = body_start + len;
        Ok(Some(body_start..body_start + len))
    }

    /// Bytes of the buffer (a range from [`next_frame_range`](Self::next_frame_range));
    /// empty if out of range.
    pub(crate) fn bytes(&self, r: core::ops::Range<usize>) -> &[u8] {
        self.buf.get(r).unwrap_or(&[])
    }

    /// Mutable form of [`bytes`](Self::bytes).
    pub(crate) fn bytes_mut(&mut self, r: core::ops::Range<usize>) -> &mut [u8] {
        self.buf.get_mut(r).unwrap_or(&mut [])
    }

    /// Grows the buffer to `cap` bytes (keeping what it holds); never shrinks it.
    pub(crate) fn grow_to(&mut self, cap: usize) {
        if self.buf.len() < cap {
            self.buf.resize(cap, 0);
        }
    }

    /// Buffered bytes not yet consumed.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Free space to read into (compacts first). Empty only when a whole frame is buffered.
    pub fn space(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of the last [`space`](Self::space) as filled (clamped to the space).
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Copies as much of `bytes` as fits; returns how many were taken.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let space = self.space();
        let n = bytes.len().min(space.len());
        space[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// Body length of the next frame if its header is in; checks it against `max_body`.
    fn header(&self, max_body: usize) -> Result<Option<usize>, FrameError> {
        let Some(hdr) = self.buf.get(self.start..self.start + FRAME_HEADER_LEN) else {
            return Ok(None);
        };
        if self.buffered() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let len = u16::from_be_bytes([hdr[0], hdr[1]]);
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if usize::from(len) > max_body {
            return Err(FrameError::TooLarge(len));
        }
        Ok(Some(usize::from(len)))
    }

    /// True when [`next_frame`](Self::next_frame) would return a frame or an error.
    pub fn frame_ready(&self, max_body: usize) -> bool {
        match self.header(max_body) {
            Err(_) => true,
            Ok(Some(len)) => self.buffered() >= FRAME_HEADER_LEN + len,
            Ok(None) => false,
        }
    }

    /// Removes the next complete frame and returns its body, `None` if it is incomplete.
    pub fn next_frame(&mut self, max_body: usize) -> Result<Option<&[u8]>, FrameError> {
        let Some(len) = self.header(max_body)? else {
            return Ok(None);
        };
        if self.buffered() < FRAME_HEADER_LEN + len {
            return Ok(None);
        }
        let body_start = self.start + FRAME_HEADER_LEN;
        self.start = body_start + len;
        Ok(self.buf.get(body_start..body_start + len))
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

impl fmt::Debug for RxBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RxBuf")
            .field("buffered", &self.buffered())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_reassemble() {
        let mut wire = Vec::new();
        for body in [&b"a"[..], b"hello", &[7u8; 300]] {
            let mut f = vec![0u8; 2 + body.len()];
            write_frame(body, &mut f).unwrap();
            wire.extend_from_slice(&f);
        }
        for chunk in 1..8 {
            let mut rx = RxBuf::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                assert_eq!(rx.feed(piece), piece.len());
                while let Some(body) = rx.next_frame(300).unwrap() {
                    got.push(body.to_vec());
                }
            }
            assert_eq!(got.len(), 3);
            assert_eq!(got[1], b"hello");
            assert_eq!(rx.buffered(), 0);
        }
    }

    #[test]
    fn bad_headers_are_rejected_early() {
        let mut rx = RxBuf::new();
        rx.feed(&[0, 0]);
        assert!(rx.frame_ready(10));
        assert_eq!(rx.next_frame(10), Err(FrameError::Empty));
        let mut rx = RxBuf::new();
        rx.feed(&[0, 11]);
        assert_eq!(rx.next_frame(10), Err(FrameError::TooLarge(11)));
        assert_eq!(write_frame(b"", &mut [0u8; 4]), None);
        assert_eq!(write_frame(b"abc", &mut [0u8; 4]), None);
    }

    #[test]
    fn full_buffer_always_holds_a_frame() {
        let mut rx = RxBuf::new();
        let body = vec![1u8; crate::MAX_FRAME_LEN];
        let mut f = vec![0u8; MAX_WIRE_FRAME + 10];
        let n = write_frame(&body, &mut f).unwrap();
        f[n..n + 4].copy_from_slice(&[0, 2, 9, 9]);
        assert_eq!(rx.feed(&f[..n + 4]), MAX_WIRE_FRAME);
        assert!(rx.space().is_empty());
        assert_eq!(
            rx.next_frame(crate::MAX_FRAME_LEN)
                .unwrap()
                .map(<[u8]>::len),
            Some(crate::MAX_FRAME_LEN)
        );
        assert_eq!(rx.feed(&f[n..n + 4]), 4);
        assert_eq!(rx.next_frame(10).unwrap(), Some(&[9u8, 9][..]));
    }
}

//! An established DSoftBus session: encrypted, length-prefixed records over a byte stream.
//!
//! Design notes:
//! - A [`Session`] exists only after a complete handshake with successful identity binding
//!   (it has no public constructor). It wraps the Noise [`TransportState`], the peer's
//!   device id and the stream's receive buffer.
//! - Wire format of one record: a frame (u16 big-endian length, 17..=[`MAX_FRAME_LEN`])
//!   whose body is one Noise transport message (empty associated data, implicit
//!   per-direction nonce). The plaintext is a type byte and a body:
//!   `0x10` PING (8-byte token) | `0x11` PONG (8-byte token) |
//!   `0x20` DATA (0..=[`MAX_RECORD_PAYLOAD`] bytes) | `0x30` CLOSE (empty).
//!   `0x01` CONFIRM and `0x02` REJECT are handshake-only and invalid afterwards.
//! - Everything is encrypted, including pings and the type byte; nothing but the frame
//!   length is visible on the wire.
//! - Fail closed: a frame error, failed authentication (tampering, reordering, truncation
//!   of a record), unknown type or malformed body poisons the session; every later call
//!   returns [`SessionError::Poisoned`]. Caller mistakes that are caught before any nonce
//!   is used (oversized payload, short output buffer) do not poison.
//! - Sans-IO: [`Session::seal`] writes a complete frame into a caller buffer; received
//!   bytes enter through [`Session::feed`] or [`Session::rx_space`] + [`Session::rx_commit`]
//!   and leave as [`Record`]s from [`Session::open`], which borrow the session's buffer.

use alloc::string::String;
use core::fmt;

use nexus_net::NetError;
use nexus_noise_xk::{Role, TransportState, HASH_LEN, TAG_LEN};

use crate::frame::{FrameError, RxBuf};
use crate::{FRAME_HEADER_LEN, KEY_LEN, MAX_FRAME_LEN, MAX_RECORD_PAYLOAD};

pub(crate) const TYPE_CONFIRM: u8 = 0x01;
pub(crate) const TYPE_REJECT: u8 = 0x02;
const TYPE_PING: u8 = 0x10;
const TYPE_PONG: u8 = 0x11;
const TYPE_DATA: u8 = 0x20;
const TYPE_CLOSE: u8 = 0x30;

/// One decrypted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// Liveness probe; the peer should answer with a [`Record::Pong`] carrying the token.
    Ping(u64),
    /// Answer to a [`Record::Ping`].
    Pong(u64),
    /// Application bytes (at most [`MAX_RECORD_PAYLOAD`]).
    Data(&'a [u8]),
    /// The sender will send nothing more.
    Close,
}

/// Why a session operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// Noise transport failure (e.g. `DecryptFailed` for a tampered record). Poisons.
    Noise(nexus_noise_xk::Error),
    /// Framing violation on the stream. Poisons.
    Frame(FrameError),
    /// The record decrypted but its type or body is invalid. Poisons.
    Malformed,
    /// A DATA payload longer than [`MAX_RECORD_PAYLOAD`] (nothing was sent).
    TooLarge,
    /// The output buffer is too small for the record (nothing was sent).
    BufferTooSmall,
    /// An earlier error made the session unusable.
    Poisoned,
    /// The peer closed the stream (driver only).
    Closed,
    /// The sockets facade reported an error (driver only).
    Net(NetError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Noise(e) => write!(f, "session crypto: {e}"),
            SessionError::Frame(e) => write!(f, "session framing: {e}"),
            SessionError::Malformed => f.write_str("malformed record"),
            SessionError::TooLarge => f.write_str("record payload too large"),
            SessionError::BufferTooSmall => f.write_str("record output buffer too small"),
            SessionError::Poisoned => f.write_str("session unusable after an earlier error"),
            SessionError::Closed => f.write_str("peer closed the stream"),
            SessionError::Net(e) => write!(f, "sockets facade: {e}"),
        }
    }
}

impl core::error::Error for SessionError {}

/// Where a record's body starts in its sealed frame (after the length and the type
/// byte): [`Session::seal_data_in_place`] expects the payload there.
pub const DATA_AT: usize = FRAME_HEADER_LEN + 1;
const BODY_AT: usize = DATA_AT;

/// Wire size of a sealed record whose plaintext body is `body_len` bytes.
pub const fn sealed_len(body_len: usize) -> usize {
    FRAME_HEADER_LEN + 1 + body_len + TAG_LEN
}

/// An authenticated, encrypted session with one peer device.
pub struct Session {
    transport: TransportState,
    peer_device_id: String,
    pub(crate) rx: RxBuf,
    /// Where the plaintext of the last opened record starts in `rx` (decrypted in
    /// place).
    plain_at: usize,
    poisoned: bool,
}

impl Session {
    pub(crate) fn new(transport: TransportState, peer_device_id: String) -> Self {
        Session {
            transport,
            peer_device_id,
            rx: RxBuf::empty(),
            plain_at: 0,
            poisoned: false,
        }
    }

    /// The peer's device id (bound to its static key by the handshake).
    pub fn peer_device_id(&self) -> &str {
        &self.peer_device_id
    }

    /// The peer's authenticated Noise static public key.
    pub fn remote_static(&self) -> &[u8; KEY_LEN] {
        self.transport.remote_static()
    }

    /// The Noise handshake hash (identical on both ends; usable for channel binding).
    pub fn handshake_hash(&self) -> &[u8; HASH_LEN] {
        self.transport.handshake_hash()
    }

    /// Our Noise role (the connecting side is the initiator).
    pub fn role(&self) -> Role {
        self.transport.role()
    }

    /// True once an error has made the session unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Records sent so far.
    pub fn records_sent(&self) -> u64 {
        self.transport.sending_nonce()
    }

    /// Records received so far (including the handshake's confirm record).
    pub fn records_received(&self) -> u64 {
        self.transport.receiving_nonce()
    }

    /// Encrypts `record` as one complete frame into `out`; returns the bytes written
    /// ([`sealed_len`] of its body, at most [`MAX_WIRE_FRAME`](crate::MAX_WIRE_FRAME)).
    pub fn seal(&mut self, record: &Record<'_>, out: &mut [u8]) -> Result<usize, SessionError> {
        let token;
        let (ty, body): (u8, &[u8]) = match record {
            Record::Ping(t) => {
                token = t.to_be_bytes();
                (TYPE_PING, &token)
            }
            Record::Pong(t) => {
                token = t.to_be_bytes();
                (TYPE_PONG, &token)
            }
            Record::Data(d) => (TYPE_DATA, d),
            Record::Close => (TYPE_CLOSE, &[]),
        };
        self.seal_raw(ty, body, out)
    }

    /// Seals any record type (the handshake uses it for CONFIRM / REJECT).
    pub(crate) fn seal_raw(
        &mut self,
        ty: u8,
        body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if self.poisoned {
            return Err(SessionError::Poisoned);
        }
        if body.len() > MAX_RECORD_PAYLOAD {
            return Err(SessionError::TooLarge);
        }
        let total = sealed_len(body.len());
        let out = out.get_mut(..total).ok_or(SessionError::BufferTooSmall)?;
        out[BODY_AT..BODY_AT + body.len()].copy_from_slice(body);
        self.seal_in_place_raw(ty, out, body.len())
    }

    /// Seals a DATA record whose payload the caller already wrote at
    /// `out[DATA_AT..DATA_AT + len]` (where [`seal`](Self::seal) would copy it), so the
    /// payload is encrypted where it lies; returns the frame length ([`sealed_len`] of
    /// `len`). The wire bytes are exactly those of `seal(&Record::Data(payload))`.
    pub fn seal_data_in_place(
        &mut self,
        out: &mut [u8],
        len: usize,
    ) -> Result<usize, SessionError> {
        if self.poisoned {
            return Err(SessionError::Poisoned);
        }
        if len > MAX_RECORD_PAYLOAD {
            return Err(SessionError::TooLarge);
        }
        let out = out
            .get_mut(..sealed_len(len))
            .ok_or(SessionError::BufferTooSmall)?;
        self.seal_in_place_raw(TYPE_DATA, out, len)
    }

    /// Frames and encrypts `out` (exactly [`sealed_len`] of `body_len` bytes, the body
    /// at [`DATA_AT`]) in place.
    fn seal_in_place_raw(
        &mut self,
        ty: u8,
        out: &mut [u8],
        body_len: usize,
    ) -> Result<usize, SessionError> {
        let total = out.len();
        let (header, message) = out.split_at_mut(FRAME_HEADER_LEN);
        message[0] = ty;
        match self.transport.write_message_in_place(message, 1 + body_len) {
            Ok(n) => {
                // n = 1 + body_len + 16 <= MAX_FRAME_LEN <= u16::MAX.
                header.copy_from_slice(&(n as u16).to_be_bytes());
                Ok(total)
            }
            Err(e) => {
                self.poisoned = true;
                Err(SessionError::Noise(e))
            }
        }
    }

    /// Copies received stream bytes in; returns how many fit (call [`open`](Self::open)
    /// until it returns `None`, then feed the rest).
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        self.rx.feed(bytes)
    }

    /// Free receive space to read stream bytes into directly.
    pub fn rx_space(&mut self) -> &mut [u8] {
        self.rx.space()
    }

    /// Marks `n` bytes read into [`rx_space`](Self::rx_space) as received.
    pub fn rx_commit(&mut self, n: usize) {
        self.rx.commit(n);
    }

    /// True when [`open`](Self::open) would return a record or an error.
    pub fn record_ready(&self) -> bool {
        self.poisoned || self.rx.frame_ready(MAX_FRAME_LEN)
    }

    /// Decrypts the next complete record; `Ok(None)` if more bytes are needed.
    pub fn open(&mut self) -> Result<Option<Record<'_>>, SessionError> {
        match self.open_raw(MAX_FRAME_LEN)? {
            None => Ok(None),
            Some(len) => match parse(self.rx.bytes(self.plain_at..self.plain_at + len)) {
                Some(record) => Ok(Some(record)),
                None => {
                    self.poisoned = true;
                    Err(SessionError::Malformed)
                }
            },
        }
    }

    /// Decrypts the next frame (body at most `max_body`) in place; returns the
    /// plaintext length. Every failure poisons.
    pub(crate) fn open_raw(&mut self, max_body: usize) -> Result<Option<usize>, SessionError> {
        if self.poisoned {
            return Err(SessionError::Poisoned);
        }
        let body = match self.rx.next_frame_range(max_body) {
            Ok(Some(body)) => body,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.poisoned = true;
                return Err(SessionError::Frame(e));
            }
        };
        // Decrypted where it lies in the receive buffer (the plaintext stays there
        // until the next `rx_space` / `feed`, which come after the record is used).
        let at = body.start;
        match self
            .transport
            .read_message_in_place(self.rx.bytes_mut(body))
        {
            Ok(n) if n > 0 => {
                self.plain_at = at;
                Ok(Some(n))
            }
            Ok(_) => {
                self.poisoned = true;
                Err(SessionError::Malformed)
            }
            Err(e) => {
                self.poisoned = true;
                Err(SessionError::Noise(e))
            }
        }
    }

    /// Type byte and body of the plaintext left by the last [`open_raw`](Self::open_raw).
    pub(crate) fn plain(&self, len: usize) -> (u8, &[u8]) {
        match self
            .rx
            .bytes(self.plain_at..self.plain_at + len)
            .split_first()
        {
            Some((ty, body)) => (*ty, body),
            None => (0, &[]),
        }
    }
}

/// Parses a decrypted post-handshake plaintext (`None` = malformed).
fn parse(plain: &[u8]) -> Option<Record<'_>> {
    let (&ty, body) = plain.split_first()?;
    let token = || body.try_into().ok().map(u64::from_be_bytes);
    match ty {
        TYPE_PING => token().map(Record::Ping),
        TYPE_PONG => token().map(Record::Pong),
        TYPE_DATA if body.len() <= MAX_RECORD_PAYLOAD => Some(Record::Data(body)),
        TYPE_CLOSE if body.is_empty() => Some(Record::Close),
        _ => None,
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("peer_device_id", &self.peer_device_id)
            .field("role", &self.role())
            .field("records_sent", &self.records_sent())
            .field("records_received", &self.records_received())
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        assert_eq!(parse(&[]), None);
        assert_eq!(
            parse(&[TYPE_PING, 0, 0, 0, 0, 0, 0, 0, 7]),
            Some(Record::Ping(7))
        );
        assert_eq!(parse(&[TYPE_PING, 0, 0]), None);
        assert_eq!(parse(&[TYPE_CLOSE]), Some(Record::Close));
        assert_eq!(parse(&[TYPE_CLOSE, 0]), None);
        assert_eq!(parse(&[TYPE_DATA]), Some(Record::Data(&[])));
        assert_eq!(parse(&[TYPE_CONFIRM]), None);
        assert_eq!(parse(&[TYPE_REJECT]), None);
        assert_eq!(parse(&[0x99, 1]), None);
        assert_eq!(sealed_len(MAX_RECORD_PAYLOAD), crate::MAX_WIRE_FRAME);
    }
}

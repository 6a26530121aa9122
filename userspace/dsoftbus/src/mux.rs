//! Streams on an established session: stream ids, open / accept / refuse / data / credit /
//! close / reset frames, per-stream credit flow control and fair scheduling.
//!
//! Design notes:
//! - Every stream frame travels as the payload of one session [`Record::Data`] record, so
//!   it is encrypted and authenticated like everything else on the session. One frame per
//!   record; at most [`MAX_RECORD_PAYLOAD`] bytes. The byte-exact layout is in
//!   `docs/dsoftbus.md` §6 and in [`Frame`].
//! - Sans-IO: [`Mux::receive`] takes the payload of one incoming DATA record and returns at
//!   most one [`Event`]; [`Mux::poll_transmit`] writes the next outgoing frame; the local
//!   side calls [`Mux::open`], [`Mux::accept`], [`Mux::refuse`], [`Mux::send`],
//!   [`Mux::recv`], [`Mux::close`], [`Mux::reset`]. No clock, no I/O.
//! - Bounded: at most [`MuxConfig::max_streams`] streams; each holds at most its receive
//!   window of received bytes (the peer may not send more than the credit we granted) and
//!   at most [`MuxConfig::send_buffer`] bytes queued for sending; pending control frames
//!   are flags per stream plus a queue of at most `2 * max_streams + 8` refusals/resets for
//!   streams that no longer exist. [`Mux::buffered`] is the total.
//! - Flow control is per stream and per direction: a sender may send DATA bytes only up to
//!   the credit the receiver granted (initial window in OPEN / ACCEPT, then CREDIT frames as
//!   the local reader consumes). A slow reader stalls only its own stream: the scheduler
//!   only picks streams that have both queued bytes and credit.
//! - Scheduling: control frames first, then DATA by weighted round robin between two
//!   classes: up to [`INTERACTIVE_WEIGHT`] interactive frames per bulk frame when both have
//!   work, round robin by stream id inside a class. Bulk is never starved.
//! - Errors: a frame that does not decode, a stream id rule broken, or a peer that floods
//!   refusals it never reads makes [`Mux::receive`] fail with a [`MuxError`]; the caller must
//!   then close the whole session. Misbehaviour confined to one stream (credit exceeded,
//!   oversized message, data after close) resets only that stream.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use crate::announce::valid_service_name;
use crate::MAX_RECORD_PAYLOAD;

#[cfg(doc)]
use crate::session::Record;

/// Frame type OPEN.
pub const T_OPEN: u8 = 0x01;
/// Frame type ACCEPT.
pub const T_ACCEPT: u8 = 0x02;
/// Frame type REFUSE.
pub const T_REFUSE: u8 = 0x03;
/// Frame type DATA.
pub const T_DATA: u8 = 0x04;
/// Frame type CREDIT (window update).
pub const T_CREDIT: u8 = 0x05;
/// Frame type CLOSE (no more data in this direction).
pub const T_CLOSE: u8 = 0x06;
/// Frame type RESET (abort both directions).
pub const T_RESET: u8 = 0x07;

/// Bytes of a DATA frame before its payload: type, stream id, flags.
pub const DATA_HEADER_LEN: usize = 1 + 4 + 1;
/// Largest DATA payload in one frame (4090).
pub const MAX_DATA_PAYLOAD: usize = MAX_RECORD_PAYLOAD - DATA_HEADER_LEN;
/// Largest message in message mode (bytes; messages are 1..=this).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// Smallest receive window a node grants (and the smallest [`MuxConfig::window`]).
pub const MIN_WINDOW: u32 = 32 * 1024;
/// Largest credit a sender may hold on one stream (initial window plus increments).
pub const MAX_CREDIT: u64 = (1 << 31) - 1;
/// Interactive DATA frames sent per bulk DATA frame while both classes have work.
pub const INTERACTIVE_WEIGHT: u8 = 8;
/// DATA flag: this frame ends a message (message mode only).
pub const FLAG_END: u8 = 0x01;

/// A stream id: odd ids are opened by the session initiator, even ids by the responder;
/// 0 is never used.
pub type StreamId = u32;

/// Scheduling class of a stream (both directions), chosen by the opener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Latency-sensitive (request/response); wire value 0.
    Interactive,
    /// Throughput (transfers); wire value 1.
    Bulk,
}

/// How a stream delivers bytes, chosen by the opener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Messages of 1..=[`MAX_MESSAGE_LEN`] bytes, boundaries kept; wire value 0.
    Message,
    /// An ordered byte stream without boundaries; wire value 1.
    Bytes,
}

/// Why an OPEN was refused (REFUSE frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// No application publishes the service on that node (1).
    NotPublished = 1,
    /// The remote policy does not allow this peer to use the service (2).
    Denied = 2,
    /// The remote node has no stream slot left (3).
    TooManyStreams = 3,
    /// The service does not accept the requested mode (4).
    BadMode = 4,
}

/// Why a stream was reset (RESET frame, or locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The application aborted the stream (1).
    Cancelled = 1,
    /// The sender exceeded the credit it was granted (2).
    FlowControl = 2,
    /// A message was longer than [`MAX_MESSAGE_LEN`] (3).
    MessageTooLarge = 3,
    /// A frame broke the stream's rules (data after close, END in byte mode, ...) (4).
    Protocol = 4,
    /// The application that owned the stream went away (5).
    Gone = 5,
}

impl RefuseReason {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => RefuseReason::NotPublished,
            2 => RefuseReason::Denied,
            3 => RefuseReason::TooManyStreams,
            4 => RefuseReason::BadMode,
            _ => return None,
        })
    }
}

impl ResetReason {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => ResetReason::Cancelled,
            2 => ResetReason::FlowControl,
            3 => ResetReason::MessageTooLarge,
            4 => ResetReason::Protocol,
            5 => ResetReason::Gone,
            _ => return None,
        })
    }
}

/// One stream frame (the payload of one session DATA record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `01 | id u32 | prio u8 | mode u8 | window u32 | name len u8 | name`.
    Open {
        /// New stream id.
        id: StreamId,
        /// Scheduling class.
        prio: Priority,
        /// Delivery mode.
        mode: Mode,
        /// Bytes the opener may receive before the first CREDIT.
        window: u32,
        /// Service name (1..=64 bytes UTF-8).
        service: &'a str,
    },
    /// `02 | id u32 | window u32`.
    Accept {
        /// Stream id.
        id: StreamId,
        /// Bytes the acceptor may receive before the first CREDIT.
        window: u32,
    },
    /// `03 | id u32 | reason u8`.
    Refuse {
        /// Stream id.
        id: StreamId,
        /// Why.
        reason: RefuseReason,
    },
    /// `04 | id u32 | flags u8 | 1..=4090 bytes`.
    Data {
        /// Stream id.
        id: StreamId,
        /// [`FLAG_END`] set: last frame of a message.
        end: bool,
        /// Payload (never empty).
        bytes: &'a [u8],
    },
    /// `05 | id u32 | increment u32 (>= 1)`.
    Credit {
        /// Stream id.
        id: StreamId,
        /// More bytes the sender may send.
        increment: u32,
    },
    /// `06 | id u32`: the sender sends no more DATA on this stream.
    Close {
        /// Stream id.
        id: StreamId,
    },
    /// `07 | id u32 | reason u8`: both directions aborted.
    Reset {
        /// Stream id.
        id: StreamId,
        /// Why.
        reason: ResetReason,
    },
}

/// Why a frame does not decode (the session must be closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Empty payload or a field cut short.
    Truncated,
    /// Unknown frame type.
    UnknownType(u8),
    /// Stream id 0.
    ZeroId,
    /// Bytes after the last field.
    TrailingBytes,
    /// Priority, mode, reason or flags value not defined.
    BadValue,
    /// Service name empty, longer than 64 bytes or not UTF-8.
    BadServiceName,
    /// DATA without payload, or CREDIT of 0.
    Empty,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated => f.write_str("stream frame truncated"),
            FrameError::UnknownType(t) => write!(f, "unknown stream frame type {t:#04x}"),
            FrameError::ZeroId => f.write_str("stream id 0"),
            FrameError::TrailingBytes => f.write_str("bytes after a stream frame"),
            FrameError::BadValue => f.write_str("undefined field value in a stream frame"),
            FrameError::BadServiceName => f.write_str("invalid service name in OPEN"),
            FrameError::Empty => f.write_str("empty DATA or zero CREDIT"),
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, FrameError> {
        let (&b, rest) = self.0.split_first().ok_or(FrameError::Truncated)?;
        self.0 = rest;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(FrameError::Truncated)?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.0.len() < n {
            return Err(FrameError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn end(&self) -> Result<(), FrameError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(FrameError::TrailingBytes)
        }
    }
}

impl<'a> Frame<'a> {
    /// Decodes one frame. Total: never panics, never allocates; the result borrows `b`.
    pub fn decode(b: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        if b.len() > MAX_RECORD_PAYLOAD {
            return Err(FrameError::TrailingBytes);
        }
        let mut r = Reader(b);
        let ty = r.u8()?;
        if !(T_OPEN..=T_RESET).contains(&ty) {
            return Err(FrameError::UnknownType(ty));
        }
        let id = r.u32()?;
        if id == 0 {
            return Err(FrameError::ZeroId);
        }
        let f = match ty {
            T_OPEN => {
                let prio = match r.u8()? {
                    0 => Priority::Interactive,
                    1 => Priority::Bulk,
                    _ => return Err(FrameError::BadValue),
                };
                let mode = match r.u8()? {
                    0 => Mode::Message,
                    1 => Mode::Bytes,
                    _ => return Err(FrameError::BadValue),
                };
                let window = r.u32()?;
                let n = r.u8()? as usize;
                let name = r.bytes(n)?;
                let service = core::str::from_utf8(name).map_err(|_| FrameError::BadServiceName)?;
                if !valid_service_name(service) {
                    return Err(FrameError::BadServiceName);
                }
                Frame::Open {
                    id,
                    prio,
                    mode,
                    window,
                    service,
                }
            }
            T_ACCEPT => Frame::Accept {
                id,
                window: r.u32()?,
            },
            T_REFUSE => Frame::Refuse {
                id,
                reason: RefuseReason::from_u8(r.u8()?).ok_or(FrameError::BadValue)?,
            },
            T_DATA => {
                let flags = r.u8()?;
                if flags & !FLAG_END != 0 {
                    return Err(FrameError::BadValue);
                }
                let bytes = core::mem::take(&mut r.0);
                if bytes.is_empty() {
                    return Err(FrameError::Empty);
                }
                Frame::Data {
                    id,
                    end: flags & FLAG_END != 0,
                    bytes,
                }
            }
            T_CREDIT => {
                let increment = r.u32()?;
                if increment == 0 {
                    return Err(FrameError::Empty);
                }
                Frame::Credit { id, increment }
            }
            T_CLOSE => Frame::Close { id },
            _ => Frame::Reset {
                id,
                reason: ResetReason::from_u8(r.u8()?).ok_or(FrameError::BadValue)?,
            },
        };
        r.end()?;
        Ok(f)
    }

    /// Encoded length of this frame.
    pub fn len(&self) -> usize {
        5 + match self {
            Frame::Open { service, .. } => 1 + 1 + 4 + 1 + service.len(),
            Frame::Accept { .. } | Frame::Credit { .. } => 4,
            Frame::Refuse { .. } | Frame::Reset { .. } => 1,
            Frame::Data { bytes, .. } => 1 + bytes.len(),
            Frame::Close { .. } => 0,
        }
    }

    /// Always false (every frame has a type and an id); for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encodes into `out`; `None` if `out` is too small or the frame is one
    /// [`decode`](Self::decode) would refuse (id 0, bad name, empty DATA, zero CREDIT,
    /// DATA payload over [`MAX_DATA_PAYLOAD`]).
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let n = self.len();
        let out = out.get_mut(..n)?;
        let (ty, id) = match *self {
            Frame::Open { id, service, .. } => {
                if !valid_service_name(service) {
                    return None;
                }
                (T_OPEN, id)
            }
            Frame::Accept { id, .. } => (T_ACCEPT, id),
            Frame::Refuse { id, .. } => (T_REFUSE, id),
            Frame::Data { id, bytes, .. } => {
                if bytes.is_empty() || bytes.len() > MAX_DATA_PAYLOAD {
                    return None;
                }
                (T_DATA, id)
            }
            Frame::Credit { id, increment } => {
                if increment == 0 {
                    return None;
                }
                (T_CREDIT, id)
            }
            Frame::Close { id } => (T_CLOSE, id),
            Frame::Reset { id, .. } => (T_RESET, id),
        };
        if id == 0 {
            return None;
        }
        out[0] = ty;
        out[1..5].copy_from_slice(&id.to_be_bytes());
        let body = &mut out[5..];
        match *self {
            Frame::Open {
                prio,
                mode,
                window,
                service,
                ..
            } => {
                body[0] = match prio {
                    Priority::Interactive => 0,
                    Priority::Bulk => 1,
                };
                body[1] = match mode {
                    Mode::Message => 0,
                    Mode::Bytes => 1,
                };
                body[2..6].copy_from_slice(&window.to_be_bytes());
                body[6] = service.len() as u8;
                body[7..].copy_from_slice(service.as_bytes());
            }
            Frame::Accept { window, .. } => body.copy_from_slice(&window.to_be_bytes()),
            Frame::Credit { increment, .. } => body.copy_from_slice(&increment.to_be_bytes()),
            Frame::Refuse { reason, .. } => body[0] = reason as u8,
            Frame::Reset { reason, .. } => body[0] = reason as u8,
            Frame::Data { end, bytes, .. } => {
                body[0] = if end { FLAG_END } else { 0 };
                body[1..].copy_from_slice(bytes);
            }
            Frame::Close { .. } => {}
        }
        Some(n)
    }
}

/// Limits of one [`Mux`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxConfig {
    /// Streams open at once, both directions together (clamped to 1..=256).
    pub max_streams: usize,
    /// Receive window granted per stream (bytes; clamped to [`MIN_WINDOW`]..=16 MiB).
    pub window: u32,
    /// Bytes the local side may queue for sending per stream (clamped to
    /// [`MAX_MESSAGE_LEN`]..=16 MiB).
    pub send_buffer: usize,
}

impl Default for MuxConfig {
    fn default() -> Self {
        MuxConfig {
            max_streams: 32,
            window: 64 * 1024,
            send_buffer: 64 * 1024,
        }
    }
}

impl MuxConfig {
    fn clamped(self) -> Self {
        MuxConfig {
            max_streams: self.max_streams.clamp(1, 256),
            window: self.window.clamp(MIN_WINDOW, 16 << 20),
            send_buffer: self.send_buffer.clamp(MAX_MESSAGE_LEN, 16 << 20),
        }
    }

    /// Most bytes a mux with this configuration ever buffers (all streams, both
    /// directions), not counting the fixed per-stream bookkeeping.
    pub fn max_buffered(&self) -> usize {
        let c = self.clamped();
        c.max_streams * (c.window as usize + c.send_buffer)
    }
}

/// Moves the first `out.len()` bytes of `q` (which holds at least that many) into
/// `out`: two slice copies rather than a loop over single bytes.
fn take_front(q: &mut VecDeque<u8>, out: &mut [u8]) {
    let n = out.len().min(q.len());
    let (a, b) = q.as_slices();
    let k = a.len().min(n);
    out[..k].copy_from_slice(&a[..k]);
    out[k..n].copy_from_slice(&b[..n - k]);
    q.drain(..n);
}

/// A session-fatal protocol violation: close the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuxError {
    /// The frame does not decode.
    Frame(FrameError),
    /// OPEN with an id of the wrong parity or not above every id the peer used before.
    BadOpenId(StreamId),
    /// A frame for a stream id the peer never opened and we never allocated.
    UnknownId(StreamId),
    /// The peer keeps opening streams we must refuse faster than it reads our answers.
    Overloaded,
}

impl fmt::Display for MuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MuxError::Frame(e) => write!(f, "{e}"),
            MuxError::BadOpenId(id) => write!(f, "OPEN with invalid stream id {id}"),
            MuxError::UnknownId(id) => write!(f, "frame for never-opened stream {id}"),
            MuxError::Overloaded => f.write_str("peer floods refused opens"),
        }
    }
}

/// Why a local stream operation failed (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// No such stream (never existed, reset, refused or finished).
    Unknown,
    /// No room (send) or nothing to read yet (recv); try again after progress.
    WouldBlock,
    /// Message empty or longer than [`MAX_MESSAGE_LEN`].
    BadMessage,
    /// The output buffer is shorter than the next message (nothing consumed).
    BufferTooSmall,
    /// The stream is not in a state that allows this (e.g. send after close,
    /// accept of an already accepted stream).
    WrongState,
    /// Every stream slot is taken.
    TooManyStreams,
    /// The service name is invalid.
    BadName,
}

/// What an incoming frame meant for the local side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The peer opens a stream: call [`Mux::accept`] or [`Mux::refuse`].
    Incoming {
        /// Stream id.
        id: StreamId,
        /// Requested service.
        service: &'a str,
        /// Delivery mode.
        mode: Mode,
        /// Scheduling class.
        prio: Priority,
    },
    /// An OPEN of ours was refused and the stream is gone.
    Refused(StreamId, RefuseReason),
    /// An OPEN of ours was accepted.
    Accepted(StreamId),
    /// Bytes (or a complete message) can be read.
    Readable(StreamId),
    /// The peer granted credit: queued bytes can go out.
    Writable(StreamId),
    /// The peer will send nothing more (read to the end, then [`Mux::recv`] returns 0).
    Finished(StreamId),
    /// The stream is gone: the peer reset it, or a frame broke its rules and we reset it.
    Reset(StreamId, ResetReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ours; OPEN not yet sent.
    OpenQueued,
    /// Ours; OPEN sent, waiting for ACCEPT / REFUSE.
    OpenSent,
    /// Theirs; waiting for the local side to accept or refuse.
    Incoming,
    /// Both sides agreed.
    Open,
}

struct Stream {
    id: StreamId,
    state: State,
    mode: Mode,
    prio: Priority,
    service: alloc::string::String,
    // Send direction.
    tx: VecDeque<u8>,
    /// Remaining bytes of each queued message (message mode), front = current.
    tx_msgs: VecDeque<usize>,
    credit: u64,
    fin_wanted: bool,
    fin_sent: bool,
    accept_due: bool,
    // Receive direction.
    rx: VecDeque<u8>,
    /// Lengths of complete messages in `rx` (message mode).
    rx_msgs: VecDeque<usize>,
    rx_partial: usize,
    /// Bytes the peer may still send (granted, unused).
    rx_allowed: u64,
    /// Bytes consumed by the reader and not yet returned as credit.
    uncredited: u32,
    credit_due: u32,
    fin_received: bool,
    /// The local reader saw the end (`recv` returned 0).
    eof_read: bool,
}

impl Stream {
    fn new(id: StreamId, state: State, mode: Mode, prio: Priority) -> Self {
        Stream {
            id,
            state,
            mode,
            prio,
            service: alloc::string::String::new(),
            tx: VecDeque::new(),
            tx_msgs: VecDeque::new(),
            credit: 0,
            fin_wanted: false,
            fin_sent: false,
            accept_due: false,
            rx: VecDeque::new(),
            rx_msgs: VecDeque::new(),
            rx_partial: 0,
            rx_allowed: 0,
            uncredited: 0,
            credit_due: 0,
            fin_received: false,
            eof_read: false,
        }
    }

    fn data_ready(&self) -> bool {
        self.state == State::Open && !self.tx.is_empty() && self.credit > 0
    }

    fn done(&self) -> bool {
        self.fin_sent && self.eof_read
    }
}

/// Stream multiplexer of one session (one per authenticated peer).
pub struct Mux {
    cfg: MuxConfig,
    /// Parity of the ids we allocate: 1 (session initiator) or 0.
    parity: u32,
    next_id: StreamId,
    /// Highest id the peer opened (0 = none).
    peer_high: StreamId,
    streams: Vec<Stream>,
    /// Frames for streams that no longer exist (REFUSE / RESET), bounded.
    ctrl: VecDeque<Frame<'static>>,
    /// Interactive frames sent since the last bulk frame.
    run: u8,
    last: [StreamId; 2],
}

impl fmt::Debug for Mux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mux")
            .field("streams", &self.streams.len())
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

impl Mux {
    /// A mux for one session; `initiator` is the session's Noise role (the side that
    /// dialled allocates odd stream ids, the other even ones).
    pub fn new(cfg: MuxConfig, initiator: bool) -> Self {
        let parity = initiator as u32;
        Mux {
            cfg: cfg.clamped(),
            parity,
            next_id: if initiator { 1 } else { 2 },
            peer_high: 0,
            streams: Vec::new(),
            ctrl: VecDeque::new(),
            run: 0,
            last: [0; 2],
        }
    }

    /// The (clamped) configuration.
    pub fn config(&self) -> &MuxConfig {
        &self.cfg
    }

    /// Streams in any state.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes held in receive and send buffers, all streams.
    pub fn buffered(&self) -> usize {
        self.streams.iter().map(|s| s.rx.len() + s.tx.len()).sum()
    }

    /// Bytes held for one stream (received unread, queued unsent).
    pub fn stream_buffered(&self, id: StreamId) -> Option<(usize, usize)> {
        self.get(id).map(|s| (s.rx.len(), s.tx.len()))
    }

    /// Ids of every stream (to report peer-gone when the session ends).
    pub fn ids(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.streams.iter().map(|s| s.id)
    }

    /// The service a stream was opened for.
    pub fn service(&self, id: StreamId) -> Option<&str> {
        self.get(id).map(|s| s.service.as_str())
    }

    fn get(&self, id: StreamId) -> Option<&Stream> {
        self.streams.iter().find(|s| s.id == id)
    }

    fn idx(&self, id: StreamId) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    fn ours(&self, id: StreamId) -> bool {
        id & 1 == self.parity
    }

    /// Opens a stream to `service`; OPEN goes out with the next [`poll_transmit`](Self::poll_transmit).
    /// Bytes may be queued with [`send`](Self::send) at once; they leave after ACCEPT.
    pub fn open(
        &mut self,
        service: &str,
        mode: Mode,
        prio: Priority,
    ) -> Result<StreamId, StreamError> {
        if !valid_service_name(service) {
            return Err(StreamError::BadName);
        }
        if self.streams.len() >= self.cfg.max_streams || self.next_id > u32::MAX - 2 {
            return Err(StreamError::TooManyStreams);
        }
        let id = self.next_id;
        self.next_id += 2;
        let mut s = Stream::new(id, State::OpenQueued, mode, prio);
        s.service.push_str(service);
        s.rx_allowed = u64::from(self.cfg.window);
        self.streams.push(s);
        Ok(id)
    }

    /// Accepts an [`Event::Incoming`] stream.
    pub fn accept(&mut self, id: StreamId) -> Result<(), StreamError> {
        let window = u64::from(self.cfg.window);
        let s = self.stream_mut(id)?;
        if s.state != State::Incoming {
            return Err(StreamError::WrongState);
        }
        s.state = State::Open;
        s.accept_due = true;
        s.rx_allowed = window;
        Ok(())
    }

    /// Refuses an [`Event::Incoming`] stream; it is gone at once.
    pub fn refuse(&mut self, id: StreamId, reason: RefuseReason) -> Result<(), StreamError> {
        let i = self.idx(id).ok_or(StreamError::Unknown)?;
        if self.streams[i].state != State::Incoming {
            return Err(StreamError::WrongState);
        }
        self.streams.swap_remove(i);
        self.push_ctrl(Frame::Refuse { id, reason });
        Ok(())
    }

    /// Aborts a stream in any state; it is gone at once and the peer gets RESET.
    pub fn reset(&mut self, id: StreamId, reason: ResetReason) -> Result<(), StreamError> {
        let i = self.idx(id).ok_or(StreamError::Unknown)?;
        let s = self.streams.swap_remove(i);
        if s.state != State::OpenQueued {
            self.push_ctrl(Frame::Reset { id, reason });
        }
        Ok(())
    }

    /// Graceful close of our sending direction: CLOSE follows the queued bytes. The
    /// stream is gone once our CLOSE is sent and [`recv`](Self::recv) returned the end
    /// (0); a side that will not read to the end uses [`reset`](Self::reset).
    pub fn close(&mut self, id: StreamId) -> Result<(), StreamError> {
        let s = self.stream_mut(id)?;
        if s.state == State::Incoming {
            return Err(StreamError::WrongState);
        }
        s.fin_wanted = true;
        Ok(())
    }

    fn push_ctrl(&mut self, f: Frame<'static>) {
        // Bounded by the caller (`receive` checks before refusing); local resets are
        // bounded by the streams that existed.
        self.ctrl.push_back(f);
    }

    fn ctrl_limit(&self) -> usize {
        2 * self.cfg.max_streams + 8
    }

    fn stream_mut(&mut self, id: StreamId) -> Result<&mut Stream, StreamError> {
        self.streams
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(StreamError::Unknown)
    }

    /// Free send space of a stream (bytes [`send`](Self::send) would take now).
    pub fn send_space(&self, id: StreamId) -> Option<usize> {
        self.get(id)
            .map(|s| self.cfg.send_buffer.saturating_sub(s.tx.len()))
    }

    /// Queues bytes. Byte mode: takes as much as fits (0 only for empty input) or
    /// `WouldBlock`. Message mode: takes the whole message (1..=[`MAX_MESSAGE_LEN`]) or
    /// nothing (`WouldBlock` until it fits).
    pub fn send(&mut self, id: StreamId, data: &[u8]) -> Result<usize, StreamError> {
        let limit = self.cfg.send_buffer;
        let s = self.stream_mut(id)?;
        if s.fin_wanted || s.state == State::Incoming {
            return Err(StreamError::WrongState);
        }
        let space = limit.saturating_sub(s.tx.len());
        match s.mode {
            Mode::Bytes => {
                if data.is_empty() {
                    return Ok(0);
                }
                let n = data.len().min(space);
                if n == 0 {
                    return Err(StreamError::WouldBlock);
                }
                s.tx.extend(&data[..n]);
                Ok(n)
            }
            Mode::Message => {
                if data.is_empty() || data.len() > MAX_MESSAGE_LEN {
                    return Err(StreamError::BadMessage);
                }
                if data.len() > space {
                    return Err(StreamError::WouldBlock);
                }
                s.tx.extend(data);
                s.tx_msgs.push_back(data.len());
                Ok(data.len())
            }
        }
    }

    /// True if [`recv`](Self::recv) would return data or the end of the stream.
    pub fn readable(&self, id: StreamId) -> bool {
        self.get(id).is_some_and(|s| match s.mode {
            Mode::Bytes => !s.rx.is_empty() || s.fin_received,
            Mode::Message => !s.rx_msgs.is_empty() || (s.fin_received && s.rx.is_empty()),
        })
    }

    /// Reads. Byte mode: up to `out.len()` bytes. Message mode: one whole message
    /// (`BufferTooSmall` if `out` is shorter; nothing consumed). `Ok(0)`: the peer closed
    /// and everything was read. `WouldBlock`: nothing yet.
    pub fn recv(&mut self, id: StreamId, out: &mut [u8]) -> Result<usize, StreamError> {
        let window = self.cfg.window;
        let i = self.idx(id).ok_or(StreamError::Unknown)?;
        let s = &mut self.streams[i];
        if s.state == State::Incoming {
            return Err(StreamError::WrongState);
        }
        let n = match s.mode {
            Mode::Bytes => {
                if s.rx.is_empty() {
                    return if s.fin_received {
                        self.end_of_stream(i)
                    } else {
                        Err(StreamError::WouldBlock)
                    };
                }
                if out.is_empty() {
                    return Err(StreamError::BufferTooSmall);
                }
                let n = out.len().min(s.rx.len());
                take_front(&mut s.rx, &mut out[..n]);
                n
            }
            Mode::Message => {
                let Some(&len) = s.rx_msgs.front() else {
                    return if s.fin_received && s.rx.is_empty() {
                        self.end_of_stream(i)
                    } else {
                        Err(StreamError::WouldBlock)
                    };
                };
                if out.len() < len {
                    return Err(StreamError::BufferTooSmall);
                }
                take_front(&mut s.rx, &mut out[..len]);
                s.rx_msgs.pop_front();
                len
            }
        };
        // Return credit in batches of a quarter window, and everything once drained, so
        // a message of up to MAX_MESSAGE_LEN always fits in the outstanding credit.
        s.uncredited = s.uncredited.saturating_add(n as u32);
        if !s.fin_received && (s.uncredited >= window / 4 || s.rx.is_empty()) {
            s.credit_due = s.credit_due.saturating_add(s.uncredited);
            s.rx_allowed += u64::from(s.uncredited);
            s.uncredited = 0;
        }
        Ok(n)
    }

    /// `recv` found the end: remember it, free the stream if our side is closed too.
    fn end_of_stream(&mut self, i: usize) -> Result<usize, StreamError> {
        self.streams[i].eof_read = true;
        if self.streams[i].done() {
            self.streams.swap_remove(i);
        }
        Ok(0)
    }

    /// Handles the payload of one incoming session DATA record. `Err`: close the session.
    pub fn receive<'a>(&mut self, payload: &'a [u8]) -> Result<Option<Event<'a>>, MuxError> {
        let frame = Frame::decode(payload).map_err(MuxError::Frame)?;
        if let Frame::Open {
            id,
            prio,
            mode,
            window,
            service,
        } = frame
        {
            if self.ours(id) || id <= self.peer_high {
                return Err(MuxError::BadOpenId(id));
            }
            self.peer_high = id;
            if self.streams.len() >= self.cfg.max_streams {
                if self.ctrl.len() >= self.ctrl_limit() {
                    return Err(MuxError::Overloaded);
                }
                self.push_ctrl(Frame::Refuse {
                    id,
                    reason: RefuseReason::TooManyStreams,
                });
                return Ok(None);
            }
            let mut s = Stream::new(id, State::Incoming, mode, prio);
            s.credit = u64::from(window).min(MAX_CREDIT);
            s.service.push_str(service);
            self.streams.push(s);
            return Ok(Some(Event::Incoming {
                id,
                service,
                mode,
                prio,
            }));
        }
        let id = match frame {
            Frame::Accept { id, .. }
            | Frame::Refuse { id, .. }
            | Frame::Data { id, .. }
            | Frame::Credit { id, .. }
            | Frame::Close { id }
            | Frame::Reset { id, .. }
            | Frame::Open { id, .. } => id,
        };
        let Some(i) = self.idx(id) else {
            // Late frames for a stream that is gone are dropped; frames for ids never
            // used are a violation.
            let used = if self.ours(id) {
                id < self.next_id
            } else {
                id <= self.peer_high
            };
            return if used {
                Ok(None)
            } else {
                Err(MuxError::UnknownId(id))
            };
        };
        let ctrl_room = self.ctrl.len() < self.ctrl_limit();
        let s = &mut self.streams[i];
        let ours = id & 1 == self.parity;
        let violation = |this: &mut Self, reason: ResetReason| {
            this.streams.swap_remove(i);
            if ctrl_room {
                this.push_ctrl(Frame::Reset { id, reason });
            }
            Ok(Some(Event::Reset(id, reason)))
        };
        match frame {
            Frame::Open { .. } => unreachable_open(),
            Frame::Accept { window, .. } => {
                if !ours || s.state != State::OpenSent {
                    return violation(self, ResetReason::Protocol);
                }
                s.state = State::Open;
                s.credit = u64::from(window).min(MAX_CREDIT);
                Ok(Some(Event::Accepted(id)))
            }
            Frame::Refuse { reason, .. } => {
                if !ours || s.state != State::OpenSent {
                    return violation(self, ResetReason::Protocol);
                }
                self.streams.swap_remove(i);
                Ok(Some(Event::Refused(id, reason)))
            }
            Frame::Data { end, bytes, .. } => {
                if s.fin_received || s.state != State::Open || (end && s.mode == Mode::Bytes) {
                    return violation(self, ResetReason::Protocol);
                }
                if bytes.len() as u64 > s.rx_allowed {
                    return violation(self, ResetReason::FlowControl);
                }
                if s.mode == Mode::Message && s.rx_partial + bytes.len() > MAX_MESSAGE_LEN {
                    return violation(self, ResetReason::MessageTooLarge);
                }
                s.rx_allowed -= bytes.len() as u64;
                s.rx.extend(bytes);
                if s.mode == Mode::Message {
                    s.rx_partial += bytes.len();
                    if !end {
                        return Ok(None);
                    }
                    s.rx_msgs.push_back(s.rx_partial);
                    s.rx_partial = 0;
                }
                Ok(Some(Event::Readable(id)))
            }
            Frame::Credit { increment, .. } => {
                if s.state != State::Open {
                    return violation(self, ResetReason::Protocol);
                }
                s.credit += u64::from(increment);
                if s.credit > MAX_CREDIT {
                    return violation(self, ResetReason::FlowControl);
                }
                Ok(Some(Event::Writable(id)))
            }
            Frame::Close { .. } => {
                if s.fin_received || s.rx_partial != 0 || s.state != State::Open {
                    return violation(self, ResetReason::Protocol);
                }
                s.fin_received = true;
                Ok(Some(Event::Finished(id)))
            }
            Frame::Reset { reason, .. } => {
                self.streams.swap_remove(i);
                Ok(Some(Event::Reset(id, reason)))
            }
        }
    }

    /// True if [`poll_transmit`](Self::poll_transmit) has a frame to write.
    pub fn wants_transmit(&self) -> bool {
        !self.ctrl.is_empty()
            || self.streams.iter().any(|s| {
                s.state == State::OpenQueued
                    || s.accept_due
                    || s.credit_due > 0
                    || s.data_ready()
                    || self.fin_ready(s)
            })
    }

    fn fin_ready(&self, s: &Stream) -> bool {
        s.state == State::Open && s.fin_wanted && !s.fin_sent && s.tx.is_empty()
    }

    /// Writes the next frame into `out` (at least [`MAX_RECORD_PAYLOAD`] bytes); `None`
    /// when nothing is due. Seal the result as one session DATA record.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Option<usize> {
        if let Some(f) = self.ctrl.pop_front() {
            return f.encode(out);
        }
        let window = self.cfg.window;
        // OPENs leave in id order (the peer requires increasing ids; the stream table
        // is not ordered).
        if let Some(s) = self
            .streams
            .iter_mut()
            .filter(|s| s.state == State::OpenQueued)
            .min_by_key(|s| s.id)
        {
            s.state = State::OpenSent;
            let f = Frame::Open {
                id: s.id,
                prio: s.prio,
                mode: s.mode,
                window,
                service: &s.service,
            };
            return f.encode(out);
        }
        // Per-stream control: ACCEPT, CREDIT, CLOSE.
        for i in 0..self.streams.len() {
            let fin = self.fin_ready(&self.streams[i]);
            let s = &mut self.streams[i];
            let f = if s.accept_due {
                s.accept_due = false;
                Frame::Accept { id: s.id, window }
            } else if s.credit_due > 0 {
                let increment = core::mem::take(&mut s.credit_due);
                Frame::Credit {
                    id: s.id,
                    increment,
                }
            } else if fin {
                s.fin_sent = true;
                let f = Frame::Close { id: s.id };
                let n = f.encode(out);
                if self.streams[i].done() {
                    self.streams.swap_remove(i);
                }
                return n;
            } else {
                continue;
            };
            return f.encode(out);
        }
        // DATA: weighted round robin between the classes, round robin inside one.
        let ready = |p: Priority| self.streams.iter().any(|s| s.prio == p && s.data_ready());
        let (ia, bu) = (ready(Priority::Interactive), ready(Priority::Bulk));
        let class = match (ia, bu) {
            (false, false) => return None,
            (true, false) => Priority::Interactive,
            (false, true) => Priority::Bulk,
            (true, true) if self.run < INTERACTIVE_WEIGHT => Priority::Interactive,
            (true, true) => Priority::Bulk,
        };
        let slot = (class == Priority::Bulk) as usize;
        if class == Priority::Bulk {
            self.run = 0;
        } else {
            self.run = self.run.saturating_add(1);
        }
        let last = self.last[slot];
        let pick = |after: bool| {
            self.streams
                .iter()
                .enumerate()
                .filter(|(_, s)| s.prio == class && s.data_ready() && (!after || s.id > last))
                .min_by_key(|(_, s)| s.id)
                .map(|(i, _)| i)
        };
        let i = pick(true).or_else(|| pick(false))?;
        self.last[slot] = self.streams[i].id;
        let s = &mut self.streams[i];
        let mut n = s.tx.len().min(MAX_DATA_PAYLOAD);
        n = n.min(s.credit.min(MAX_DATA_PAYLOAD as u64) as usize);
        let mut end = false;
        if s.mode == Mode::Message {
            let front = s.tx_msgs.front_mut()?;
            n = n.min(*front);
            *front -= n;
            if *front == 0 {
                end = true;
                s.tx_msgs.pop_front();
            }
        }
        let out = out.get_mut(..DATA_HEADER_LEN + n)?;
        out[0] = T_DATA;
        out[1..5].copy_from_slice(&s.id.to_be_bytes());
        out[5] = if end { FLAG_END } else { 0 };
        take_front(&mut s.tx, &mut out[DATA_HEADER_LEN..]);
        s.credit -= n as u64;
        Some(DATA_HEADER_LEN + n)
    }
}

#[inline]
fn unreachable_open() -> Result<Option<Event<'static>>, MuxError> {
    // OPEN is handled before the stream lookup; keep the match total without panicking.
    Err(MuxError::Frame(FrameError::BadValue))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_front_copies_across_the_wrap() {
        let mut q: VecDeque<u8> = VecDeque::with_capacity(8);
        let cap = q.capacity();
        for _ in 0..cap - 2 {
            q.push_back(0);
            q.pop_front();
        }
        q.extend(&[1, 2, 3, 4, 5, 6, 7]);
        // The ring now wraps (head near the end of the storage).
        assert!(!q.as_slices().1.is_empty());
        let mut out = [0u8; 5];
        take_front(&mut q, &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5]);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [6, 7]);
        let mut out = [9u8; 2];
        take_front(&mut q, &mut out);
        assert_eq!(out, [6, 7]);
        assert!(q.is_empty());
    }
}

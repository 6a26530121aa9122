//! Request messages: typed [`Request`] values, their encoder and total decoder.
//!
//! Design notes
//! ------------
//! Header (16 bytes, little-endian):
//!
//! | off | size | field                                         |
//! |-----|------|-----------------------------------------------|
//! | 0   | 1    | magic `0x4E` (`'N'`)                           |
//! | 1   | 1    | version (`1`)                                  |
//! | 2   | 1    | op ([`Op`])                                    |
//! | 3   | 1    | flags (must be 0 in v1)                        |
//! | 4   | 4    | correlation id (non-zero, chosen by client)    |
//! | 8   | 4    | server instance expected (0 = any)             |
//! | 12  | 2    | body length (= message length - 16)           |
//! | 14  | 2    | reserved (0)                                   |
//!
//! Decode order decides which error a broken request gets: unreadable
//! header start or bad magic → `Malformed` with correlation 0; wrong version
//! → `BadVersion`; oversize message, header or length inconsistencies,
//! non-zero reserved/padding or trailing bytes → `Malformed`; non-zero flags
//! or unknown op → `Unsupported`; structurally fine but out-of-range fields →
//! `InvalidInput`. A successfully decoded [`Request`] is always within limits.

use super::{len_u16, Op, Reader, Writer, REQUEST_HEADER_LEN, REQUEST_MAGIC};
use crate::error::NetError;
use crate::types::{Handle, Ipv4Addr, Readiness, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use crate::{
    FACADE_MSG_MAX, MAX_DATAGRAM, MAX_IO, MAX_SHARED_IO, MAX_SHARED_REGION, PROTOCOL_VERSION,
};

/// A decoded (or to-be-encoded) facade request. Payloads borrow the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Listen on `port` (0 = ephemeral); `backlog` is clamped to `1..=MAX_BACKLOG`.
    TcpListen {
        /// Local port, 0 for an ephemeral one.
        port: u16,
        /// Pending-connection queue length requested.
        backlog: u8,
    },
    /// Accept one pending connection.
    TcpAccept {
        /// The listener to accept from.
        listener: TcpListener,
    },
    /// Start connecting to `remote` (unicast address, non-zero port).
    TcpConnect {
        /// Remote endpoint.
        remote: SocketAddrV4,
    },
    /// Read up to `max` bytes (1..; the server caps at `MAX_IO`).
    TcpRead {
        /// The stream.
        stream: TcpStream,
        /// Largest number of bytes wanted.
        max: u16,
    },
    /// Write `data` (1..=`MAX_IO` bytes); the reply says how many were taken.
    TcpWrite {
        /// The stream.
        stream: TcpStream,
        /// Bytes to send.
        data: &'a [u8],
    },
    /// Shut down the sending half (FIN); reads keep working.
    TcpShutdown {
        /// The stream.
        stream: TcpStream,
    },
    /// Bind a UDP socket on `port` (0 = ephemeral).
    UdpBind {
        /// Local port, 0 for an ephemeral one.
        port: u16,
    },
    /// Send one datagram of at most `MAX_DATAGRAM` bytes to `to`.
    UdpSendTo {
        /// The socket.
        socket: UdpSocket,
        /// Destination (unicast or broadcast), non-zero port.
        to: SocketAddrV4,
        /// Datagram payload (may be empty).
        data: &'a [u8],
    },
    /// Receive one datagram, truncated to `max` bytes (1..; capped at `MAX_DATAGRAM`).
    UdpRecvFrom {
        /// The socket.
        socket: UdpSocket,
        /// Largest number of bytes wanted.
        max: u16,
    },
    /// Close any handle.
    Close {
        /// The handle to close.
        handle: Handle,
    },
    /// Wait until `handle` is ready for `interest` or `deadline_ns` passes.
    Wait {
        /// The handle to watch.
        handle: Handle,
        /// `READABLE` and/or `WRITABLE` (`HUP`/`ERROR` are implied).
        interest: Readiness,
        /// Absolute monotonic deadline in nanoseconds.
        deadline_ns: u64,
    },
    /// Wait until any handle of `set` is ready for its interest (or is gone),
    /// or `deadline_ns` passes.
    WaitAny {
        /// Up to [`MAX_WAIT_SET`] handles with their interests.
        set: WaitSet,
        /// Absolute monotonic deadline in nanoseconds.
        deadline_ns: u64,
    },
    /// Arm `set` without blocking: if no entry is ready now, the server
    /// remembers the set (one per client; a new arm replaces the old one)
    /// and posts one `Notify` on the client's notify route when an entry
    /// becomes ready. Answered at once with the current ready mask
    /// (0 = armed). `Unsupported` for a client without a notify route.
    WaitArm {
        /// Up to [`MAX_WAIT_SET`] handles with their interests.
        set: WaitSet,
    },
    /// Read up to `max` bytes (1..=`MAX_SHARED_IO`) into the client's
    /// shared region at `offset` (the range must lie inside the region);
    /// the reply says how many (0 = end of stream).
    TcpReadShared {
        /// The stream.
        stream: TcpStream,
        /// Where in the region the bytes go.
        offset: u32,
        /// Largest number of bytes wanted.
        max: u32,
    },
    /// Write `len` bytes (1..=`MAX_SHARED_IO`) taken from the client's
    /// shared region at `offset`; the reply says how many were taken.
    TcpWriteShared {
        /// The stream.
        stream: TcpStream,
        /// Where in the region the bytes start.
        offset: u32,
        /// Bytes to send.
        len: u32,
    },
    /// Attach the shared region whose memory capability this call carries.
    AttachShared,
    /// Detach the client's shared region.
    DetachShared,
    /// Query interface configuration.
    LocalAddr,
    /// Server resource usage.
    Stats,
    /// Link details (MAC, address source, lease).
    LinkInfo,
    /// ICMP echo to `addr` with sequence `seq`, answered by `deadline_ns`.
    Ping {
        /// Target host.
        addr: Ipv4Addr,
        /// Echo sequence number, returned in the reply.
        seq: u16,
        /// Absolute monotonic deadline in nanoseconds.
        deadline_ns: u64,
    },
}

/// Most handles one `WaitAny` watches (a client holds at most
/// `MAX_HANDLES_PER_CLIENT` = 16).
pub const MAX_WAIT_SET: usize = 16;

/// The handles (with interests) of a `WaitAny`: 1..=[`MAX_WAIT_SET`] entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitSet {
    len: u8,
    entries: [(Handle, Readiness); MAX_WAIT_SET],
}

impl Default for WaitSet {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitSet {
    /// An empty set (a `WaitAny` needs at least one entry).
    pub const fn new() -> Self {
        WaitSet {
            len: 0,
            entries: [(Handle::from_raw(0), Readiness::EMPTY); MAX_WAIT_SET],
        }
    }

    /// Adds a handle; `NoBufs` when the set is full, `InvalidInput` for an
    /// interest outside `READABLE | WRITABLE`.
    pub fn push(&mut self, handle: impl Into<Handle>, interest: Readiness) -> Result<(), NetError> {
        if interest.bits() & !Readiness::INTEREST_MASK != 0 {
            return Err(NetError::InvalidInput);
        }
        let slot = self
            .entries
            .get_mut(usize::from(self.len))
            .ok_or(NetError::NoBufs)?;
        *slot = (handle.into(), interest);
        self.len += 1;
        Ok(())
    }

    /// Entries in order.
    pub fn entries(&self) -> &[(Handle, Readiness)] {
        &self.entries[..usize::from(self.len)]
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if the set has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        *self = WaitSet::new();
    }
}

/// The decoded request header (version and magic already checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    /// Op byte.
    pub op: u8,
    /// Flags byte (0 in v1).
    pub flags: u8,
    /// Correlation id to echo in the reply.
    pub correlation: u32,
    /// Server instance the client expects (0 = any).
    pub instance: u32,
}

/// Why a request failed to decode, with what the error reply must echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Correlation id to put in the reply (0 if it could not be read).
    pub correlation: u32,
    /// Op byte to echo (0 if it could not be read).
    pub op: u8,
    /// The error to report.
    pub error: NetError,
}

fn unicast_remote(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast())
}

impl Request<'_> {
    /// The op code of this request.
    pub fn op(&self) -> Op {
        match self {
            Request::TcpListen { .. } => Op::TcpListen,
            Request::TcpAccept { .. } => Op::TcpAccept,
            Request::TcpConnect { .. } => Op::TcpConnect,
            Request::TcpRead { .. } => Op::TcpRead,
            Request::TcpWrite { .. } => Op::TcpWrite,
            Request::TcpShutdown { .. } => Op::TcpShutdown,
            Request::UdpBind { .. } => Op::UdpBind,
            Request::UdpSendTo { .. } => Op::UdpSendTo,
            Request::UdpRecvFrom { .. } => Op::UdpRecvFrom,
            Request::Close { .. } => Op::Close,
            Request::Wait { .. } => Op::Wait,
            Request::WaitAny { .. } => Op::WaitAny,
            Request::WaitArm { .. } => Op::WaitArm,
            Request::LocalAddr => Op::LocalAddr,
            Request::Stats => Op::Stats,
            Request::LinkInfo => Op::LinkInfo,
            Request::Ping { .. } => Op::Ping,
            Request::TcpReadShared { .. } => Op::TcpReadShared,
            Request::TcpWriteShared { .. } => Op::TcpWriteShared,
            Request::AttachShared => Op::AttachShared,
            Request::DetachShared => Op::DetachShared,
        }
    }

    /// Checks field ranges; `InvalidInput` if any is out of range.
    pub fn validate(&self) -> Result<(), NetError> {
        let ok = match *self {
            Request::TcpConnect { remote } => remote.port() != 0 && unicast_remote(*remote.ip()),
            Request::TcpRead { max, .. } | Request::UdpRecvFrom { max, .. } => max != 0,
            Request::TcpWrite { data, .. } => !data.is_empty() && data.len() <= MAX_IO,
            Request::UdpSendTo { to, data, .. } => {
                data.len() <= MAX_DATAGRAM && to.port() != 0 && !to.ip().is_unspecified()
            }
            Request::Wait { interest, .. } => interest.bits() & !Readiness::INTEREST_MASK == 0,
            Request::WaitAny { set, .. } | Request::WaitArm { set } => {
                !set.is_empty()
                    && set
                        .entries()
                        .iter()
                        .all(|(_, i)| i.bits() & !Readiness::INTEREST_MASK == 0)
            }
            Request::Ping { addr, .. } => unicast_remote(addr),
            Request::TcpReadShared { offset, max: n, .. }
            | Request::TcpWriteShared { offset, len: n, .. } => shared_range_ok(offset, n),
            Request::AttachShared | Request::DetachShared => true,
            Request::TcpListen { .. }
            | Request::TcpAccept { .. }
            | Request::TcpShutdown { .. }
            | Request::UdpBind { .. }
            | Request::Close { .. }
            | Request::LocalAddr
            | Request::Stats
            | Request::LinkInfo => true,
        };
        if ok {
            Ok(())
        } else {
            Err(NetError::InvalidInput)
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Request::TcpListen { .. }
            | Request::TcpAccept { .. }
            | Request::TcpShutdown { .. }
            | Request::UdpBind { .. }
            | Request::Close { .. } => 4,
            Request::TcpConnect { .. } | Request::TcpRead { .. } | Request::UdpRecvFrom { .. } => 8,
            Request::TcpWrite { data, .. } => 8 + data.len(),
            Request::UdpSendTo { data, .. } => 12 + data.len(),
            Request::Wait { .. } | Request::Ping { .. } => 16,
            Request::WaitAny { set, .. } => 12 + 8 * set.len(),
            Request::WaitArm { set } => 4 + 8 * set.len(),
            Request::TcpReadShared { .. } | Request::TcpWriteShared { .. } => 12,
            Request::LocalAddr
            | Request::Stats
            | Request::LinkInfo
            | Request::AttachShared
            | Request::DetachShared => 0,
        }
    }

    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), NetError> {
        match *self {
            Request::TcpListen { port, backlog } => {
                w.u16(port)?;
                w.u8(backlog)?;
                w.pad(1)
            }
            Request::TcpAccept { listener } => w.u32(listener.raw()),
            Request::TcpConnect { remote } => {
                w.ipv4(*remote.ip())?;
                w.u16(remote.port())?;
                w.pad(2)
            }
            Request::TcpRead { stream, max } => {
                w.u32(stream.raw())?;
                w.u16(max)?;
                w.pad(2)
            }
            Request::TcpWrite { stream, data } => {
                w.u32(stream.raw())?;
                w.u16(len_u16(data.len())?)?;
                w.pad(2)?;
                w.bytes(data)
            }
            Request::TcpShutdown { stream } => w.u32(stream.raw()),
            Request::UdpBind { port } => {
                w.u16(port)?;
                w.pad(2)
            }
            Request::UdpSendTo { socket, to, data } => {
                w.u32(socket.raw())?;
                w.ipv4(*to.ip())?;
                w.u16(to.port())?;
                w.u16(len_u16(data.len())?)?;
                w.bytes(data)
            }
            Request::UdpRecvFrom { socket, max } => {
                w.u32(socket.raw())?;
                w.u16(max)?;
                w.pad(2)
            }
            Request::Close { handle } => w.u32(handle.raw()),
            Request::Wait {
                handle,
                interest,
                deadline_ns,
            } => {
                w.u32(handle.raw())?;
                w.u8(interest.bits())?;
                w.pad(3)?;
                w.u64(deadline_ns)
            }
            Request::WaitAny { set, deadline_ns } => {
                w.u64(deadline_ns)?;
                write_set(w, &set)
            }
            Request::WaitArm { set } => write_set(w, &set),
            Request::TcpReadShared {
                stream,
                offset,
                max: n,
            }
            | Request::TcpWriteShared {
                stream,
                offset,
                len: n,
            } => {
                w.u32(stream.raw())?;
                w.u32(offset)?;
                w.u32(n)
            }
            Request::LocalAddr
            | Request::Stats
            | Request::LinkInfo
            | Request::AttachShared
            | Request::DetachShared => Ok(()),
            Request::Ping {
                addr,
                seq,
                deadline_ns,
            } => {
                w.ipv4(addr)?;
                w.u16(seq)?;
                w.pad(2)?;
                w.u64(deadline_ns)
            }
        }
    }
}

/// A shared-region range: 1..=[`MAX_SHARED_IO`] bytes ending inside the
/// largest region (the server checks it against the attached one).
fn shared_range_ok(offset: u32, n: u32) -> bool {
    let n = n as usize;
    n != 0
        && n <= MAX_SHARED_IO
        && (offset as usize)
            .checked_add(n)
            .is_some_and(|end| end <= MAX_SHARED_REGION)
}

fn write_set(w: &mut Writer<'_>, set: &WaitSet) -> Result<(), NetError> {
    w.u8(set.len)?;
    w.pad(3)?;
    for (h, i) in set.entries() {
        w.u32(h.raw())?;
        w.u8(i.bits())?;
        w.pad(3)?;
    }
    Ok(())
}

/// Reads a set's count and entries (`WaitAny`, `WaitArm`): more than
/// [`MAX_WAIT_SET`] entries is `Malformed`; an empty set or undefined
/// interest bits are `InvalidInput` (after the layout was checked).
fn read_set(r: &mut Reader<'_>) -> Result<WaitSet, NetError> {
    let n = usize::from(r.u8()?);
    r.pad(3)?;
    if n > MAX_WAIT_SET {
        return Err(NetError::Malformed);
    }
    let mut set = WaitSet::new();
    let mut bad = false;
    for _ in 0..n {
        let handle = Handle::from_raw(r.u32()?);
        let bits = r.u8()?;
        r.pad(3)?;
        match Readiness::from_bits(bits) {
            Some(i) if bits & !Readiness::INTEREST_MASK == 0 => set.push(handle, i)?,
            _ => bad = true,
        }
    }
    r.finish()?;
    if bad || set.is_empty() {
        return Err(NetError::InvalidInput);
    }
    Ok(set)
}

/// Encodes `req` with `correlation` and expected server `instance` (0 = any)
/// into `buf`; returns the message length.
///
/// Errors: `InvalidInput` if a field is out of range (see
/// [`Request::validate`]), `NoBufs` if `buf` is too small.
pub fn encode_request(
    req: &Request<'_>,
    correlation: u32,
    instance: u32,
    buf: &mut [u8],
) -> Result<usize, NetError> {
    req.validate()?;
    let body_len = req.body_len();
    if REQUEST_HEADER_LEN + body_len > FACADE_MSG_MAX {
        return Err(NetError::InvalidInput);
    }
    let mut w = Writer::new(buf);
    w.u8(REQUEST_MAGIC)?;
    w.u8(PROTOCOL_VERSION)?;
    w.u8(req.op() as u8)?;
    w.u8(0)?;
    w.u32(correlation)?;
    w.u32(instance)?;
    w.u16(len_u16(body_len)?)?;
    w.pad(2)?;
    req.write_body(&mut w)?;
    Ok(w.len())
}

fn stream(r: &mut Reader<'_>) -> Result<TcpStream, NetError> {
    Ok(TcpStream::from_handle(Handle::from_raw(r.u32()?)))
}

fn decode_body<'a>(op: Op, mut r: Reader<'a>) -> Result<Request<'a>, NetError> {
    let req = match op {
        Op::TcpListen => {
            let port = r.u16()?;
            let backlog = r.u8()?;
            r.pad(1)?;
            Request::TcpListen { port, backlog }
        }
        Op::TcpAccept => Request::TcpAccept {
            listener: TcpListener::from_handle(Handle::from_raw(r.u32()?)),
        },
        Op::TcpConnect => {
            let ip = r.ipv4()?;
            let port = r.u16()?;
            r.pad(2)?;
            Request::TcpConnect {
                remote: SocketAddrV4::new(ip, port),
            }
        }
        Op::TcpRead => {
            let stream = stream(&mut r)?;
            let max = r.u16()?;
            r.pad(2)?;
            Request::TcpRead { stream, max }
        }
        Op::TcpWrite => {
            let stream = stream(&mut r)?;
            let len = r.u16()?;
            r.pad(2)?;
            let data = r.bytes(usize::from(len))?;
            Request::TcpWrite { stream, data }
        }
        Op::TcpShutdown => Request::TcpShutdown {
            stream: stream(&mut r)?,
        },
        Op::UdpBind => {
            let port = r.u16()?;
            r.pad(2)?;
            Request::UdpBind { port }
        }
        Op::UdpSendTo => {
            let socket = UdpSocket::from_handle(Handle::from_raw(r.u32()?));
            let ip = r.ipv4()?;
            let port = r.u16()?;
            let len = r.u16()?;
            let data = r.bytes(usize::from(len))?;
            Request::UdpSendTo {
                socket,
                to: SocketAddrV4::new(ip, port),
                data,
            }
        }
        Op::UdpRecvFrom => {
            let socket = UdpSocket::from_handle(Handle::from_raw(r.u32()?));
            let max = r.u16()?;
            r.pad(2)?;
            Request::UdpRecvFrom { socket, max }
        }
        Op::Close => Request::Close {
            handle: Handle::from_raw(r.u32()?),
        },
        Op::Wait => {
            let handle = Handle::from_raw(r.u32()?);
            let interest = Readiness::from_bits(r.u8()?);
            r.pad(3)?;
            let deadline_ns = r.u64()?;
            r.finish()?;
            // Undefined interest bits are a range error, not a layout error.
            let interest = interest.ok_or(NetError::InvalidInput)?;
            Request::Wait {
                handle,
                interest,
                deadline_ns,
            }
        }
        Op::WaitAny => {
            let deadline_ns = r.u64()?;
            let set = read_set(&mut r)?;
            Request::WaitAny { set, deadline_ns }
        }
        Op::WaitArm => Request::WaitArm {
            set: read_set(&mut r)?,
        },
        Op::TcpReadShared => Request::TcpReadShared {
            stream: stream(&mut r)?,
            offset: r.u32()?,
            max: r.u32()?,
        },
        Op::TcpWriteShared => Request::TcpWriteShared {
            stream: stream(&mut r)?,
            offset: r.u32()?,
            len: r.u32()?,
        },
        Op::AttachShared => Request::AttachShared,
        Op::DetachShared => Request::DetachShared,
        Op::LocalAddr => Request::LocalAddr,
        Op::Stats => Request::Stats,
        Op::LinkInfo => Request::LinkInfo,
        Op::Ping => {
            let addr = r.ipv4()?;
            let seq = r.u16()?;
            r.pad(2)?;
            let deadline_ns = r.u64()?;
            Request::Ping {
                addr,
                seq,
                deadline_ns,
            }
        }
    };
    r.finish()?;
    Ok(req)
}

/// Decodes one request message. Total: never panics, never allocates.
///
/// On failure the [`DecodeError`] says which correlation id and op byte the
/// error reply must echo.
pub fn decode_request(buf: &[u8]) -> Result<(RequestHeader, Request<'_>), DecodeError> {
    let unreadable = DecodeError {
        correlation: 0,
        op: 0,
        error: NetError::Malformed,
    };
    let mut r = Reader::new(buf);
    if buf.len() < 8 || r.u8() != Ok(REQUEST_MAGIC) {
        return Err(unreadable);
    }
    let version = r.u8().map_err(|_| unreadable)?;
    let op = r.u8().map_err(|_| unreadable)?;
    let flags = r.u8().map_err(|_| unreadable)?;
    let correlation = r.u32().map_err(|_| unreadable)?;
    let fail = |error| DecodeError {
        correlation,
        op,
        error,
    };
    if version != PROTOCOL_VERSION {
        return Err(fail(NetError::BadVersion));
    }
    if buf.len() > FACADE_MSG_MAX {
        return Err(fail(NetError::Malformed));
    }
    let instance = r.u32().map_err(fail)?;
    let body_len = r.u16().map_err(fail)?;
    r.pad(2).map_err(fail)?;
    if usize::from(body_len) != buf.len() - REQUEST_HEADER_LEN {
        return Err(fail(NetError::Malformed));
    }
    if flags != 0 {
        return Err(fail(NetError::Unsupported));
    }
    let known = Op::from_u8(op).ok_or(fail(NetError::Unsupported))?;
    let req = decode_body(known, r).map_err(fail)?;
    req.validate().map_err(fail)?;
    let header = RequestHeader {
        op,
        flags,
        correlation,
        instance,
    };
    Ok((header, req))
}

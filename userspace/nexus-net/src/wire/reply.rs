//! Reply messages: typed [`Reply`] values, their encoders and total decoder.
//!
//! Design notes
//! ------------
//! Header (16 bytes, little-endian):
//!
//! | off | size | field                                              |
//! |-----|------|----------------------------------------------------|
//! | 0   | 1    | magic `0x6E` (`'n'`)                                |
//! | 1   | 1    | version (`1`)                                       |
//! | 2   | 1    | op echoed from the request (0 if unreadable)        |
//! | 3   | 1    | reserved (0)                                        |
//! | 4   | 4    | correlation id echoed (0 if unreadable)             |
//! | 8   | 4    | server instance (non-zero, changes on restart)      |
//! | 12  | 2    | status: 0 = ok, else a `NetError` code              |
//! | 14  | 2    | body length (= message length - 16)                |
//!
//! Error replies (status != 0) have an empty body. Success bodies have a
//! fixed layout per op. Read/recv replies are built in place by the server
//! (`finish_read_reply`, `finish_recv_reply`): the backend writes data
//! straight into the reply buffer at [`READ_DATA_OFFSET`] /
//! [`RECV_DATA_OFFSET`] and the header is filled in afterwards, so payloads
//! are never copied twice.

use super::{len_u16, Op, Reader, Writer, REPLY_HEADER_LEN, REPLY_MAGIC};
use crate::error::NetError;
use crate::types::{
    AddrSource, Handle, IfaceInfo, Ipv4Addr, LinkInfo, Readiness, SocketAddrV4, TcpListener,
    TcpStream, UdpSocket,
};
use crate::{
    FACADE_MSG_MAX, MAX_DATAGRAM, MAX_IO, MAX_SHARED_IO, MAX_SHARED_REGION, PROTOCOL_VERSION,
};

/// Offset of the payload in a successful `TcpRead` reply.
pub(crate) const READ_DATA_OFFSET: usize = REPLY_HEADER_LEN + 4;
/// Offset of the payload in a successful `UdpRecvFrom` reply.
pub(crate) const RECV_DATA_OFFSET: usize = REPLY_HEADER_LEN + 8;

/// A successful reply body. Payloads borrow the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Listening.
    TcpListen {
        /// New listener handle.
        listener: TcpListener,
        /// Bound local port (resolved if 0 was requested).
        port: u16,
    },
    /// A connection was accepted.
    TcpAccept {
        /// New stream handle.
        stream: TcpStream,
        /// Remote endpoint.
        peer: SocketAddrV4,
    },
    /// Connection started (it may still be in progress: wait for `WRITABLE`).
    TcpConnect {
        /// New stream handle.
        stream: TcpStream,
        /// Local ephemeral port.
        local_port: u16,
    },
    /// Bytes read; empty means end of stream (peer sent FIN, all data read).
    TcpRead {
        /// The bytes.
        data: &'a [u8],
    },
    /// Bytes accepted into the send buffer (at least 1).
    TcpWrite {
        /// Count accepted.
        written: u16,
    },
    /// Sending half shut down.
    TcpShutdown,
    /// Bound.
    UdpBind {
        /// New socket handle.
        socket: UdpSocket,
        /// Bound local port (resolved if 0 was requested).
        port: u16,
    },
    /// Datagram queued for sending.
    UdpSendTo {
        /// Payload bytes queued (the whole datagram).
        sent: u16,
    },
    /// One datagram (truncated to the requested maximum).
    UdpRecvFrom {
        /// Sender.
        from: SocketAddrV4,
        /// Payload.
        data: &'a [u8],
    },
    /// Handle closed.
    Close,
    /// The handle is ready.
    Wait {
        /// Current readiness (satisfies the interest, or has HUP/ERROR).
        ready: Readiness,
    },
    /// At least one handle of a `WaitAny` set is ready (or gone).
    WaitAny {
        /// Bit `i` set: entry `i` satisfies its interest, has `HUP`/`ERROR`,
        /// or is no longer a handle of this client.
        ready_mask: u16,
    },
    /// A `WaitArm` was taken: `ready_mask` 0 = the set is armed (a
    /// `Notify` follows when it becomes ready); otherwise the set was
    /// already ready (bits as for `WaitAny`) and nothing is armed.
    WaitArm {
        /// Entries ready now (0 = armed).
        ready_mask: u16,
    },
    /// Bytes placed in the shared region (0 = end of stream).
    TcpReadShared {
        /// Count read (at most the request's `max`).
        read: u32,
    },
    /// Bytes taken from the shared region into the send buffer (at least 1).
    TcpWriteShared {
        /// Count accepted.
        written: u32,
    },
    /// The region is attached.
    AttachShared {
        /// Its size in bytes.
        len: u32,
    },
    /// The region is detached.
    DetachShared,
    /// Interface configuration.
    LocalAddr(IfaceInfo),
    /// Server resource usage.
    Stats(ServerStats),
    /// Link details.
    LinkInfo(LinkInfo),
    /// Echo reply received.
    Ping {
        /// Sequence number echoed.
        seq: u16,
        /// Round-trip time in nanoseconds.
        rtt_ns: u64,
    },
}

/// Resource usage of a facade server (reply of `Stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Clients holding at least one handle.
    pub clients: u32,
    /// Open handles, all clients.
    pub handles: u32,
    /// Parked `Wait`/`Ping` requests.
    pub parked: u32,
    /// Sockets the backend holds (including ones still closing).
    pub sockets: u32,
    /// Socket buffer bytes the backend has allocated.
    pub buffer_bytes: u32,
}

/// The decoded reply header (magic and version already checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    /// Op byte echoed from the request.
    pub op: u8,
    /// Correlation id echoed from the request.
    pub correlation: u32,
    /// Server instance that produced the reply.
    pub instance: u32,
    /// Raw status: 0 = ok, else a `NetError` code.
    pub status: u16,
}

/// A decoded reply message: header plus success body or server error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyMsg<'a> {
    /// Header.
    pub header: ReplyHeader,
    /// Success body, or the error the server reported.
    pub body: Result<Reply<'a>, NetError>,
}

impl Reply<'_> {
    /// The op this reply answers.
    pub fn op(&self) -> Op {
        match self {
            Reply::TcpListen { .. } => Op::TcpListen,
            Reply::TcpAccept { .. } => Op::TcpAccept,
            Reply::TcpConnect { .. } => Op::TcpConnect,
            Reply::TcpRead { .. } => Op::TcpRead,
            Reply::TcpWrite { .. } => Op::TcpWrite,
            Reply::TcpShutdown => Op::TcpShutdown,
            Reply::UdpBind { .. } => Op::UdpBind,
            Reply::UdpSendTo { .. } => Op::UdpSendTo,
            Reply::UdpRecvFrom { .. } => Op::UdpRecvFrom,
            Reply::Close => Op::Close,
            Reply::Wait { .. } => Op::Wait,
            Reply::WaitAny { .. } => Op::WaitAny,
            Reply::WaitArm { .. } => Op::WaitArm,
            Reply::LocalAddr(_) => Op::LocalAddr,
            Reply::Ping { .. } => Op::Ping,
            Reply::Stats(_) => Op::Stats,
            Reply::LinkInfo(_) => Op::LinkInfo,
            Reply::TcpReadShared { .. } => Op::TcpReadShared,
            Reply::TcpWriteShared { .. } => Op::TcpWriteShared,
            Reply::AttachShared { .. } => Op::AttachShared,
            Reply::DetachShared => Op::DetachShared,
        }
    }

    fn validate(&self) -> Result<(), NetError> {
        let ok = match self {
            Reply::TcpRead { data } => data.len() <= MAX_IO,
            Reply::UdpRecvFrom { data, .. } => data.len() <= MAX_DATAGRAM,
            Reply::LocalAddr(info) => info.prefix_len <= 32,
            Reply::TcpReadShared { read: n } | Reply::TcpWriteShared { written: n } => {
                *n as usize <= MAX_SHARED_IO
            }
            Reply::AttachShared { len } => *len != 0 && *len as usize <= MAX_SHARED_REGION,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(NetError::InvalidInput)
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Reply::TcpShutdown | Reply::Close | Reply::DetachShared => 0,
            Reply::TcpReadShared { .. }
            | Reply::TcpWriteShared { .. }
            | Reply::AttachShared { .. } => 4,
            Reply::TcpWrite { .. }
            | Reply::UdpSendTo { .. }
            | Reply::Wait { .. }
            | Reply::WaitAny { .. }
            | Reply::WaitArm { .. } => 4,
            Reply::TcpListen { .. } | Reply::TcpConnect { .. } | Reply::UdpBind { .. } => 8,
            Reply::TcpAccept { .. } | Reply::LocalAddr(_) | Reply::Ping { .. } => 12,
            Reply::Stats(_) => 20,
            Reply::LinkInfo(_) => 16,
            Reply::TcpRead { data } => 4 + data.len(),
            Reply::UdpRecvFrom { data, .. } => 8 + data.len(),
        }
    }

    fn write_body(&self, w: &mut Writer<'_>) -> Result<(), NetError> {
        match *self {
            Reply::TcpListen { listener, port } => handle_port(w, listener.handle(), port),
            Reply::TcpAccept { stream, peer } => {
                w.u32(stream.raw())?;
                w.ipv4(*peer.ip())?;
                w.u16(peer.port())?;
                w.pad(2)
            }
            Reply::TcpConnect { stream, local_port } => handle_port(w, stream.handle(), local_port),
            Reply::TcpRead { data } => {
                w.u16(len_u16(data.len())?)?;
                w.pad(2)?;
                w.bytes(data)
            }
            Reply::TcpWrite { written: n } | Reply::UdpSendTo { sent: n } => {
                w.u16(n)?;
                w.pad(2)
            }
            Reply::TcpShutdown | Reply::Close | Reply::DetachShared => Ok(()),
            Reply::TcpReadShared { read: n }
            | Reply::TcpWriteShared { written: n }
            | Reply::AttachShared { len: n } => w.u32(n),
            Reply::UdpBind { socket, port } => handle_port(w, socket.handle(), port),
            Reply::UdpRecvFrom { from, data } => {
                w.ipv4(*from.ip())?;
                w.u16(from.port())?;
                w.u16(len_u16(data.len())?)?;
                w.bytes(data)
            }
            Reply::Wait { ready } => {
                w.u8(ready.bits())?;
                w.pad(3)
            }
            Reply::WaitAny { ready_mask } | Reply::WaitArm { ready_mask } => {
                w.u16(ready_mask)?;
                w.pad(2)
            }
            Reply::LocalAddr(info) => {
                w.ipv4(info.addr)?;
                w.ipv4(info.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
                w.u8(info.prefix_len)?;
                w.u8(u8::from(info.gateway.is_some()))?;
                w.u16(info.mtu)
            }
            Reply::Ping { seq, rtt_ns } => {
                w.u16(seq)?;
                w.pad(2)?;
                w.u64(rtt_ns)
            }
            Reply::Stats(st) => {
                w.u32(st.clients)?;
                w.u32(st.handles)?;
                w.u32(st.parked)?;
                w.u32(st.sockets)?;
                w.u32(st.buffer_bytes)
            }
            Reply::LinkInfo(l) => {
                w.bytes(&l.mac)?;
                w.u8(l.source as u8)?;
                w.pad(1)?;
                w.u32(l.lease_secs)?;
                w.u32(l.age_secs)
            }
        }
    }
}

fn handle_port(w: &mut Writer<'_>, h: Handle, port: u16) -> Result<(), NetError> {
    w.u32(h.raw())?;
    w.u16(port)?;
    w.pad(2)
}

fn write_header(
    w: &mut Writer<'_>,
    op: u8,
    correlation: u32,
    instance: u32,
    status: u16,
    body_len: usize,
) -> Result<(), NetError> {
    if REPLY_HEADER_LEN + body_len > FACADE_MSG_MAX {
        return Err(NetError::InvalidInput);
    }
    w.u8(REPLY_MAGIC)?;
    w.u8(PROTOCOL_VERSION)?;
    w.u8(op)?;
    w.u8(0)?;
    w.u32(correlation)?;
    w.u32(instance)?;
    w.u16(status)?;
    w.u16(len_u16(body_len)?)
}

/// Encodes a success reply; returns the message length.
///
/// Errors: `InvalidInput` if a payload exceeds its limit, `NoBufs` if `buf`
/// is too small.
pub fn encode_reply(
    reply: &Reply<'_>,
    correlation: u32,
    instance: u32,
    buf: &mut [u8],
) -> Result<usize, NetError> {
    reply.validate()?;
    let mut w = Writer::new(buf);
    write_header(
        &mut w,
        reply.op() as u8,
        correlation,
        instance,
        0,
        reply.body_len(),
    )?;
    reply.write_body(&mut w)?;
    Ok(w.len())
}

/// Encodes an error reply (empty body) echoing `op` and `correlation`.
/// Needs `REPLY_HEADER_LEN` bytes of `buf`, else `NoBufs`.
pub fn encode_error_reply(
    op: u8,
    error: NetError,
    correlation: u32,
    instance: u32,
    buf: &mut [u8],
) -> Result<usize, NetError> {
    let mut w = Writer::new(buf);
    write_header(&mut w, op, correlation, instance, error.code(), 0)?;
    Ok(w.len())
}

/// Completes a `TcpRead` success reply whose `n` data bytes are already at
/// `buf[READ_DATA_OFFSET..]`; returns the message length.
pub(crate) fn finish_read_reply(
    buf: &mut [u8],
    correlation: u32,
    instance: u32,
    n: usize,
) -> Result<usize, NetError> {
    if n > MAX_IO {
        return Err(NetError::InvalidInput);
    }
    let mut w = Writer::new(buf);
    write_header(&mut w, Op::TcpRead as u8, correlation, instance, 0, 4 + n)?;
    w.u16(len_u16(n)?)?;
    w.pad(2)?;
    Ok(READ_DATA_OFFSET + n)
}

/// Completes a `UdpRecvFrom` success reply whose `n` data bytes are already
/// at `buf[RECV_DATA_OFFSET..]`; returns the message length.
pub(crate) fn finish_recv_reply(
    buf: &mut [u8],
    correlation: u32,
    instance: u32,
    from: SocketAddrV4,
    n: usize,
) -> Result<usize, NetError> {
    if n > MAX_DATAGRAM {
        return Err(NetError::InvalidInput);
    }
    let mut w = Writer::new(buf);
    let op = Op::UdpRecvFrom as u8;
    write_header(&mut w, op, correlation, instance, 0, 8 + n)?;
    w.ipv4(*from.ip())?;
    w.u16(from.port())?;
    w.u16(len_u16(n)?)?;
    Ok(RECV_DATA_OFFSET + n)
}

fn decode_ok_body<'a>(op: Op, mut r: Reader<'a>) -> Result<Reply<'a>, NetError> {
    fn handle_port(r: &mut Reader<'_>) -> Result<(Handle, u16), NetError> {
        let h = Handle::from_raw(r.u32()?);
        let port = r.u16()?;
        r.pad(2)?;
        Ok((h, port))
    }
    let reply = match op {
        Op::TcpListen => {
            let (h, port) = handle_port(&mut r)?;
            Reply::TcpListen {
                listener: TcpListener::from_handle(h),
                port,
            }
        }
        Op::TcpAccept => {
            let stream = TcpStream::from_handle(Handle::from_raw(r.u32()?));
            let ip = r.ipv4()?;
            let port = r.u16()?;
            r.pad(2)?;
            Reply::TcpAccept {
                stream,
                peer: SocketAddrV4::new(ip, port),
            }
        }
        Op::TcpConnect => {
            let (h, local_port) = handle_port(&mut r)?;
            Reply::TcpConnect {
                stream: TcpStream::from_handle(h),
                local_port,
            }
        }
        Op::TcpRead => {
            let len = usize::from(r.u16()?);
            r.pad(2)?;
            let data = r.bytes(len)?;
            if len > MAX_IO {
                return Err(NetError::Malformed);
            }
            Reply::TcpRead { data }
        }
        Op::TcpWrite | Op::UdpSendTo => {
            let n = r.u16()?;
            r.pad(2)?;
            if op == Op::TcpWrite {
                Reply::TcpWrite { written: n }
            } else {
                Reply::UdpSendTo { sent: n }
            }
        }
        Op::TcpShutdown => Reply::TcpShutdown,
        Op::UdpBind => {
            let (h, port) = handle_port(&mut r)?;
            Reply::UdpBind {
                socket: UdpSocket::from_handle(h),
                port,
            }
        }
        Op::UdpRecvFrom => {
            let ip = r.ipv4()?;
            let port = r.u16()?;
            let len = usize::from(r.u16()?);
            let data = r.bytes(len)?;
            if len > MAX_DATAGRAM {
                return Err(NetError::Malformed);
            }
            Reply::UdpRecvFrom {
                from: SocketAddrV4::new(ip, port),
                data,
            }
        }
        Op::Close => Reply::Close,
        Op::Wait => {
            let ready = Readiness::from_bits(r.u8()?).ok_or(NetError::Malformed)?;
            r.pad(3)?;
            Reply::Wait { ready }
        }
        Op::WaitAny => {
            let ready_mask = r.u16()?;
            r.pad(2)?;
            if ready_mask == 0 {
                return Err(NetError::Malformed);
            }
            Reply::WaitAny { ready_mask }
        }
        Op::WaitArm => {
            let ready_mask = r.u16()?;
            r.pad(2)?;
            Reply::WaitArm { ready_mask }
        }
        Op::TcpReadShared | Op::TcpWriteShared => {
            let n = r.u32()?;
            if n as usize > MAX_SHARED_IO {
                return Err(NetError::Malformed);
            }
            if op == Op::TcpReadShared {
                Reply::TcpReadShared { read: n }
            } else {
                Reply::TcpWriteShared { written: n }
            }
        }
        Op::AttachShared => {
            let len = r.u32()?;
            if len == 0 || len as usize > MAX_SHARED_REGION {
                return Err(NetError::Malformed);
            }
            Reply::AttachShared { len }
        }
        Op::DetachShared => Reply::DetachShared,
        Op::LocalAddr => {
            let addr = r.ipv4()?;
            let gw = r.ipv4()?;
            let prefix_len = r.u8()?;
            let flags = r.u8()?;
            let mtu = r.u16()?;
            // The gateway field is zero when absent (flags bit 0 clear).
            if prefix_len > 32 || flags > 1 || (flags == 0 && gw != Ipv4Addr::UNSPECIFIED) {
                return Err(NetError::Malformed);
            }
            Reply::LocalAddr(IfaceInfo {
                addr,
                prefix_len,
                gateway: (flags == 1).then_some(gw),
                mtu,
            })
        }
        Op::Ping => {
            let seq = r.u16()?;
            r.pad(2)?;
            let rtt_ns = r.u64()?;
            Reply::Ping { seq, rtt_ns }
        }
        Op::Stats => Reply::Stats(ServerStats {
            clients: r.u32()?,
            handles: r.u32()?,
            parked: r.u32()?,
            sockets: r.u32()?,
            buffer_bytes: r.u32()?,
        }),
        Op::LinkInfo => {
            let mac = r.array::<6>()?;
            let source = AddrSource::from_u8(r.u8()?).ok_or(NetError::Malformed)?;
            r.pad(1)?;
            Reply::LinkInfo(LinkInfo {
                mac,
                source,
                lease_secs: r.u32()?,
                age_secs: r.u32()?,
            })
        }
    };
    r.finish()?;
    Ok(reply)
}

/// Decodes one reply message. Total: never panics, never allocates.
///
/// The outer error means the reply itself is unusable (`Malformed`,
/// `BadVersion`); a server-reported error is in [`ReplyMsg::body`].
pub fn decode_reply(buf: &[u8]) -> Result<ReplyMsg<'_>, NetError> {
    let mut r = Reader::new(buf);
    if r.u8()? != REPLY_MAGIC {
        return Err(NetError::Malformed);
    }
    if r.u8()? != PROTOCOL_VERSION {
        return Err(NetError::BadVersion);
    }
    if buf.len() > FACADE_MSG_MAX {
        return Err(NetError::Malformed);
    }
    let op = r.u8()?;
    r.pad(1)?;
    let correlation = r.u32()?;
    let instance = r.u32()?;
    let status = r.u16()?;
    let body_len = usize::from(r.u16()?);
    if body_len != buf.len() - REPLY_HEADER_LEN {
        return Err(NetError::Malformed);
    }
    let header = ReplyHeader {
        op,
        correlation,
        instance,
        status,
    };
    let body = if status != 0 {
        let err = NetError::from_code(status).ok_or(NetError::Malformed)?;
        if body_len != 0 {
            return Err(NetError::Malformed);
        }
        Err(err)
    } else {
        let op = Op::from_u8(op).ok_or(NetError::Malformed)?;
        Ok(decode_ok_body(op, r)?)
    };
    Ok(ReplyMsg { header, body })
}

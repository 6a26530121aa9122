//! Versioned little-endian wire codec for facade requests and replies.
//!
//! Design notes
//! ------------
//! * Every message is a fixed 16-byte header followed by an op-specific body
//!   whose layout is fixed per op (`docs/sockets-facade.md` lists every
//!   byte). All integers are little-endian; all padding must be zero.
//! * Decoding is *total*: any input slice yields either a typed value or a
//!   [`NetError`], never a panic, never an allocation. Payloads are returned
//!   as sub-slices of the input (zero-copy).
//! * A request that fails to decode still gets an answer: [`DecodeError`]
//!   carries the correlation id and op byte to echo. They are read only if
//!   the first 8 bytes are present and the magic byte is right; otherwise the
//!   reply carries correlation 0 and op 0 (clients never use correlation 0).
//! * Encoders write into a caller-provided `&mut [u8]` and return the length
//!   written, or [`NetError::NoBufs`] when it does not fit (nothing useful is
//!   left in the buffer then). They validate the same limits as the decoder,
//!   so a client cannot emit a request the server would reject as malformed.

mod reply;
mod request;

pub use reply::{
    decode_reply, encode_error_reply, encode_reply, Reply, ReplyHeader, ReplyMsg, ServerStats,
};
pub(crate) use reply::{finish_read_reply, finish_recv_reply, READ_DATA_OFFSET, RECV_DATA_OFFSET};
pub use request::{
    decode_request, encode_request, DecodeError, Request, RequestHeader, WaitSet, MAX_WAIT_SET,
};

use crate::error::NetError;
use crate::types::Ipv4Addr;

/// First byte of every request (`'N'`).
pub const REQUEST_MAGIC: u8 = 0x4E;
/// First byte of every reply (`'n'`).
pub const REPLY_MAGIC: u8 = 0x6E;
/// Size of the request header in bytes.
pub const REQUEST_HEADER_LEN: usize = 16;
/// Size of the reply header in bytes.
pub const REPLY_HEADER_LEN: usize = 16;

/// Operation codes (byte 2 of both headers).
///
/// Codes are stable wire values. Unknown codes decode as
/// [`NetError::Unsupported`] so that ops can be added without a version bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Listen for TCP connections on a local port.
    TcpListen = 0x01,
    /// Accept one pending connection from a listener.
    TcpAccept = 0x02,
    /// Start a TCP connection to a remote address.
    TcpConnect = 0x03,
    /// Read bytes from a stream.
    TcpRead = 0x04,
    /// Write bytes to a stream (partial writes allowed).
    TcpWrite = 0x05,
    /// Shut down the sending half of a stream (send FIN).
    TcpShutdown = 0x06,
    /// Read bytes from a stream into the client's attached shared region.
    TcpReadShared = 0x07,
    /// Write bytes to a stream from the client's attached shared region.
    TcpWriteShared = 0x08,
    /// Bind a UDP socket to a local port.
    UdpBind = 0x10,
    /// Send one datagram.
    UdpSendTo = 0x11,
    /// Receive one datagram.
    UdpRecvFrom = 0x12,
    /// Close any handle (listener, stream or UDP socket).
    Close = 0x20,
    /// Wait for readiness on a handle until an absolute deadline.
    Wait = 0x30,
    /// Wait until any handle of a set is ready, until an absolute deadline.
    WaitAny = 0x31,
    /// Arm a readiness set without blocking: the server posts one `Notify`
    /// on the client's notify route when the set becomes ready.
    WaitArm = 0x32,
    /// Query the interface address, prefix, gateway and MTU.
    LocalAddr = 0x40,
    /// Send one ICMP echo request and wait for the reply until a deadline.
    Ping = 0x41,
    /// Server resource usage (clients, handles, parked requests, backend
    /// sockets and buffer bytes), for leak checks and monitoring.
    Stats = 0x42,
    /// Link details: MAC address and how the address was obtained (DHCP
    /// lease time and age). Added after v1's first ops; older servers
    /// answer `Unsupported`.
    LinkInfo = 0x43,
    /// Attach a shared region: the request carries a kernel memory
    /// capability (read/write) that the server maps; one per client.
    AttachShared = 0x50,
    /// Detach the client's shared region (the server unmaps it).
    DetachShared = 0x51,
}

impl Op {
    /// Every op, in code order.
    pub const ALL: [Op; 21] = [
        Op::TcpListen,
        Op::TcpAccept,
        Op::TcpConnect,
        Op::TcpRead,
        Op::TcpWrite,
        Op::TcpShutdown,
        Op::TcpReadShared,
        Op::TcpWriteShared,
        Op::UdpBind,
        Op::UdpSendTo,
        Op::UdpRecvFrom,
        Op::Close,
        Op::Wait,
        Op::WaitAny,
        Op::WaitArm,
        Op::LocalAddr,
        Op::Ping,
        Op::Stats,
        Op::LinkInfo,
        Op::AttachShared,
        Op::DetachShared,
    ];

    /// Maps a wire byte to an op.
    pub fn from_u8(b: u8) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| *op as u8 == b)
    }
}

/// Bounds-checked little-endian cursor over an input slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], NetError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(NetError::Malformed)?;
        self.buf = rest;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, NetError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, NetError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, NetError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, NetError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// IPv4 address in network order (`a.b.c.d` = bytes `a, b, c, d`).
    pub(crate) fn ipv4(&mut self) -> Result<Ipv4Addr, NetError> {
        Ok(Ipv4Addr::from(self.array::<4>()?))
    }

    /// `n` zero bytes; non-zero padding is `Malformed`.
    pub(crate) fn pad(&mut self, n: usize) -> Result<(), NetError> {
        let p = self.bytes(n)?;
        if p.iter().any(|b| *b != 0) {
            return Err(NetError::Malformed);
        }
        Ok(())
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], NetError> {
        if n > self.buf.len() {
            return Err(NetError::Malformed);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Succeeds only if the whole input was consumed (no trailing bytes).
    pub(crate) fn finish(&self) -> Result<(), NetError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(NetError::Malformed)
        }
    }
}

/// Bounds-checked little-endian writer into a caller buffer.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Result<(), NetError> {
        let end = self.pos.checked_add(data.len()).ok_or(NetError::NoBufs)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(NetError::NoBufs)?;
        dst.copy_from_slice(data);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), NetError> {
        self.bytes(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), NetError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), NetError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), NetError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn ipv4(&mut self, ip: Ipv4Addr) -> Result<(), NetError> {
        self.bytes(&ip.octets())
    }

    pub(crate) fn pad(&mut self, n: usize) -> Result<(), NetError> {
        for _ in 0..n {
            self.u8(0)?;
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.pos
    }
}

/// Converts a payload length already checked against a limit to the wire `u16`.
pub(crate) fn len_u16(n: usize) -> Result<u16, NetError> {
    u16::try_from(n).map_err(|_| NetError::InvalidInput)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_codes_round_trip_and_unknown_is_none() {
        for op in Op::ALL {
            assert_eq!(Op::from_u8(op as u8), Some(op));
        }
        let known = Op::ALL.iter().filter(|o| Op::from_u8(**o as u8).is_some());
        assert_eq!(known.count(), 21);
        assert_eq!(Op::from_u8(0), None);
        assert_eq!(Op::from_u8(0xff), None);
    }

    #[test]
    fn reader_is_total() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0201));
        assert_eq!(r.u16(), Err(NetError::Malformed));
        assert_eq!(r.bytes(usize::MAX), Err(NetError::Malformed));
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.finish(), Ok(()));
        let mut r = Reader::new(&[0, 1]);
        assert_eq!(r.pad(2), Err(NetError::Malformed));
    }

    #[test]
    fn writer_refuses_overflow() {
        let mut b = [0u8; 3];
        let mut w = Writer::new(&mut b);
        assert_eq!(w.u16(0xbeef), Ok(()));
        assert_eq!(w.u16(1), Err(NetError::NoBufs));
        assert_eq!(w.len(), 2);
        assert_eq!(b, [0xef, 0xbe, 0]);
    }
}

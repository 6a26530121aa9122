//! "LN" v1: the sockets IPC protocol between local clients (`echod`,
//! `fetchd`, …) and `netstackd-lite`.
//!
//! Integers little-endian, IPv4 addresses as 4 bytes in network order.
//! Requests have an 8-byte header, replies a 12-byte one:
//!
//! | offset | request            | reply                      |
//! |--------|--------------------|----------------------------|
//! | 0..2   | `'L' 'N'`          | `'L' 'N'`                  |
//! | 2      | version = 1        | version = 1                |
//! | 3      | op                 | op \| 0x80                 |
//! | 4..8   | correlation u32    | correlation echoed         |
//! | 8      | body…              | status u8 ([`Status`])     |
//! | 9..12  |                    | 0                          |
//! | 12..   |                    | body… (OK replies only)    |
//!
//! | op | name | request body | OK reply body |
//! |----|------|--------------|---------------|
//! | 1 | UDP_BIND | addr[4] port u16 | handle u32 |
//! | 2 | UDP_SEND | handle u32, addr[4], port u16, len u16, data | sent u16 |
//! | 3 | UDP_RECV | handle u32, deadline u64, max u16 | addr[4], port u16, len u16, data |
//! | 4 | LISTEN | addr[4] port u16 backlog u8 | handle u32 |
//! | 5 | ACCEPT | handle u32, deadline u64 | stream u32, peer addr[4], peer port u16 |
//! | 6 | CONNECT | addr[4] port u16 | stream u32, local port u16 |
//! | 7 | READ | handle u32, deadline u64, max u16 | len u16, data (len 0 = end of stream) |
//! | 8 | WRITE | handle u32, deadline u64, len u16, data | written u16 |
//! | 9 | CLOSE | handle u32 | – |
//! | 10 | PING | addr[4], deadline u64 | rtt_ns u64 |
//! | 11 | IFACE | iface u8 (0 `lo`, 1 `virt0`) | state u8, addr[4], prefix u8, gw[4], dns[4], mac[6] |
//!
//! Deadlines are absolute monotonic ns; 0 waits without limit, a deadline
//! already past tries once. A request that cannot complete yet (no datagram,
//! no connection, no data, no buffer space, no echo reply) is parked by the
//! server and answered when it completes or its deadline passes
//! (`TIMED_OUT`). Requests decode totally: lengths are exact, `len` fields
//! must match the data, and anything else is `MALFORMED` with the
//! correlation echoed when the header was readable.

/// Largest message either way.
pub const MSG_MAX: usize = 8192;
/// Request header length.
pub const REQ_HEADER: usize = 8;
/// Reply header length.
pub const REP_HEADER: usize = 12;
/// Protocol version.
pub const VERSION: u8 = 1;
/// Magic.
pub const MAGIC: [u8; 2] = *b"LN";
/// Largest payload of one UDP_SEND / UDP_RECV / READ / WRITE.
pub const DATA_MAX: usize = 4096;

/// UDP_BIND.
pub const OP_UDP_BIND: u8 = 1;
/// UDP_SEND.
pub const OP_UDP_SEND: u8 = 2;
/// UDP_RECV.
pub const OP_UDP_RECV: u8 = 3;
/// LISTEN.
pub const OP_LISTEN: u8 = 4;
/// ACCEPT.
pub const OP_ACCEPT: u8 = 5;
/// CONNECT.
pub const OP_CONNECT: u8 = 6;
/// READ.
pub const OP_READ: u8 = 7;
/// WRITE.
pub const OP_WRITE: u8 = 8;
/// CLOSE.
pub const OP_CLOSE: u8 = 9;
/// PING.
pub const OP_PING: u8 = 10;
/// IFACE.
pub const OP_IFACE: u8 = 11;

/// Reply statuses.
#[repr(u8)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// Undecodable request.
    Malformed = 1,
    /// Unsupported protocol version.
    Version = 2,
    /// Unknown op.
    UnknownOp = 3,
    /// No such handle for this client (or of the wrong kind).
    BadHandle = 4,
    /// The port is bound / listened on already.
    AddrInUse = 5,
    /// No listener on that loopback port, or its backlog is full.
    Refused = 6,
    /// The deadline passed.
    TimedOut = 7,
    /// A table (sockets, parked requests, pings) is full.
    NoResources = 8,
    /// The peer closed (write), or the interface has no address yet.
    NotConnected = 9,
    /// Data larger than the protocol or the link allows.
    TooLarge = 10,
    /// No route / not a loopback address for a stream.
    Unreachable = 11,
    /// A field value is out of range (port 0 to connect, iface 7, …).
    InvalidArg = 12,
}

impl Status {
    /// Decodes a status byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        use Status::*;
        [
            Ok,
            Malformed,
            Version,
            UnknownOp,
            BadHandle,
            AddrInUse,
            Refused,
            TimedOut,
            NoResources,
            NotConnected,
            TooLarge,
            Unreachable,
            InvalidArg,
        ]
        .into_iter()
        .find(|s| *s as u8 == v)
    }
}

/// A decoded request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Bind a UDP socket (`addr` 0.0.0.0 = every interface; port 0 = pick).
    UdpBind {
        /// Local address.
        addr: [u8; 4],
        /// Local port.
        port: u16,
    },
    /// Send a datagram.
    UdpSend {
        /// Socket.
        handle: u32,
        /// Destination address.
        addr: [u8; 4],
        /// Destination port.
        port: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Receive a datagram.
    UdpRecv {
        /// Socket.
        handle: u32,
        /// Absolute ns, 0 = none.
        deadline: u64,
        /// Largest payload wanted (longer datagrams are truncated).
        max: u16,
    },
    /// Listen on a loopback stream port.
    Listen {
        /// 127.0.0.1 or 0.0.0.0 (both mean loopback).
        addr: [u8; 4],
        /// Port (non-zero).
        port: u16,
        /// Pending connections kept (1..=8, clamped).
        backlog: u8,
    },
    /// Accept a connection.
    Accept {
        /// Listener.
        handle: u32,
        /// Absolute ns, 0 = none.
        deadline: u64,
    },
    /// Connect to a loopback listener.
    Connect {
        /// Must be in 127.0.0.0/8.
        addr: [u8; 4],
        /// Port.
        port: u16,
    },
    /// Read from a stream.
    Read {
        /// Stream.
        handle: u32,
        /// Absolute ns, 0 = none.
        deadline: u64,
        /// Most bytes wanted.
        max: u16,
    },
    /// Write to a stream.
    Write {
        /// Stream.
        handle: u32,
        /// Absolute ns, 0 = none.
        deadline: u64,
        /// Bytes.
        data: &'a [u8],
    },
    /// Close any handle.
    Close {
        /// Handle.
        handle: u32,
    },
    /// ICMP echo to `addr`.
    Ping {
        /// Destination.
        addr: [u8; 4],
        /// Absolute ns, 0 = none.
        deadline: u64,
    },
    /// Interface configuration.
    Iface {
        /// 0 `lo`, 1 `virt0`.
        iface: u8,
    },
}

impl Request<'_> {
    /// The op code.
    pub fn op(&self) -> u8 {
        match self {
            Request::UdpBind { .. } => OP_UDP_BIND,
            Request::UdpSend { .. } => OP_UDP_SEND,
            Request::UdpRecv { .. } => OP_UDP_RECV,
            Request::Listen { .. } => OP_LISTEN,
            Request::Accept { .. } => OP_ACCEPT,
            Request::Connect { .. } => OP_CONNECT,
            Request::Read { .. } => OP_READ,
            Request::Write { .. } => OP_WRITE,
            Request::Close { .. } => OP_CLOSE,
            Request::Ping { .. } => OP_PING,
            Request::Iface { .. } => OP_IFACE,
        }
    }
}

/// A bounds-checked little-endian reader; every getter is `None` past the end.
#[derive(Copy, Clone, Debug)]
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `b` from its start.
    pub fn new(b: &'a [u8]) -> Self {
        Self { b }
    }
    /// Next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    /// Next `N` bytes as an array.
    pub fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
    /// Next byte.
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.arr::<1>()?[0])
    }
    /// Next u16.
    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.arr()?))
    }
    /// Next u32.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.arr()?))
    }
    /// Next u64.
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.arr()?))
    }
    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
    /// The unread rest.
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }
}

/// A request that could not be decoded: what to answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Op to echo (0 if the header was unreadable).
    pub op: u8,
    /// Correlation to echo (0 if unreadable).
    pub correlation: u32,
    /// Status.
    pub status: Status,
}

fn body<'a>(op: u8, r: &mut Reader<'a>) -> Option<Request<'a>> {
    let req = match op {
        OP_UDP_BIND => Request::UdpBind {
            addr: r.arr()?,
            port: r.u16()?,
        },
        OP_UDP_SEND => {
            let handle = r.u32()?;
            let addr = r.arr()?;
            let port = r.u16()?;
            let len = usize::from(r.u16()?);
            Request::UdpSend {
                handle,
                addr,
                port,
                data: r.bytes(len)?,
            }
        }
        OP_UDP_RECV => Request::UdpRecv {
            handle: r.u32()?,
            deadline: r.u64()?,
            max: r.u16()?,
        },
        OP_LISTEN => Request::Listen {
            addr: r.arr()?,
            port: r.u16()?,
            backlog: r.u8()?,
        },
        OP_ACCEPT => Request::Accept {
            handle: r.u32()?,
            deadline: r.u64()?,
        },
        OP_CONNECT => Request::Connect {
            addr: r.arr()?,
            port: r.u16()?,
        },
        OP_READ => Request::Read {
            handle: r.u32()?,
            deadline: r.u64()?,
            max: r.u16()?,
        },
        OP_WRITE => {
            let handle = r.u32()?;
            let deadline = r.u64()?;
            let len = usize::from(r.u16()?);
            Request::Write {
                handle,
                deadline,
                data: r.bytes(len)?,
            }
        }
        OP_CLOSE => Request::Close { handle: r.u32()? },
        OP_PING => Request::Ping {
            addr: r.arr()?,
            deadline: r.u64()?,
        },
        OP_IFACE => Request::Iface { iface: r.u8()? },
        _ => return None,
    };
    r.is_empty().then_some(req)
}

/// Decodes a request (total).
pub fn decode_request(b: &[u8]) -> Result<(u32, Request<'_>), Rejected> {
    if b.len() < REQ_HEADER || b[0..2] != MAGIC {
        return Err(Rejected {
            op: 0,
            correlation: 0,
            status: Status::Malformed,
        });
    }
    let op = b[3];
    let corr = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let rej = |status| Rejected {
        op,
        correlation: corr,
        status,
    };
    if b[2] != VERSION {
        return Err(rej(Status::Version));
    }
    if !(OP_UDP_BIND..=OP_IFACE).contains(&op) {
        return Err(rej(Status::UnknownOp));
    }
    let mut r = Reader::new(&b[REQ_HEADER..]);
    let req = body(op, &mut r).ok_or(rej(Status::Malformed))?;
    match req {
        Request::UdpSend { data, .. } | Request::Write { data, .. } if data.len() > DATA_MAX => {
            Err(rej(Status::TooLarge))
        }
        _ => Ok((corr, req)),
    }
}

/// A little writer over a fixed buffer; `None` once it overflows.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) -> Option<()> {
        self.out
            .get_mut(self.at..self.at + b.len())?
            .copy_from_slice(b);
        self.at += b.len();
        Some(())
    }
}

/// Encodes a request into `out`; `None` if it does not fit or data exceeds
/// [`DATA_MAX`].
pub fn encode_request(corr: u32, req: &Request<'_>, out: &mut [u8]) -> Option<usize> {
    let mut w = Writer { out, at: 0 };
    w.put(&MAGIC)?;
    w.put(&[VERSION, req.op()])?;
    w.put(&corr.to_le_bytes())?;
    match *req {
        Request::UdpBind { addr, port } => {
            w.put(&addr)?;
            w.put(&port.to_le_bytes())?;
        }
        Request::UdpSend {
            handle,
            addr,
            port,
            data,
        } => {
            if data.len() > DATA_MAX {
                return None;
            }
            w.put(&handle.to_le_bytes())?;
            w.put(&addr)?;
            w.put(&port.to_le_bytes())?;
            w.put(&(data.len() as u16).to_le_bytes())?;
            w.put(data)?;
        }
        Request::UdpRecv {
            handle,
            deadline,
            max,
        }
        | Request::Read {
            handle,
            deadline,
            max,
        } => {
            w.put(&handle.to_le_bytes())?;
            w.put(&deadline.to_le_bytes())?;
            w.put(&max.to_le_bytes())?;
        }
        Request::Listen {
            addr,
            port,
            backlog,
        } => {
            w.put(&addr)?;
            w.put(&port.to_le_bytes())?;
            w.put(&[backlog])?;
        }
        Request::Accept { handle, deadline } => {
            w.put(&handle.to_le_bytes())?;
            w.put(&deadline.to_le_bytes())?;
        }
        Request::Connect { addr, port } => {
            w.put(&addr)?;
            w.put(&port.to_le_bytes())?;
        }
        Request::Write {
            handle,
            deadline,
            data,
        } => {
            if data.len() > DATA_MAX {
                return None;
            }
            w.put(&handle.to_le_bytes())?;
            w.put(&deadline.to_le_bytes())?;
            w.put(&(data.len() as u16).to_le_bytes())?;
            w.put(data)?;
        }
        Request::Close { handle } => w.put(&handle.to_le_bytes())?,
        Request::Ping { addr, deadline } => {
            w.put(&addr)?;
            w.put(&deadline.to_le_bytes())?;
        }
        Request::Iface { iface } => w.put(&[iface])?,
    }
    Some(w.at)
}

/// Encodes a reply: header, then the concatenated `parts` (only for OK).
/// Returns the length, or 0 if `out` is too small (the server sizes `out`
/// to [`MSG_MAX`], which always fits).
pub fn encode_reply(op: u8, corr: u32, status: Status, parts: &[&[u8]], out: &mut [u8]) -> usize {
    let mut w = Writer { out, at: 0 };
    let ok = (|| {
        w.put(&MAGIC)?;
        w.put(&[VERSION, op | 0x80])?;
        w.put(&corr.to_le_bytes())?;
        w.put(&[status as u8, 0, 0, 0])?;
        if status == Status::Ok {
            for p in parts {
                w.put(p)?;
            }
        }
        Some(())
    })();
    if ok.is_some() {
        w.at
    } else {
        0
    }
}

/// Decodes a reply to (`op`, `corr`): status and body. `None` if malformed
/// or for another request.
pub fn decode_reply(b: &[u8], op: u8, corr: u32) -> Option<(Status, &[u8])> {
    if b.len() < REP_HEADER || b[0..2] != MAGIC || b[2] != VERSION || b[3] != op | 0x80 {
        return None;
    }
    if u32::from_le_bytes([b[4], b[5], b[6], b[7]]) != corr || b[9..12] != [0, 0, 0] {
        return None;
    }
    let st = Status::from_u8(b[8])?;
    let body = &b[REP_HEADER..];
    if st != Status::Ok && !body.is_empty() {
        return None;
    }
    Some((st, body))
}

/// Interface state in an IFACE reply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IfaceInfo {
    /// 0 no address yet, 1 DHCP lease, 2 fixed (fallback) lease, 3 static (`lo`).
    pub state: u8,
    /// Address.
    pub addr: [u8; 4],
    /// Prefix length.
    pub prefix: u8,
    /// Gateway (0.0.0.0 = none).
    pub gateway: [u8; 4],
    /// DNS server (0.0.0.0 = none).
    pub dns: [u8; 4],
    /// MAC (zero for `lo`).
    pub mac: [u8; 6],
}

impl IfaceInfo {
    /// Encoded size.
    pub const SIZE: usize = 20;

    /// Encodes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0] = self.state;
        b[1..5].copy_from_slice(&self.addr);
        b[5] = self.prefix;
        b[6..10].copy_from_slice(&self.gateway);
        b[10..14].copy_from_slice(&self.dns);
        b[14..20].copy_from_slice(&self.mac);
        b
    }

    /// Decodes exactly [`Self::SIZE`] bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let mut r = Reader::new(b);
        let v = Self {
            state: r.u8()?,
            addr: r.arr()?,
            prefix: r.u8()?,
            gateway: r.arr()?,
            dns: r.arr()?,
            mac: r.arr()?,
        };
        r.is_empty().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn all() -> [Request<'static>; 11] {
        [
            Request::UdpBind {
                addr: [0; 4],
                port: 7,
            },
            Request::UdpSend {
                handle: 3,
                addr: [10, 0, 2, 2],
                port: 5555,
                data: b"hi",
            },
            Request::UdpRecv {
                handle: 3,
                deadline: 99,
                max: 1500,
            },
            Request::Listen {
                addr: [127, 0, 0, 1],
                port: 8080,
                backlog: 4,
            },
            Request::Accept {
                handle: 4,
                deadline: 0,
            },
            Request::Connect {
                addr: [127, 0, 0, 1],
                port: 8080,
            },
            Request::Read {
                handle: 5,
                deadline: 1,
                max: 512,
            },
            Request::Write {
                handle: 5,
                deadline: 2,
                data: b"GET",
            },
            Request::Close { handle: 5 },
            Request::Ping {
                addr: [127, 0, 0, 1],
                deadline: 77,
            },
            Request::Iface { iface: 1 },
        ]
    }

    #[test]
    fn every_request_roundtrips_and_every_cut_or_extension_is_rejected() {
        let mut buf = [0u8; 64];
        for (i, r) in all().iter().enumerate() {
            let n = encode_request(i as u32, r, &mut buf).unwrap();
            assert_eq!(decode_request(&buf[..n]), Ok((i as u32, *r)));
            for cut in 0..n {
                assert!(decode_request(&buf[..cut]).is_err(), "{r:?} cut {cut}");
            }
            let mut longer = buf[..n].to_vec();
            longer.push(0);
            let e = decode_request(&longer).unwrap_err();
            assert_eq!((e.status, e.correlation), (Status::Malformed, i as u32));
        }
    }

    #[test]
    fn header_rejections() {
        let mut buf = [0u8; 64];
        let n = encode_request(9, &Request::Close { handle: 1 }, &mut buf).unwrap();
        let mut v = buf[..n].to_vec();
        v[2] = 7;
        assert_eq!(decode_request(&v).unwrap_err().status, Status::Version);
        v[2] = 1;
        v[3] = 0;
        assert_eq!(decode_request(&v).unwrap_err().status, Status::UnknownOp);
        v[3] = 12;
        assert_eq!(decode_request(&v).unwrap_err().status, Status::UnknownOp);
        v[0] = 0;
        assert_eq!(
            decode_request(&v).unwrap_err(),
            Rejected {
                op: 0,
                correlation: 0,
                status: Status::Malformed
            }
        );
    }

    #[test]
    fn data_length_must_match_and_is_bounded() {
        let big = vec![0u8; DATA_MAX + 1];
        let mut out = vec![0u8; MSG_MAX];
        let w = Request::Write {
            handle: 1,
            deadline: 0,
            data: &big,
        };
        assert_eq!(encode_request(1, &w, &mut out), None);
        // Hand-made oversize write: TooLarge.
        let mut v = vec![b'L', b'N', 1, OP_WRITE, 1, 0, 0, 0];
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&((DATA_MAX + 1) as u16).to_le_bytes());
        v.extend_from_slice(&big);
        assert_eq!(decode_request(&v).unwrap_err().status, Status::TooLarge);
        // len field larger than the data present.
        let n = encode_request(
            1,
            &Request::UdpSend {
                handle: 1,
                addr: [0; 4],
                port: 1,
                data: b"abc",
            },
            &mut out,
        )
        .unwrap();
        out[18] = 4;
        assert_eq!(
            decode_request(&out[..n]).unwrap_err().status,
            Status::Malformed
        );
    }

    #[test]
    fn replies_roundtrip() {
        let mut out = [0u8; 64];
        let n = encode_reply(OP_PING, 5, Status::Ok, &[&7u64.to_le_bytes()], &mut out);
        let (st, body) = decode_reply(&out[..n], OP_PING, 5).unwrap();
        assert_eq!((st, Reader::new(body).u64()), (Status::Ok, Some(7)));
        assert_eq!(decode_reply(&out[..n], OP_PING, 6), None);
        assert_eq!(decode_reply(&out[..n], OP_READ, 5), None);
        let n = encode_reply(OP_READ, 5, Status::TimedOut, &[b"ignored"], &mut out);
        assert_eq!(n, REP_HEADER);
        assert_eq!(
            decode_reply(&out[..n], OP_READ, 5),
            Some((Status::TimedOut, &[][..]))
        );
        assert_eq!(
            encode_reply(OP_READ, 5, Status::Ok, &[&[0; 60]], &mut out),
            0
        );
        for cut in 0..REP_HEADER {
            assert_eq!(decode_reply(&out[..cut], OP_READ, 5), None);
        }
        let mut bad = out;
        bad[8] = 99;
        assert_eq!(decode_reply(&bad[..REP_HEADER], OP_READ, 5), None);
        for v in 0..=12u8 {
            assert_eq!(Status::from_u8(v).map(|s| s as u8), Some(v));
        }
    }

    #[test]
    fn iface_info_roundtrip() {
        let i = IfaceInfo {
            state: 2,
            addr: [10, 0, 2, 15],
            prefix: 24,
            gateway: [10, 0, 2, 2],
            dns: [10, 0, 2, 3],
            mac: [2, 0, 0, 0, 0, 1],
        };
        assert_eq!(IfaceInfo::decode(&i.encode()), Some(i));
        assert_eq!(IfaceInfo::decode(&i.encode()[..19]), None);
    }
}

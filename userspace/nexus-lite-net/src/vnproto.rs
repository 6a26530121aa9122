//! "VN" v1: the frame IPC protocol between `netstackd-lite` (client) and
//! `virtionetd-lite` (server).
//!
//! All integers little-endian. Every message starts with an 8-byte header;
//! replies add a 4-byte status word:
//!
//! | offset | request            | reply                         |
//! |--------|--------------------|-------------------------------|
//! | 0..2   | `'V' 'N'`          | `'V' 'N'`                     |
//! | 2      | version = 1        | version = 1                   |
//! | 3      | op                 | op \| 0x80                    |
//! | 4..8   | correlation u32    | correlation echoed            |
//! | 8      | body…              | status u8                     |
//! | 9..12  |                    | 0                             |
//! | 12..   |                    | body…                         |
//!
//! | op | name | request body | OK reply body |
//! |----|------|--------------|---------------|
//! | 1 | INFO | – | mac[6], mtu u16 |
//! | 2 | TX | one Ethernet frame, 14..=1514 bytes (no virtio header) | – |
//! | 3 | RX | deadline u64 (absolute monotonic ns, 0 = none) | count u8, then count × (len u16, frame) |
//!
//! RX is *parked* by the driver until at least one frame is available or the
//! deadline passes (`TIMED_OUT`); a newer RX replaces a parked one (the old
//! caller gets `SUPERSEDED`). The driver only ever replies, so it never
//! blocks on its client. A reply always fits in [`MSG_MAX`].

use crate::wire::eth;

/// Largest message either way (the kernel's `MSG_MAX`).
pub const MSG_MAX: usize = 8192;
/// Request header length.
pub const REQ_HEADER: usize = 8;
/// Reply header length.
pub const REP_HEADER: usize = 12;
/// Protocol version.
pub const VERSION: u8 = 1;
/// Magic.
pub const MAGIC: [u8; 2] = *b"VN";
/// INFO op.
pub const OP_INFO: u8 = 1;
/// TX op.
pub const OP_TX: u8 = 2;
/// RX op.
pub const OP_RX: u8 = 3;
/// Smallest frame accepted for TX.
pub const MIN_FRAME: usize = eth::HEADER;
/// Largest frame either way.
pub const MAX_FRAME: usize = eth::MAX_FRAME;

/// Reply statuses.
#[repr(u8)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// Bad header, length or body.
    Malformed = 1,
    /// Unsupported version.
    Version = 2,
    /// Unknown op.
    UnknownOp = 3,
    /// RX deadline passed without a frame.
    TimedOut = 4,
    /// TX ring full: the frame was dropped.
    NoBuffers = 5,
    /// The device failed; nothing more will be sent or received.
    DeviceFailed = 6,
    /// A newer RX replaced this one.
    Superseded = 7,
}

impl Status {
    /// Decodes a status byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Ok,
            1 => Self::Malformed,
            2 => Self::Version,
            3 => Self::UnknownOp,
            4 => Self::TimedOut,
            5 => Self::NoBuffers,
            6 => Self::DeviceFailed,
            7 => Self::Superseded,
            _ => return None,
        })
    }
}

/// A decoded request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// MAC and MTU.
    Info,
    /// Send a frame.
    Tx(&'a [u8]),
    /// Wait for frames until the deadline.
    Rx {
        /// Absolute ns, 0 = none.
        deadline: u64,
    },
}

/// A request that could not be decoded: what to answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Op byte to echo (0 if the header was unreadable).
    pub op: u8,
    /// Correlation to echo (0 if unreadable).
    pub correlation: u32,
    /// Status to answer with.
    pub status: Status,
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// Decodes a request (total: any bytes give a request or a [`Rejected`]).
pub fn decode_request(b: &[u8]) -> Result<(u32, Request<'_>), Rejected> {
    let rej = |op, correlation, status| Rejected {
        op,
        correlation,
        status,
    };
    if b.len() < REQ_HEADER || b[0..2] != MAGIC {
        return Err(rej(0, 0, Status::Malformed));
    }
    let op = b[3];
    let corr = u32_at(b, 4).unwrap_or(0);
    if b[2] != VERSION {
        return Err(rej(op, corr, Status::Version));
    }
    let body = &b[REQ_HEADER..];
    let r = match op {
        OP_INFO if body.is_empty() => Request::Info,
        OP_TX if (MIN_FRAME..=MAX_FRAME).contains(&body.len()) => Request::Tx(body),
        OP_RX if body.len() == 8 => Request::Rx {
            deadline: u64_at(body, 0).unwrap_or(0),
        },
        OP_INFO | OP_TX | OP_RX => return Err(rej(op, corr, Status::Malformed)),
        _ => return Err(rej(op, corr, Status::UnknownOp)),
    };
    Ok((corr, r))
}

/// Encodes a request into `out`; returns its length, or `None` if it does not
/// fit or a TX frame is out of range.
pub fn encode_request(corr: u32, r: &Request<'_>, out: &mut [u8]) -> Option<usize> {
    let (op, body_len) = match r {
        Request::Info => (OP_INFO, 0),
        Request::Tx(f) if (MIN_FRAME..=MAX_FRAME).contains(&f.len()) => (OP_TX, f.len()),
        Request::Tx(_) => return None,
        Request::Rx { .. } => (OP_RX, 8),
    };
    let out = out.get_mut(..REQ_HEADER + body_len)?;
    out[0..2].copy_from_slice(&MAGIC);
    out[2] = VERSION;
    out[3] = op;
    out[4..8].copy_from_slice(&corr.to_le_bytes());
    match r {
        Request::Info => {}
        Request::Tx(f) => out[REQ_HEADER..].copy_from_slice(f),
        Request::Rx { deadline } => out[REQ_HEADER..].copy_from_slice(&deadline.to_le_bytes()),
    }
    Some(out.len())
}

/// Writes a reply header into `out[..12]` (`out` must hold 12 bytes; returns
/// 12, or 0 if it does not).
pub fn encode_reply_header(op: u8, corr: u32, status: Status, out: &mut [u8]) -> usize {
    let Some(h) = out.get_mut(..REP_HEADER) else {
        return 0;
    };
    h[0..2].copy_from_slice(&MAGIC);
    h[2] = VERSION;
    h[3] = op | 0x80;
    h[4..8].copy_from_slice(&corr.to_le_bytes());
    h[8] = status as u8;
    h[9..12].fill(0);
    REP_HEADER
}

/// Encodes an INFO reply; returns its length (20).
pub fn encode_info_reply(corr: u32, mac: [u8; 6], mtu: u16, out: &mut [u8; 20]) -> usize {
    encode_reply_header(OP_INFO, corr, Status::Ok, out);
    out[12..18].copy_from_slice(&mac);
    out[18..20].copy_from_slice(&mtu.to_le_bytes());
    20
}

/// Builds an OK RX reply frame by frame.
#[derive(Debug)]
pub struct RxWriter<'a> {
    out: &'a mut [u8],
    len: usize,
    count: u8,
}

impl<'a> RxWriter<'a> {
    /// Starts an RX reply in `out` (at least 13 bytes, else nothing fits).
    pub fn new(corr: u32, out: &'a mut [u8]) -> Self {
        let len = if out.len() > REP_HEADER {
            encode_reply_header(OP_RX, corr, Status::Ok, out);
            out[REP_HEADER] = 0;
            REP_HEADER + 1
        } else {
            out.len()
        };
        Self { out, len, count: 0 }
    }

    /// True if a frame of `n` bytes still fits.
    pub fn fits(&self, n: usize) -> bool {
        self.count < u8::MAX
            && n <= MAX_FRAME
            && self.len + 2 + n <= self.out.len()
            && self.len > REP_HEADER
    }

    /// Appends a frame; false (and nothing written) if it does not fit.
    pub fn push(&mut self, frame: &[u8]) -> bool {
        if !self.fits(frame.len()) {
            return false;
        }
        let at = self.len;
        self.out[at..at + 2].copy_from_slice(&(frame.len() as u16).to_le_bytes());
        self.out[at + 2..at + 2 + frame.len()].copy_from_slice(frame);
        self.len += 2 + frame.len();
        self.count += 1;
        self.out[REP_HEADER] = self.count;
        true
    }

    /// Frames written.
    pub fn count(&self) -> u8 {
        self.count
    }

    /// Finishes; returns the reply length.
    pub fn finish(self) -> usize {
        self.len
    }
}

/// Decodes a reply to `op`/`corr`: the status and body. `None` if the reply
/// is malformed, for another op or another correlation.
pub fn decode_reply(b: &[u8], op: u8, corr: u32) -> Option<(Status, &[u8])> {
    if b.len() < REP_HEADER || b[0..2] != MAGIC || b[2] != VERSION || b[3] != op | 0x80 {
        return None;
    }
    if u32_at(b, 4)? != corr || b[9..12] != [0, 0, 0] {
        return None;
    }
    Some((Status::from_u8(b[8])?, &b[REP_HEADER..]))
}

/// Decodes an INFO reply body: (mac, mtu).
pub fn decode_info(body: &[u8]) -> Option<([u8; 6], u16)> {
    if body.len() != 8 {
        return None;
    }
    Some((
        body[..6].try_into().ok()?,
        u16::from_le_bytes([body[6], body[7]]),
    ))
}

/// Validates an RX reply body, then calls `f` for each frame; returns the
/// number of frames, or `None` (and calls nothing) if the body is malformed:
/// a length past the end, a frame outside 14..=1514 bytes, a count that
/// disagrees with the contents, or trailing bytes.
pub fn decode_rx(body: &[u8], mut f: impl FnMut(&[u8])) -> Option<usize> {
    let (&count, mut rest) = body.split_first()?;
    let all = rest;
    for _ in 0..count {
        let n = usize::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?));
        if !(MIN_FRAME..=MAX_FRAME).contains(&n) {
            return None;
        }
        rest = rest.get(2 + n..)?;
    }
    if !rest.is_empty() {
        return None;
    }
    let mut rest = all;
    for _ in 0..count {
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        f(&rest[2..2 + n]);
        rest = &rest[2 + n..];
    }
    Some(usize::from(count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn request_roundtrips() {
        let mut buf = [0u8; MSG_MAX];
        let frame = [7u8; 60];
        for r in [
            Request::Info,
            Request::Tx(&frame),
            Request::Rx { deadline: 123 },
            Request::Rx { deadline: 0 },
        ] {
            let n = encode_request(42, &r, &mut buf).unwrap();
            assert_eq!(decode_request(&buf[..n]), Ok((42, r)));
            let min_ok = match r {
                Request::Tx(_) => REQ_HEADER + MIN_FRAME,
                _ => n,
            };
            for cut in 0..min_ok {
                assert!(decode_request(&buf[..cut]).is_err(), "{r:?} cut {cut}");
            }
        }
        assert_eq!(encode_request(1, &Request::Tx(&[0; 13]), &mut buf), None);
        assert_eq!(encode_request(1, &Request::Tx(&[0; 1515]), &mut buf), None);
        assert_eq!(encode_request(1, &Request::Info, &mut [0u8; 7]), None);
    }

    #[test]
    fn request_rejections() {
        let mut b = vec![b'V', b'N', 1, OP_RX, 9, 0, 0, 0];
        b.extend_from_slice(&5u64.to_le_bytes());
        let mut v2 = b.clone();
        v2[2] = 2;
        assert_eq!(decode_request(&v2).unwrap_err().status, Status::Version);
        let mut op = b.clone();
        op[3] = 99;
        let r = decode_request(&op).unwrap_err();
        assert_eq!((r.op, r.correlation, r.status), (99, 9, Status::UnknownOp));
        let mut extra = b.clone();
        extra.push(0);
        assert_eq!(
            decode_request(&extra).unwrap_err().status,
            Status::Malformed
        );
        let mut magic = b.clone();
        magic[0] = b'X';
        assert_eq!(decode_request(&magic).unwrap_err().correlation, 0);
        let info_body = [b'V', b'N', 1, OP_INFO, 0, 0, 0, 0, 1];
        assert_eq!(
            decode_request(&info_body).unwrap_err().status,
            Status::Malformed
        );
    }

    #[test]
    fn rx_batch_roundtrip_and_bounds() {
        let mut out = vec![0u8; MSG_MAX];
        let mut w = RxWriter::new(5, &mut out);
        let frames: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 1514]).collect();
        let mut pushed = 0;
        for f in &frames {
            if w.push(f) {
                pushed += 1;
            }
        }
        assert_eq!(pushed, 5, "5 x 1516 bytes fit in 8192 - 13");
        let n = w.finish();
        let (st, body) = decode_reply(&out[..n], OP_RX, 5).unwrap();
        assert_eq!(st, Status::Ok);
        let mut got = Vec::new();
        assert_eq!(decode_rx(body, |f| got.push(f.to_vec())), Some(5));
        assert_eq!(got, frames[..5]);
        assert_eq!(decode_reply(&out[..n], OP_RX, 6), None, "wrong correlation");
        assert_eq!(decode_reply(&out[..n], OP_TX, 5), None, "wrong op");
        for cut in 0..body.len() {
            assert_eq!(decode_rx(&body[..cut], |_| panic!("called")), None);
        }
        let mut tiny = [0u8; 12];
        let mut w = RxWriter::new(1, &mut tiny);
        assert!(!w.push(&[0; 14]));
        assert_eq!(w.finish(), 12);
    }

    #[test]
    fn rx_body_rejects_bad_lengths() {
        assert_eq!(decode_rx(&[0], |_| {}), Some(0));
        assert_eq!(decode_rx(&[], |_| {}), None);
        assert_eq!(decode_rx(&[1, 5, 0, 1, 2, 3, 4, 5], |_| {}), None, "< 14");
        let mut b = vec![1, 0xff, 0xff];
        b.extend_from_slice(&[0; 100]);
        assert_eq!(decode_rx(&b, |_| {}), None);
        let mut t = vec![1, 14, 0];
        t.extend_from_slice(&[0; 15]);
        assert_eq!(decode_rx(&t, |_| {}), None, "trailing byte");
    }

    #[test]
    fn info_reply() {
        let mut b = [0u8; 20];
        let n = encode_info_reply(3, [2, 0, 0, 0, 0, 1], 1500, &mut b);
        let (st, body) = decode_reply(&b[..n], OP_INFO, 3).unwrap();
        assert_eq!(st, Status::Ok);
        assert_eq!(decode_info(body), Some(([2, 0, 0, 0, 0, 1], 1500)));
        assert_eq!(decode_info(&body[..7]), None);
        let mut bad = b;
        bad[8] = 200;
        assert_eq!(decode_reply(&bad, OP_INFO, 3), None);
    }
}

//! A minimal TFTP read client (RFC 1350, octet mode) over the sockets facade.
//!
//! Why TFTP: QEMU user networking with `restrict=on` drops every UDP
//! datagram the guest sends except DHCP and TFTP (its built-in server at the
//! gateway, serving a host directory the harness chooses). So a guest UDP
//! request/response with a real host peer is a TFTP read: `RRQ` to port 69,
//! `DATA` blocks from the server's transfer port, an `ACK` per block.
//!
//! The packet codec is total (never panics, bounded sizes); [`fetch`] runs a
//! whole read with an absolute deadline and a bounded number of
//! retransmissions, into a caller buffer.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use nexus_net::{NetClient, NetError, SocketAddrV4, Transport};

/// The well-known TFTP server port.
pub const TFTP_PORT: u16 = 69;
/// Data bytes per block.
pub const BLOCK: usize = 512;
/// Longest file name accepted.
pub const NAME_MAX: usize = 128;

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;

/// Why a read failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TftpError {
    /// The facade reported an error.
    Net(NetError),
    /// The server answered with a TFTP error packet (code).
    Server(u16),
    /// The file does not fit the caller's buffer.
    TooLarge,
    /// Name empty, too long, or containing NUL.
    BadName,
    /// No answer within the retries / deadline.
    TimedOut,
}

impl From<NetError> for TftpError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::TimedOut => TftpError::TimedOut,
            e => TftpError::Net(e),
        }
    }
}

/// A decoded server packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// A data block.
    Data {
        /// Block number (1-based, wraps).
        block: u16,
        /// 0..=512 bytes; fewer than 512 ends the transfer.
        data: &'a [u8],
    },
    /// An error from the server.
    Error {
        /// TFTP error code.
        code: u16,
    },
    /// Anything else (ignored by the client).
    Other,
}

/// Decodes a packet from the server. Total: short or unknown packets are
/// `Other`, oversized data blocks are `Other`.
pub fn decode(b: &[u8]) -> Packet<'_> {
    let (Some(op), Some(arg)) = (b.get(0..2), b.get(2..4)) else {
        return Packet::Other;
    };
    let op = u16::from_be_bytes([op[0], op[1]]);
    let arg = u16::from_be_bytes([arg[0], arg[1]]);
    match op {
        DATA if b.len() - 4 <= BLOCK => Packet::Data {
            block: arg,
            data: &b[4..],
        },
        ERROR => Packet::Error { code: arg },
        _ => Packet::Other,
    }
}

/// Encodes a read request for `name` (octet mode) into `out`.
pub fn encode_rrq(name: &str, out: &mut [u8; NAME_MAX + 10]) -> Result<usize, TftpError> {
    let n = name.as_bytes();
    if n.is_empty() || n.len() > NAME_MAX || n.contains(&0) {
        return Err(TftpError::BadName);
    }
    out[..2].copy_from_slice(&RRQ.to_be_bytes());
    out[2..2 + n.len()].copy_from_slice(n);
    out[2 + n.len()] = 0;
    let mode = b"octet\0";
    out[3 + n.len()..3 + n.len() + mode.len()].copy_from_slice(mode);
    Ok(3 + n.len() + mode.len())
}

/// Encodes an acknowledgement of `block`.
pub fn encode_ack(block: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&ACK.to_be_bytes());
    b[2..].copy_from_slice(&block.to_be_bytes());
    b
}

/// Per-attempt wait for a server packet.
pub const RETRY_NS: u64 = 500_000_000;
/// Retransmissions of one request before giving up.
pub const RETRIES: usize = 6;

/// Reads `name` from the TFTP server at `server` into `out`; returns the
/// length. `now` gives monotonic ns; `deadline_ns` bounds the whole read.
pub fn fetch<T: Transport>(
    c: &mut NetClient<T>,
    server: SocketAddrV4,
    name: &str,
    out: &mut [u8],
    now: impl Fn() -> u64,
    deadline_ns: u64,
) -> Result<usize, TftpError> {
    let mut rrq = [0u8; NAME_MAX + 10];
    let rrq_len = encode_rrq(name, &mut rrq)?;
    let (sock, _) = c.udp_bind(0)?;
    let r = (|| {
        let mut len = 0;
        let mut expect: u16 = 1;
        // What to (re)send while waiting for block `expect`, and where.
        let mut last: ([u8; NAME_MAX + 10], usize) = (rrq, rrq_len);
        let mut peer = server;
        let mut buf = [0u8; 4 + BLOCK + 64];
        loop {
            let mut got = None;
            for _ in 0..RETRIES {
                c.udp_send_to(sock, peer, &last.0[..last.1])?;
                let wait = (now() + RETRY_NS).min(deadline_ns);
                match c.udp_recv_from_by(sock, &mut buf, wait) {
                    Ok((n, from)) => {
                        got = Some((n, from));
                        break;
                    }
                    Err(NetError::TimedOut) if now() < deadline_ns => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let Some((n, from)) = got else {
                return Err(TftpError::TimedOut);
            };
            // The first DATA fixes the server's transfer port; later packets
            // from elsewhere are ignored (RFC 1350 §4).
            if expect == 1 && from.ip() == server.ip() {
                peer = from;
            } else if from != peer {
                continue;
            }
            match decode(&buf[..n]) {
                Packet::Data { block, data } if block == expect => {
                    let end = len + data.len();
                    let dst = out.get_mut(len..end).ok_or(TftpError::TooLarge)?;
                    dst.copy_from_slice(data);
                    len = end;
                    let ack = encode_ack(block);
                    last.0[..4].copy_from_slice(&ack);
                    last.1 = 4;
                    if data.len() < BLOCK {
                        c.udp_send_to(sock, peer, &ack)?;
                        return Ok(len);
                    }
                    expect = expect.wrapping_add(1);
                }
                Packet::Error { code } => return Err(TftpError::Server(code)),
                _ => {}
            }
        }
    })();
    let _ = c.close(sock);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrq_layout_and_name_checks() {
        let mut b = [0u8; NAME_MAX + 10];
        let n = encode_rrq("a.txt", &mut b).unwrap();
        assert_eq!(&b[..n], b"\x00\x01a.txt\x00octet\x00");
        assert_eq!(encode_rrq("", &mut b), Err(TftpError::BadName));
        assert_eq!(encode_rrq("a\0b", &mut b), Err(TftpError::BadName));
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(encode_rrq(&long, &mut b), Err(TftpError::BadName));
        assert!(encode_rrq(&long[..NAME_MAX], &mut b).is_ok());
    }

    #[test]
    fn decode_is_total() {
        assert_eq!(
            decode(b"\x00\x03\x00\x01hi"),
            Packet::Data {
                block: 1,
                data: b"hi"
            }
        );
        assert_eq!(decode(b"\x00\x05\x00\x01oops\0"), Packet::Error { code: 1 });
        assert_eq!(decode(b"\x00\x03\x00"), Packet::Other);
        assert_eq!(decode(b""), Packet::Other);
        let mut big = vec![0u8; 4 + BLOCK + 1];
        big[1] = 3;
        assert_eq!(decode(&big), Packet::Other);
        assert_eq!(encode_ack(0x0102), [0, 4, 1, 2]);
        for len in 0..8 {
            for b in 0..=255u8 {
                let _ = decode(&vec![b; len]);
            }
        }
    }
}

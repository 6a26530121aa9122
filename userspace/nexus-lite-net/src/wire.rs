//! Total wire parsers and builders (Ethernet II, ARP, IPv4, ICMP, UDP, DHCP).
//!
//! Every `parse` takes an untrusted byte slice and returns a borrowed view or
//! a [`WireError`]; none indexes unchecked, allocates, or panics, whatever
//! the input (the tests cut every valid frame at every length and corrupt
//! each field). Builders allocate exactly the frame they return and are only
//! fed values the stack produced itself. Multi-byte fields are big-endian
//! (network order).

use alloc::vec::Vec;

/// Why a frame was rejected.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The buffer ends before a header or a length field says it should.
    Truncated,
    /// A version / hardware / protocol type field has an unsupported value.
    Unsupported,
    /// The IPv4 IHL is below 5 or past the buffer.
    BadHeaderLen,
    /// A length field is inconsistent (IPv4 total length, UDP length).
    BadLength,
    /// A checksum does not verify.
    BadChecksum,
    /// An IPv4 fragment (MF set or non-zero offset): not reassembled.
    Fragmented,
    /// A DHCP option runs past the end, or a known option has a bad length.
    BadOption,
    /// A field holds a value the protocol forbids (e.g. missing DHCP cookie).
    BadField,
}

fn be16(b: &[u8], i: usize) -> Result<u16, WireError> {
    match b.get(i..i + 2) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(WireError::Truncated),
    }
}

fn be32(b: &[u8], i: usize) -> Result<u32, WireError> {
    match b.get(i..i + 4) {
        Some(&[a, c, d, e]) => Ok(u32::from_be_bytes([a, c, d, e])),
        _ => Err(WireError::Truncated),
    }
}

fn arr<const N: usize>(b: &[u8], i: usize) -> Result<[u8; N], WireError> {
    b.get(i..i + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(WireError::Truncated)
}

/// RFC 1071 Internet checksum helpers.
pub mod checksum {
    /// Adds `data` (as big-endian 16-bit words, odd byte padded) to `acc`.
    pub fn add(mut acc: u32, data: &[u8]) -> u32 {
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
            acc = (acc & 0xffff) + (acc >> 16);
        }
        if let [last] = chunks.remainder() {
            acc = acc.wrapping_add(u32::from(*last) << 8);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc
    }

    /// Folds and complements an accumulated sum.
    pub fn finish(mut acc: u32) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    /// The checksum of `data`.
    pub fn of(data: &[u8]) -> u16 {
        finish(add(0, data))
    }

    /// The sum of the IPv4 pseudo-header for `proto` and `len` bytes.
    pub fn pseudo(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u32 {
        let mut acc = add(0, &src);
        acc = add(acc, &dst);
        acc = add(acc, &[0, proto]);
        add(acc, &len.to_be_bytes())
    }
}

/// Ethernet II.
pub mod eth {
    use super::*;

    /// Header length.
    pub const HEADER: usize = 14;
    /// Largest frame without FCS (1500-byte MTU).
    pub const MAX_FRAME: usize = HEADER + 1500;
    /// EtherType IPv4.
    pub const TYPE_IPV4: u16 = 0x0800;
    /// EtherType ARP.
    pub const TYPE_ARP: u16 = 0x0806;
    /// The broadcast address.
    pub const BROADCAST: [u8; 6] = [0xff; 6];

    /// A parsed frame.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    pub struct Frame<'a> {
        /// Destination MAC.
        pub dst: [u8; 6],
        /// Source MAC.
        pub src: [u8; 6],
        /// EtherType.
        pub ethertype: u16,
        /// Everything after the header (may include link padding).
        pub payload: &'a [u8],
    }

    /// Parses a frame (at least the 14-byte header, at most [`MAX_FRAME`]).
    pub fn parse(b: &[u8]) -> Result<Frame<'_>, WireError> {
        if b.len() > MAX_FRAME {
            return Err(WireError::BadLength);
        }
        Ok(Frame {
            dst: arr(b, 0)?,
            src: arr(b, 6)?,
            ethertype: be16(b, 12)?,
            payload: b.get(HEADER..).ok_or(WireError::Truncated)?,
        })
    }

    /// Builds a frame.
    pub fn build(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + payload.len());
        v.extend_from_slice(&dst);
        v.extend_from_slice(&src);
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }
}

/// ARP for IPv4 over Ethernet.
pub mod arp {
    use super::*;

    /// Packet length.
    pub const LEN: usize = 28;
    /// Request opcode.
    pub const OP_REQUEST: u16 = 1;
    /// Reply opcode.
    pub const OP_REPLY: u16 = 2;

    /// A parsed ARP packet.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    pub struct Packet {
        /// 1 request, 2 reply.
        pub op: u16,
        /// Sender hardware address.
        pub sha: [u8; 6],
        /// Sender protocol address.
        pub spa: [u8; 4],
        /// Target hardware address.
        pub tha: [u8; 6],
        /// Target protocol address.
        pub tpa: [u8; 4],
    }

    /// Parses an Ethernet/IPv4 ARP packet (trailing padding ignored).
    pub fn parse(b: &[u8]) -> Result<Packet, WireError> {
        if b.len() < LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, 0)? != 1 || be16(b, 2)? != eth::TYPE_IPV4 || b[4] != 6 || b[5] != 4 {
            return Err(WireError::Unsupported);
        }
        let op = be16(b, 6)?;
        if op != OP_REQUEST && op != OP_REPLY {
            return Err(WireError::Unsupported);
        }
        Ok(Packet {
            op,
            sha: arr(b, 8)?,
            spa: arr(b, 14)?,
            tha: arr(b, 18)?,
            tpa: arr(b, 24)?,
        })
    }

    /// Encodes a packet.
    pub fn build(p: &Packet) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0..2].copy_from_slice(&1u16.to_be_bytes());
        b[2..4].copy_from_slice(&eth::TYPE_IPV4.to_be_bytes());
        b[4] = 6;
        b[5] = 4;
        b[6..8].copy_from_slice(&p.op.to_be_bytes());
        b[8..14].copy_from_slice(&p.sha);
        b[14..18].copy_from_slice(&p.spa);
        b[18..24].copy_from_slice(&p.tha);
        b[24..28].copy_from_slice(&p.tpa);
        b
    }
}

/// IPv4 (no options emitted, options skipped on input, no reassembly).
pub mod ipv4 {
    use super::*;

    /// Header length without options.
    pub const HEADER: usize = 20;
    /// Protocol number of ICMP.
    pub const PROTO_ICMP: u8 = 1;
    /// Protocol number of UDP.
    pub const PROTO_UDP: u8 = 17;
    /// The limited broadcast address.
    pub const BROADCAST: [u8; 4] = [255; 4];

    /// A parsed, checksum-verified, unfragmented packet.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    pub struct Packet<'a> {
        /// Source address.
        pub src: [u8; 4],
        /// Destination address.
        pub dst: [u8; 4],
        /// Upper protocol.
        pub proto: u8,
        /// Time to live.
        pub ttl: u8,
        /// Identification.
        pub ident: u16,
        /// Payload, exactly `total length - header length` bytes.
        pub payload: &'a [u8],
    }

    /// Parses a packet: version 4, `5 <= IHL`, `IHL*4 <= total length <=
    /// buffer` (link padding after the total length is ignored), header
    /// checksum, and no fragmentation.
    pub fn parse(b: &[u8]) -> Result<Packet<'_>, WireError> {
        let vihl = *b.first().ok_or(WireError::Truncated)?;
        if vihl >> 4 != 4 {
            return Err(WireError::Unsupported);
        }
        let hlen = usize::from(vihl & 0x0f) * 4;
        if hlen < HEADER {
            return Err(WireError::BadHeaderLen);
        }
        if b.len() < HEADER {
            return Err(WireError::Truncated);
        }
        if hlen > b.len() {
            return Err(WireError::BadHeaderLen);
        }
        let total = usize::from(be16(b, 2)?);
        if total < hlen || total > b.len() {
            return Err(WireError::BadLength);
        }
        if checksum::of(&b[..hlen]) != 0 {
            return Err(WireError::BadChecksum);
        }
        let frag = be16(b, 6)?;
        if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
            return Err(WireError::Fragmented);
        }
        Ok(Packet {
            src: arr(b, 12)?,
            dst: arr(b, 16)?,
            proto: b[9],
            ttl: b[8],
            ident: be16(b, 4)?,
            payload: &b[hlen..total],
        })
    }

    /// Builds a packet with DF set and a valid header checksum. `payload`
    /// must be at most `65535 - 20` bytes (the stack never builds more than
    /// an MTU).
    pub fn build(
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        ident: u16,
        ttl: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let total = (HEADER + payload.len()).min(usize::from(u16::MAX)) as u16;
        let mut v = Vec::with_capacity(HEADER + payload.len());
        v.extend_from_slice(&[0x45, 0]);
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&ident.to_be_bytes());
        v.extend_from_slice(&0x4000u16.to_be_bytes());
        v.extend_from_slice(&[ttl, proto, 0, 0]);
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        let c = checksum::of(&v);
        v[10..12].copy_from_slice(&c.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }
}

/// ICMP (echo only is interpreted).
pub mod icmp {
    use super::*;

    /// Echo reply type.
    pub const ECHO_REPLY: u8 = 0;
    /// Echo request type.
    pub const ECHO_REQUEST: u8 = 8;

    /// A parsed, checksum-verified ICMP message.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    pub struct Message<'a> {
        /// Type.
        pub kind: u8,
        /// Code.
        pub code: u8,
        /// Identifier (echo) / first half of the rest-of-header.
        pub ident: u16,
        /// Sequence (echo) / second half of the rest-of-header.
        pub seq: u16,
        /// Data after the 8-byte header.
        pub data: &'a [u8],
    }

    /// Parses and verifies a message (at least 8 bytes).
    pub fn parse(b: &[u8]) -> Result<Message<'_>, WireError> {
        if b.len() < 8 {
            return Err(WireError::Truncated);
        }
        if checksum::of(b) != 0 {
            return Err(WireError::BadChecksum);
        }
        Ok(Message {
            kind: b[0],
            code: b[1],
            ident: be16(b, 4)?,
            seq: be16(b, 6)?,
            data: &b[8..],
        })
    }

    /// Builds an echo request or reply.
    pub fn build_echo(kind: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + data.len());
        v.extend_from_slice(&[kind, 0, 0, 0]);
        v.extend_from_slice(&ident.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(data);
        let c = checksum::of(&v);
        v[2..4].copy_from_slice(&c.to_be_bytes());
        v
    }
}

/// UDP.
pub mod udp {
    use super::*;

    /// Header length.
    pub const HEADER: usize = 8;

    /// A parsed datagram.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    pub struct Datagram<'a> {
        /// Source port.
        pub src_port: u16,
        /// Destination port.
        pub dst_port: u16,
        /// Payload (`length - 8` bytes).
        pub payload: &'a [u8],
    }

    /// Parses `b` (an IPv4 payload from `src` to `dst`): `8 <= length <=
    /// b.len()`; the checksum is verified unless it is 0 (not computed).
    pub fn parse(src: [u8; 4], dst: [u8; 4], b: &[u8]) -> Result<Datagram<'_>, WireError> {
        if b.len() < HEADER {
            return Err(WireError::Truncated);
        }
        let len = usize::from(be16(b, 4)?);
        if len < HEADER || len > b.len() {
            return Err(WireError::BadLength);
        }
        let dg = &b[..len];
        if be16(b, 6)? != 0 {
            let acc = checksum::pseudo(src, dst, ipv4::PROTO_UDP, len as u16);
            if checksum::finish(checksum::add(acc, dg)) != 0 {
                return Err(WireError::BadChecksum);
            }
        }
        Ok(Datagram {
            src_port: be16(b, 0)?,
            dst_port: be16(b, 2)?,
            payload: &dg[HEADER..],
        })
    }

    /// Builds a datagram with its checksum. `payload` must be at most
    /// `65535 - 8` bytes (the stack limits it to an MTU).
    pub fn build(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let len = (HEADER + payload.len()).min(usize::from(u16::MAX)) as u16;
        let mut v = Vec::with_capacity(HEADER + payload.len());
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(payload);
        let acc = checksum::pseudo(src, dst, ipv4::PROTO_UDP, len);
        let c = match checksum::finish(checksum::add(acc, &v)) {
            0 => 0xffff,
            c => c,
        };
        v[6..8].copy_from_slice(&c.to_be_bytes());
        v
    }
}

/// DHCP (RFC 2131/2132), client side only.
pub mod dhcp {
    use super::*;

    /// Client port.
    pub const CLIENT_PORT: u16 = 68;
    /// Server port.
    pub const SERVER_PORT: u16 = 67;
    /// The magic cookie before the options.
    pub const COOKIE: [u8; 4] = [99, 130, 83, 99];
    /// Offset of the options (after the cookie).
    pub const OPTIONS_AT: usize = 240;
    /// DHCPDISCOVER.
    pub const DISCOVER: u8 = 1;
    /// DHCPOFFER.
    pub const OFFER: u8 = 2;
    /// DHCPREQUEST.
    pub const REQUEST: u8 = 3;
    /// DHCPACK.
    pub const ACK: u8 = 5;
    /// DHCPNAK.
    pub const NAK: u8 = 6;

    /// The fields of a server message the client uses.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
    pub struct Message {
        /// 1 BOOTREQUEST, 2 BOOTREPLY.
        pub op: u8,
        /// Transaction id.
        pub xid: u32,
        /// Offered / assigned address.
        pub yiaddr: [u8; 4],
        /// Client hardware address (first 6 bytes of `chaddr`).
        pub chaddr: [u8; 6],
        /// Option 53.
        pub msg_type: Option<u8>,
        /// Option 1.
        pub subnet_mask: Option<[u8; 4]>,
        /// Option 3, first router.
        pub router: Option<[u8; 4]>,
        /// Option 6, first server.
        pub dns: Option<[u8; 4]>,
        /// Option 54.
        pub server_id: Option<[u8; 4]>,
        /// Option 51, seconds.
        pub lease_secs: Option<u32>,
    }

    /// Parses a BOOTP/DHCP message: fixed header, cookie, then options until
    /// END (255) or the end of the buffer. An option whose length runs past
    /// the buffer, or a known option with a wrong length, is
    /// [`WireError::BadOption`].
    pub fn parse(b: &[u8]) -> Result<Message, WireError> {
        if b.len() < OPTIONS_AT {
            return Err(WireError::Truncated);
        }
        if b[1] != 1 || b[2] != 6 {
            return Err(WireError::Unsupported);
        }
        if b[236..240] != COOKIE {
            return Err(WireError::BadField);
        }
        let mut m = Message {
            op: b[0],
            xid: be32(b, 4)?,
            yiaddr: arr(b, 16)?,
            chaddr: arr(b, 28)?,
            ..Message::default()
        };
        let mut i = OPTIONS_AT;
        while let Some(&code) = b.get(i) {
            match code {
                0 => {
                    i += 1;
                    continue;
                }
                255 => break,
                _ => {}
            }
            let len = usize::from(*b.get(i + 1).ok_or(WireError::BadOption)?);
            let data = b.get(i + 2..i + 2 + len).ok_or(WireError::BadOption)?;
            let four = |d: &[u8]| -> Result<[u8; 4], WireError> {
                d.get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(WireError::BadOption)
            };
            match code {
                53 => match data {
                    [t] => m.msg_type = Some(*t),
                    _ => return Err(WireError::BadOption),
                },
                1 if len == 4 => m.subnet_mask = Some(four(data)?),
                3 | 6 if len >= 4 && len % 4 == 0 => {
                    let a = four(data)?;
                    if code == 3 {
                        m.router = Some(a);
                    } else {
                        m.dns = Some(a);
                    }
                }
                54 if len == 4 => m.server_id = Some(four(data)?),
                51 if len == 4 => m.lease_secs = Some(u32::from_be_bytes(four(data)?)),
                1 | 3 | 6 | 54 | 51 => return Err(WireError::BadOption),
                _ => {}
            }
            i += 2 + len;
        }
        Ok(m)
    }

    /// Builds a client DISCOVER (`requested`/`server` `None`) or REQUEST
    /// (options 50 and 54 set). 300 bytes, broadcast flag set.
    pub fn build_client(
        msg_type: u8,
        xid: u32,
        mac: [u8; 6],
        requested: Option<[u8; 4]>,
        server: Option<[u8; 4]>,
    ) -> Vec<u8> {
        let mut v = alloc::vec![0u8; OPTIONS_AT];
        v[0] = 1; // BOOTREQUEST
        v[1] = 1; // Ethernet
        v[2] = 6;
        v[4..8].copy_from_slice(&xid.to_be_bytes());
        v[10..12].copy_from_slice(&0x8000u16.to_be_bytes()); // broadcast
        v[28..34].copy_from_slice(&mac);
        v[236..240].copy_from_slice(&COOKIE);
        v.extend_from_slice(&[53, 1, msg_type]);
        v.extend_from_slice(&[61, 7, 1]);
        v.extend_from_slice(&mac);
        if let Some(r) = requested {
            v.extend_from_slice(&[50, 4]);
            v.extend_from_slice(&r);
        }
        if let Some(s) = server {
            v.extend_from_slice(&[54, 4]);
            v.extend_from_slice(&s);
        }
        v.extend_from_slice(&[55, 4, 1, 3, 6, 51]);
        v.push(255);
        if v.len() < 300 {
            v.resize(300, 0);
        }
        v
    }
}

#[cfg(test)]
mod tests;

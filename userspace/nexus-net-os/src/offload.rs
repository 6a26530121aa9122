//! virtio-net offloads for TCP over IPv4: the `virtio_net_hdr` of a frame,
//! the partial checksum the device completes, and a reference segmenter.
//!
//! Design notes
//! ------------
//! * With `VIRTIO_NET_F_CSUM` the driver leaves the TCP checksum to the
//!   device: the frame's TCP checksum field holds the (folded, not
//!   complemented) sum of the IPv4 pseudo-header, the header says
//!   `NEEDS_CSUM` with `csum_start` at the TCP header and `csum_offset` 16,
//!   and the device sums from `csum_start` to the end and stores the
//!   complement at `csum_start + csum_offset` (virtio 1.2, 5.1.6.2).
//!   smoltcp is configured not to compute TCP checksums on send
//!   (`Checksum::Rx`), so the field is 0 when a frame reaches
//!   [`prepare_tx`].
//! * With `VIRTIO_NET_F_HOST_TSO4` as well, a TCP segment longer than
//!   smoltcp's per-segment limit (its `PacketMeta::segmentation_offload_size`,
//!   the payload each wire segment may carry: the peer's MSS and our MTU,
//!   minus the TCP options) goes out as one frame with `gso_type` TCPV4 and
//!   `gso_size` that size; the host (Linux behind the tap) cuts it up. The
//!   pseudo-header sum covers the whole segment's length, as Linux's own
//!   GSO expects (it corrects the length per segment).
//! * [`segment_tcpv4`] does what such a device does (headers copied per
//!   segment, sequence numbers, IPv4 identification, total length and
//!   checksums rewritten, FIN and PSH only on the last): the in-memory link
//!   uses it to test the stack's side of the contract on the host.
//! * Every parser here is total: frames that are not Ethernet/IPv4/TCP, or
//!   whose lengths disagree, are left alone (a plain header, no offload).

use smoltcp::wire::{IpAddress, Ipv4Address, TcpPacket};

/// Bytes of `virtio_net_hdr` with `VIRTIO_F_VERSION_1` (`num_buffers` included).
pub const VIRTIO_NET_HDR_LEN: usize = 12;
/// `flags`: the device must complete the checksum.
pub const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// `gso_type`: TCP over IPv4.
pub const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;

const ETH_HDR: usize = 14;
/// Offset of the checksum field inside the TCP header.
const TCP_CSUM_OFFSET: usize = 16;

/// Where the parts of an Ethernet/IPv4/TCP frame are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpV4 {
    /// Start of the TCP header (= Ethernet + IPv4 header length).
    pub tcp_start: usize,
    /// TCP header length (options included).
    pub tcp_hdr_len: usize,
    /// End of the IP packet inside the frame.
    pub ip_end: usize,
}

impl TcpV4 {
    /// Payload bytes of the segment.
    pub fn payload_len(&self) -> usize {
        self.ip_end - self.tcp_start - self.tcp_hdr_len
    }
}

/// Parses an Ethernet II frame carrying an unfragmented IPv4/TCP segment.
/// `None` for anything else or inconsistent lengths.
pub fn tcp_v4(frame: &[u8]) -> Option<TcpV4> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let vihl = *frame.get(ETH_HDR)?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || *frame.get(ETH_HDR + 9)? != 6 {
        return None;
    }
    // Fragments (MF set or an offset) carry no whole TCP segment.
    let frag = u16::from_be_bytes([*frame.get(ETH_HDR + 6)?, *frame.get(ETH_HDR + 7)?]);
    if frag & 0x3fff != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([
        *frame.get(ETH_HDR + 2)?,
        *frame.get(ETH_HDR + 3)?,
    ]));
    let ip_end = ETH_HDR.checked_add(total)?;
    let tcp_start = ETH_HDR + ihl;
    let doff = usize::from(*frame.get(tcp_start + 12)? >> 4) * 4;
    if ip_end > frame.len() || doff < 20 || tcp_start + doff > ip_end {
        return None;
    }
    Some(TcpV4 {
        tcp_start,
        tcp_hdr_len: doff,
        ip_end,
    })
}

fn addrs(frame: &[u8]) -> Option<(IpAddress, IpAddress)> {
    let src = frame.get(ETH_HDR + 12..ETH_HDR + 16)?;
    let dst = frame.get(ETH_HDR + 16..ETH_HDR + 20)?;
    Some((
        Ipv4Address::from(<[u8; 4]>::try_from(src).ok()?).into(),
        Ipv4Address::from(<[u8; 4]>::try_from(dst).ok()?).into(),
    ))
}

/// The folded one's complement sum (not complemented) of the IPv4
/// pseudo-header of `seg`: what the checksum field holds for `NEEDS_CSUM`.
fn pseudo_header_sum(frame: &[u8], seg: &TcpV4) -> Option<u16> {
    let src = frame.get(ETH_HDR + 12..ETH_HDR + 16)?;
    let dst = frame.get(ETH_HDR + 16..ETH_HDR + 20)?;
    let tcp_len = (seg.ip_end - seg.tcp_start) as u32;
    let mut sum: u32 = 6 + tcp_len;
    for pair in src.chunks_exact(2).chain(dst.chunks_exact(2)) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    Some(sum as u16)
}

/// Prepares `frame` for a device that offloads TCP checksums (and, with
/// `gso_size`, segmentation) and returns its `virtio_net_hdr`. Frames that
/// are not IPv4/TCP get the all-zero header and are left unchanged.
/// `gso_size` is used only when the payload is longer than it.
pub fn prepare_tx(frame: &mut [u8], gso_size: Option<u16>) -> [u8; VIRTIO_NET_HDR_LEN] {
    let mut hdr = [0u8; VIRTIO_NET_HDR_LEN];
    let Some(seg) = tcp_v4(frame) else {
        return hdr;
    };
    let Some(sum) = pseudo_header_sum(frame, &seg) else {
        return hdr;
    };
    let field = seg.tcp_start + TCP_CSUM_OFFSET;
    let Some(slot) = frame.get_mut(field..field + 2) else {
        return hdr;
    };
    slot.copy_from_slice(&sum.to_be_bytes());
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    let headers = seg.tcp_start + seg.tcp_hdr_len;
    if let Some(gso) = gso_size.filter(|g| *g > 0 && seg.payload_len() > usize::from(*g)) {
        hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        hdr[2..4].copy_from_slice(&(headers as u16).to_le_bytes());
        hdr[4..6].copy_from_slice(&gso.to_le_bytes());
    }
    hdr[6..8].copy_from_slice(&(seg.tcp_start as u16).to_le_bytes());
    hdr[8..10].copy_from_slice(&(TCP_CSUM_OFFSET as u16).to_le_bytes());
    hdr
}

/// Computes the full TCP checksum of an Ethernet/IPv4/TCP frame in
/// software (e.g. for a frame delivered locally instead of through the
/// device). Returns false (frame unchanged) if it is not one.
pub fn fill_tcp_checksum(frame: &mut [u8]) -> bool {
    let (Some(seg), Some((src, dst))) = (tcp_v4(frame), addrs(frame)) else {
        return false;
    };
    let Some(tcp) = frame.get_mut(seg.tcp_start..seg.ip_end) else {
        return false;
    };
    TcpPacket::new_unchecked(tcp).fill_checksum(&src, &dst);
    true
}

fn fill_ipv4_checksum(frame: &mut [u8], ihl: usize) {
    if let Some(h) = frame.get_mut(ETH_HDR..ETH_HDR + ihl) {
        h[10] = 0;
        h[11] = 0;
        let sum = !smoltcp::wire::checksum::data(h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
    }
}

/// Cuts a TCP/IPv4 frame into frames of at most `gso_size` payload bytes,
/// as a device offering TSO does, with complete checksums, and hands each
/// to `out` (in `buf`, reused). A frame that is not TCP/IPv4 or needs no
/// cutting is handed over whole (TCP checksum completed). Returns the number
/// of frames handed to `out`.
pub fn segment_tcpv4(
    frame: &[u8],
    gso_size: usize,
    buf: &mut alloc::vec::Vec<u8>,
    mut out: impl FnMut(&[u8]),
) -> usize {
    let Some(seg) = tcp_v4(frame) else {
        out(frame);
        return 1;
    };
    let headers = seg.tcp_start + seg.tcp_hdr_len;
    let payload = frame.get(headers..seg.ip_end).unwrap_or(&[]);
    if gso_size == 0 || payload.len() <= gso_size {
        buf.clear();
        buf.extend_from_slice(frame);
        fill_tcp_checksum(buf);
        out(buf);
        return 1;
    }
    let ihl = seg.tcp_start - ETH_HDR;
    let flags_at = seg.tcp_start + 13;
    let last_flags = frame.get(flags_at).copied().unwrap_or(0);
    let seq0 = frame
        .get(seg.tcp_start + 4..seg.tcp_start + 8)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
    let id0 = frame
        .get(ETH_HDR + 4..ETH_HDR + 6)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]));
    let chunks = payload.chunks(gso_size);
    let count = chunks.len();
    for (i, chunk) in chunks.enumerate() {
        buf.clear();
        buf.extend_from_slice(frame.get(..headers).unwrap_or(&[]));
        buf.extend_from_slice(chunk);
        let total = (ihl + seg.tcp_hdr_len + chunk.len()) as u16;
        buf[ETH_HDR + 2..ETH_HDR + 4].copy_from_slice(&total.to_be_bytes());
        let id = id0.wrapping_add(i as u16);
        buf[ETH_HDR + 4..ETH_HDR + 6].copy_from_slice(&id.to_be_bytes());
        fill_ipv4_checksum(buf, ihl);
        let seq = seq0.wrapping_add((i * gso_size) as u32);
        buf[seg.tcp_start + 4..seg.tcp_start + 8].copy_from_slice(&seq.to_be_bytes());
        // FIN (0x01) and PSH (0x08) belong to the last segment only.
        buf[flags_at] = if i + 1 == count {
            last_flags
        } else {
            last_flags & !0x09
        };
        fill_tcp_checksum(buf);
        out(buf);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{Ipv4Packet, TcpControl, TcpRepr, TcpSeqNumber};

    fn frame(payload: &[u8], options: bool) -> Vec<u8> {
        let tcp_hdr = if options { 32 } else { 20 };
        let total = 20 + tcp_hdr + payload.len();
        let mut f = vec![0u8; 14 + total];
        f[12] = 0x08;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&(total as u16).to_be_bytes());
        f[18..20].copy_from_slice(&7u16.to_be_bytes());
        f[20] = 0x40; // DF
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        let t = 34;
        f[t..t + 2].copy_from_slice(&4000u16.to_be_bytes());
        f[t + 2..t + 4].copy_from_slice(&80u16.to_be_bytes());
        f[t + 4..t + 8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        f[t + 12] = ((tcp_hdr / 4) as u8) << 4;
        f[t + 13] = 0x19; // ACK PSH FIN
        f[t + 14..t + 16].copy_from_slice(&1000u16.to_be_bytes());
        if options {
            // NOP NOP timestamps (10 bytes): 12 bytes of options.
            f[t + 20] = 1;
            f[t + 21] = 1;
            f[t + 22] = 8;
            f[t + 23] = 10;
        }
        f[t + tcp_hdr..].copy_from_slice(payload);
        fill_ipv4_checksum(&mut f, 20);
        f
    }

    fn checksums_ok(f: &[u8]) -> bool {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        let src: IpAddress = ip.src_addr().into();
        let dst: IpAddress = ip.dst_addr().into();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        ip.verify_checksum() && tcp.verify_checksum(&src, &dst)
    }

    #[test]
    fn non_tcp_frames_get_a_plain_header_and_stay_unchanged() {
        let mut arp = vec![0u8; 42];
        arp[12] = 0x08;
        arp[13] = 0x06;
        let copy = arp.clone();
        assert_eq!(prepare_tx(&mut arp, Some(1000)), [0; 12]);
        assert_eq!(arp, copy);
        let mut udp = frame(b"x", false);
        udp[23] = 17;
        let copy = udp.clone();
        assert_eq!(prepare_tx(&mut udp, None), [0; 12]);
        assert_eq!(udp, copy);
        // Truncated and lying frames: no offload, no panic.
        for n in 0..60 {
            let mut f = frame(&[1; 30], true);
            f.truncate(n);
            assert_eq!(prepare_tx(&mut f, Some(8)), [0; 12]);
        }
        let mut f = frame(&[1; 30], false);
        f[16..18].copy_from_slice(&9000u16.to_be_bytes());
        assert_eq!(prepare_tx(&mut f, Some(8)), [0; 12]);
        let mut f = frame(&[1; 30], false);
        f[20] = 0x20; // MF: a fragment
        assert_eq!(prepare_tx(&mut f, Some(8)), [0; 12]);
    }

    #[test]
    fn the_device_completes_the_pseudo_header_sum_to_the_right_checksum() {
        for len in [0usize, 1, 2, 3, 100, 1447, 4001] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut f = frame(&payload, len % 2 == 1);
            let hdr = prepare_tx(&mut f, None);
            assert_eq!(hdr[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
            assert_eq!(hdr[1], 0, "no GSO without a segment size");
            let start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
            let off = usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
            assert_eq!((start, off), (34, 16));
            // What the device does: sum from csum_start, store the complement.
            let sum = !smoltcp::wire::checksum::data(&f[start..]);
            f[start + off..start + off + 2].copy_from_slice(&sum.to_be_bytes());
            assert!(checksums_ok(&f), "len {len}");
        }
    }

    #[test]
    fn a_long_segment_asks_for_gso_and_a_short_one_does_not() {
        let mut f = frame(&[5; 3000], true);
        let hdr = prepare_tx(&mut f, Some(1448));
        assert_eq!(hdr[1], VIRTIO_NET_HDR_GSO_TCPV4);
        assert_eq!(u16::from_le_bytes([hdr[2], hdr[3]]), 14 + 20 + 32);
        assert_eq!(u16::from_le_bytes([hdr[4], hdr[5]]), 1448);
        let mut f = frame(&[5; 1448], true);
        assert_eq!(prepare_tx(&mut f, Some(1448))[1], 0);
    }

    #[test]
    fn segmentation_cuts_per_size_with_valid_headers() {
        let payload: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
        let f = frame(&payload, true);
        let mut got = Vec::new();
        let mut segs = Vec::new();
        let mut buf = Vec::new();
        let n = segment_tcpv4(&f, 1448, &mut buf, |s| segs.push(s.to_vec()));
        assert_eq!(n, 3);
        for (i, s) in segs.iter().enumerate() {
            assert!(checksums_ok(s), "segment {i}");
            let ip = Ipv4Packet::new_checked(&s[14..]).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let repr = TcpRepr::parse(
                &tcp,
                &ip.src_addr().into(),
                &ip.dst_addr().into(),
                &ChecksumCapabilities::default(),
            )
            .unwrap();
            assert_eq!(
                repr.seq_number,
                TcpSeqNumber(0xffff_fff0u32 as i32) + i * 1448
            );
            assert_eq!(repr.control == TcpControl::Fin, i == 2);
            assert_eq!(tcp.psh(), i == 2);
            assert_eq!(usize::from(ip.ident()), 7 + i);
            assert!(s.len() <= 14 + 20 + 32 + 1448);
            got.extend_from_slice(tcp.payload());
        }
        assert_eq!(got, payload);
        // Needing no cut: one frame, checksum completed.
        let mut segs = Vec::new();
        let mut f = frame(&payload[..100], false);
        f[50] = 0;
        f[51] = 0;
        assert_eq!(
            segment_tcpv4(&f, 1460, &mut buf, |s| segs.push(s.to_vec())),
            1
        );
        assert!(checksums_ok(&segs[0]));
    }
}

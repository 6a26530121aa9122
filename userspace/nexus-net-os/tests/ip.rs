//! IPv4 below the sockets: reassembly of fragmented echo requests (1473-
//! and 4000-byte pings, as `ping -s` sends them), fragmentation of the
//! answers, the reassembly bound, and address resolution (the first packet
//! to an unresolved neighbour is held, never an ARP for our own address).

mod common;

use nexus_net_os::memlink::LinkConfig;
use nexus_net_os::testing::{static_config, test_addr, test_mac, TestNet};
use nexus_net_os::REASSEMBLY_MAX;

const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
const PEER_IP: [u8; 4] = [10, 0, 0, 2];
const MTU: usize = 1500;

fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn eth(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn arp_request(target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&PEER_MAC);
    a.extend_from_slice(&PEER_IP);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target);
    eth([0xff; 6], 0x0806, &a)
}

/// An ICMP echo request with `size` data bytes (as `ping -s size`), split
/// into IPv4 fragments of at most MTU bytes, as Ethernet frames.
fn fragmented_ping(size: usize, ident: u16) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend((0..size).map(|i| (i * 7 + 3) as u8));
    let c = csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut frames = Vec::new();
    let chunk = (MTU - 20) / 8 * 8;
    let mut off = 0;
    while off < icmp.len() {
        let end = (off + chunk).min(icmp.len());
        let more = end < icmp.len();
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + end - off) as u16).to_be_bytes());
        ip.extend_from_slice(&ident.to_be_bytes());
        let fo = (off / 8) as u16 | if more { 0x2000 } else { 0 };
        ip.extend_from_slice(&fo.to_be_bytes());
        ip.extend_from_slice(&[64, 1, 0, 0]);
        ip.extend_from_slice(&PEER_IP);
        ip.extend_from_slice(&test_addr(0).octets());
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&icmp[off..end]);
        frames.push(eth(test_mac(0), 0x0800, &ip));
        off = end;
    }
    (frames, icmp)
}

fn single() -> TestNet {
    TestNet::single(static_config(0), LinkConfig::default())
}

fn send(net: &TestNet, frame: &[u8]) {
    net.with_raw_peer(|l| l.unwrap().send_raw(frame));
}

fn received(net: &TestNet) -> Vec<Vec<u8>> {
    net.with_raw_peer(|l| {
        let l = l.unwrap();
        std::iter::from_fn(|| l.recv_raw()).collect()
    })
}

/// Reassembles the IPv4 datagrams (protocol 1) in `frames` addressed to
/// the peer; returns their payloads.
fn icmp_datagrams(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut parts: Vec<(usize, bool, Vec<u8>)> = Vec::new();
    let mut out = Vec::new();
    for f in frames {
        if f.len() < 34 || f[12..14] != [8, 0] || f[23] != 1 || f[30..34] != PEER_IP {
            continue;
        }
        let ip = &f[14..];
        let ihl = usize::from(ip[0] & 0xf) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let fo = u16::from_be_bytes([ip[6], ip[7]]);
        let data = ip[ihl..total].to_vec();
        let (off, more) = (usize::from(fo & 0x1fff) * 8, fo & 0x2000 != 0);
        if off == 0 && !more {
            out.push(data);
            continue;
        }
        parts.push((off, more, data));
        if !more {
            parts.sort_by_key(|p| p.0);
            let mut whole = Vec::new();
            for (o, _, d) in parts.drain(..) {
                assert_eq!(o, whole.len(), "fragments contiguous");
                whole.extend_from_slice(&d);
            }
            out.push(whole);
        }
    }
    out
}

fn ping_answered(size: usize) {
    let net = single();
    net.pump();
    send(&net, &arp_request(test_addr(0).octets()));
    net.pump();
    let arp = received(&net);
    assert!(arp.iter().any(|f| f[12..14] == [8, 6]), "ARP reply");
    let (frames, request) = fragmented_ping(size, 0x4242);
    assert!(frames.len() > 1, "fragmented");
    for f in &frames {
        send(&net, f);
        net.pump();
    }
    let replies = icmp_datagrams(&received(&net));
    assert_eq!(replies.len(), 1, "one echo reply");
    let reply = &replies[0];
    assert_eq!(reply.len(), request.len());
    assert_eq!(reply[0], 0, "echo reply type");
    assert_eq!(reply[4..], request[4..], "ident, seq and data echoed");
    assert_eq!(csum(reply), 0, "checksum valid");
}

#[test]
fn ping_of_1473_bytes_is_reassembled_and_answered() {
    ping_answered(1473);
}

#[test]
fn ping_of_4000_bytes_is_reassembled_and_answered() {
    ping_answered(4000);
}

#[test]
fn datagrams_beyond_the_reassembly_bound_are_dropped() {
    let net = single();
    net.pump();
    send(&net, &arp_request(test_addr(0).octets()));
    net.pump();
    received(&net);
    let (frames, _) = fragmented_ping(REASSEMBLY_MAX + 100, 7);
    for f in &frames {
        send(&net, f);
        net.pump();
    }
    assert!(icmp_datagrams(&received(&net)).is_empty());
    assert!(net.with_stack(0, |s| s.guard_stats().oversize_fragments) >= 1);
    // A stray first fragment only holds a buffer until the reassembly
    // timeout; two of them (both buffers) do not block later pings.
    for id in [100, 101] {
        send(&net, &fragmented_ping(3000, id).0[0]);
        net.pump();
    }
    net.advance(nexus_net_os::REASSEMBLY_TIMEOUT_NS + common::MS);
    let (frames, _) = fragmented_ping(3000, 102);
    for f in &frames {
        send(&net, f);
        net.pump();
    }
    assert_eq!(icmp_datagrams(&received(&net)).len(), 1);
}

fn arp_requests(frames: &[Vec<u8>]) -> Vec<[u8; 4]> {
    frames
        .iter()
        .filter(|f| f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 1])
        .map(|f| f[38..42].try_into().unwrap())
        .collect()
}

/// After a (re)start smoltcp knows no neighbour. A ping from a peer that
/// still has our MAC cached (no ARP from it) is answered at once: the
/// reply is not dropped for want of the peer's MAC, and no ARP is needed.
#[test]
fn first_ping_from_an_unresolved_neighbour_is_answered() {
    let net = single();
    net.pump();
    received(&net);
    for seq in 0..3 {
        let (frames, request) = fragmented_ping(56, 0x500 + seq);
        assert_eq!(frames.len(), 1);
        send(&net, &frames[0]);
        net.pump();
        let got = received(&net);
        let replies = icmp_datagrams(&got);
        assert_eq!(replies.len(), 1, "ping {seq} answered at once");
        assert_eq!(replies[0][4..], request[4..]);
        assert!(arp_requests(&got).is_empty(), "no ARP needed");
        // Sent to the MAC the request came from.
        assert!(got.iter().any(|f| f[0..6] == PEER_MAC));
    }
    assert!(net.with_stack(0, |s| s.guard_stats().neighbors_primed) >= 2);
}

/// The first datagram to an unresolved neighbour waits for ARP and leaves
/// when the answer comes; the stack never asks the link for its own address.
#[test]
fn first_datagram_to_an_unresolved_neighbour_is_held() {
    use nexus_net::{Backend, SocketAddrV4};
    let net = single();
    net.pump();
    let (u, _) = net.with_stack(0, |s| s.udp_bind(4000)).unwrap();
    let peer = nexus_net_os::Ipv4Addr::from(PEER_IP);
    net.with_stack(0, |s| {
        s.udp_send_to(u, SocketAddrV4::new(peer, 9), b"first")
    })
    .unwrap();
    net.advance(common::MS);
    let got = received(&net);
    assert_eq!(arp_requests(&got), vec![PEER_IP], "one ARP, for the peer");
    // The peer answers 20 ms later.
    net.advance(20 * common::MS);
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
    arp.extend_from_slice(&PEER_MAC);
    arp.extend_from_slice(&PEER_IP);
    arp.extend_from_slice(&test_mac(0));
    arp.extend_from_slice(&test_addr(0).octets());
    send(&net, &eth(test_mac(0), 0x0806, &arp));
    net.pump();
    let got = received(&net);
    let udp: Vec<_> = got
        .iter()
        .filter(|f| f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17)
        .collect();
    assert_eq!(udp.len(), 1, "the held datagram left");
    assert_eq!(&udp[0][42..], b"first");
    assert_eq!(udp[0][0..6], PEER_MAC);
    // Over a minute of traffic to ourselves and the peer: never an ARP
    // request for our own address.
    let own = test_addr(0);
    net.with_stack(0, |s| s.udp_send_to(u, SocketAddrV4::new(own, 4000), b"me"))
        .unwrap();
    net.run_for(90 * common::SEC);
    let got = received(&net);
    assert!(!arp_requests(&got).contains(&own.octets()));
}

/// smoltcp's checksum (the vendored patch sums aligned 64-bit words) agrees
/// with the bytewise RFC 1071 sum at every buffer alignment and length,
/// including odd starts and all-ones data (carry folding).
#[test]
fn checksum_matches_reference_at_every_alignment() {
    use nexus_net_os::smoltcp::wire::Icmpv4Packet;
    let mut x: u32 = 12345;
    let random: Vec<u8> = (0..1700)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 24) as u8
        })
        .collect();
    for fill in [random, vec![0xff; 1700]] {
        for start in 0..16 {
            for len in (8..80).chain([1447, 1448, 1449, 1500, 1584]) {
                let mut buf = fill.clone();
                let pkt = &mut buf[start..start + len];
                Icmpv4Packet::new_unchecked(&mut *pkt).fill_checksum();
                let got = u16::from_be_bytes([pkt[2], pkt[3]]);
                pkt[2] = 0;
                pkt[3] = 0;
                assert_eq!(got, csum(pkt), "start {start} len {len}");
            }
        }
    }
}

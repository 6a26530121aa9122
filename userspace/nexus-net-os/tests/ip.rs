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

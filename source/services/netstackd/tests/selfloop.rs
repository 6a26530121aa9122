//! Two services of one VM reach each other through one smoltcp stack:
//! broadcast and own-address UDP, and TCP to our own address, looped by
//! `SelfLoop` (smoltcp alone would send them to the wire and lose them).

use std::net::{Ipv4Addr, SocketAddrV4};

use netstackd::selfloop::SelfLoop;
use nexus_net::{Backend, NetError};
use nexus_net_os::memlink::{pair, LinkConfig, MemLink};
use nexus_net_os::{AddrPolicy, NetStack, StackConfig};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);

fn stack() -> (NetStack<SelfLoop<MemLink>>, MemLink) {
    let (a, wire) = pair(LinkConfig::default());
    let mut cfg = StackConfig::new(
        MAC,
        AddrPolicy::Static {
            addr: ME,
            prefix_len: 24,
            gateway: None,
        },
    );
    cfg.local_delivery = true;
    let mut s = NetStack::new(SelfLoop::new(a, MAC), cfg, 0);
    s.poll(0, &mut |_| {});
    (s, wire)
}

fn run(s: &mut NetStack<SelfLoop<MemLink>>, now: &mut u64) {
    for _ in 0..50 {
        *now += 1_000_000;
        s.poll(*now, &mut |_| {});
    }
}

#[test]
fn udp_broadcast_and_own_address_reach_local_sockets() {
    let (mut s, _wire) = stack();
    let mut now = 0;
    let (a, _) = s.udp_bind(37020).unwrap();
    let (b, _) = s.udp_bind(37021).unwrap();
    s.udp_send_to(
        a,
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 255), 37021),
        b"bcast",
    )
    .unwrap();
    run(&mut s, &mut now);
    let mut buf = [0u8; 64];
    let (n, from) = s.udp_recv_from(b, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"bcast");
    assert_eq!(from, SocketAddrV4::new(ME, 37020));
    s.udp_send_to(b, SocketAddrV4::new(ME, 37020), b"unicast")
        .unwrap();
    run(&mut s, &mut now);
    let (n, _) = s.udp_recv_from(a, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"unicast");
    assert_eq!(s.udp_recv_from(a, &mut buf), Err(NetError::WouldBlock));
}

#[test]
fn tcp_to_our_own_address_connects_and_carries_data() {
    let (mut s, _wire) = stack();
    let mut now = 0;
    let (l, _) = s.tcp_listen(37030, 2).unwrap();
    let (c, _) = s.tcp_connect(SocketAddrV4::new(ME, 37030), now).unwrap();
    run(&mut s, &mut now);
    let (srv, peer) = s.tcp_accept(l).unwrap();
    assert_eq!(peer.ip(), &ME);
    let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    for _ in 0..200 {
        if sent < data.len() {
            if let Ok(n) = s.tcp_write(c, &data[sent..]) {
                sent += n;
            }
        }
        run(&mut s, &mut now);
        while let Ok(n) = s.tcp_read(srv, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got, data);
}

/// ARP requests on the wire that ask for `who` (target protocol address).
fn wire_arp_requests_for(wire: &MemLink, who: Ipv4Addr) -> usize {
    std::iter::from_fn(|| wire.recv_raw())
        .filter(|f| {
            f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 1] && f[38..42] == who.octets()
        })
        .count()
}

#[test]
fn resolving_our_own_address_never_asks_the_link() {
    let (mut s, wire) = stack();
    let mut now = 0;
    let (a, _) = s.udp_bind(37030).unwrap();
    let (b, _) = s.udp_bind(37031).unwrap();
    s.udp_send_to(a, SocketAddrV4::new(ME, 37031), b"self")
        .unwrap();
    let (l, _) = s.tcp_listen(7777, 1).unwrap();
    let _c = s.tcp_connect(SocketAddrV4::new(ME, 7777), 0).unwrap();
    run(&mut s, &mut now);
    let mut buf = [0u8; 16];
    assert_eq!(s.udp_recv_from(b, &mut buf).unwrap().0, 4, "delivered");
    assert!(s.tcp_accept(l).is_ok(), "connected");
    assert_eq!(
        wire_arp_requests_for(&wire, ME),
        0,
        "ARP for our own address on the link"
    );
    // Resolving a real neighbour still asks the link, at once (smoltcp's
    // 1 s ARP silence was not spent on our own address).
    s.udp_send_to(a, SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), 9), b"x")
        .unwrap();
    run(&mut s, &mut now);
    assert_eq!(wire_arp_requests_for(&wire, Ipv4Addr::new(10, 0, 2, 2)), 1);
}

#[test]
fn a_looped_frame_is_pending_until_the_next_poll() {
    // netstackd's loop polls again at once while `local_pending` (smoltcp's
    // `poll_at` does not see the local queue).
    let (mut s, _wire) = stack();
    let (a, _) = s.udp_bind(37030).unwrap();
    let (b, _) = s.udp_bind(37031).unwrap();
    assert!(!s.device().local_pending());
    s.udp_send_to(a, SocketAddrV4::new(ME, 37031), b"x")
        .unwrap();
    // The first poll sends the datagram into the local queue ...
    s.poll(1_000, &mut |_| {});
    assert!(s.device().local_pending());
    let mut buf = [0u8; 8];
    let mut polls = 1;
    // ... and at most a few more receive it; the flag says when one is due.
    while s.device().local_pending() {
        s.poll(1_000 + polls, &mut |_| {});
        polls += 1;
        assert!(polls < 5, "the local queue drains");
    }
    assert_eq!(s.udp_recv_from(b, &mut buf).map(|(n, _)| n), Ok(1));
    assert!(!s.device().local_pending());
}

//! UDP datagrams and ICMP echo through the facade on two smoltcp stacks.

mod common;

use common::{dl, parse_udp, MS, SEC};
use nexus_net::{Ipv4Addr, NetError, Readiness, SocketAddrV4, MAX_DATAGRAM};
use nexus_net_os::smoltcp::phy::ChecksumCapabilities;
use nexus_net_os::smoltcp::wire::{
    EthernetFrame, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet,
};
use nexus_net_os::testing::{test_addr, TestNet};

#[test]
fn udp_send_recv_keeps_datagram_boundaries() {
    let net = TestNet::pair_default();
    let mut a = net.client(0, 1);
    let mut b = net.client(1, 1);
    let (ua, pa) = a.udp_bind(0).unwrap();
    assert!((49152..=65535).contains(&pa));
    let (ub, pb) = b.udp_bind(5353).unwrap();
    assert_eq!(b.udp_bind(5353), Err(NetError::AddrInUse));
    let r = a.wait(ua, Readiness::WRITABLE, dl(&net, 1)).unwrap();
    assert!(r.contains(Readiness::WRITABLE));
    let to_b = SocketAddrV4::new(test_addr(1), pb);
    let sizes = [1usize, 1000, MAX_DATAGRAM, 0, 77];
    for (i, n) in sizes.iter().enumerate() {
        a.udp_send_to(ua, to_b, &vec![i as u8; *n]).unwrap();
    }
    let mut buf = vec![0u8; MAX_DATAGRAM];
    for (i, n) in sizes.iter().enumerate() {
        let (got, from) = b.udp_recv_from_by(ub, &mut buf, dl(&net, 1)).unwrap();
        assert_eq!(got, *n, "datagram {i}");
        assert!(buf[..got].iter().all(|b| *b == i as u8));
        assert_eq!(from, SocketAddrV4::new(test_addr(0), pa));
    }
    assert_eq!(b.udp_recv_from(ub, &mut buf), Err(NetError::WouldBlock));
    // Truncation: the rest of a longer datagram is discarded.
    b.udp_send_to(ub, SocketAddrV4::new(test_addr(0), pa), b"0123456789")
        .unwrap();
    b.udp_send_to(ub, SocketAddrV4::new(test_addr(0), pa), b"next")
        .unwrap();
    let mut small = [0u8; 4];
    let (n, _) = a.udp_recv_from_by(ua, &mut small, dl(&net, 1)).unwrap();
    assert_eq!(&small[..n], b"0123");
    let (n, _) = a.udp_recv_from_by(ua, &mut small, dl(&net, 1)).unwrap();
    assert_eq!(&small[..n], b"next");
    // Oversize and bad destinations are refused before any I/O.
    assert_eq!(
        a.udp_send_to(ua, to_b, &vec![0u8; MAX_DATAGRAM + 1]),
        Err(NetError::InvalidInput)
    );
    assert_eq!(
        a.udp_send_to(ua, SocketAddrV4::new(test_addr(1), 0), b"x"),
        Err(NetError::InvalidInput)
    );
    // Nothing arrives: a wait times out.
    assert_eq!(
        b.wait(ub, Readiness::READABLE, net.now() + 10 * MS),
        Err(NetError::TimedOut)
    );
    a.close(ua).unwrap();
    b.close(ub).unwrap();
    assert_eq!(net.with_stack(0, |s| s.stats().udp_sockets), 0);
    let (ub2, _) = b.udp_bind(5353).unwrap();
    b.close(ub2).unwrap();
}

#[test]
fn udp_broadcasts_reach_the_peer() {
    let net = TestNet::pair_default();
    let mut a = net.client(0, 1);
    let mut b = net.client(1, 1);
    let (ua, _) = a.udp_bind(0).unwrap();
    let (ub, pb) = b.udp_bind(6000).unwrap();
    let mut buf = [0u8; 64];
    for dst in [Ipv4Addr::BROADCAST, Ipv4Addr::new(10, 0, 0, 255)] {
        a.udp_send_to(ua, SocketAddrV4::new(dst, pb), b"hello all")
            .unwrap();
        let (n, from) = b.udp_recv_from_by(ub, &mut buf, dl(&net, 1)).unwrap();
        assert_eq!(&buf[..n], b"hello all", "to {dst}");
        assert_eq!(*from.ip(), test_addr(0));
    }
}

#[test]
fn udp_frames_on_the_wire() {
    let net = TestNet::pair_default();
    net.with_stack(0, |s| s.device().enable_tap(64));
    let mut a = net.client(0, 1);
    let (ua, pa) = a.udp_bind(4444).unwrap();
    a.udp_send_to(ua, SocketAddrV4::new(test_addr(1), 9999), b"probe")
        .unwrap();
    net.pump();
    let frames = net.with_stack(0, |s| s.device().take_tap());
    let u = frames
        .iter()
        .find_map(|c| parse_udp(&c.frame))
        .expect("one UDP frame");
    assert_eq!(
        (u.ip_src, u.ip_dst, u.src_port, u.dst_port),
        (test_addr(0), test_addr(1), pa, 9999)
    );
    assert_eq!(u.payload, b"probe");
}

#[test]
fn ping_is_answered_by_the_peer_stack() {
    let net = TestNet::pair_default();
    net.with_stack(0, |s| s.device().enable_tap(64));
    let mut a = net.client(0, 1);
    let rtt = a.ping(test_addr(1), 7, dl(&net, 1)).unwrap();
    assert!(rtt < SEC);
    // The echo reply on the wire came from node 1's smoltcp (no socket there).
    let frames = net.with_stack(0, |s| s.device().take_tap());
    let replies = frames
        .iter()
        .filter(|c| {
            let Ok(eth) = EthernetFrame::new_checked(&c.frame[..]) else {
                return false;
            };
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                return false;
            };
            if ip.next_header() != IpProtocol::Icmp || ip.src_addr() != test_addr(1) {
                return false;
            }
            let Ok(p) = Icmpv4Packet::new_checked(ip.payload()) else {
                return false;
            };
            matches!(
                Icmpv4Repr::parse(&p, &ChecksumCapabilities::default()),
                Ok(Icmpv4Repr::EchoReply { seq_no: 7, .. })
            )
        })
        .count();
    assert_eq!(replies, 1);
    // Several pings in a row, distinct sequence numbers.
    for seq in 100..105 {
        a.ping(test_addr(1), seq, dl(&net, 1)).unwrap();
    }
    // Own address answers at once; nobody at .42 → TimedOut at the deadline.
    assert_eq!(a.ping(test_addr(0), 1, dl(&net, 1)), Ok(0));
    let deadline = net.now() + 500 * MS;
    assert_eq!(a.ping(test_addr(42), 1, deadline), Err(NetError::TimedOut));
    assert_eq!(net.now(), deadline);
    assert_eq!(
        a.ping(Ipv4Addr::BROADCAST, 1, dl(&net, 1)),
        Err(NetError::InvalidInput)
    );
    // The peer still answers after the failed ones.
    assert!(a.ping(test_addr(1), 8, dl(&net, 1)).is_ok());
}

#[test]
fn local_addr_over_the_facade() {
    let net = TestNet::pair_default();
    let mut a = net.client(0, 1);
    let info = a.local_addr().unwrap();
    assert_eq!(
        (info.addr, info.prefix_len, info.gateway, info.mtu),
        (test_addr(0), 24, None, 1500)
    );
    assert_eq!(net.with_stack(0, |s| s.iface_info()), Some(info));
}

#[test]
fn udp_socket_recovers_from_an_unreachable_next_hop() {
    let net = TestNet::pair_default();
    let mut a = net.client(0, 1);
    let mut b = net.client(1, 1);
    let (ua, _) = a.udp_bind(0).unwrap();
    let (ub, pb) = b.udp_bind(7777).unwrap();
    // Nobody answers ARP for .42: smoltcp keeps this datagram at the head
    // of the send queue, blocking the one behind it...
    a.udp_send_to(ua, SocketAddrV4::new(test_addr(42), 9), b"void")
        .unwrap();
    a.udp_send_to(ua, SocketAddrV4::new(test_addr(1), pb), b"stuck")
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        b.wait(ub, Readiness::READABLE, net.now() + 500 * MS),
        Err(NetError::TimedOut)
    );
    // ...until the backend rebuilds the socket (queue dropped, port kept).
    net.run_for(3 * SEC);
    a.udp_send_to(ua, SocketAddrV4::new(test_addr(1), pb), b"fresh")
        .unwrap();
    let (n, _) = b.udp_recv_from_by(ub, &mut buf, dl(&net, 1)).unwrap();
    assert_eq!(&buf[..n], b"fresh");
    assert_eq!(net.with_stack(0, |s| s.stats().udp_sockets), 1);
}

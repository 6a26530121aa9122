//! Stack tests: frames in memory, a virtual clock.
use super::*;
use alloc::vec;
use nexus_net::{Backend, Ipv4Addr, Readiness, SocketAddrV4};

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const HOST_MAC: [u8; 6] = [0x52, 0x55, 10, 0, 2, 2];
const HOST: [u8; 4] = [10, 0, 2, 2];
const MS: u64 = 1_000_000;
const T0: u64 = 5_000 * MS;

fn fixed_stack() -> Stack {
    let mut s = Stack::new(MAC, T0, DHCP_WAIT_NS);
    s.poll(T0);
    s.poll(T0 + DHCP_WAIT_NS);
    while s.pop_tx().is_some() {}
    while s.take_event().is_some() {}
    assert_eq!(s.lease().unwrap().kind, LeaseKind::Fixed);
    s
}

fn drain(s: &mut Stack) -> Vec<Vec<u8>> {
    core::iter::from_fn(|| s.pop_tx()).collect()
}

fn udp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let seg = udp::build(src, dst, sport, dport, data);
    let pkt = ipv4::build(src, dst, ipv4::PROTO_UDP, 1, 64, &seg);
    eth::build(MAC, HOST_MAC, eth::TYPE_IPV4, &pkt)
}

fn dhcp_frame(msg: &[u8]) -> Vec<u8> {
    let seg = udp::build(HOST, ipv4::BROADCAST, 67, 68, msg);
    let pkt = ipv4::build(HOST, ipv4::BROADCAST, ipv4::PROTO_UDP, 1, 64, &seg);
    eth::build(eth::BROADCAST, HOST_MAC, eth::TYPE_IPV4, &pkt)
}

/// A server message built the way a DHCP server would.
fn server(msg_type: u8, xid: u32, yiaddr: [u8; 4], chaddr: [u8; 6]) -> Vec<u8> {
    let mut v = vec![0u8; dhcp::OPTIONS_AT];
    v[0] = 2;
    v[1] = 1;
    v[2] = 6;
    v[4..8].copy_from_slice(&xid.to_be_bytes());
    v[16..20].copy_from_slice(&yiaddr);
    v[28..34].copy_from_slice(&chaddr);
    v[236..240].copy_from_slice(&dhcp::COOKIE);
    v.extend_from_slice(&[53, 1, msg_type, 54, 4, 10, 0, 2, 2, 1, 4, 255, 255, 255, 0]);
    v.extend_from_slice(&[
        3, 4, 10, 0, 2, 2, 6, 4, 10, 0, 2, 3, 51, 4, 0, 1, 0x51, 0x80, 255,
    ]);
    v
}

/// Parses a frame the stack sent as Ethernet → IPv4 → UDP.
fn parse_udp(f: &[u8]) -> ([u8; 6], [u8; 4], [u8; 4], u16, u16, Vec<u8>) {
    let e = eth::parse(f).unwrap();
    assert_eq!(e.src, MAC);
    assert_eq!(e.ethertype, eth::TYPE_IPV4);
    let p = ipv4::parse(e.payload).unwrap();
    assert_eq!(p.proto, ipv4::PROTO_UDP);
    let d = udp::parse(p.src, p.dst, p.payload).unwrap();
    (
        e.dst,
        p.src,
        p.dst,
        d.src_port,
        d.dst_port,
        d.payload.to_vec(),
    )
}

#[test]
fn discover_is_sent_at_once_and_bytes_are_right() {
    let mut s = Stack::new(MAC, T0, DHCP_WAIT_NS);
    assert_eq!(s.take_event(), Some(Event::LoUp));
    assert_eq!(s.next_deadline(), Some(T0));
    s.poll(T0);
    let f = drain(&mut s);
    assert_eq!(f.len(), 1);
    let (edst, src, dst, sp, dp, msg) = parse_udp(&f[0]);
    assert_eq!(
        (edst, src, dst, sp, dp),
        (eth::BROADCAST, [0; 4], [255; 4], 68, 67)
    );
    assert_eq!(
        msg,
        dhcp::build_client(dhcp::DISCOVER, s.dhcp_xid(), MAC, None, None)
    );
    let m = dhcp::parse(&msg).unwrap();
    assert_eq!((m.op, m.msg_type, m.chaddr), (1, Some(dhcp::DISCOVER), MAC));
    assert_eq!(s.next_deadline(), Some(T0 + DHCP_RETRY_NS));
}

#[test]
fn dhcp_offer_request_ack_takes_the_lease() {
    let mut s = Stack::new(MAC, T0, DHCP_WAIT_NS);
    s.poll(T0);
    drain(&mut s);
    let xid = s.dhcp_xid();
    let leased = [10, 0, 2, 15];
    // Noise first: other xid, other chaddr, ACK before OFFER.
    s.on_frame(&dhcp_frame(&server(dhcp::OFFER, xid ^ 1, leased, MAC)), T0);
    s.on_frame(&dhcp_frame(&server(dhcp::OFFER, xid, leased, HOST_MAC)), T0);
    s.on_frame(&dhcp_frame(&server(dhcp::ACK, xid, leased, MAC)), T0);
    assert!(drain(&mut s).is_empty() && s.lease().is_none());
    s.on_frame(&dhcp_frame(&server(dhcp::OFFER, xid, leased, MAC)), T0 + MS);
    let f = drain(&mut s);
    assert_eq!(f.len(), 1);
    let (edst, src, dst, _, _, msg) = parse_udp(&f[0]);
    assert_eq!((edst, src, dst), (eth::BROADCAST, [0; 4], [255; 4]));
    assert_eq!(
        msg,
        dhcp::build_client(dhcp::REQUEST, xid, MAC, Some(leased), Some(HOST))
    );
    s.on_frame(
        &dhcp_frame(&server(dhcp::ACK, xid, leased, MAC)),
        T0 + 2 * MS,
    );
    let l = Lease {
        addr: leased,
        prefix: 24,
        gateway: Some(HOST),
        dns: Some([10, 0, 2, 3]),
        kind: LeaseKind::Dhcp,
    };
    assert_eq!(s.lease(), Some(l));
    assert_eq!(s.take_event(), Some(Event::LoUp));
    assert_eq!(s.take_event(), Some(Event::Virt0Up(l)));
    assert_eq!(s.next_deadline(), None);
    // The deadline passing later changes nothing.
    s.poll(T0 + 10 * DHCP_WAIT_NS);
    assert_eq!(s.lease(), Some(l));
    assert!(drain(&mut s).is_empty());
    let i = s.iface();
    assert_eq!(
        (i.addr.octets(), i.prefix_len, i.mtu),
        (l.addr, l.prefix, 1500)
    );
}

#[test]
fn dhcp_leases_whatever_address_is_offered() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    s.poll(0);
    let xid = s.dhcp_xid();
    let a = [192, 168, 7, 40];
    s.on_frame(&dhcp_frame(&server(dhcp::OFFER, xid, a, MAC)), 1);
    s.on_frame(&dhcp_frame(&server(dhcp::ACK, xid, [1, 1, 1, 1], MAC)), 2);
    assert!(s.lease().is_none(), "ACK for another address ignored");
    s.on_frame(&dhcp_frame(&server(dhcp::ACK, xid, a, MAC)), 3);
    assert_eq!(s.lease().unwrap().addr, a);
}

#[test]
fn dhcp_nak_restarts_and_request_is_resent() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    s.poll(0);
    let xid = s.dhcp_xid();
    s.on_frame(&dhcp_frame(&server(dhcp::OFFER, xid, FIXED_ADDR, MAC)), 10);
    drain(&mut s);
    s.poll(10 + DHCP_RETRY_NS);
    let f = drain(&mut s);
    assert_eq!(
        dhcp::parse(&parse_udp(&f[0]).5).unwrap().msg_type,
        Some(dhcp::REQUEST)
    );
    s.on_frame(
        &dhcp_frame(&server(dhcp::NAK, xid, [0; 4], MAC)),
        20 + DHCP_RETRY_NS,
    );
    s.poll(30 + DHCP_RETRY_NS);
    let f = drain(&mut s);
    assert_eq!(
        dhcp::parse(&parse_udp(&f[0]).5).unwrap().msg_type,
        Some(dhcp::DISCOVER)
    );
}

#[test]
fn silent_dhcp_falls_back_to_the_fixed_lease_at_the_deadline() {
    let mut s = Stack::new(MAC, T0, DHCP_WAIT_NS);
    let mut discovers = 0;
    let mut t = T0;
    loop {
        assert!(t <= T0 + DHCP_WAIT_NS, "bounded");
        s.poll(t);
        discovers += drain(&mut s).len();
        if s.lease().is_some() {
            break;
        }
        t = s.next_deadline().unwrap();
    }
    assert_eq!(discovers, 3, "at T0, +1 s, +2 s");
    assert_eq!(t, T0 + DHCP_WAIT_NS);
    let l = s.lease().unwrap();
    assert_eq!(
        (l.addr, l.prefix, l.gateway, l.dns, l.kind),
        (
            FIXED_ADDR,
            24,
            Some(FIXED_GW),
            Some(FIXED_DNS),
            LeaseKind::Fixed
        )
    );
    assert_eq!(s.take_event(), Some(Event::LoUp));
    assert_eq!(s.take_event(), Some(Event::Virt0Up(l)));
    // A late OFFER is ignored.
    let xid = s.dhcp_xid();
    s.on_frame(
        &dhcp_frame(&server(dhcp::OFFER, xid, [10, 0, 2, 99], MAC)),
        t + 1,
    );
    assert!(drain(&mut s).is_empty());
    let i = s.iface();
    assert_eq!(i.addr.octets(), FIXED_ADDR);
    assert_eq!(i.gateway, Some(Ipv4Addr::from(FIXED_GW)));
}

fn arp_frame(op: u16, sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4], dst: [u8; 6]) -> Vec<u8> {
    let p = arp::build(&arp::Packet {
        op,
        sha,
        spa,
        tha: if op == arp::OP_REPLY { MAC } else { [0; 6] },
        tpa,
    });
    eth::build(dst, sha, eth::TYPE_ARP, &p)
}

#[test]
fn arp_request_for_us_is_answered() {
    let mut s = fixed_stack();
    s.on_frame(
        &arp_frame(arp::OP_REQUEST, HOST_MAC, HOST, FIXED_ADDR, eth::BROADCAST),
        T0,
    );
    let f = drain(&mut s);
    assert_eq!(f.len(), 1);
    let e = eth::parse(&f[0]).unwrap();
    assert_eq!((e.dst, e.src, e.ethertype), (HOST_MAC, MAC, eth::TYPE_ARP));
    assert_eq!(
        arp::parse(e.payload).unwrap(),
        arp::Packet {
            op: arp::OP_REPLY,
            sha: MAC,
            spa: FIXED_ADDR,
            tha: HOST_MAC,
            tpa: HOST
        }
    );
    // For someone else: no answer.
    s.on_frame(
        &arp_frame(
            arp::OP_REQUEST,
            HOST_MAC,
            HOST,
            [10, 0, 2, 16],
            eth::BROADCAST,
        ),
        T0,
    );
    assert!(drain(&mut s).is_empty());
    // Before any lease: no answer.
    let mut fresh = Stack::new(MAC, 0, DHCP_WAIT_NS);
    fresh.on_frame(
        &arp_frame(arp::OP_REQUEST, HOST_MAC, HOST, FIXED_ADDR, eth::BROADCAST),
        0,
    );
    assert!(drain(&mut fresh).is_empty());
}

#[test]
fn icmp_echo_request_is_answered_to_the_sender() {
    let mut s = fixed_stack();
    let req = icmp::build_echo(icmp::ECHO_REQUEST, 77, 3, b"ping-data");
    let pkt = ipv4::build(HOST, FIXED_ADDR, ipv4::PROTO_ICMP, 9, 64, &req);
    s.on_frame(&eth::build(MAC, HOST_MAC, eth::TYPE_IPV4, &pkt), T0);
    let f = drain(&mut s);
    assert_eq!(f.len(), 1, "sender learned from the frame: no ARP needed");
    let e = eth::parse(&f[0]).unwrap();
    assert_eq!(e.dst, HOST_MAC);
    let p = ipv4::parse(e.payload).unwrap();
    assert_eq!(
        (p.src, p.dst, p.proto),
        (FIXED_ADDR, HOST, ipv4::PROTO_ICMP)
    );
    let m = icmp::parse(p.payload).unwrap();
    assert_eq!(
        (m.kind, m.ident, m.seq, m.data),
        (icmp::ECHO_REPLY, 77, 3, &b"ping-data"[..])
    );
    // A broadcast ping is not answered.
    let pkt = ipv4::build(HOST, [10, 0, 2, 255], ipv4::PROTO_ICMP, 9, 64, &req);
    s.on_frame(
        &eth::build(eth::BROADCAST, HOST_MAC, eth::TYPE_IPV4, &pkt),
        T0,
    );
    assert!(drain(&mut s).is_empty());
}

fn sa(ip: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(ip), port)
}

/// Receives one datagram: (source address, source port, bytes).
fn recv(s: &mut Stack, h: SocketId, max: usize) -> Result<([u8; 4], u16, Vec<u8>), NetError> {
    let mut buf = vec![0u8; max];
    let (n, from) = s.udp_recv_from(h, &mut buf)?;
    buf.truncate(n);
    Ok((from.ip().octets(), from.port(), buf))
}

fn read(s: &mut Stack, h: SocketId, max: usize) -> Result<Vec<u8>, NetError> {
    let mut buf = vec![0u8; max];
    let n = s.tcp_read(h, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn udp_to_port_7_is_received_and_echoed_to_the_sender() {
    let mut s = fixed_stack();
    let (h, port) = s.udp_bind(7).unwrap();
    assert_eq!(port, 7);
    assert_eq!(s.udp_bind(7).map(|x| x.1), Err(NetError::AddrInUse));
    assert_eq!(
        s.udp_bind(68).map(|x| x.1),
        Err(NetError::AddrInUse),
        "DHCP's"
    );
    assert_eq!(recv(&mut s, h, 1500), Err(NetError::WouldBlock));
    assert_eq!(s.readiness(h), Readiness::WRITABLE);
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 40000, 7, b"echo me"), T0);
    assert!(s.readiness(h).contains(Readiness::READABLE));
    let (src, port, data) = recv(&mut s, h, 1500).unwrap();
    assert_eq!((src, port, &data[..]), (HOST, 40000, &b"echo me"[..]));
    assert_eq!(s.udp_send_to(h, sa(src, port), &data), Ok(()));
    let f = drain(&mut s);
    assert_eq!(f.len(), 1);
    assert_eq!(
        parse_udp(&f[0]),
        (HOST_MAC, FIXED_ADDR, HOST, 7, 40000, b"echo me".to_vec())
    );
    // Unbound port: dropped silently.
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 40000, 9, b"x"), T0);
    assert_eq!(recv(&mut s, h, 10), Err(NetError::WouldBlock));
    assert_eq!(
        s.udp_send_to(h, sa(HOST, 1), &[0; UDP_MAX + 1]),
        Err(NetError::InvalidInput)
    );
    assert_eq!(
        s.udp_send_to(h, sa(HOST, 0), b"x"),
        Err(NetError::InvalidInput)
    );
    assert_eq!(
        s.udp_send_to(h, sa([224, 0, 0, 1], 9), b"x"),
        Err(NetError::InvalidInput)
    );
    // Truncation to the buffer; the rest of the datagram is discarded.
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 1, 7, b"abcdef"), T0);
    assert_eq!(recv(&mut s, h, 2).unwrap().2, b"ab");
    assert_eq!(recv(&mut s, h, 10), Err(NetError::WouldBlock));
    // Ephemeral ports.
    let (_, p) = s.udp_bind(0).unwrap();
    assert!(p >= EPHEMERAL_FIRST);
}

#[test]
fn udp_queue_is_bounded() {
    let mut s = fixed_stack();
    let (h, _) = s.udp_bind(7).unwrap();
    for i in 0..UDP_QUEUE + 5 {
        s.on_frame(&udp_frame(HOST, FIXED_ADDR, 1, 7, &[i as u8]), T0);
    }
    let got: Vec<_> = core::iter::from_fn(|| recv(&mut s, h, 10).ok()).collect();
    assert_eq!(got.len(), UDP_QUEUE);
    assert_eq!(s.stats().dropped, 5);
}

#[test]
fn unknown_next_hop_is_resolved_by_arp_then_flushed() {
    let mut s = fixed_stack();
    let (h, _) = s.udp_bind(0).unwrap();
    let peer = [10, 0, 2, 50];
    let peer_mac = [2, 0, 0, 0, 0, 0x50];
    s.udp_send_to(h, sa(peer, 9), b"first").unwrap();
    s.udp_send_to(h, sa(peer, 9), b"second").unwrap();
    assert!(drain(&mut s).is_empty(), "nothing before poll");
    s.poll(T0 + 1);
    let f = drain(&mut s);
    assert_eq!(f.len(), 1);
    let e = eth::parse(&f[0]).unwrap();
    assert_eq!((e.dst, e.ethertype), (eth::BROADCAST, eth::TYPE_ARP));
    let a = arp::parse(e.payload).unwrap();
    assert_eq!(
        (a.op, a.spa, a.tpa, a.sha),
        (arp::OP_REQUEST, FIXED_ADDR, peer, MAC)
    );
    s.on_frame(
        &arp_frame(arp::OP_REPLY, peer_mac, peer, FIXED_ADDR, MAC),
        T0 + 2,
    );
    let f = drain(&mut s);
    assert_eq!(f.len(), 1, "the newest waiting packet is sent");
    let (edst, _, dst, _, dport, data) = parse_udp(&f[0]);
    assert_eq!(
        (edst, dst, dport, &data[..]),
        (peer_mac, peer, 9, &b"second"[..])
    );
    s.udp_send_to(h, sa(peer, 9), b"third").unwrap();
    assert_eq!(drain(&mut s).len(), 1, "cached");
}

#[test]
fn arp_gives_up_after_three_requests_and_off_link_goes_via_gateway() {
    let mut s = fixed_stack();
    let (h, _) = s.udp_bind(0).unwrap();
    s.udp_send_to(h, sa([8, 8, 8, 8], 53), b"q").unwrap();
    let mut t = T0;
    let mut reqs = 0;
    for _ in 0..10 {
        s.poll(t);
        for f in drain(&mut s) {
            let a = arp::parse(eth::parse(&f).unwrap().payload).unwrap();
            assert_eq!(a.tpa, FIXED_GW, "off-link: resolve the gateway");
            reqs += 1;
        }
        t += ARP_RETRY_NS;
    }
    assert_eq!(reqs, ARP_TRIES as usize);
    assert_eq!(s.next_deadline(), None, "entry dropped");
}

#[test]
fn arp_cache_is_bounded() {
    let mut s = fixed_stack();
    let mut answered = 0;
    for i in 0..100u8 {
        let mac = [2, 0, 0, 0, 1, i];
        let ip = [10, 0, 2, 100u8.wrapping_add(i)];
        s.on_frame(
            &arp_frame(arp::OP_REQUEST, mac, ip, FIXED_ADDR, eth::BROADCAST),
            T0 + u64::from(i),
        );
        answered += drain(&mut s).len();
        assert!(s.arp.len() <= ARP_ENTRIES);
    }
    assert_eq!(answered, 100, "each answered");
}

#[test]
fn lo_ping_and_own_address_ping() {
    let mut s = fixed_stack();
    let lo = Ipv4Addr::LOCALHOST;
    let id = s.ping_start(lo, 1, T0).unwrap();
    assert_eq!(s.ping_poll(id, T0), None);
    assert!(s.has_work());
    s.poll(T0 + 1000);
    assert_eq!(s.ping_poll(id, T0), Some(Ok(1000)));
    assert_eq!(s.ping_poll(id, T0), None, "consumed");
    assert!(drain(&mut s).is_empty(), "nothing on the wire");
    let id = s.ping_start(Ipv4Addr::from(FIXED_ADDR), 2, T0).unwrap();
    s.poll(T0 + 7);
    assert_eq!(s.ping_poll(id, T0), Some(Ok(7)));
    // A ping to an unknown address never completes.
    let id = s.ping_start(Ipv4Addr::new(10, 0, 2, 77), 3, T0).unwrap();
    s.poll(T0);
    assert_eq!(s.ping_poll(id, T0), None);
    // Bounded: the oldest is forgotten, new pings always start.
    for i in 0..3 * MAX_PINGS as u64 {
        s.ping_start(Ipv4Addr::new(10, 0, 2, 77), 0, T0 + i)
            .unwrap();
        assert!(s.open_pings() <= MAX_PINGS);
    }
    assert_eq!(s.ping_poll(id, T0), None);
    for bad in [
        [0, 0, 0, 0],
        [255, 255, 255, 255],
        [10, 0, 2, 255],
        [224, 0, 0, 1],
    ] {
        assert_eq!(
            s.ping_start(Ipv4Addr::from(bad), 0, T0),
            Err(NetError::InvalidInput)
        );
    }
}

#[test]
fn lo_ping_works_before_any_lease() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    let id = s.ping_start(Ipv4Addr::LOCALHOST, 0, 0).unwrap();
    s.poll(5);
    assert_eq!(s.ping_poll(id, 5), Some(Ok(5)));
    assert_eq!(
        s.ping_start(Ipv4Addr::new(10, 0, 2, 2), 0, 0),
        Err(NetError::NotConnected)
    );
    assert_eq!(s.iface().addr, Ipv4Addr::UNSPECIFIED);
}

#[test]
fn lo_udp_echo_before_and_after_the_lease() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    let (srv, _) = s.udp_bind(7).unwrap();
    let (cli, cport) = s.udp_bind(0).unwrap();
    s.udp_send_to(cli, sa(LO_ADDR, 7), b"loop").unwrap();
    s.poll(1);
    let (a, p, d) = recv(&mut s, srv, 100).unwrap();
    assert_eq!((a, p, &d[..]), (LO_ADDR, cport, &b"loop"[..]));
    s.udp_send_to(srv, sa(a, p), &d).unwrap();
    s.poll(2);
    assert_eq!(recv(&mut s, cli, 100).unwrap().2, b"loop");
    assert_eq!(
        s.udp_send_to(cli, sa(HOST, 7), b"x"),
        Err(NetError::NotConnected),
        "no lease yet"
    );
    assert!(
        drain(&mut s).iter().all(|f| parse_udp(f).4 == 67),
        "DHCP only"
    );
}

#[test]
fn streams_connect_accept_read_write_shutdown_close() {
    let mut s = fixed_stack();
    assert_eq!(
        s.tcp_connect(sa(LO_ADDR, 8080), T0).map(|x| x.1),
        Err(NetError::ConnectionRefused)
    );
    let (l, port) = s.tcp_listen(8080, 2).unwrap();
    assert_eq!(port, 8080);
    assert_eq!(s.tcp_listen(8080, 2).map(|x| x.1), Err(NetError::AddrInUse));
    assert_eq!(
        s.tcp_connect(sa(HOST, 8080), T0).map(|x| x.1),
        Err(NetError::Unsupported),
        "no TCP on the wire"
    );
    assert_eq!(s.tcp_accept(l).map(|x| x.1), Err(NetError::WouldBlock));
    assert_eq!(s.readiness(l), Readiness::EMPTY);
    let (c, local) = s.tcp_connect(sa(LO_ADDR, 8080), T0).unwrap();
    assert!(local >= EPHEMERAL_FIRST);
    assert_eq!(s.readiness(c), Readiness::WRITABLE, "connected at once");
    assert_eq!(s.tcp_write(c, b"GET /hello"), Ok(10), "before accept");
    assert_eq!(s.readiness(l), Readiness::READABLE);
    let (a, peer) = s.tcp_accept(l).unwrap();
    assert_eq!(peer, sa(LO_ADDR, local));
    assert_eq!(read(&mut s, a, 4).unwrap(), b"GET ");
    assert_eq!(read(&mut s, a, 100).unwrap(), b"/hello");
    assert_eq!(read(&mut s, a, 100), Err(NetError::WouldBlock));
    // Fill the pipe: partial write, then would-block.
    let big = vec![7u8; STREAM_BUF + 10];
    assert_eq!(s.tcp_write(a, &big), Ok(STREAM_BUF));
    assert_eq!(s.tcp_write(a, b"x"), Err(NetError::WouldBlock));
    assert!(!s.readiness(a).contains(Readiness::WRITABLE));
    assert_eq!(read(&mut s, c, STREAM_BUF).unwrap().len(), STREAM_BUF);
    // Half-close: the other side reads the rest, then EOF; it can still write.
    s.tcp_write(a, b"tail").unwrap();
    s.tcp_shutdown(a).unwrap();
    s.tcp_shutdown(a).unwrap();
    assert_eq!(s.tcp_write(a, b"more"), Err(NetError::Closed));
    assert!(s.readiness(c).contains(Readiness::HUP));
    assert_eq!(read(&mut s, c, 100).unwrap(), b"tail", "data before EOF");
    assert_eq!(read(&mut s, c, 100).unwrap(), b"", "EOF");
    assert_eq!(s.tcp_write(c, b"reply"), Ok(5));
    assert_eq!(read(&mut s, a, 100).unwrap(), b"reply");
    // Close: the peer's writes fail.
    s.close(a);
    assert_eq!(s.tcp_write(c, b"late"), Err(NetError::Closed));
    assert_eq!(s.usage(), (2, 0));
    s.close(c);
    assert_eq!(s.open_conns(), 0, "connection freed");
    // Own virt0 address is this host too.
    let (c2, _) = s.tcp_connect(sa(FIXED_ADDR, 8080), T0).unwrap();
    let (a2, peer) = s.tcp_accept(l).unwrap();
    assert_eq!(*peer.ip(), Ipv4Addr::from(FIXED_ADDR));
    s.tcp_write(c2, b"x").unwrap();
    assert_eq!(s.usage(), (3, 1));
    s.close(c2);
    assert_eq!(read(&mut s, a2, 10).unwrap(), b"x");
    assert_eq!(read(&mut s, a2, 10).unwrap(), b"");
    // Wrong kinds.
    assert_eq!(s.tcp_read(l, &mut [0; 4]), Err(NetError::InvalidInput));
    assert_eq!(s.tcp_accept(a2).map(|x| x.1), Err(NetError::InvalidInput));
    let (u, _) = s.udp_bind(0).unwrap();
    assert_eq!(s.tcp_write(u, b"x"), Err(NetError::InvalidInput));
    assert_eq!(
        s.udp_send_to(l, sa(HOST, 1), b"x"),
        Err(NetError::InvalidInput)
    );
    // Ephemeral listener.
    let (_, p) = s.tcp_listen(0, 1).unwrap();
    assert!(p >= EPHEMERAL_FIRST);
}

#[test]
fn backlog_and_tables_are_bounded_and_closed_listeners_reset() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    let (l, _) = s.tcp_listen(80, 2).unwrap();
    let (c1, _) = s.tcp_connect(sa(LO_ADDR, 80), 0).unwrap();
    s.tcp_connect(sa(LO_ADDR, 80), 0).unwrap();
    assert_eq!(
        s.tcp_connect(sa(LO_ADDR, 80), 0).map(|x| x.1),
        Err(NetError::ConnectionRefused),
        "backlog full"
    );
    s.tcp_write(c1, b"never read").unwrap();
    // Closing the listener resets the connections it did not accept.
    s.close(l);
    assert_eq!(read(&mut s, c1, 10), Err(NetError::ConnectionReset));
    assert_eq!(s.tcp_write(c1, b"x"), Err(NetError::ConnectionReset));
    assert!(s.readiness(c1).contains(Readiness::ERROR));
    // Close every socket: nothing leaks.
    while let Some(id) = s.entries.first().map(|e| e.id) {
        s.close(id);
    }
    assert_eq!((s.open_sockets(), s.open_conns()), (0, 0));
    // Sockets and connections are bounded.
    for p in 1..=MAX_SOCKETS as u16 {
        s.udp_bind(1000 + p).unwrap();
    }
    assert_eq!(s.udp_bind(5).map(|x| x.1), Err(NetError::NoBufs));
    assert_eq!(s.tcp_listen(5, 1).map(|x| x.1), Err(NetError::NoBufs));
    while let Some(id) = s.entries.first().map(|e| e.id) {
        s.close(id);
    }
    let mut listeners = Vec::new();
    for p in 0..(MAX_CONNS as u16).div_ceil(MAX_BACKLOG as u16) + 1 {
        listeners.push(s.tcp_listen(100 + p, MAX_BACKLOG as u8).unwrap());
    }
    let mut made = 0;
    for i in 0..2 * MAX_CONNS {
        let port = 100 + (i / MAX_BACKLOG) as u16;
        if s.tcp_connect(sa(LO_ADDR, port), 0).is_ok() {
            made += 1;
        }
    }
    assert_eq!(made, MAX_CONNS);
    assert_eq!(s.open_conns(), MAX_CONNS);
    for (id, _) in listeners {
        s.close(id);
    }
    while let Some(id) = s.entries.first().map(|e| e.id) {
        s.close(id);
    }
    assert_eq!((s.open_sockets(), s.open_conns()), (0, 0));
    assert_eq!(s.usage(), (0, 0));
}

#[test]
fn socket_ids_are_not_reused_while_held() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    s.next_socket = u32::MAX - 1;
    let (a, _) = s.udp_bind(0).unwrap();
    let (b, _) = s.udp_bind(0).unwrap();
    let (c, _) = s.udp_bind(0).unwrap();
    assert_eq!(
        (a.raw(), b.raw(), c.raw()),
        (u32::MAX - 1, u32::MAX, 1),
        "0 skipped"
    );
    s.next_socket = u32::MAX;
    let (d, _) = s.udp_bind(0).unwrap();
    assert_eq!(d.raw(), 2, "held values skipped");
    s.close(d);
    assert_eq!(s.readiness(d), Readiness::EMPTY);
    assert_eq!(s.tcp_read(d, &mut [0; 1]), Err(NetError::NotFound));
}

#[test]
fn tx_queue_is_bounded() {
    let mut s = fixed_stack();
    let (h, _) = s.udp_bind(7).unwrap();
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 1, 7, b"learn"), T0);
    for _ in 0..TX_QUEUE * 2 {
        let _ = s.udp_send_to(h, sa(HOST, 9), b"x");
    }
    assert_eq!(drain(&mut s).len(), TX_QUEUE);
}

#[test]
fn every_truncation_and_corruption_of_valid_frames_is_harmless() {
    let mut s = fixed_stack();
    let (h, _) = s.udp_bind(7).unwrap();
    let xid = s.dhcp_xid();
    let req = icmp::build_echo(icmp::ECHO_REQUEST, 1, 1, b"abc");
    let frames = [
        arp_frame(arp::OP_REQUEST, HOST_MAC, HOST, FIXED_ADDR, eth::BROADCAST),
        udp_frame(HOST, FIXED_ADDR, 5, 7, b"payload"),
        eth::build(
            MAC,
            HOST_MAC,
            eth::TYPE_IPV4,
            &ipv4::build(HOST, FIXED_ADDR, ipv4::PROTO_ICMP, 1, 64, &req),
        ),
        dhcp_frame(&server(dhcp::OFFER, xid, FIXED_ADDR, MAC)),
    ];
    for f in &frames {
        for n in 0..f.len() {
            s.on_frame(&f[..n], T0);
            s.poll(T0);
        }
        for i in 0..f.len() {
            for bit in [0x01u8, 0x80] {
                let mut g = f.clone();
                g[i] ^= bit;
                s.on_frame(&g, T0);
                s.poll(T0);
            }
        }
    }
    // Truncated frames produced nothing; corrupted ones at most answers to
    // still-valid variants (e.g. a changed payload byte with checksum 0).
    assert!(s.stats().malformed > 500);
    drain(&mut s);
    while recv(&mut s, h, 2000).is_ok() {}
    // Noise.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for n in 0..3000usize {
        let f: Vec<u8> = (0..n % 600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut g = f.clone();
        if g.len() > 14 {
            g[..6].copy_from_slice(&MAC);
            g[12] = 0x08;
            g[13] = if n % 2 == 0 { 0x00 } else { 0x06 };
            if n % 4 == 0 && g.len() > 15 {
                g[14] = 0x45;
            }
        }
        s.on_frame(&f, T0);
        s.on_frame(&g, T0);
    }
    s.poll(T0);
    assert!(s.tx.len() <= TX_QUEUE);
}

#[test]
fn loopback_sources_from_the_wire_are_dropped() {
    let mut s = fixed_stack();
    let (h, _) = s.udp_bind(7).unwrap();
    s.on_frame(&udp_frame(LO_ADDR, FIXED_ADDR, 1, 7, b"spoof"), T0);
    s.on_frame(&udp_frame(HOST, LO_ADDR, 1, 7, b"spoof"), T0);
    assert_eq!(recv(&mut s, h, 10), Err(NetError::WouldBlock));
}

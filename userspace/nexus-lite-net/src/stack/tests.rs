//! Stack tests: frames in memory, a virtual clock.
use super::*;
use alloc::vec;

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
    assert_eq!(s.iface_info(1).unwrap().state, 1);
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
    assert_eq!(s.iface_info(1).unwrap().state, 2);
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

#[test]
fn udp_to_port_7_is_received_and_echoed_to_the_sender() {
    let mut s = fixed_stack();
    let h = s.udp_bind(0x40, [0; 4], 7).unwrap();
    assert_eq!(s.udp_bind(0x41, [0; 4], 7), Err(Status::AddrInUse));
    assert_eq!(s.udp_bind(0x41, LO_ADDR, 7), Err(Status::AddrInUse));
    assert_eq!(s.udp_recv(0x40, h, 1500), Ok(None));
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 40000, 7, b"echo me"), T0);
    let (src, port, data) = s.udp_recv(0x40, h, 1500).unwrap().unwrap();
    assert_eq!((src, port, &data[..]), (HOST, 40000, &b"echo me"[..]));
    assert_eq!(s.udp_send(0x40, h, src, port, &data), Ok(7));
    let f = drain(&mut s);
    assert_eq!(f.len(), 1);
    assert_eq!(
        parse_udp(&f[0]),
        (HOST_MAC, FIXED_ADDR, HOST, 7, 40000, b"echo me".to_vec())
    );
    // Unbound port: dropped silently. Other owner: bad handle.
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 40000, 9, b"x"), T0);
    assert_eq!(s.udp_recv(0x41, h, 10), Err(Status::BadHandle));
    assert_eq!(
        s.udp_send(0x40, h, HOST, 1, &[0; UDP_MAX + 1]),
        Err(Status::TooLarge)
    );
    assert_eq!(s.udp_send(0x40, h, HOST, 0, b"x"), Err(Status::InvalidArg));
    // Truncation to `max`.
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 1, 7, b"abcdef"), T0);
    assert_eq!(s.udp_recv(0x40, h, 2).unwrap().unwrap().2, b"ab");
}

#[test]
fn udp_queue_is_bounded() {
    let mut s = fixed_stack();
    let h = s.udp_bind(1, [0; 4], 7).unwrap();
    for i in 0..UDP_QUEUE + 5 {
        s.on_frame(&udp_frame(HOST, FIXED_ADDR, 1, 7, &[i as u8]), T0);
    }
    let got: Vec<_> = core::iter::from_fn(|| s.udp_recv(1, h, 10).unwrap()).collect();
    assert_eq!(got.len(), UDP_QUEUE);
    assert_eq!(s.stats().dropped, 5);
}

#[test]
fn unknown_next_hop_is_resolved_by_arp_then_flushed() {
    let mut s = fixed_stack();
    let h = s.udp_bind(1, [0; 4], 0).unwrap();
    let peer = [10, 0, 2, 50];
    let peer_mac = [2, 0, 0, 0, 0, 0x50];
    s.udp_send(1, h, peer, 9, b"first").unwrap();
    s.udp_send(1, h, peer, 9, b"second").unwrap();
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
    s.udp_send(1, h, peer, 9, b"third").unwrap();
    assert_eq!(drain(&mut s).len(), 1, "cached");
}

#[test]
fn arp_gives_up_after_three_requests_and_off_link_goes_via_gateway() {
    let mut s = fixed_stack();
    let h = s.udp_bind(1, [0; 4], 0).unwrap();
    s.udp_send(1, h, [8, 8, 8, 8], 53, b"q").unwrap();
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
    let id = s.ping_start(5, LO_ADDR, T0).unwrap();
    assert_eq!(s.ping_poll(id), None);
    assert!(s.has_work());
    s.poll(T0 + 1000);
    assert_eq!(s.ping_poll(id), Some(1000));
    assert_eq!(s.ping_poll(id), None, "consumed");
    assert!(drain(&mut s).is_empty(), "nothing on the wire");
    let id = s.ping_start(5, FIXED_ADDR, T0).unwrap();
    s.poll(T0 + 7);
    assert_eq!(s.ping_poll(id), Some(7));
    // A ping to an unknown address never completes; cancel frees it.
    let id = s.ping_start(5, [10, 0, 2, 77], T0).unwrap();
    s.poll(T0);
    assert_eq!(s.ping_poll(id), None);
    s.ping_cancel(id);
    for _ in 0..MAX_PINGS {
        s.ping_start(6, LO_ADDR, T0).unwrap();
    }
    assert_eq!(s.ping_start(6, LO_ADDR, T0), Err(Status::NoResources));
    s.drop_owner(6);
    assert!(s.ping_start(6, LO_ADDR, T0).is_ok());
}

#[test]
fn lo_ping_works_before_any_lease() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    let id = s.ping_start(1, LO_ADDR, 0).unwrap();
    s.poll(5);
    assert_eq!(s.ping_poll(id), Some(5));
    assert_eq!(s.ping_start(1, [10, 0, 2, 2], 0), Err(Status::NotConnected));
}

#[test]
fn lo_udp_echo() {
    let mut s = fixed_stack();
    let srv = s.udp_bind(1, [0; 4], 7).unwrap();
    let cli = s.udp_bind(2, LO_ADDR, 0).unwrap();
    s.udp_send(2, cli, LO_ADDR, 7, b"loop").unwrap();
    s.poll(T0);
    let (a, p, d) = s.udp_recv(1, srv, 100).unwrap().unwrap();
    assert_eq!((a, &d[..]), (LO_ADDR, &b"loop"[..]));
    s.udp_send(1, srv, a, p, &d).unwrap();
    s.poll(T0);
    assert_eq!(s.udp_recv(2, cli, 100).unwrap().unwrap().2, b"loop");
    assert_eq!(s.udp_send(2, cli, HOST, 7, b"x"), Err(Status::Unreachable));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn streams_connect_accept_read_write_close() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    assert_eq!(s.connect(2, LO_ADDR, 8080), Err(Status::Refused));
    assert_eq!(s.listen(1, HOST, 8080, 1), Err(Status::Unreachable));
    let l = s.listen(1, LO_ADDR, 8080, 2).unwrap();
    assert_eq!(s.listen(3, [0; 4], 8080, 2), Err(Status::AddrInUse));
    assert_eq!(s.connect(2, HOST, 8080), Err(Status::Unreachable));
    assert_eq!(s.accept(1, l), Ok(None));
    let (c, local) = s.connect(2, LO_ADDR, 8080).unwrap();
    assert!(local >= EPHEMERAL_FIRST);
    let (a, peer) = s.accept(1, l).unwrap().unwrap();
    assert_eq!(peer, local);
    assert_eq!(s.read(1, a, 100), Ok(None));
    assert_eq!(s.write(2, c, b"GET /hello"), Ok(Some(10)));
    assert_eq!(s.read(1, a, 4).unwrap().unwrap(), b"GET ");
    assert_eq!(s.read(1, a, 100).unwrap().unwrap(), b"/hello");
    assert_eq!(s.read(2, a, 100), Err(Status::BadHandle), "owner checked");
    // Fill the pipe: partial write, then would-block.
    let big = vec![7u8; STREAM_BUF + 10];
    assert_eq!(s.write(1, a, &big), Ok(Some(STREAM_BUF)));
    assert_eq!(s.write(1, a, b"x"), Ok(None));
    assert_eq!(s.read(2, c, STREAM_BUF).unwrap().unwrap().len(), STREAM_BUF);
    s.write(1, a, b"tail").unwrap();
    s.close(1, a).unwrap();
    assert_eq!(
        s.read(2, c, 100).unwrap().unwrap(),
        b"tail",
        "data before EOF"
    );
    assert_eq!(s.read(2, c, 100), Ok(Some(vec![])), "EOF");
    assert_eq!(s.write(2, c, b"late"), Err(Status::NotConnected));
    s.close(2, c).unwrap();
    assert_eq!(s.close(2, c), Err(Status::BadHandle));
    assert!(s.conns.iter().all(Option::is_none), "connection freed");
}

#[test]
fn backlog_and_tables_are_bounded_and_owners_cleaned_up() {
    let mut s = Stack::new(MAC, 0, DHCP_WAIT_NS);
    let l = s.listen(1, LO_ADDR, 80, 2).unwrap();
    s.connect(2, LO_ADDR, 80).unwrap();
    s.connect(2, LO_ADDR, 80).unwrap();
    assert_eq!(s.connect(2, LO_ADDR, 80), Err(Status::Refused));
    // Closing the listener ends pending connections (client sees EOF).
    let (c3, _) = {
        s.close(1, l).unwrap();
        let l = s.listen(1, LO_ADDR, 80, 8).unwrap();
        let r = s.connect(2, LO_ADDR, 80).unwrap();
        s.close(1, l).unwrap();
        r
    };
    assert_eq!(s.read(2, c3, 10), Ok(Some(vec![])));
    assert_eq!(s.drop_owner(2), 3);
    assert!(s.conns.iter().all(Option::is_none));
    for p in 1..=MAX_SOCKETS as u16 {
        s.udp_bind(9, [0; 4], 1000 + p).unwrap();
    }
    assert_eq!(s.udp_bind(9, [0; 4], 5), Err(Status::NoResources));
    assert_eq!(s.drop_owner(9), MAX_SOCKETS);
    assert_eq!(s.open_handles(), 0);
    assert_eq!(s.udp_bind(9, [0; 4], 68), Err(Status::AddrInUse), "DHCP's");
    assert_eq!(s.udp_bind(9, [1, 2, 3, 4], 5), Err(Status::InvalidArg));
}

#[test]
fn tx_queue_is_bounded() {
    let mut s = fixed_stack();
    let h = s.udp_bind(1, [0; 4], 7).unwrap();
    s.on_frame(&udp_frame(HOST, FIXED_ADDR, 1, 7, b"learn"), T0);
    for _ in 0..TX_QUEUE * 2 {
        let _ = s.udp_send(1, h, HOST, 9, b"x");
    }
    assert_eq!(drain(&mut s).len(), TX_QUEUE);
}

#[test]
fn every_truncation_and_corruption_of_valid_frames_is_harmless() {
    let mut s = fixed_stack();
    let h = s.udp_bind(1, [0; 4], 7).unwrap();
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
    while s.udp_recv(1, h, 2000).unwrap().is_some() {}
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
    let h = s.udp_bind(1, [0; 4], 7).unwrap();
    s.on_frame(&udp_frame(LO_ADDR, FIXED_ADDR, 1, 7, b"spoof"), T0);
    s.on_frame(&udp_frame(HOST, LO_ADDR, 1, 7, b"spoof"), T0);
    assert_eq!(s.udp_recv(1, h, 10), Ok(None));
}

//! End-to-end server tests: `dispatch` + `Server` + the fake backend, over raw wire bytes.
//!
//! Design notes
//! ------------
//! Nodes: 0 = 10.0.0.1, 1 = 10.0.0.2, 2 = 10.0.0.3 (all /24), and in some
//! tests 3 = 10.0.1.4 (another subnet). Client ids are small integers per
//! node. Every call goes through `Harness::call`, which also asserts that
//! the reply echoes the request's correlation id and op.

mod common;

use common::{woke_body, Harness};
use nexus_net::fake::FakeNet;
use nexus_net::{
    ClientId, Handle, NetError, Readiness, Reply, Request, SocketAddrV4, MAX_PARKED,
    MAX_PARKED_PER_CLIENT,
};

const N0: [u8; 4] = [10, 0, 0, 1];
const N1: [u8; 4] = [10, 0, 0, 2];
const N2: [u8; 4] = [10, 0, 0, 3];

fn three() -> Harness {
    Harness::new(&[N0, N1, N2])
}

#[test]
fn tcp_connect_accept_read_write_close_both_ways() {
    let mut h = three();
    let (l, port) = h.listen(0, 1, 7000, 4).unwrap();
    assert_eq!(port, 7000);
    assert_eq!(h.accept(0, 1, l), Err(NetError::WouldBlock));
    let c = h.connect(1, 5, N0, 7000).unwrap();
    assert_eq!(
        h.wait(0, 1, l, Readiness::READABLE, 0).unwrap(),
        Readiness::READABLE
    );
    let (s, peer) = h.accept(0, 1, l).unwrap();
    assert_eq!(*peer.ip(), std::net::Ipv4Addr::from(N1));
    assert!(peer.port() >= 49152);
    let ready = h.wait(1, 5, c, Readiness::WRITABLE, 0).unwrap();
    assert!(ready.contains(Readiness::WRITABLE));

    // client -> server
    assert_eq!(h.write(1, 5, c, b"ping").unwrap(), 4);
    assert_eq!(h.read(0, 1, s, 100).unwrap(), b"ping");
    assert_eq!(h.read(0, 1, s, 100), Err(NetError::WouldBlock));
    // server -> client, read in pieces
    assert_eq!(h.write(0, 1, s, b"pong!").unwrap(), 5);
    assert_eq!(h.read(1, 5, c, 2).unwrap(), b"po");
    assert_eq!(h.read(1, 5, c, 100).unwrap(), b"ng!");

    // server closes: client drains then sees EOF; its writes fail.
    h.write(0, 1, s, b"bye").unwrap();
    h.close(0, 1, s).unwrap();
    let r = h.wait(1, 5, c, Readiness::READABLE, 0).unwrap();
    assert!(r.contains(Readiness::READABLE | Readiness::HUP));
    assert_eq!(h.read(1, 5, c, 100).unwrap(), b"bye");
    assert_eq!(h.read(1, 5, c, 100).unwrap(), b"", "EOF");
    assert_eq!(h.write(1, 5, c, b"late"), Err(NetError::Closed));
    h.close(1, 5, c).unwrap();

    // And the other way round: client closes first.
    let c = h.connect(1, 5, N0, 7000).unwrap();
    let (s, _) = h.accept(0, 1, l).unwrap();
    h.close(1, 5, c).unwrap();
    assert_eq!(h.read(0, 1, s, 10).unwrap(), b"");
    assert_eq!(h.write(0, 1, s, b"x"), Err(NetError::Closed));
}

#[test]
fn write_after_close_and_use_after_close_fail() {
    let mut h = three();
    let (l, _) = h.listen(0, 1, 80, 1).unwrap();
    let c = h.connect(1, 1, N0, 80).unwrap();
    h.close(1, 1, c).unwrap();
    assert_eq!(h.write(1, 1, c, b"x"), Err(NetError::NotFound));
    assert_eq!(h.read(1, 1, c, 1), Err(NetError::NotFound));
    assert_eq!(h.close(1, 1, c), Err(NetError::NotFound));
    assert_eq!(
        h.wait(1, 1, c, Readiness::READABLE, 0),
        Err(NetError::NotFound)
    );
    h.close(0, 1, l).unwrap();
    assert_eq!(h.accept(0, 1, l), Err(NetError::NotFound));
}

#[test]
fn shutdown_half_closes() {
    let mut h = three();
    let (l, _) = h.listen(0, 1, 80, 1).unwrap();
    let c = h.connect(1, 1, N0, 80).unwrap();
    let (s, _) = h.accept(0, 1, l).unwrap();
    h.write(1, 1, c, b"req").unwrap();
    h.shutdown(1, 1, c).unwrap();
    h.shutdown(1, 1, c).unwrap();
    assert_eq!(h.write(1, 1, c, b"more"), Err(NetError::Closed));
    assert_eq!(h.read(0, 1, s, 10).unwrap(), b"req");
    assert_eq!(h.read(0, 1, s, 10).unwrap(), b"");
    // The other direction still works.
    h.write(0, 1, s, b"resp").unwrap();
    assert_eq!(h.read(1, 1, c, 10).unwrap(), b"resp");
}

#[test]
fn partial_writes_and_writable_wakeup() {
    let mut h = three();
    h.net.set_tcp_buffer(10);
    let (l, _) = h.listen(0, 1, 80, 1).unwrap();
    let c = h.connect(1, 1, N0, 80).unwrap();
    let (s, _) = h.accept(0, 1, l).unwrap();
    assert_eq!(h.write(1, 1, c, b"0123456").unwrap(), 7);
    assert_eq!(h.write(1, 1, c, b"789abc").unwrap(), 3, "partial write");
    assert_eq!(h.write(1, 1, c, b"x"), Err(NetError::WouldBlock));
    let deadline = h.now() + 1_000;
    let corr = h.park(
        1,
        1,
        &Request::Wait {
            handle: c.handle(),
            interest: Readiness::WRITABLE,
            deadline_ns: deadline,
        },
    );
    assert!(h.poll(1).is_empty(), "still full");
    assert_eq!(h.read(0, 1, s, 4).unwrap(), b"0123");
    let woke = h.poll(1);
    assert_eq!(woke.len(), 1);
    assert_eq!((woke[0].0, woke[0].1), (ClientId(1), corr));
    match woke_body(&woke[0].2) {
        Ok(Reply::Wait { ready }) => assert!(ready.contains(Readiness::WRITABLE)),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.write(1, 1, c, b"abcdef").unwrap(), 4);
}

#[test]
fn wait_with_deadline_times_out_when_the_clock_passes_it() {
    let mut h = three();
    let (u, _) = h.bind(0, 1, 5000).unwrap();
    h.advance(1_000);
    let deadline = h.now() + 5_000_000;
    let corr = h.park(
        0,
        1,
        &Request::Wait {
            handle: u.handle(),
            interest: Readiness::READABLE,
            deadline_ns: deadline,
        },
    );
    assert_eq!(h.servers[0].next_deadline(), Some(deadline));
    h.advance(4_999_999);
    assert!(h.expire(0).is_empty());
    assert!(h.poll(0).is_empty());
    h.advance(1);
    let woke = h.expire(0);
    assert_eq!(woke.len(), 1);
    assert_eq!(woke[0].1, corr);
    assert_eq!(woke_body(&woke[0].2), Err(NetError::TimedOut));
    assert!(h.servers[0].parked().is_empty());
    // Poll gives the same answer for a deadline that passed.
    let corr = h.park(
        0,
        1,
        &Request::Wait {
            handle: u.handle(),
            interest: Readiness::READABLE,
            deadline_ns: h.now() + 10,
        },
    );
    h.advance(10);
    let woke = h.poll(0);
    assert_eq!(
        (woke[0].1, woke_body(&woke[0].2)),
        (corr, Err(NetError::TimedOut))
    );
    // A deadline already in the past is answered at once.
    assert_eq!(
        h.wait(0, 1, u, Readiness::READABLE, h.now()),
        Err(NetError::TimedOut)
    );
}

#[test]
fn parked_wait_wakes_on_data_and_on_close() {
    let mut h = three();
    let (a, _) = h.bind(0, 1, 5000).unwrap();
    let (b, _) = h.bind(1, 1, 5000).unwrap();
    let far = u64::MAX;
    let corr = h.park(
        0,
        1,
        &Request::Wait {
            handle: a.handle(),
            interest: Readiness::READABLE,
            deadline_ns: far,
        },
    );
    h.send(1, 1, b, N0, 5000, b"hello").unwrap();
    let woke = h.poll(0);
    assert_eq!(woke.len(), 1);
    assert_eq!(woke[0].1, corr);
    assert_eq!(
        woke_body(&woke[0].2),
        Ok(Reply::Wait {
            ready: Readiness::READABLE | Readiness::WRITABLE
        })
    );
    // Closing the handle answers a parked wait with Closed.
    let (x, _) = h.bind(0, 2, 5001).unwrap();
    let corr = h.park(
        0,
        2,
        &Request::Wait {
            handle: x.handle(),
            interest: Readiness::READABLE,
            deadline_ns: far,
        },
    );
    h.close(0, 2, x).unwrap();
    let woke = h.poll(0);
    assert_eq!(
        (woke[0].1, woke_body(&woke[0].2)),
        (corr, Err(NetError::Closed))
    );
}

#[test]
fn parking_is_bounded() {
    let mut h = Harness::new(&[N0]);
    let far = u64::MAX;
    let park_one = |h: &mut Harness, client: u64| {
        let (u, _) = h.bind(0, client, 0).unwrap();
        let req = Request::Wait {
            handle: u.handle(),
            interest: Readiness::READABLE,
            deadline_ns: far,
        };
        (u, req)
    };
    for _ in 0..MAX_PARKED_PER_CLIENT {
        let (_, req) = park_one(&mut h, 1);
        h.park(0, 1, &req);
    }
    let (_, req) = park_one(&mut h, 1);
    assert_eq!(h.call(0, 1, &req), Err(NetError::NoBufs));
    let mut client = 2;
    while h.servers[0].parked().len() < MAX_PARKED {
        let (_, req) = park_one(&mut h, client);
        h.park(0, client, &req);
        client += 1;
    }
    let (_, req) = park_one(&mut h, 999);
    assert_eq!(h.call(0, 999, &req), Err(NetError::NoBufs));
    // Dropping a client frees its parked slots silently.
    h.servers[0].drop_client(&mut h.net.node(h.nodes[0]), ClientId(1));
    assert_eq!(
        h.servers[0].parked().len(),
        MAX_PARKED - MAX_PARKED_PER_CLIENT
    );
    assert!(h.poll(0).is_empty());
}

#[test]
fn connect_refused_when_nobody_listens_or_backlog_is_full() {
    let mut h = three();
    assert_eq!(h.connect(1, 1, N0, 7000), Err(NetError::ConnectionRefused));
    let (l, _) = h.listen(0, 1, 7000, 1).unwrap();
    h.connect(1, 1, N0, 7000).unwrap();
    assert_eq!(
        h.connect(2, 1, N0, 7000),
        Err(NetError::ConnectionRefused),
        "backlog 1 full"
    );
    h.accept(0, 1, l).unwrap();
    h.connect(2, 1, N0, 7000).unwrap();
    // Nothing leaked on refusal.
    assert_eq!(h.net.open_sockets(h.nodes[2]), 1);
}

#[test]
fn connect_to_missing_host_never_completes() {
    let mut h = three();
    let c = h.connect(0, 1, [10, 0, 0, 99], 80).unwrap();
    assert_eq!(h.write(0, 1, c, b"x"), Err(NetError::WouldBlock));
    assert_eq!(h.shutdown(0, 1, c), Err(NetError::NotConnected));
    let deadline = h.now() + 100;
    h.park(
        0,
        1,
        &Request::Wait {
            handle: c.handle(),
            interest: Readiness::WRITABLE,
            deadline_ns: deadline,
        },
    );
    h.advance(100);
    assert_eq!(woke_body(&h.poll(0)[0].2), Err(NetError::TimedOut));
}

#[test]
fn closing_a_listener_resets_its_backlog() {
    let mut h = three();
    let (l, _) = h.listen(0, 1, 80, 4).unwrap();
    let c = h.connect(1, 1, N0, 80).unwrap();
    h.write(1, 1, c, b"early").unwrap();
    h.close(0, 1, l).unwrap();
    let r = h.wait(1, 1, c, Readiness::READABLE, 0).unwrap();
    assert!(r.contains(Readiness::ERROR));
    assert_eq!(h.read(1, 1, c, 10), Err(NetError::ConnectionReset));
    assert_eq!(h.write(1, 1, c, b"x"), Err(NetError::ConnectionReset));
    assert_eq!(h.net.open_sockets(h.nodes[0]), 0);
    // The port can be listened on again.
    h.listen(0, 1, 80, 4).unwrap();
}

#[test]
fn udp_unicast_send_recv_and_truncation() {
    let mut h = three();
    let (a, pa) = h.bind(0, 1, 0).unwrap();
    assert!(pa >= 49152);
    let (b, _) = h.bind(1, 1, 6000).unwrap();
    assert_eq!(h.recv(1, 1, b, 100), Err(NetError::WouldBlock));
    h.send(0, 1, a, N1, 6000, b"datagram one").unwrap();
    h.send(0, 1, a, N1, 6000, b"two").unwrap();
    h.send(0, 1, a, N1, 6001, b"nobody").unwrap();
    let (d, from) = h.recv(1, 1, b, 8).unwrap();
    assert_eq!(d, b"datagram", "truncated to max");
    assert_eq!(from, SocketAddrV4::new(N0.into(), pa));
    assert_eq!(
        h.recv(1, 1, b, 100).unwrap().0,
        b"two",
        "rest of the first was dropped"
    );
    assert_eq!(h.recv(1, 1, b, 100), Err(NetError::WouldBlock));
    // Empty datagrams are legal.
    h.send(1, 1, b, N0, pa, b"").unwrap();
    assert_eq!(h.recv(0, 1, a, 10).unwrap().0, b"");
    assert_eq!(h.net.stats().udp_unbound_drops, 1);
}

#[test]
fn udp_broadcast_reaches_every_other_node_on_the_subnet() {
    let mut h = Harness::new(&[N0, N1, N2, [10, 0, 1, 4], [10, 0, 0, 5]]);
    let socks: Vec<_> = (0..4).map(|n| h.bind(n, 1, 6000).unwrap().0).collect();
    h.bind(4, 1, 6001).unwrap(); // node 4 listens on another port
    for dst in [[10, 0, 0, 255], [255, 255, 255, 255]] {
        h.send(0, 1, socks[0], dst, 6000, b"who is there?").unwrap();
        for n in [1, 2] {
            let (d, from) = h.recv(n, 1, socks[n], 100).unwrap();
            assert_eq!(d, b"who is there?");
            assert_eq!(from, SocketAddrV4::new(N0.into(), 6000));
        }
        assert_eq!(
            h.recv(0, 1, socks[0], 100),
            Err(NetError::WouldBlock),
            "no self delivery"
        );
        assert_eq!(
            h.recv(3, 1, socks[3], 100),
            Err(NetError::WouldBlock),
            "other subnet"
        );
    }
    h.net.set_broadcast_loopback(true);
    h.send(0, 1, socks[0], [10, 0, 0, 255], 6000, b"me too")
        .unwrap();
    assert_eq!(h.recv(0, 1, socks[0], 100).unwrap().0, b"me too");
}

#[test]
fn bind_and_listen_report_addr_in_use() {
    let mut h = three();
    h.bind(0, 1, 6000).unwrap();
    assert_eq!(h.bind(0, 2, 6000), Err(NetError::AddrInUse));
    h.bind(1, 1, 6000).unwrap();
    h.listen(0, 1, 6000, 1).unwrap();
    assert_eq!(h.listen(0, 2, 6000, 1), Err(NetError::AddrInUse));
}

#[test]
fn handles_are_checked_for_owner_and_kind() {
    let mut h = three();
    let (l, _) = h.listen(0, 1, 80, 1).unwrap();
    let (u, _) = h.bind(0, 1, 81).unwrap();
    assert_eq!(
        h.accept(0, 2, l),
        Err(NetError::NotFound),
        "another client's handle"
    );
    assert_eq!(h.close(0, 2, u), Err(NetError::NotFound));
    assert_eq!(
        h.accept(1, 1, l),
        Err(NetError::NotFound),
        "another node's server"
    );
    let as_stream = nexus_net::TcpStream::from_handle(l.handle());
    assert_eq!(
        h.read(0, 1, as_stream, 1),
        Err(NetError::InvalidInput),
        "listener is not a stream"
    );
    let as_udp = nexus_net::UdpSocket::from_handle(l.handle());
    assert_eq!(h.recv(0, 1, as_udp, 1), Err(NetError::InvalidInput));
    assert_eq!(h.close(0, 1, Handle::from_raw(0)), Err(NetError::NotFound));
    h.close(0, 1, u).unwrap();
}

#[test]
fn local_addr_reports_the_interface() {
    let mut net_check = FakeNet::new();
    let id = net_check.add_node([10, 0, 0, 1].into());
    let mut h = three();
    match h.call(0, 1, &Request::LocalAddr).unwrap() {
        Reply::LocalAddr(info) => {
            assert_eq!(Some(info), net_check.iface(id));
            assert_eq!(info.prefix_len, 24);
            assert_eq!(info.broadcast(), std::net::Ipv4Addr::new(10, 0, 0, 255));
        }
        r => panic!("{r:?}"),
    }
}

#[test]
fn ping_is_parked_until_the_echo_or_the_deadline() {
    let mut h = three();
    let t0 = h.now();
    let corr = h.park(
        0,
        1,
        &Request::Ping {
            addr: N1.into(),
            seq: 7,
            deadline_ns: t0 + 10_000_000,
        },
    );
    assert!(h.poll(0).is_empty());
    h.advance(1_000_000);
    let woke = h.poll(0);
    assert_eq!(woke[0].1, corr);
    assert_eq!(
        woke_body(&woke[0].2),
        Ok(Reply::Ping {
            seq: 7,
            rtt_ns: 1_000_000
        })
    );
    // Unknown host: times out.
    let corr = h.park(
        0,
        1,
        &Request::Ping {
            addr: [10, 0, 0, 77].into(),
            seq: 8,
            deadline_ns: h.now() + 5,
        },
    );
    h.advance(5);
    let woke = h.poll(0);
    assert_eq!(
        (woke[0].1, woke_body(&woke[0].2)),
        (corr, Err(NetError::TimedOut))
    );
    // Zero RTT answers at once.
    h.net.set_ping_rtt(0);
    let r = h.call(
        0,
        1,
        &Request::Ping {
            addr: N2.into(),
            seq: 9,
            deadline_ns: h.now() + 5,
        },
    );
    assert_eq!(r, Ok(Reply::Ping { seq: 9, rtt_ns: 0 }));
}

#[test]
fn stale_server_instance_is_server_restarted() {
    let mut h = three();
    let real = h.servers[0].instance();
    let bytes = common::encode(&Request::LocalAddr, 55, real + 1);
    h.raw(0, 1, &bytes);
    let msg = h.decoded();
    assert_eq!(msg.header.correlation, 55);
    assert_eq!(msg.header.instance, real);
    assert_eq!(msg.body, Err(NetError::ServerRestarted));
    let bytes = common::encode(&Request::LocalAddr, 56, 0);
    h.raw(0, 1, &bytes);
    assert!(h.decoded().body.is_ok(), "instance 0 means any");
}

#[test]
fn link_down_resets_connections_and_drops_datagrams() {
    let mut h = three();
    let (l, _) = h.listen(0, 1, 80, 1).unwrap();
    let c = h.connect(1, 1, N0, 80).unwrap();
    let (s, _) = h.accept(0, 1, l).unwrap();
    let (u0, _) = h.bind(0, 1, 53).unwrap();
    let (u1, _) = h.bind(1, 1, 53).unwrap();
    let n1 = h.nodes[1];
    h.net.set_link(n1, false);
    assert_eq!(h.read(0, 1, s, 1), Err(NetError::ConnectionReset));
    assert_eq!(h.write(1, 1, c, b"x"), Err(NetError::ConnectionReset));
    h.send(0, 1, u0, N1, 53, b"lost").unwrap();
    h.net.set_link(n1, true);
    assert_eq!(h.recv(1, 1, u1, 10), Err(NetError::WouldBlock));
    assert_eq!(h.net.stats().link_drops, 1);
    h.send(0, 1, u0, N1, 53, b"found").unwrap();
    assert_eq!(h.recv(1, 1, u1, 10).unwrap().0, b"found");
}

#[test]
fn loopback_connections_work() {
    let mut h = three();
    let (l, _) = h.listen(0, 1, 8080, 1).unwrap();
    let c = h.connect(0, 2, [127, 0, 0, 1], 8080).unwrap();
    let (s, peer) = h.accept(0, 1, l).unwrap();
    assert_eq!(*peer.ip(), std::net::Ipv4Addr::LOCALHOST);
    h.write(0, 2, c, b"local").unwrap();
    assert_eq!(h.read(0, 1, s, 10).unwrap(), b"local");
}

#[test]
fn every_reply_echoes_its_correlation_id() {
    // `Harness::call` asserts the echo; run one of every op, successes and errors.
    let mut h = three();
    let (l, _) = h.listen(0, 1, 80, 2).unwrap();
    let c = h.connect(1, 1, N0, 80).unwrap();
    let (s, _) = h.accept(0, 1, l).unwrap();
    let (u, _) = h.bind(0, 1, 53).unwrap();
    let _ = h.write(0, 1, s, b"x");
    let _ = h.read(1, 1, c, 10);
    let _ = h.read(1, 1, c, 10);
    let _ = h.shutdown(1, 1, c);
    let _ = h.send(0, 1, u, N1, 53, b"x");
    let _ = h.recv(0, 1, u, 10);
    let _ = h.wait(0, 1, u, Readiness::WRITABLE, 0);
    let _ = h.wait(0, 1, l, Readiness::READABLE, 0);
    let _ = h.call(0, 1, &Request::LocalAddr);
    h.net.set_ping_rtt(0);
    let _ = h.call(
        0,
        1,
        &Request::Ping {
            addr: N1.into(),
            seq: 1,
            deadline_ns: 0,
        },
    );
    let _ = h.accept(0, 1, l);
    let _ = h.connect(0, 1, N2, 1);
    let _ = h.close(0, 1, s);
    let _ = h.close(0, 1, s);
    let _ = h.close(0, 1, l);
}

#[test]
fn wait_any_wakes_on_any_handle_and_on_close() {
    let mut h = three();
    let (a, _) = h.bind(0, 1, 5000).unwrap();
    let (a2, _) = h.bind(0, 1, 5001).unwrap();
    let (b, _) = h.bind(1, 1, 5000).unwrap();
    let mut set = nexus_net::WaitSet::new();
    set.push(a.handle(), Readiness::READABLE).unwrap();
    set.push(a2.handle(), Readiness::READABLE).unwrap();
    // Nothing ready and the deadline already passed: TimedOut at once.
    let now = h.net.now();
    assert_eq!(
        h.call(
            0,
            1,
            &Request::WaitAny {
                set,
                deadline_ns: now
            }
        ),
        Err(NetError::TimedOut)
    );
    let corr = h.park(
        0,
        1,
        &Request::WaitAny {
            set,
            deadline_ns: u64::MAX,
        },
    );
    assert!(h.poll(0).is_empty());
    // Data for the second entry wakes it with bit 1.
    h.send(1, 1, b, N0, 5001, b"hi").unwrap();
    let woke = h.poll(0);
    assert_eq!(woke.len(), 1);
    assert_eq!(
        (woke[0].1, woke_body(&woke[0].2)),
        (corr, Ok(Reply::WaitAny { ready_mask: 0b10 }))
    );
    // Answered at once while ready; a closed entry counts as ready.
    assert_eq!(
        h.call(
            0,
            1,
            &Request::WaitAny {
                set,
                deadline_ns: u64::MAX
            }
        ),
        Ok(Reply::WaitAny { ready_mask: 0b10 })
    );
    let mut one = nexus_net::WaitSet::new();
    one.push(a.handle(), Readiness::READABLE).unwrap();
    let corr = h.park(
        0,
        1,
        &Request::WaitAny {
            set: one,
            deadline_ns: u64::MAX,
        },
    );
    h.close(0, 1, a).unwrap();
    let woke = h.poll(0);
    assert_eq!(
        (woke[0].1, woke_body(&woke[0].2)),
        (corr, Ok(Reply::WaitAny { ready_mask: 1 }))
    );
    // Another client's handle is never "ready" for it and cannot be probed:
    // it reads as gone (bit set), exactly like a closed handle.
    let mut theirs = nexus_net::WaitSet::new();
    theirs.push(a2.handle(), Readiness::READABLE).unwrap();
    assert_eq!(
        h.call(
            0,
            2,
            &Request::WaitAny {
                set: theirs,
                deadline_ns: u64::MAX
            }
        ),
        Ok(Reply::WaitAny { ready_mask: 1 })
    );
}

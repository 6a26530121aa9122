//! `NetClient` over `SimNet`: the full client → codec → dispatch → fake path, multi-node.
//!
//! Design notes
//! ------------
//! These tests double as the usage reference for the DSoftBus host tests:
//! discovery over UDP broadcast and TCP sessions between three nodes, the
//! deadline-based helpers, and restart handling. The sim is single-threaded
//! (see `SimNet` docs), so each scenario sends before it waits.

use nexus_net::fake::SimNet;
use nexus_net::{Ipv4Addr, NetClient, NetError, Readiness, SocketAddrV4, Transport, MAX_IO};

const MS: u64 = 1_000_000;
const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

#[test]
fn three_node_discovery_and_sessions() {
    let sim = SimNet::new();
    let (na, nb, nc) = (sim.add_node(A), sim.add_node(B), sim.add_node(C));
    let mut ca = sim.client(na, 1);
    let mut cb = sim.client(nb, 1);
    let mut cc = sim.client(nc, 1);
    let deadline = sim.now() + 100 * MS;
    let mut buf = [0u8; 256];

    let (ua, _) = ca.udp_bind(6000).unwrap();
    let (ub, _) = cb.udp_bind(6000).unwrap();
    let (uc, _) = cc.udp_bind(6000).unwrap();
    let (la, _) = ca.tcp_listen(7000, 4).unwrap();

    let iface = ca.local_addr().unwrap();
    assert_eq!(iface.addr, A);
    let bcast = SocketAddrV4::new(iface.broadcast(), 6000);
    ca.udp_send_to(ua, bcast, b"DISCOVER A tcp=7000").unwrap();

    let mut sessions = Vec::new();
    for (cl, u, name) in [(&mut cb, ub, &b"B"[..]), (&mut cc, uc, &b"C"[..])] {
        let (n, from) = cl.udp_recv_from_by(u, &mut buf, deadline).unwrap();
        assert_eq!(&buf[..n], b"DISCOVER A tcp=7000");
        assert_eq!(from, SocketAddrV4::new(A, 6000));
        cl.udp_send_to(u, from, name).unwrap();
        let s = cl
            .tcp_connect_by(SocketAddrV4::new(A, 7000), deadline)
            .unwrap();
        cl.tcp_write_all_by(s, &[b"session-", name].concat(), deadline)
            .unwrap();
        sessions.push(s);
    }

    let mut heard = Vec::new();
    for _ in 0..2 {
        let (n, from) = ca.udp_recv_from_by(ua, &mut buf, deadline).unwrap();
        heard.push((buf[..n].to_vec(), *from.ip()));
    }
    assert_eq!(heard, vec![(b"B".to_vec(), B), (b"C".to_vec(), C)]);

    let mut peers = Vec::new();
    for expect in [&b"session-B"[..], b"session-C"] {
        let (s, peer) = ca.tcp_accept_by(la, deadline).unwrap();
        let n = ca.tcp_read_by(s, &mut buf, deadline).unwrap();
        assert_eq!(&buf[..n], expect);
        ca.tcp_write_all_by(s, b"welcome", deadline).unwrap();
        peers.push((s, peer));
    }
    assert_eq!(*peers[0].1.ip(), B);
    assert_eq!(*peers[1].1.ip(), C);

    for (cl, s) in [(&mut cb, sessions[0]), (&mut cc, sessions[1])] {
        let n = cl.tcp_read_by(s, &mut buf, deadline).unwrap();
        assert_eq!(&buf[..n], b"welcome");
        cl.close(s).unwrap();
    }
    for (s, _) in peers {
        assert_eq!(
            ca.tcp_read_by(s, &mut buf, deadline),
            Ok(0),
            "EOF after peer close"
        );
        ca.close(s).unwrap();
    }
    assert!(sim.now() < deadline, "nothing had to wait");
}

#[test]
fn wait_times_out_exactly_at_the_deadline() {
    let sim = SimNet::new();
    let n = sim.add_node(A);
    let mut c = sim.client(n, 7);
    let (u, _) = c.udp_bind(0).unwrap();
    sim.advance(123);
    let deadline = sim.now() + 5 * MS;
    assert_eq!(
        c.wait(u, Readiness::READABLE, deadline),
        Err(NetError::TimedOut)
    );
    assert_eq!(
        sim.now(),
        deadline,
        "virtual clock fast-forwarded to the deadline"
    );
    let mut buf = [0u8; 8];
    let d2 = deadline + MS;
    assert_eq!(c.udp_recv_from_by(u, &mut buf, d2), Err(NetError::TimedOut));
    assert_eq!(sim.now(), d2);
    assert_eq!(c.wait(u, Readiness::WRITABLE, 0), Ok(Readiness::WRITABLE));
}

#[test]
fn ping_reports_rtt_and_times_out_for_unknown_hosts() {
    let sim = SimNet::new();
    let (na, _) = (sim.add_node(A), sim.add_node(B));
    let mut c = sim.client(na, 1);
    let t0 = sim.now();
    assert_eq!(c.ping(B, 1, t0 + 10 * MS), Ok(MS));
    assert_eq!(sim.now(), t0 + MS);
    sim.with_net(|n| n.set_ping_rtt(3 * MS));
    assert_eq!(c.ping(B, 2, sim.now() + 2 * MS), Err(NetError::TimedOut));
    assert_eq!(
        c.ping(Ipv4Addr::new(10, 0, 0, 200), 3, sim.now() + MS),
        Err(NetError::TimedOut)
    );
    assert_eq!(
        c.ping(Ipv4Addr::BROADCAST, 4, sim.now() + MS),
        Err(NetError::InvalidInput)
    );
}

#[test]
fn connect_by_reports_refusal_and_timeouts_without_leaks() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let mut c = sim.client(na, 1);
    let d = sim.now() + 10 * MS;
    assert_eq!(
        c.tcp_connect_by(SocketAddrV4::new(B, 1), d),
        Err(NetError::ConnectionRefused)
    );
    let unreachable = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 99), 1);
    assert_eq!(c.tcp_connect_by(unreachable, d), Err(NetError::TimedOut));
    assert_eq!(sim.now(), d);
    assert_eq!(
        sim.with_net(|n| n.open_sockets(na)),
        0,
        "timed-out stream closed"
    );
    assert_eq!(sim.with_server(na, |s| s.handles().total()), 0);
    let _ = nb;
}

#[test]
fn blocking_io_helpers_time_out_when_the_peer_is_idle() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    sim.with_net(|n| n.set_tcp_buffer(1024));
    let mut ca = sim.client(na, 1);
    let mut cb = sim.client(nb, 1);
    let (l, _) = ca.tcp_listen(80, 1).unwrap();
    let s = cb
        .tcp_connect_by(SocketAddrV4::new(A, 80), sim.now() + MS)
        .unwrap();
    let (peer, _) = ca.tcp_accept_by(l, sim.now() + MS).unwrap();
    let mut buf = [0u8; 16];
    let d = sim.now() + MS;
    assert_eq!(ca.tcp_read_by(peer, &mut buf, d), Err(NetError::TimedOut));
    let d = sim.now() + MS;
    assert_eq!(
        cb.tcp_write_all_by(s, &[7u8; 2000], d),
        Err(NetError::TimedOut)
    );
    // The first 1024 bytes made it.
    let mut got = 0;
    while let Ok(n) = ca.tcp_read(peer, &mut buf) {
        got += n;
    }
    assert_eq!(got, 1024);
}

#[test]
fn bulk_transfer_with_partial_writes_is_lossless() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let mut ca = sim.client(na, 1);
    let mut cb = sim.client(nb, 1);
    let (l, _) = ca.tcp_listen(9000, 1).unwrap();
    let tx = cb.tcp_connect(SocketAddrV4::new(A, 9000)).unwrap();
    let (rx, _) = ca.tcp_accept(l).unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut sent = 0;
    let mut received = Vec::new();
    let mut buf = vec![0u8; MAX_IO * 2];
    let mut partial = false;
    while received.len() < data.len() {
        if sent < data.len() {
            match cb.tcp_write(tx, &data[sent..]) {
                Ok(n) => {
                    partial |= n < (data.len() - sent).min(MAX_IO);
                    sent += n;
                }
                Err(NetError::WouldBlock) => {}
                Err(e) => panic!("{e}"),
            }
        }
        match ca.tcp_read(rx, &mut buf[..3000]) {
            Ok(n) => {
                assert!(n > 0 && n <= MAX_IO);
                received.extend_from_slice(&buf[..n]);
            }
            Err(NetError::WouldBlock) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(partial, "the 16 KiB buffer must have forced partial writes");
    assert_eq!(received, data);
    cb.tcp_shutdown(tx).unwrap();
    assert_eq!(ca.tcp_read(rx, &mut buf), Ok(0));
}

#[test]
fn server_restart_is_detected_until_the_session_is_reset() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let mut ca = sim.client(na, 1);
    let mut cb = sim.client(nb, 1);
    let (l, _) = ca.tcp_listen(80, 1).unwrap();
    let s = cb.tcp_connect(SocketAddrV4::new(A, 80)).unwrap();
    let first = ca.server_instance().unwrap();

    sim.restart_node(na);
    assert_eq!(ca.local_addr(), Err(NetError::ServerRestarted));
    assert_eq!(ca.tcp_accept(l), Err(NetError::ServerRestarted));
    let mut buf = [0u8; 4];
    assert_eq!(cb.tcp_read(s, &mut buf), Err(NetError::ConnectionReset));

    ca.reset_session();
    assert!(ca.local_addr().is_ok());
    assert_ne!(ca.server_instance(), Some(first));
    assert_eq!(
        ca.tcp_accept(l),
        Err(NetError::NotFound),
        "old handles are gone"
    );
    ca.tcp_listen(80, 1)
        .expect("port is free again after the crash");
}

#[test]
fn dead_client_sockets_are_closed_for_peers() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let mut ca = sim.client(na, 1);
    let mut cb = sim.client(nb, 1);
    let (l, _) = ca.tcp_listen(80, 1).unwrap();
    let s = cb.tcp_connect(SocketAddrV4::new(A, 80)).unwrap();
    let _ = ca.tcp_accept(l).unwrap();
    assert_eq!(sim.drop_client(na, 1), 2);
    let mut buf = [0u8; 4];
    assert_eq!(cb.tcp_read_by(s, &mut buf, sim.now() + MS), Ok(0));
    assert_eq!(
        cb.tcp_connect(SocketAddrV4::new(A, 80)),
        Err(NetError::ConnectionRefused)
    );
}

/// Wraps a transport and tampers with replies.
struct Tamper<T> {
    inner: T,
    edit: fn(&mut [u8]),
    seen: Vec<u32>,
}

impl<T: Transport> Transport for Tamper<T> {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        self.seen
            .push(u32::from_le_bytes(request[4..8].try_into().unwrap()));
        let n = self.inner.call(request, reply)?;
        (self.edit)(&mut reply[..n]);
        Ok(n)
    }
}

#[test]
fn client_rejects_replies_that_do_not_match_the_request() {
    let sim = SimNet::new();
    let n = sim.add_node(A);
    let mk = |edit: fn(&mut [u8])| {
        NetClient::new(Tamper {
            inner: sim.transport(n, 1),
            edit,
            seen: Vec::new(),
        })
    };
    let mut ok = mk(|_| {});
    for _ in 0..3 {
        ok.local_addr().unwrap();
    }
    assert_eq!(
        ok.transport().seen,
        vec![1, 2, 3],
        "non-zero, increasing correlation ids"
    );

    let mut c = mk(|r| r[4] ^= 1);
    assert_eq!(
        c.local_addr(),
        Err(NetError::Malformed),
        "correlation mismatch"
    );
    let mut c = mk(|r| r[2] = 0x20);
    assert_eq!(c.local_addr(), Err(NetError::Malformed), "op mismatch");
    let mut c = mk(|r| r[1] = 2);
    assert_eq!(c.local_addr(), Err(NetError::BadVersion));

    struct Dead;
    impl Transport for Dead {
        fn call(&mut self, _: &[u8], _: &mut [u8]) -> Result<usize, NetError> {
            Err(NetError::ServerRestarted)
        }
    }
    assert_eq!(
        NetClient::new(Dead).local_addr(),
        Err(NetError::ServerRestarted)
    );
}

#[test]
fn client_validates_before_sending() {
    let sim = SimNet::new();
    let n = sim.add_node(A);
    let mut c = sim.client(n, 1);
    let (u, _) = c.udp_bind(0).unwrap();
    let big = vec![0u8; nexus_net::MAX_DATAGRAM + 1];
    assert_eq!(
        c.udp_send_to(u, SocketAddrV4::new(B, 1), &big),
        Err(NetError::InvalidInput)
    );
    let mut empty = [0u8; 0];
    assert_eq!(
        c.udp_recv_from(u, &mut empty).map(|x| x.0),
        Err(NetError::InvalidInput)
    );
    assert_eq!(
        c.tcp_connect(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 1)),
        Err(NetError::InvalidInput)
    );
}

#[test]
fn simulation_is_deterministic() {
    fn run() -> Vec<String> {
        let sim = SimNet::new();
        let (na, nb) = (sim.add_node(A), sim.add_node(B));
        let mut ca = sim.client(na, 1);
        let mut cb = sim.client(nb, 2);
        let mut log = Vec::new();
        let (l, p) = ca.tcp_listen(0, 2).unwrap();
        for _ in 0..2 {
            let s = cb.tcp_connect(SocketAddrV4::new(A, p)).unwrap();
            let (t, peer) = ca.tcp_accept(l).unwrap();
            log.push(format!("{s:?} {t:?} {peer} {}", sim.now()));
        }
        let (u, up) = cb.udp_bind(0).unwrap();
        log.push(format!(
            "{u:?} {up} {:?}",
            cb.wait(u, Readiness::READABLE, sim.now() + 77)
        ));
        log.push(format!("{}", sim.now()));
        log
    }
    assert_eq!(run(), run());
}

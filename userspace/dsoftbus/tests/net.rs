//! DSoftBus over the sockets facade on the fake network: discovery, sessions, timeouts.
//!
//! Design notes:
//! - Every node runs its own facade server inside `SimNet`; all traffic takes the
//!   production path (client codec -> dispatch -> fake backend).
//! - The side under test uses the blocking driver through a `Hooked` transport; peers are
//!   `Actor`s driven through the non-blocking API (see `common`).

mod common;

use common::{hooked, identity, shared, Actor, Rng, Seen, MS, SEC};
use dsoftbus::driver::{
    accept_session, broadcast_announce, close_connection, connect_session, drain_announces,
    recv_record, send_record, DrainSummary, PendingSession,
};
use dsoftbus::{
    AuthError, CacheConfig, Handshake, PeerCache, Record, SessionError, DISCOVERY_PORT,
    MAX_RECORD_PAYLOAD,
};
use nexus_net::fake::SimNet;
use nexus_net::{Ipv4Addr, NetClient, NetError, SocketAddrV4, Transport};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const PORT_A: u16 = 34567;
const PORT_B: u16 = 34568;
const PORT_C: u16 = 34569;

fn new_cache(local: &str) -> PeerCache {
    PeerCache::new(CacheConfig::default()).with_local_device_id(local)
}

#[test]
fn two_node_discovery_over_udp_broadcast() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let (ia, ib) = (identity("node-a", 1), identity("node-b", 2));
    let (mut ca, mut cb) = (sim.client(na, 1), sim.client(nb, 1));
    let (ua, _) = ca.udp_bind(DISCOVERY_PORT).unwrap();
    let (ub, _) = cb.udp_bind(DISCOVERY_PORT).unwrap();
    let (mut cache_a, mut cache_b) = (new_cache(ia.device_id()), new_cache(ib.device_id()));

    let ann_a = ia.announce(1, PORT_A, &["samgrd", "bundlemgrd"]).unwrap();
    let ann_b = ib.announce(1, PORT_B, &["samgrd"]).unwrap();
    broadcast_announce(&mut ca, ua, DISCOVERY_PORT, &ann_a).unwrap();
    broadcast_announce(&mut cb, ub, DISCOVERY_PORT, &ann_b).unwrap();

    let now = sim.now();
    let one = DrainSummary {
        received: 1,
        accepted: 1,
    };
    assert_eq!(drain_announces(&mut ca, ua, &mut cache_a, now), Ok(one));
    assert_eq!(drain_announces(&mut cb, ub, &mut cache_b, now), Ok(one));
    assert_eq!(
        drain_announces(&mut ca, ua, &mut cache_a, now),
        Ok(DrainSummary::default()),
        "queue drained"
    );

    let b_at_a = cache_a.get(ib.device_id(), now).unwrap();
    assert_eq!(b_at_a.session_addr(), SocketAddrV4::new(B, PORT_B));
    assert_eq!(b_at_a.static_key(), &ib.public_key());
    assert_eq!(b_at_a.services(), &["samgrd".to_string()]);
    let a_at_b = cache_b.get(ia.device_id(), now).unwrap();
    assert_eq!(a_at_b.session_addr(), SocketAddrV4::new(A, PORT_A));
    assert!(a_at_b.offers("bundlemgrd"));

    // Heartbeats (exact repeats) keep B alive; once B goes quiet it expires.
    for _ in 0..3 {
        sim.advance(5 * SEC);
        broadcast_announce(&mut cb, ub, DISCOVERY_PORT, &ann_b).unwrap();
        drain_announces(&mut ca, ua, &mut cache_a, sim.now()).unwrap();
    }
    assert_eq!(cache_a.stats().refreshed, 3);
    let last = sim.now();
    assert!(cache_a.get(ib.device_id(), last + 15 * SEC - 1).is_some());
    assert!(cache_a.get(ib.device_id(), last + 15 * SEC).is_none());
}

#[test]
fn three_node_discovery_and_encrypted_sessions() {
    let sim = SimNet::new();
    let (na, nb, nc) = (sim.add_node(A), sim.add_node(B), sim.add_node(C));
    // Broadcasts loop back to the sender too, so the own-announce rule is exercised.
    sim.with_net(|n| n.set_broadcast_loopback(true));
    let ids = [
        identity("node-a", 11),
        identity("node-b", 12),
        identity("node-c", 13),
    ];
    let ports = [PORT_A, PORT_B, PORT_C];
    let mut clients: Vec<NetClient<_>> = [na, nb, nc].iter().map(|n| sim.client(*n, 1)).collect();
    let mut caches: Vec<PeerCache> = ids.iter().map(|i| new_cache(i.device_id())).collect();
    let sockets: Vec<_> = clients
        .iter_mut()
        .map(|c| c.udp_bind(DISCOVERY_PORT).unwrap().0)
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let ann = ids[i].announce(1, ports[i], &["samgrd"]).unwrap();
        broadcast_announce(c, sockets[i], DISCOVERY_PORT, &ann).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let s = drain_announces(c, sockets[i], &mut caches[i], sim.now()).unwrap();
        assert_eq!(
            s,
            DrainSummary {
                received: 3,
                accepted: 2
            },
            "node {i}"
        );
        assert_eq!(caches[i].stats().own, 1);
        assert_eq!(caches[i].live(sim.now()).count(), 2);
    }
    // C changes its services: newer sequence number, same key -> update everywhere.
    let ann_c2 = ids[2].announce(2, PORT_C, &["samgrd", "statefsd"]).unwrap();
    broadcast_announce(&mut clients[2], sockets[2], DISCOVERY_PORT, &ann_c2).unwrap();
    for i in 0..2 {
        drain_announces(&mut clients[i], sockets[i], &mut caches[i], sim.now()).unwrap();
        assert!(caches[i]
            .get(ids[2].device_id(), sim.now())
            .unwrap()
            .offers("statefsd"));
        assert_eq!(caches[i].stats().updated, 1);
    }

    // B and C serve sessions (non-blocking actors); A dials both with the blocking driver.
    let mut clients = clients.into_iter();
    let mut caches = caches.into_iter();
    let mut ids = ids.into_iter();
    let (ca, cb, cc) = (
        clients.next().unwrap(),
        clients.next().unwrap(),
        clients.next().unwrap(),
    );
    let (cache_a, cache_b, cache_c) = (
        caches.next().unwrap(),
        caches.next().unwrap(),
        caches.next().unwrap(),
    );
    let (ia, ib, ic) = (
        ids.next().unwrap(),
        ids.next().unwrap(),
        ids.next().unwrap(),
    );
    drop(ca);
    let actor_b = shared(Actor::new(&sim, cb, ib.clone(), cache_b));
    let actor_c = shared(Actor::new(&sim, cc, ic.clone(), cache_c));
    actor_b.borrow_mut().listen(PORT_B);
    actor_c.borrow_mut().listen(PORT_C);
    let mut ca = hooked(&sim, na, 2, &[actor_b.clone(), actor_c.clone()]);

    let mut rng = Rng(77);
    let (id_b, id_c) = (ib.device_id().to_string(), ic.device_id().to_string());
    for (peer, actor, token) in [(&id_b, &actor_b, 0xb0b), (&id_c, &actor_c, 0xc0c)] {
        let entry = cache_a.get(peer, sim.now()).unwrap().clone();
        let deadline = sim.now() + 2 * SEC;
        let mut conn = connect_session(&mut ca, &entry, &ia, rng.key(), deadline).unwrap();
        assert_eq!(conn.peer_device_id(), peer);
        assert_eq!(conn.session().remote_static(), entry.static_key());

        let d = sim.now() + SEC;
        send_record(&mut ca, &mut conn, &Record::Ping(token), d).unwrap();
        assert_eq!(recv_record(&mut ca, &mut conn, d), Ok(Record::Pong(token)));
        let big = vec![0x42u8; MAX_RECORD_PAYLOAD];
        send_record(&mut ca, &mut conn, &Record::Data(&big), d).unwrap();
        assert_eq!(
            recv_record(&mut ca, &mut conn, d),
            Ok(Record::Data(&big[..]))
        );
        close_connection(&mut ca, conn, d);
        // Let the actor observe CLOSE and EOF.
        ca.local_addr().unwrap();

        let a = actor.borrow();
        assert_eq!(a.outcome, Some(Ok(())));
        let server_side = a.conn.as_ref().unwrap();
        assert_eq!(server_side.peer_device_id(), ia.device_id());
        assert_eq!(server_side.session().remote_static(), &ia.public_key());
        assert_eq!(
            a.seen,
            vec![Seen::Ping(token), Seen::Data(big.clone()), Seen::Close]
        );
        assert!(a.eof);
    }
    assert!(sim.now() < 2 * SEC, "nothing had to wait for a deadline");
}

#[test]
fn blocking_responder_with_non_blocking_initiator() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let (ia, ib) = (identity("node-a", 21), identity("node-b", 22));
    let cache_a = common::cache_with(&ia, &[(&ib, B)], 0);
    let cache_b = common::cache_with(&ib, &[(&ia, A)], 0);
    let entry_b = cache_a.get(ib.device_id(), 0).unwrap().clone();

    let actor_a = shared(Actor::new(&sim, sim.client(na, 1), ia.clone(), cache_a));
    let mut cb = hooked(&sim, nb, 1, std::slice::from_ref(&actor_a));
    let (listener, _) = cb.tcp_listen(common::SESSION_PORT, 4).unwrap();
    actor_a.borrow_mut().connect(&entry_b);

    let deadline = sim.now() + 2 * SEC;
    let mut conn = accept_session(
        &mut cb,
        listener,
        &ib,
        &cache_b.at(sim.now()),
        [5; 32],
        deadline,
    )
    .unwrap();
    assert_eq!(conn.peer_device_id(), ia.device_id());
    assert_eq!(conn.session().remote_static(), &ia.public_key());

    // The responder may speak first once established.
    for token in 1..=3u64 {
        send_record(&mut cb, &mut conn, &Record::Ping(token), deadline).unwrap();
        assert_eq!(
            recv_record(&mut cb, &mut conn, deadline),
            Ok(Record::Pong(token))
        );
    }
    assert_eq!(actor_a.borrow().outcome, Some(Ok(())));
    assert_eq!(
        actor_a.borrow().conn.as_ref().unwrap().peer_device_id(),
        ib.device_id()
    );
    // Nothing more arrives: the blocking read gives up at its deadline.
    let d = sim.now() + 10 * MS;
    assert_eq!(
        recv_record(&mut cb, &mut conn, d),
        Err(SessionError::Net(NetError::TimedOut))
    );
    assert_eq!(sim.now(), d);
}

/// Reads whatever is queued on `stream` without blocking.
fn read_now<T: Transport>(
    c: &mut NetClient<T>,
    stream: nexus_net::TcpStream,
    log: &mut Vec<u8>,
) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    match c.tcp_read(stream, &mut buf) {
        Ok(n) => {
            log.extend_from_slice(&buf[..n]);
            buf[..n].to_vec()
        }
        Err(NetError::WouldBlock) => Vec::new(),
        Err(e) => panic!("read: {e:?}"),
    }
}

#[test]
fn nothing_readable_crosses_the_wire() {
    // A drives a PendingSession; B is a hand-written sans-IO responder over raw reads and
    // writes, so every byte in both directions is captured.
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let (ia, ib) = (identity("node-a", 31), identity("node-b", 32));
    let cache_a = common::cache_with(&ia, &[(&ib, B)], 0);
    let cache_b = common::cache_with(&ib, &[(&ia, A)], 0);
    let (mut ca, mut cb) = (sim.client(na, 1), sim.client(nb, 1));
    let (listener, _) = cb.tcp_listen(common::SESSION_PORT, 4).unwrap();

    let entry_b = cache_a.get(ib.device_id(), 0).unwrap().clone();
    let mut pending = PendingSession::connect(&mut ca, &entry_b, &ia, [1; 32], SEC).unwrap();
    let (stream_b, peer) = cb.tcp_accept(listener).unwrap();
    assert_eq!(*peer.ip(), A);
    let mut hs_b = Handshake::responder(&ib, [2; 32], SEC);
    let (mut a_to_b, mut b_to_a) = (Vec::new(), Vec::new());

    let mut conn_a = None;
    for _ in 0..10 {
        if let Some(c) = pending
            .step(&mut ca, sim.now(), &dsoftbus::NoDirectory)
            .unwrap()
        {
            conn_a = Some(c);
            break;
        }
        let got = read_now(&mut cb, stream_b, &mut a_to_b);
        hs_b.feed(&got, &cache_b.at(sim.now())).unwrap();
        let out = hs_b.pending_output().to_vec();
        cb.tcp_write_all_by(stream_b, &out, SEC).unwrap();
        b_to_a.extend_from_slice(&out);
        hs_b.consume_output(out.len());
    }
    let mut conn_a = conn_a.expect("initiator established");
    let mut session_b = hs_b.take_session().expect("responder established");

    let secret = b"the quick brown fox; samgrd; bundlemgrd";
    send_record(&mut ca, &mut conn_a, &Record::Data(secret), SEC).unwrap();
    let got = read_now(&mut cb, stream_b, &mut a_to_b);
    session_b.feed(&got);
    assert_eq!(session_b.open().unwrap(), Some(Record::Data(&secret[..])));

    // Handshake (32-byte device ids): 50 + 100 bytes from A (messages 1, 3), 84 + 19 from
    // B (message 2, CONFIRM).
    assert_eq!(a_to_b.len(), 50 + 100 + 2 + 1 + secret.len() + 16);
    assert_eq!(b_to_a.len(), 84 + 19);
    for needle in [
        ia.device_id().as_bytes(),
        ib.device_id().as_bytes(),
        b"samgrd",
        b"fox",
        &ia.public_key(),
        &ib.public_key(),
    ] {
        for (dir, log) in [("a->b", &a_to_b), ("b->a", &b_to_a)] {
            assert!(
                !log.windows(needle.len()).any(|w| w == needle),
                "{dir} leaks {needle:?}"
            );
        }
    }
}

#[test]
fn stalled_responder_times_out_and_the_initiator_frees_everything() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let (ia, ib) = (identity("node-a", 41), identity("node-b", 42));
    let mut cb = sim.client(nb, 1);
    // B listens but never runs a handshake: the connection sits in its backlog.
    cb.tcp_listen(common::SESSION_PORT, 4).unwrap();
    let entry_b = common::entry(&ib, B, common::SESSION_PORT, 0);

    let mut ca = sim.client(na, 1);
    let t0 = sim.now();
    let deadline = t0 + 3 * SEC;
    assert_eq!(
        connect_session(&mut ca, &entry_b, &ia, [3; 32], deadline).err(),
        Some(AuthError::Timeout)
    );
    assert_eq!(sim.now(), deadline, "gave up exactly at the deadline");
    assert_eq!(sim.with_net(|n| n.open_sockets(na)), 0, "stream closed");
    assert_eq!(sim.with_server(na, |s| s.handles().total()), 0);

    // Same with the non-blocking form: past the deadline a step fails and cleans up.
    let deadline = sim.now() + SEC;
    let mut p = PendingSession::connect(&mut ca, &entry_b, &ia, [4; 32], deadline).unwrap();
    assert!(matches!(
        p.step(&mut ca, sim.now(), &dsoftbus::NoDirectory),
        Ok(None)
    ));
    assert!(p.handshake().is_active());
    sim.advance(SEC);
    assert_eq!(
        p.step(&mut ca, sim.now(), &dsoftbus::NoDirectory).err(),
        Some(AuthError::Timeout)
    );
    assert!(p.handshake().is_closed());
    assert_eq!(
        p.step(&mut ca, sim.now(), &dsoftbus::NoDirectory).err(),
        Some(AuthError::Timeout),
        "stays failed"
    );
    assert_eq!(sim.with_net(|n| n.open_sockets(na)), 0);
}

#[test]
fn stalled_initiator_times_out_at_the_responder() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let ib = identity("node-b", 52);
    let mut cb = sim.client(nb, 1);
    let (listener, _) = cb.tcp_listen(common::SESSION_PORT, 4).unwrap();
    // A connects and then says nothing.
    let mut ca = sim.client(na, 1);
    let _silent = ca
        .tcp_connect_by(SocketAddrV4::new(B, common::SESSION_PORT), SEC)
        .unwrap();
    let cache_b = new_cache(ib.device_id());
    let deadline = sim.now() + 2 * SEC;
    assert_eq!(
        accept_session(&mut cb, listener, &ib, &cache_b.at(0), [6; 32], deadline).err(),
        Some(AuthError::Timeout)
    );
    assert_eq!(sim.now(), deadline);
    assert_eq!(
        sim.with_server(nb, |s| s.handles().total()),
        1,
        "only the listener is left"
    );
    // Accepting with nobody connecting times out the same way.
    let deadline = sim.now() + SEC;
    assert_eq!(
        accept_session(&mut cb, listener, &ib, &cache_b.at(0), [6; 32], deadline).err(),
        Some(AuthError::Timeout)
    );
}

#[test]
fn peer_closing_mid_handshake_is_reported() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let (ia, ib) = (identity("node-a", 61), identity("node-b", 62));
    let mut cb = sim.client(nb, 1);
    let (listener, _) = cb.tcp_listen(common::SESSION_PORT, 4).unwrap();
    let entry_b = common::entry(&ib, B, common::SESSION_PORT, 0);
    let mut ca = sim.client(na, 1);
    let mut p = PendingSession::connect(&mut ca, &entry_b, &ia, [7; 32], SEC).unwrap();
    assert!(matches!(
        p.step(&mut ca, 0, &dsoftbus::NoDirectory),
        Ok(None)
    ));
    let (s, _) = cb.tcp_accept(listener).unwrap();
    cb.close(s).unwrap();
    assert_eq!(
        p.step(&mut ca, 0, &dsoftbus::NoDirectory).err(),
        Some(AuthError::Closed)
    );
}

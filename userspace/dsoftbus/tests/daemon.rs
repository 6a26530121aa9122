//! The daemon core on the fake network with several nodes: discovery, one session per
//! pair, streams (echo, nodeinfo, refusals), keepalive and expiry, redial back-off,
//! netstackd restart, a peer that floods and never reads, and slot exhaustion by
//! unknown peers.
//!
//! Design notes:
//! - Every node runs a real `Daemon` over its own `SimNet` facade server. The harness
//!   plays the OS loop: it polls every node; when no node asked to run again at once and
//!   no node's wait set is ready (probed with a `WaitAny` whose deadline is now, through a
//!   client with the daemon's client id), it advances the virtual clock to the earliest
//!   wake-up or network event. So "served when it arrives" is what the harness measures:
//!   virtual time does not move while any socket is ready.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::world::*;
use common::{identity, Rng, MS, SEC};
use dsoftbus::daemon::{BusError, BusEvent, Daemon, Limits};
use dsoftbus::driver::PendingSession;
use dsoftbus::mux::{Mode, Priority, RefuseReason};
use dsoftbus::{Announce, AuthError, LocalIdentity, PeerEntry, Record, DISCOVERY_PORT};
use nexus_net::fake::{NodeId, SimTransport};
use nexus_net::{Ipv4Addr, NetClient, SocketAddrV4};

#[test]
fn three_nodes_discover_and_hold_one_session_per_pair() {
    let mut w = three();
    w.wait_for(3 * SEC, "full mesh", |w| {
        (0..3).all(|i| w.nodes[i].d.as_ref().unwrap().sessions() == 2)
    });
    // Settle: crossing dials are resolved to exactly one session per pair.
    w.run_for(2 * SEC);
    for i in 0..3 {
        assert_eq!(w.nodes[i].d().sessions(), 2, "node {i}");
        let online = w.nodes[i]
            .events
            .iter()
            .filter(|e| matches!(e, BusEvent::PeerOnline(_)))
            .count();
        assert!(online >= 2);
    }
    assert!(w.nodes[0].logged(&format!("dsoftbusd: peer discovered id={}", nid("node-b"))));
    assert!(w.nodes[0].logged(&format!("dsoftbusd: auth ok peer={}", nid("node-c"))));
    let nodeinfo = w.nodes[1]
        .d()
        .cache()
        .get(&nid("node-a"), w.sim.now())
        .cloned();
    assert!(nodeinfo.unwrap().offers("nodeinfo"));
}

#[test]
fn nodeinfo_is_served_on_a_stream_and_unknown_services_are_refused() {
    let mut w = three();
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &nid("node-b")));
    let (s, ev) = open(&mut w, 0, &nid("node-b"), "nodeinfo", Mode::Message);
    assert_eq!(ev, BusEvent::Accepted(s));
    w.nodes[0].d().send(s, b"?").unwrap();
    let mut out = vec![0u8; 512];
    let mut got = None;
    w.wait_for(2 * SEC, "nodeinfo answer", |w| {
        match w.nodes[0].d().recv(s, &mut out) {
            Ok(n) if n > 0 => {
                got = Some(String::from_utf8_lossy(&out[..n]).into_owned());
                true
            }
            _ => false,
        }
    });
    let text = got.unwrap();
    assert!(
        text.starts_with(&format!("id={} addr=10.0.0.2 ", nid("node-b"))),
        "{text}"
    );
    assert!(w.nodes[1].logged(&format!(
        "dsoftbusd: remote proxy served svc=nodeinfo peer={}",
        nid("node-a")
    )));
    // The server closed its side: end of stream.
    w.wait_for(SEC, "end of nodeinfo stream", |w| {
        w.nodes[0].d().recv(s, &mut [0u8; 8]) == Ok(0)
    });
    // Not published (samgrd) and published-but-not-allowed (secret).
    let (s, ev) = open(&mut w, 0, &nid("node-b"), "samgrd", Mode::Message);
    assert_eq!(ev, BusEvent::Refused(s, RefuseReason::NotPublished));
    w.nodes[1].d().publish("secret").unwrap();
    let (s, ev) = open(&mut w, 0, &nid("node-b"), "secret", Mode::Message);
    assert_eq!(ev, BusEvent::Refused(s, RefuseReason::Denied));
    assert_eq!(w.nodes[0].d().send(s, b"x"), Err(BusError::UnknownStream));
    // Unknown peer.
    assert_eq!(
        w.nodes[0]
            .d()
            .open("nobody", "echo", Mode::Bytes, Priority::Bulk),
        Err(BusError::UnknownPeer)
    );
}

#[test]
fn echo_service_carries_a_mebibyte_byte_for_byte() {
    let mut w = three();
    w.nodes[1].d().publish("echo").unwrap();
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &nid("node-b")));
    let s = w.nodes[0]
        .d()
        .open(&nid("node-b"), "echo", Mode::Bytes, Priority::Bulk)
        .unwrap();
    let total = 1 << 20;
    let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    let (mut sent, mut got) = (0usize, 0usize);
    let mut served = Vec::new();
    let mut buf = vec![0u8; 8192];
    let end = w.sim.now() + 30 * SEC;
    while got < total {
        assert!(w.sim.now() < end, "echo stalled at {got}");
        if sent < total {
            let n = (total - sent).min(8192);
            let chunk: Vec<u8> = (sent..sent + n).map(pattern).collect();
            match w.nodes[0].d().send(s, &chunk) {
                Ok(k) => sent += k,
                Err(BusError::WouldBlock) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        loop {
            match w.nodes[0].d().recv(s, &mut buf) {
                Ok(n) if n > 0 => {
                    for (k, v) in buf[..n].iter().enumerate() {
                        assert_eq!(*v, pattern(got + k));
                    }
                    got += n;
                }
                _ => break,
            }
        }
        echo_server(&mut w, 1, &mut served);
        let before = w.sim.now();
        w.run_until(before + 5 * MS, |_| false);
        // Both daemons stay within their documented buffer bound.
        for n in 0..2 {
            let d = w.nodes[n].d();
            assert!(d.buffered() <= d.max_buffered());
        }
    }
    assert_eq!(got, total);
}

#[test]
fn a_silent_peer_expires_and_its_streams_end_with_peer_gone_then_it_comes_back() {
    let mut w = three();
    w.nodes[1].d().publish("echo").unwrap();
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &nid("node-b")));
    w.run_for(SEC);
    let (s, ev) = open(&mut w, 0, &nid("node-b"), "nodeinfo", Mode::Message);
    assert_eq!(ev, BusEvent::Accepted(s));
    // Stop node b entirely: no announces, no reads, no FIN (a VM that went away).
    w.nodes[1].running = false;
    let stopped = w.sim.now();
    w.wait_for(10 * SEC, "offline event", |w| {
        w.nodes[0]
            .events
            .iter()
            .any(|e| *e == BusEvent::PeerOffline(nid("node-b")))
    });
    let took = w.sim.now() - stopped;
    let l = Limits::default();
    assert!(
        took <= l.peer_ttl_ns.max(l.silence_ns) + l.keepalive_ns + SEC,
        "{took}"
    );
    assert!(w.nodes[0].events.contains(&BusEvent::PeerGone(s)));
    assert_eq!(w.nodes[0].d().send(s, b"x"), Err(BusError::PeerGone));
    assert!(w.nodes[0].logged(&format!("dsoftbusd: peer expired id={}", nid("node-b"))));
    assert_eq!(
        w.nodes[0]
            .d()
            .open(&nid("node-b"), "echo", Mode::Message, Priority::Interactive),
        Err(BusError::UnknownPeer)
    );
    // b restarts: a fresh daemon with the same identity, same node.
    let logs = Rc::new(RefCell::new(Vec::new()));
    let plat = Plat {
        sim: w.sim.clone(),
        rng: Rng(77),
        name: "node-b2",
        logs: logs.clone(),
    };
    let id = w.nodes[1].id;
    w.nodes[1].d = None;
    w.sim.drop_client(id, CLIENT);
    w.nodes[1].d = Some(
        Daemon::start(w.sim.client(id, CLIENT), plat, identity("node-b", 2), {
            config()
        })
        .unwrap(),
    );
    w.nodes[1].logs = logs;
    w.nodes[1].running = true;
    w.wait_for(5 * SEC, "reconnect", |w| connected(w, 0, &nid("node-b")));
    assert!(w.nodes[0].logged(&format!("dsoftbusd: peer reconnected id={}", nid("node-b"))));
    let (s2, ev) = open(&mut w, 0, &nid("node-b"), "nodeinfo", Mode::Message);
    assert_eq!(ev, BusEvent::Accepted(s2));
    assert_ne!(s2.session, s.session);
}

#[test]
fn keepalive_holds_an_idle_session() {
    let mut w = three();
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &nid("node-b")));
    w.run_for(2 * SEC);
    let ups = w.nodes[0].d().stats().sessions_up;
    w.run_for(20 * SEC);
    assert!(connected(&mut w, 0, &nid("node-b")));
    assert_eq!(w.nodes[0].d().stats().sessions_up, ups, "session flapped");
    assert!(!w.nodes[0].logged("session closed"));
}

#[test]
fn dials_to_a_peer_without_listener_back_off_exponentially() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    // A ghost announces itself (valid announce, real key) but never listens.
    let ghost_node = w.sim.add_node(Ipv4Addr::new(10, 0, 0, 9));
    let ghost = identity("ghost", 9);
    let mut gnet = w.sim.client(ghost_node, 1);
    let (gudp, _) = gnet.udp_bind(DISCOVERY_PORT).unwrap();
    let mut next_announce = 0;
    let mut seen = Vec::new();
    let end = w.sim.now() + 20 * SEC;
    w.run_until(end, |w| {
        let now = w.sim.now();
        if now >= next_announce {
            let a = ghost.announce(1, PORT, &[]).unwrap();
            dsoftbus::driver::broadcast_announce(&mut gnet, gudp, DISCOVERY_PORT, &a).unwrap();
            next_announce = now + 500 * MS;
        }
        if let Some((at, fails)) = w.nodes[0].d().redial_state(&nid("ghost")) {
            if seen.last().map(|x: &(u64, u32)| x.1) != Some(fails) {
                seen.push((at - now, fails));
            }
        }
        false
    });
    // The larger device id defers its first dial (the smaller one should dial first).
    let seen = if nid("ghost") < nid("node-a") {
        assert_eq!(seen[0], (Limits::default().defer_ns, 0));
        &seen[1..]
    } else {
        &seen[..]
    };
    assert!(seen.len() >= 4, "{seen:?}");
    for pair in seen.windows(2) {
        assert!(pair[1].1 == pair[0].1 + 1);
        assert!(pair[1].0 >= pair[0].0, "delay shrank: {seen:?}");
    }
    let l = Limits::default();
    assert!(seen.iter().all(|(d, _)| *d <= l.redial_max_ns));
    assert!(seen.last().unwrap().0 >= 4 * l.redial_ns);
    assert_eq!(w.nodes[0].d().sessions(), 0);
}

#[test]
fn netstackd_restart_drops_sessions_and_recovers() {
    let mut w = three();
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &nid("node-b")));
    let id = w.nodes[0].id;
    w.sim.restart_node(id);
    w.wait_for(5 * SEC, "reopen", |w| {
        w.nodes[0].logged("dsoftbusd: sockets re-opened after netstack restart")
    });
    assert_eq!(w.nodes[0].d().stats().net_restarts, 1);
    w.wait_for(8 * SEC, "reconnect after restart", |w| {
        connected(w, 0, &nid("node-b")) && connected(w, 0, &nid("node-c"))
    });
    let (s, ev) = open(&mut w, 0, &nid("node-c"), "nodeinfo", Mode::Message);
    assert_eq!(ev, BusEvent::Accepted(s));
}

/// A hostile but authenticated node: it completes a handshake with node-a, then writes
/// pings as fast as the socket takes them and never reads.
#[test]
fn a_peer_that_floods_and_never_reads_costs_only_its_own_session() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    w.add("node-b", [10, 0, 0, 2], 2);
    w.nodes[1].d().publish("echo").unwrap();
    w.sim.with_net(|n| n.set_tcp_buffer(16 * 1024));
    // The flooder announces its real key, so node-a dials it and binds it.
    let fl_node = w.sim.add_node(Ipv4Addr::new(10, 0, 0, 7));
    let flooder = identity("flooder", 7);
    let mut fnet = w.sim.client(fl_node, 1);
    let (fudp, _) = fnet.udp_bind(DISCOVERY_PORT).unwrap();
    let (flisten, _) = fnet.tcp_listen(PORT, 4).unwrap();
    let a_entry = {
        let a = identity("node-a", 1);
        let ann = a.announce(1, PORT, &[]).unwrap();
        PeerEntry::from_announce(&ann, Ipv4Addr::new(10, 0, 0, 1), 0)
    };
    struct Dir(PeerEntry);
    impl dsoftbus::PeerDirectory for Dir {
        fn static_key(&self, id: &str) -> Option<[u8; 32]> {
            (id == self.0.device_id()).then(|| *self.0.static_key())
        }
    }
    let dir = Dir(a_entry);
    let mut hs: Option<PendingSession> = None;
    let mut conn: Option<dsoftbus::Connection> = None;
    let mut flood_bytes = 0usize;
    let mut next_announce = 0;
    let mut buf = vec![0u8; dsoftbus::MAX_WIRE_FRAME];
    let mut flood = |w: &mut World| {
        let now = w.sim.now();
        if now >= next_announce {
            let a = flooder.announce(1, PORT, &[]).unwrap();
            let _ = dsoftbus::driver::broadcast_announce(&mut fnet, fudp, DISCOVERY_PORT, &a);
            next_announce = now + 500 * MS;
        }
        if hs.is_none() && conn.is_none() {
            if let Ok((s, _)) = fnet.tcp_accept(flisten) {
                hs = Some(PendingSession::accepted(
                    s,
                    &flooder,
                    [0x42; 32],
                    now + 5 * SEC,
                ));
            }
        }
        if let Some(h) = hs.as_mut() {
            match h.step(&mut fnet, now, &dir) {
                Ok(Some(c)) => {
                    conn = Some(c);
                    hs = None;
                }
                Ok(None) => {}
                Err(_) => hs = None,
            }
        }
        if let Some(c) = conn.as_mut() {
            // Flood: pings (each wants a pong) and OPENs for services, never reading.
            for k in 0..64u64 {
                let n = c.session_mut().seal(&Record::Ping(k), &mut buf).unwrap();
                match fnet.tcp_write(c.stream(), &buf[..n]) {
                    Ok(m) => {
                        flood_bytes += m;
                        if m < n {
                            // A partial record would corrupt the stream; stop flooding.
                            conn = None;
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        false
    };
    let end = w.sim.now() + 4 * SEC;
    w.run_until(end, |w| flood(w));
    assert!(
        connected(&mut w, 0, &nid("flooder")),
        "flooder never got its session"
    );
    assert!(connected(&mut w, 0, &nid("node-b")));
    // While the flood goes on, node-a keeps serving node-b: 20 echo round trips.
    let s = w.nodes[0]
        .d()
        .open(&nid("node-b"), "echo", Mode::Message, Priority::Interactive)
        .unwrap();
    let mut served = Vec::new();
    let mut rtts = Vec::new();
    for k in 0..20u8 {
        let t0 = w.sim.now();
        w.nodes[0].d().send(s, &[k; 100]).unwrap();
        let mut out = [0u8; 200];
        let mut done = false;
        let end = t0 + 2 * SEC;
        while !done {
            assert!(w.sim.now() < end, "round trip {k} stalled during the flood");
            echo_server(&mut w, 1, &mut served);
            if let Ok(n) = w.nodes[0].d().recv(s, &mut out) {
                assert_eq!(&out[..n], &[k; 100]);
                done = true;
            }
            let t = w.sim.now();
            w.run_until(t + MS, |w| flood(w));
        }
        rtts.push(w.sim.now() - t0);
    }
    assert!(
        flood_bytes > 100_000,
        "the flood was too small: {flood_bytes}"
    );
    let d = w.nodes[0].d();
    assert!(d.buffered() <= d.max_buffered());
    // The flooder's unread pongs stay in its socket, bounded by the queue.
    assert!(
        rtts.iter().all(|r| *r < 500 * MS),
        "slow round trips: {rtts:?}"
    );
}

#[test]
fn unknown_peers_cannot_take_every_slot() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    // An attacker opens many connections to node-a's session port and never speaks.
    let evil = w.sim.add_node(Ipv4Addr::new(10, 0, 0, 66));
    let mut enet: Vec<NetClient<SimTransport>> =
        (0..4).map(|c| w.sim.client(evil, 100 + c)).collect();
    let mut opened = 0;
    for c in enet.iter_mut() {
        for _ in 0..12 {
            if c.tcp_connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), PORT))
                .is_ok()
            {
                opened += 1;
            }
            w.run_for(MS);
        }
    }
    assert!(opened >= 20);
    w.run_for(200 * MS);
    let limits = Limits::default();
    let (inbound, _) = w.nodes[0].d().pending();
    assert!(inbound <= limits.max_inbound_pending, "{inbound}");
    assert!(w.nodes[0].d().stats().inbound_refused > 0);
    // A real peer appears meanwhile: node-a dials it and gets a session.
    w.add("node-b", [10, 0, 0, 2], 2);
    w.wait_for(3 * SEC, "session despite the attack", |w| {
        connected(w, 0, &nid("node-b"))
    });
    // The stalled connections are dropped at the handshake deadline.
    w.run_for(limits.handshake_ns + SEC);
    let (inbound, _) = w.nodes[0].d().pending();
    assert_eq!(inbound, 0);
}

#[test]
fn wait_set_covers_every_socket_and_wait_returns_on_arrival() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    w.add("node-b", [10, 0, 0, 2], 2);
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &nid("node-b")));
    w.run_for(100 * MS);
    // udp + listener + one session.
    let set = w.nodes[0].d().wait_set();
    assert_eq!(set.len(), 3);
    // b sends a frame (an OPEN) to a; a's WaitAny returns at once, long before its
    // own wake-up time.
    let t0 = w.sim.now();
    let until = w.nodes[0].d().poll().max(t0 + SEC);
    let s = w.nodes[1]
        .d()
        .open(
            &nid("node-a"),
            "nodeinfo",
            Mode::Message,
            Priority::Interactive,
        )
        .unwrap();
    w.nodes[1].d().poll();
    w.nodes[0].d().wait(until);
    assert_eq!(w.sim.now(), t0, "WaitAny did not return on arrival");
    w.nodes[0].d().poll();
    w.nodes[1].d().poll();
    let (_, ev) = (s, w.nodes[1].d().next_event());
    assert!(
        matches!(ev, Some(BusEvent::Accepted(x)) if x == s),
        "{ev:?}"
    );
}

// ------------------------------------------------- link attacks (issue 13), real daemons

const EVIL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 66);

/// An attacker on the link: its own node, a discovery socket, raw announces.
struct Attacker {
    node: NodeId,
    net: NetClient<SimTransport>,
    udp: nexus_net::UdpSocket,
}

impl Attacker {
    fn new(w: &mut World, client: u64) -> Self {
        let node = w.sim.add_node(EVIL);
        let mut net = w.sim.client(node, client);
        let (udp, _) = net.udp_bind(DISCOVERY_PORT).unwrap();
        Attacker { node, net, udp }
    }

    fn broadcast(&mut self, a: &Announce<'_>) {
        let _ = dsoftbus::driver::broadcast_announce(&mut self.net, self.udp, DISCOVERY_PORT, a);
    }
}

/// The entry a node would hold for `who` (a daemon of this world) at `addr`.
fn entry_of(who: &LocalIdentity, addr: [u8; 4]) -> PeerEntry {
    let a = who.announce(1, PORT, &[]).unwrap();
    PeerEntry::from_announce(&a, Ipv4Addr::from(addr), 0)
}

/// (a) 16 fresh ids flood both caches, then node-b's id is announced with the attacker's
/// key, and the attacker dials both nodes claiming the other's id. Before ids were bound
/// to keys this made the attacker "node-b" in both directions; now the announce is dropped,
/// both claims are refused, and the a-b session never flaps.
#[test]
fn attack_flood_then_takeover_of_an_id_fails() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    w.add("node-b", [10, 0, 0, 2], 2);
    let (a_id, b_id) = (nid("node-a"), nid("node-b"));
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &b_id));
    w.run_for(SEC);
    let ups = (
        w.nodes[0].d().stats().sessions_up,
        w.nodes[1].d().stats().sessions_up,
    );
    let mut evil = Attacker::new(&mut w, 1);
    let keys = identity("evil", 66).keys().clone();
    let as_b = LocalIdentity::claiming(&b_id, keys.clone()).unwrap();
    let as_a = LocalIdentity::claiming(&a_id, keys.clone()).unwrap();
    let fresh: Vec<LocalIdentity> = (0..16).map(|k| identity("fresh", 1000 + k)).collect();
    let (mut dial_a, mut dial_b) = (w.sim.client(evil.node, 2), w.sim.client(evil.node, 3));
    let mut hs_a = Some(
        PendingSession::connect(
            &mut dial_a,
            &entry_of(&identity("node-a", 1), [10, 0, 0, 1]),
            &as_b,
            [1; 32],
            w.sim.now() + 2 * SEC,
        )
        .unwrap(),
    );
    let mut hs_b = Some(
        PendingSession::connect(
            &mut dial_b,
            &entry_of(&identity("node-b", 2), [10, 0, 0, 2]),
            &as_a,
            [2; 32],
            w.sim.now() + 2 * SEC,
        )
        .unwrap(),
    );
    let (mut out_a, mut out_b) = (None, None);
    let mut next = 0;
    let mut flapped = false;
    let end = w.sim.now() + 5 * SEC;
    w.run_until(end, |w| {
        let now = w.sim.now();
        if now >= next {
            // The per-source rate limit drops most of each burst; the claims go first.
            evil.broadcast(&as_b.announce(u32::MAX, PORT, &["echo"]).unwrap());
            evil.broadcast(&as_a.announce(u32::MAX, PORT, &["echo"]).unwrap());
            for f in &fresh {
                evil.broadcast(&f.announce(1, PORT, &[]).unwrap());
            }
            next = now + 100 * MS;
        }
        for (hs, net, out) in [
            (&mut hs_a, &mut dial_a, &mut out_a),
            (&mut hs_b, &mut dial_b, &mut out_b),
        ] {
            if let Some(h) = hs.as_mut() {
                match h.step(net, now, &dsoftbus::NoDirectory) {
                    Ok(None) => {}
                    r => {
                        *out = Some(r.map(|_| ()));
                        *hs = None;
                    }
                }
            }
        }
        flapped |= !connected(w, 0, &b_id) || !connected(w, 1, &a_id);
        false
    });
    assert_eq!(out_a, Some(Err(AuthError::Rejected)), "a refused 'node-b'");
    assert_eq!(out_b, Some(Err(AuthError::Rejected)), "b refused 'node-a'");
    assert!(!flapped, "the a-b session was interrupted");
    let claimed_b = format!("dsoftbusd: identity refused claimed={b_id}");
    assert!(w.nodes[0].logged(&claimed_b));
    for i in 0..2 {
        let st = w.nodes[i].d().cache().stats();
        assert!(
            st.unbound > 0,
            "node {i}: the takeover announce was dropped"
        );
        assert!(st.rate_limited > 0, "node {i}: the flood was rate limited");
    }
    let e = w.nodes[0].d().cache().get(&b_id, w.sim.now()).unwrap();
    assert_eq!(e.static_key(), &identity("node-b", 2).public_key());
    assert_eq!(e.addr(), Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(
        (
            w.nodes[0].d().stats().sessions_up,
            w.nodes[1].d().stats().sessions_up
        ),
        ups,
        "no new session came up"
    );
}

/// (b) The attacker announces first: it replays node-b's own announce from its address
/// (and claims the id with its own key) before node-b exists. Once node-b appears, a still
/// gets its session with the real node-b while the attacker keeps replaying.
#[test]
fn attack_announcing_first_does_not_win_the_id() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    let b_id = nid("node-b");
    let real_b = identity("node-b", 2);
    let liar = LocalIdentity::claiming(&b_id, identity("evil", 66).keys().clone()).unwrap();
    let mut evil = Attacker::new(&mut w, 1);
    let mut next = 0;
    let mut attack = move |w: &mut World| {
        let now = w.sim.now();
        if now >= next {
            evil.broadcast(&real_b.announce(1, PORT, &["nodeinfo"]).unwrap());
            evil.broadcast(&liar.announce(u32::MAX, PORT, &[]).unwrap());
            next = now + 100 * MS;
        }
    };
    let end = w.sim.now() + 2 * SEC;
    w.run_until(end, |w| {
        attack(w);
        false
    });
    assert!(!connected(&mut w, 0, &b_id));
    w.add("node-b", [10, 0, 0, 2], 2);
    let end = w.sim.now() + 10 * SEC;
    let got = w.run_until(end, |w| {
        attack(w);
        connected(w, 0, &b_id)
    });
    assert!(got, "a never reached the real node-b");
    let e = w.nodes[0].d().cache().get(&b_id, w.sim.now()).unwrap();
    assert_eq!(
        e.addr(),
        Ipv4Addr::new(10, 0, 0, 2),
        "pinned to the session"
    );
    // From now on the replays are refused outright.
    let before = w.nodes[0].d().cache().stats().pinned;
    let end = w.sim.now() + 2 * SEC;
    w.run_until(end, |w| {
        attack(w);
        false
    });
    assert!(w.nodes[0].d().cache().stats().pinned > before);
    assert!(connected(&mut w, 0, &b_id));
}

/// (c) node-b's announce re-sent with `seq = u32::MAX` from another address while a holds a
/// session with b: dials are not redirected, b's real announces keep its entry alive (it
/// never expires although its sequence number is "older"), the session never drops.
#[test]
fn attack_resequenced_replay_neither_redirects_nor_locks_out() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    w.add("node-b", [10, 0, 0, 2], 2);
    let b_id = nid("node-b");
    w.wait_for(3 * SEC, "a-b session", |w| connected(w, 0, &b_id));
    w.run_for(SEC);
    let ups = w.nodes[0].d().stats().sessions_up;
    let real_b = identity("node-b", 2);
    let mut evil = Attacker::new(&mut w, 1);
    let mut next = 0;
    let mut lost = false;
    let end = w.sim.now() + 12 * SEC;
    w.run_until(end, |w| {
        let now = w.sim.now();
        if now >= next {
            for seq in [u32::MAX, 2, 1] {
                evil.broadcast(&real_b.announce(seq, PORT, &[]).unwrap());
            }
            next = now + 200 * MS;
        }
        let e = w.nodes[0].d().cache().get(&b_id, now).cloned();
        lost |= e.is_none_or(|e| e.addr() != Ipv4Addr::new(10, 0, 0, 2));
        false
    });
    assert!(!lost, "b's entry expired or moved during the replay");
    assert!(connected(&mut w, 0, &b_id));
    assert_eq!(w.nodes[0].d().stats().sessions_up, ups);
    assert!(w.nodes[0].d().cache().stats().pinned > 0);
    assert!(!w.nodes[0].logged("session closed"));
}

/// (e) Control characters from the network never reach a log line: an announce whose id
/// carries a newline and a forged marker is dropped, and an authenticated peer's OPEN for
/// a service named like that is logged escaped.
#[test]
fn attack_control_characters_never_reach_the_console() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    let forged = "x\nSELFTEST: dsoftbus ping ok\r\x1b[2K";
    let me = identity("evil", 66);
    let liar = LocalIdentity::claiming(forged, me.keys().clone()).unwrap();
    let mut evil = Attacker::new(&mut w, 1);
    let (listener, _) = evil.net.tcp_listen(PORT, 4).unwrap();
    let dir_entry = entry_of(&identity("node-a", 1), [10, 0, 0, 1]);
    struct Dir(PeerEntry);
    impl dsoftbus::PeerDirectory for Dir {
        fn static_key(&self, id: &str) -> Option<[u8; 32]> {
            (id == self.0.device_id()).then(|| *self.0.static_key())
        }
    }
    let dir = Dir(dir_entry);
    let mut hs: Option<PendingSession> = None;
    let mut conn: Option<dsoftbus::Connection> = None;
    let mut sent_open = false;
    let mut next = 0;
    let end = w.sim.now() + 4 * SEC;
    w.run_until(end, |w| {
        let now = w.sim.now();
        if now >= next {
            evil.broadcast(&liar.announce(1, PORT, &[forged]).unwrap());
            // Our real, bound id, so node-a dials us.
            evil.broadcast(&me.announce(1, PORT, &[]).unwrap());
            next = now + 200 * MS;
        }
        if hs.is_none() && conn.is_none() {
            if let Ok((s, _)) = evil.net.tcp_accept(listener) {
                hs = Some(PendingSession::accepted(s, &me, [0x42; 32], now + 2 * SEC));
            }
        }
        if let Some(h) = hs.as_mut() {
            match h.step(&mut evil.net, now, &dir) {
                Ok(Some(c)) => {
                    conn = Some(c);
                    hs = None;
                }
                Ok(None) => {}
                Err(_) => hs = None,
            }
        }
        if let (Some(c), false) = (conn.as_mut(), sent_open) {
            // OPEN stream 2 (we are the responder: even ids), message mode, the forged name.
            let mut open = vec![0x01, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0];
            open.push(forged.len() as u8);
            open.extend_from_slice(forged.as_bytes());
            let mut buf = vec![0u8; dsoftbus::MAX_WIRE_FRAME];
            let n = c
                .session_mut()
                .seal(&Record::Data(&open), &mut buf)
                .unwrap();
            evil.net.tcp_write(c.stream(), &buf[..n]).unwrap();
            sent_open = true;
        }
        false
    });
    assert!(sent_open, "node-a never opened a session with the attacker");
    assert!(w.nodes[0].d().cache().stats().unbound > 0);
    let logs = w.nodes[0].logs.borrow();
    assert!(
        logs.iter()
            .any(|l| l.contains("remote proxy denied svc=x\\x0aSELFTEST")),
        "{logs:#?}"
    );
    for l in logs.iter() {
        assert!(
            !l.chars().any(|c| c.is_control()),
            "control character logged: {l:?}"
        );
    }
}

/// (d) One host announces 8 self-made (properly bound) identities and serves every session
/// node-a dials: it gets at most `MAX_PER_SOURCE` cache entries and
/// `max_sessions_per_addr` sessions, so node-b still gets its session.
#[test]
fn attack_self_made_ids_cannot_hold_every_session_slot() {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    let mut evil = Attacker::new(&mut w, 1);
    let a_entry = entry_of(&identity("node-a", 1), [10, 0, 0, 1]);
    struct Dir(PeerEntry);
    impl dsoftbus::PeerDirectory for Dir {
        fn static_key(&self, id: &str) -> Option<[u8; 32]> {
            (id == self.0.device_id()).then(|| *self.0.static_key())
        }
    }
    let dir = Dir(a_entry);
    struct Sybil {
        me: LocalIdentity,
        port: u16,
        listener: nexus_net::TcpListener,
        hs: Option<PendingSession>,
        conn: Option<dsoftbus::Connection>,
    }
    let mut sybils: Vec<Sybil> = (0..8u16)
        .map(|k| {
            let port = PORT + 1 + k;
            let (listener, _) = evil.net.tcp_listen(port, 2).unwrap();
            Sybil {
                me: identity("sybil", 500 + u64::from(k)),
                port,
                listener,
                hs: None,
                conn: None,
            }
        })
        .collect();
    let mut next = 0;
    let mut sybil_step = move |w: &mut World| {
        let now = w.sim.now();
        for s in sybils.iter_mut() {
            if now >= next {
                evil.broadcast(&s.me.announce(1, s.port, &[]).unwrap());
            }
            if s.hs.is_none() && s.conn.is_none() {
                if let Ok((st, _)) = evil.net.tcp_accept(s.listener) {
                    s.hs = Some(PendingSession::accepted(st, &s.me, [7; 32], now + 2 * SEC));
                }
            }
            if let Some(h) = s.hs.as_mut() {
                match h.step(&mut evil.net, now, &dir) {
                    Ok(Some(c)) => {
                        s.conn = Some(c);
                        s.hs = None;
                    }
                    Ok(None) => {}
                    Err(_) => s.hs = None,
                }
            }
            // Keep the session alive: answer nothing, but read what arrives.
            if let Some(c) = s.conn.as_mut() {
                let mut buf = [0u8; 4096];
                let _ = evil.net.tcp_read(c.stream(), &mut buf);
            }
        }
        if now >= next {
            next = now + 500 * MS;
        }
    };
    let end = w.sim.now() + 3 * SEC;
    w.run_until(end, |w| {
        sybil_step(w);
        false
    });
    let from_evil = w.nodes[0]
        .d()
        .cache()
        .live(w.sim.now())
        .filter(|e| e.addr() == EVIL)
        .count();
    assert!(from_evil <= dsoftbus::cache::MAX_PER_SOURCE, "{from_evil}");
    let sessions = w.nodes[0].d().sessions();
    assert!(
        sessions >= 1 && sessions <= Limits::default().max_sessions_per_addr,
        "{sessions}"
    );
    // The real peer still gets a session.
    w.add("node-b", [10, 0, 0, 2], 2);
    let b_id = nid("node-b");
    let end = w.sim.now() + 5 * SEC;
    let got = w.run_until(end, |w| {
        sybil_step(w);
        connected(w, 0, &b_id)
    });
    assert!(got, "node-b found no free slot");
}

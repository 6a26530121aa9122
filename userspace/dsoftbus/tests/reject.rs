//! Required negative tests: spoofed identities and malformed, oversized and replayed announces.
//!
//! Design notes:
//! - Each test drives the real path over the fake network (facade client, UDP datagrams,
//!   TCP streams) and then checks the resulting state: what the cache holds, which
//!   counters moved, whether any session exists, and that failed handshakes leave no
//!   sockets behind.

mod common;

use common::{hooked, identity, shared, Actor, SEC, SESSION_PORT};
use dsoftbus::driver::{
    accept_session, broadcast_announce, connect_session, drain_announces, send_announce,
};
use dsoftbus::{
    Accepted, Announce, AuthError, CacheConfig, DecodeError, DeviceId, IdentityError, Invalid,
    LocalIdentity, PeerCache, Rejected, DISCOVERY_PORT, MAX_ANNOUNCE_LEN,
};
use nexus_net::fake::SimNet;
use nexus_net::{Ipv4Addr, NetError, SocketAddrV4, MAX_DATAGRAM};
use nexus_noise_xk::Error as NoiseError;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const M: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 66);

fn cache(local: &str) -> PeerCache {
    PeerCache::new(CacheConfig::default()).with_local_device_id(local)
}

#[test]
fn test_reject_identity_mismatch() {
    let sim = SimNet::new();
    let (na, nb, nm) = (sim.add_node(A), sim.add_node(B), sim.add_node(M));
    let (ia, ib) = (identity("node-a", 1), identity("node-b", 2));
    // The attacker has its own key but claims node-a's id (which its key does not derive).
    let spoof =
        LocalIdentity::claiming(ia.device_id(), identity("node-a", 666).keys().clone()).unwrap();

    // Discovery: A and B announce honestly; M then broadcasts a spoofed node-a announce.
    let (mut ca, mut cm) = (sim.client(na, 1), sim.client(nm, 1));
    let mut cb = hooked(&sim, nb, 1, &[]);
    let ua = ca.udp_bind(DISCOVERY_PORT).unwrap().0;
    let ub = cb.udp_bind(DISCOVERY_PORT).unwrap().0;
    let um = cm.udp_bind(DISCOVERY_PORT).unwrap().0;
    let (mut cache_a, mut cache_b) = (cache(ia.device_id()), cache(ib.device_id()));
    broadcast_announce(
        &mut ca,
        ua,
        DISCOVERY_PORT,
        &ia.announce(1, SESSION_PORT, &[]).unwrap(),
    )
    .unwrap();
    broadcast_announce(
        &mut cb,
        ub,
        DISCOVERY_PORT,
        &ib.announce(1, SESSION_PORT, &[]).unwrap(),
    )
    .unwrap();
    drain_announces(&mut cb, ub, &mut cache_b, sim.now()).unwrap();
    drain_announces(&mut ca, ua, &mut cache_a, sim.now()).unwrap();
    let spoofed = spoof.announce(9, SESSION_PORT, &["samgrd"]).unwrap();
    broadcast_announce(&mut cm, um, DISCOVERY_PORT, &spoofed).unwrap();
    drain_announces(&mut cb, ub, &mut cache_b, sim.now()).unwrap();
    assert_eq!(
        cache_b.stats().unbound,
        1,
        "spoofed key refused by the cache: the id does not derive from it"
    );
    assert_eq!(
        cache_b.get(ia.device_id(), sim.now()).unwrap().static_key(),
        &ia.public_key()
    );

    // 1. Responder side: M connects to B claiming node-a with the wrong key.
    let (listener, _) = cb.tcp_listen(SESSION_PORT, 4).unwrap();
    let entry_b = cache_a.get(ib.device_id(), sim.now()).unwrap().clone();
    let attacker = shared(Actor::new(&sim, cm, spoof.clone(), cache(ia.device_id())));
    attacker.borrow_mut().connect(&entry_b);
    cb.transport_mut().actors.push(attacker.clone());
    let deadline = sim.now() + 2 * SEC;
    let result = accept_session(
        &mut cb,
        listener,
        &ib,
        &cache_b.at(sim.now()),
        [1; 32],
        deadline,
    );
    assert_eq!(
        result.err(),
        Some(AuthError::Identity(IdentityError::UnboundId)),
        "no session for a key that does not derive the claimed id"
    );
    cb.local_addr().unwrap(); // one more round for the attacker to read the REJECT
    {
        let m = attacker.borrow();
        assert_eq!(m.outcome, Some(Err(AuthError::Rejected)));
        assert!(m.conn.is_none());
    }
    assert_eq!(
        sim.with_server(nb, |s| s.handles().total()),
        2,
        "listener + UDP socket only"
    );

    // 2. Responder side: a device id that discovery never saw.
    let stranger = identity("node-z", 7);
    let actor = shared(Actor::new(
        &sim,
        sim.client(nm, 2),
        stranger,
        cache("node-z"),
    ));
    actor.borrow_mut().connect(&entry_b);
    cb.transport_mut().actors = vec![actor.clone()];
    let deadline = sim.now() + 2 * SEC;
    assert_eq!(
        accept_session(
            &mut cb,
            listener,
            &ib,
            &cache_b.at(sim.now()),
            [2; 32],
            deadline
        )
        .err(),
        Some(AuthError::Identity(IdentityError::UnknownDevice))
    );

    // 3. Initiator side: an announce that maps node-b's key to the attacker's address
    //    (it reached A before B's own). The attacker cannot prove the key: A fails closed.
    let mut fresh_a = cache(ia.device_id());
    let stolen = Announce::new(ib.device_id(), 1, SESSION_PORT, ib.public_key(), &[]).unwrap();
    assert_eq!(fresh_a.observe(&stolen, M, sim.now()), Ok(Accepted::New));
    let entry = fresh_a.get(ib.device_id(), sim.now()).unwrap().clone();
    assert_eq!(entry.addr(), M);
    let responder = shared(Actor::new(
        &sim,
        sim.client(nm, 3),
        identity("node-b", 666),
        cache(ib.device_id()),
    ));
    responder.borrow_mut().listen(SESSION_PORT);
    let mut ca = hooked(&sim, na, 2, std::slice::from_ref(&responder));
    let deadline = sim.now() + 2 * SEC;
    let r = connect_session(&mut ca, &entry, &ia, [3; 32], deadline);
    assert_eq!(r.err(), Some(AuthError::Closed), "impostor hung up");
    assert_eq!(
        responder.borrow().outcome,
        Some(Err(AuthError::Noise(NoiseError::DecryptFailed))),
        "impostor could not read message 1 (encrypted to the real node-b key)"
    );
    assert_eq!(
        sim.with_server(na, |s| s.handles().total()),
        1,
        "A's UDP socket only"
    );

    // 4. Initiator side: the real node-b is reached under a different announced name
    //    (its key re-announced as "node-x"). It proves the key but claims "node-b".
    let renamed = Announce::new("node-x", 1, SESSION_PORT + 1, ib.public_key(), &[]).unwrap();
    let entry = dsoftbus::PeerEntry::from_announce(&renamed, B, sim.now());
    let honest_b = shared(Actor::new(
        &sim,
        sim.client(nb, 4),
        ib.clone(),
        cache_b.clone(),
    ));
    honest_b.borrow_mut().listen(SESSION_PORT + 1);
    ca.transport_mut().actors = vec![honest_b.clone()];
    let deadline = sim.now() + 2 * SEC;
    assert_eq!(
        connect_session(&mut ca, &entry, &ia, [4; 32], deadline).err(),
        Some(AuthError::Identity(IdentityError::DeviceIdMismatch))
    );
    ca.local_addr().unwrap();
    assert_eq!(honest_b.borrow().outcome, Some(Err(AuthError::Closed)));
    assert_eq!(sim.with_server(na, |s| s.handles().total()), 1);
}

#[test]
fn test_reject_malformed_announce() {
    let sim = SimNet::new();
    let (na, nm) = (sim.add_node(A), sim.add_node(M));
    let (mut ca, mut cm) = (sim.client(na, 1), sim.client(nm, 1));
    let ua = ca.udp_bind(DISCOVERY_PORT).unwrap().0;
    let um = cm.udp_bind(0).unwrap().0;
    let to = SocketAddrV4::new(A, DISCOVERY_PORT);
    let id_m = DeviceId::of(&[0x22; 32]).as_str().to_string();
    let good = {
        let mut buf = [0u8; MAX_ANNOUNCE_LEN];
        let a = Announce::new(&id_m, 1, 4000, [0x22; 32], &["samgrd"]).unwrap();
        let n = a.encode(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (b"HELLO WORLD".to_vec(), DecodeError::BadMagic),
        (with(&|b| b[3] = b'C'), DecodeError::BadMagic),
        (with(&|b| b[4] = 0), DecodeError::UnsupportedVersion(0)),
        (with(&|b| b[4] = 1), DecodeError::UnsupportedVersion(1)),
        (good[..good.len() - 1].to_vec(), DecodeError::Truncated),
        (good[..20].to_vec(), DecodeError::Truncated),
        (with(&|b| b[44] = 0xc3), DecodeError::Utf8),
        (
            with(&|b| b[43] = 0),
            DecodeError::InvalidInput(Invalid::DeviceIdLength),
        ),
        (
            with(&|b| b[43] = 65),
            DecodeError::InvalidInput(Invalid::DeviceIdLength),
        ),
        (
            with(&|b| b[44 + 32] = 17),
            DecodeError::InvalidInput(Invalid::ServiceCount),
        ),
        (
            with(&|b| b[45 + 32] = 0),
            DecodeError::InvalidInput(Invalid::ServiceNameLength),
        ),
        (
            with(&|b| b.push(0)),
            DecodeError::InvalidInput(Invalid::TrailingBytes),
        ),
        (
            with(&|b| b[9..11].copy_from_slice(&[0, 0])),
            DecodeError::InvalidInput(Invalid::ZeroPort),
        ),
        (
            // A display name holding a control character (BEL).
            with(&|b| {
                let last = b.len() - 1;
                b[last] = 1;
                b.push(0x07);
            }),
            DecodeError::InvalidInput(Invalid::DisplayName),
        ),
    ];
    for (bytes, expected) in &cases {
        assert_eq!(
            Announce::decode(bytes).err(),
            Some(*expected),
            "{bytes:02x?}"
        );
        cm.udp_send_to(um, to, bytes).unwrap();
    }
    // An empty datagram is truncated too.
    cm.udp_send_to(um, to, b"").unwrap();
    let mut cache_a = cache("node-a");
    let s = drain_announces(&mut ca, ua, &mut cache_a, sim.now()).unwrap();
    assert_eq!((s.received, s.accepted), (cases.len() + 1, 0));
    assert_eq!(cache_a.stats().rate_limited, 0);
    let st = cache_a.stats();
    assert_eq!(
        (
            st.bad_magic,
            st.unsupported_version,
            st.truncated,
            st.utf8,
            st.invalid_input
        ),
        (2, 2, 3, 1, 7)
    );
    assert_eq!(st.dropped(), cases.len() as u64 + 1);
    assert!(cache_a.is_empty(), "nothing malformed reached the cache");
    // The well-formed original is still accepted afterwards.
    cm.udp_send_to(um, to, &good).unwrap();
    assert_eq!(
        drain_announces(&mut ca, ua, &mut cache_a, sim.now())
            .unwrap()
            .accepted,
        1
    );
    assert_eq!(cache_a.get(&id_m, sim.now()).unwrap().addr(), M);
}

#[test]
fn test_reject_oversized_announce() {
    // Bounds refused by the encoder, so an honest node can never send them.
    let long = "n".repeat(65);
    assert_eq!(
        Announce::new(&long, 1, 1, [1; 32], &[]),
        Err(Invalid::DeviceIdLength)
    );
    assert_eq!(
        Announce::new("a", 1, 1, [1; 32], &[long.as_str()]),
        Err(Invalid::ServiceNameLength)
    );
    let names: Vec<String> = (0..17).map(|i| format!("svc{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(
        Announce::new("a", 1, 1, [1; 32], &refs),
        Err(Invalid::ServiceCount)
    );

    // The largest legal announce (1214 bytes) passes; anything longer is refused unparsed.
    let id = "d".repeat(64);
    let big_names: Vec<String> = (0..16).map(|i| format!("{i:x>64}")).collect();
    let big_refs: Vec<&str> = big_names.iter().map(String::as_str).collect();
    let display = "e".repeat(64);
    let largest = Announce::new(&id, 1, 9000, [3; 32], &big_refs)
        .unwrap()
        .with_display_name(&display)
        .unwrap();
    let mut max = vec![0u8; MAX_ANNOUNCE_LEN];
    assert_eq!(largest.encode(&mut max), Ok(MAX_ANNOUNCE_LEN));
    let mut over = max.clone();
    over.push(0);
    assert_eq!(
        Announce::decode(&over),
        Err(DecodeError::InvalidInput(Invalid::TooLong))
    );
    // An oversized name inside an otherwise valid header is caught by its length byte.
    let mut long_name = max[..MAX_ANNOUNCE_LEN - 65 - 16 * 65 - 1].to_vec();
    long_name.extend_from_slice(&[1, 65]);
    long_name.extend_from_slice(long.as_bytes());
    assert_eq!(
        Announce::decode(&long_name),
        Err(DecodeError::InvalidInput(Invalid::ServiceNameLength))
    );

    // Over the network: 1215-byte and full-MTU datagrams are counted, not cached.
    let sim = SimNet::new();
    let (na, nm) = (sim.add_node(A), sim.add_node(M));
    let (mut ca, mut cm) = (sim.client(na, 1), sim.client(nm, 1));
    let ua = ca.udp_bind(DISCOVERY_PORT).unwrap().0;
    let um = cm.udp_bind(0).unwrap().0;
    let to = SocketAddrV4::new(A, DISCOVERY_PORT);
    let mut mtu = max.clone();
    mtu.resize(MAX_DATAGRAM, 0xee);
    for d in [&over, &mtu, &long_name] {
        cm.udp_send_to(um, to, d).unwrap();
    }
    assert_eq!(
        cm.udp_send_to(um, to, &vec![0u8; MAX_DATAGRAM + 1]),
        Err(NetError::InvalidInput),
        "the facade itself caps datagrams"
    );
    // The largest legal announce decodes, but its 64-byte id is not a derived one; the
    // largest bound one (32-byte id, 16 names of 64 bytes) is cached.
    send_announce(&mut cm, um, to, &largest).unwrap();
    let bound_id = DeviceId::of(&[3; 32]);
    let bound = Announce::new(bound_id.as_str(), 1, 9000, [3; 32], &big_refs).unwrap();
    send_announce(&mut cm, um, to, &bound).unwrap();
    let mut cache_a = cache("node-a");
    let s = drain_announces(&mut ca, ua, &mut cache_a, sim.now()).unwrap();
    assert_eq!((s.received, s.accepted), (5, 1));
    assert_eq!(cache_a.stats().invalid_input, 3);
    assert_eq!(cache_a.stats().unbound, 1);
    assert_eq!(cache_a.len(), 1);
    assert_eq!(
        cache_a
            .get(bound_id.as_str(), sim.now())
            .unwrap()
            .services()
            .len(),
        16
    );
}

#[test]
fn test_reject_replay_announce() {
    let sim = SimNet::new();
    let (na, nb, nm) = (sim.add_node(A), sim.add_node(B), sim.add_node(M));
    let (mut ca, mut cb, mut cm) = (sim.client(na, 1), sim.client(nb, 1), sim.client(nm, 1));
    let ua = ca.udp_bind(DISCOVERY_PORT).unwrap().0;
    let ub = cb.udp_bind(DISCOVERY_PORT).unwrap().0;
    let um = cm.udp_bind(DISCOVERY_PORT).unwrap().0;
    let to = SocketAddrV4::new(A, DISCOVERY_PORT);
    let ib = identity("node-b", 2);
    let mut cache_a = cache("node-a");
    let mut deliver =
        |c: &mut nexus_net::NetClient<_>, s, a: &Announce<'_>, cache: &mut PeerCache| {
            send_announce(c, s, to, a).unwrap();
            let mut buf = [0u8; MAX_ANNOUNCE_LEN];
            let (n, from) = ca.udp_recv_from(ua, &mut buf).unwrap();
            cache.ingest(&buf[..n], *from.ip(), sim.now())
        };

    let v1 = ib.announce(1, 4000, &["samgrd"]).unwrap();
    let v2 = ib.announce(2, 4001, &["samgrd", "bundlemgrd"]).unwrap();
    assert_eq!(deliver(&mut cb, ub, &v1, &mut cache_a), Ok(Accepted::New));
    assert_eq!(
        deliver(&mut cb, ub, &v2, &mut cache_a),
        Ok(Accepted::Updated)
    );
    // Replay of the older announce (sequence 1 < 2): refused, entry unchanged.
    assert_eq!(
        deliver(&mut cb, ub, &v1, &mut cache_a),
        Err(Rejected::Replay)
    );
    // A different content under the current sequence number: refused.
    let forged = ib.announce(2, 4002, &["samgrd"]).unwrap();
    assert_eq!(
        deliver(&mut cb, ub, &forged, &mut cache_a),
        Err(Rejected::Replay)
    );
    // The exact current announce replayed from another address (M) while A holds a
    // session with B (pinned): refused.
    cache_a.set_pins([(ib.device_id(), B)].into_iter());
    assert_eq!(
        deliver(&mut cm, um, &v2, &mut cache_a),
        Err(Rejected::Pinned)
    );
    let e = cache_a.get(ib.device_id(), sim.now()).unwrap();
    assert_eq!((e.seq(), e.port(), e.addr()), (2, 4001, B));
    // Without a session the address is a hint: M's copy moves it, B's next one moves it back.
    cache_a.set_pins(core::iter::empty());
    assert_eq!(
        deliver(&mut cm, um, &v2, &mut cache_a),
        Ok(Accepted::Updated)
    );
    assert_eq!(cache_a.get(ib.device_id(), sim.now()).unwrap().addr(), M);
    assert_eq!(
        deliver(&mut cb, ub, &v2, &mut cache_a),
        Ok(Accepted::Updated)
    );
    assert_eq!(cache_a.get(ib.device_id(), sim.now()).unwrap().addr(), B);
    // An exact repeat from the owner is a heartbeat.
    sim.advance(SEC);
    assert_eq!(
        deliver(&mut cb, ub, &v2, &mut cache_a),
        Ok(Accepted::Refreshed)
    );
    assert_eq!(
        cache_a
            .get(ib.device_id(), sim.now())
            .unwrap()
            .last_seen_ns(),
        sim.now()
    );
    // A genuinely newer announce is accepted again.
    let v3 = ib.announce(3, 4001, &["samgrd"]).unwrap();
    assert_eq!(
        deliver(&mut cb, ub, &v3, &mut cache_a),
        Ok(Accepted::Updated)
    );
    assert_eq!(cache_a.stats().replay, 2);
    assert_eq!(cache_a.stats().dropped(), 3);

    // After a reboot the sender restarts at sequence 1: the same content is a heartbeat;
    // other content is refused until the entry expires (no rollback).
    let same = ib.announce(1, 4001, &["samgrd"]).unwrap();
    assert_eq!(
        deliver(&mut cb, ub, &same, &mut cache_a),
        Ok(Accepted::Refreshed)
    );
    let rebooted = ib.announce(1, 4001, &["samgrd", "echo"]).unwrap();
    assert_eq!(
        deliver(&mut cb, ub, &rebooted, &mut cache_a),
        Err(Rejected::Replay)
    );
    sim.advance(cache_a.config().ttl_ns);
    assert_eq!(
        deliver(&mut cb, ub, &rebooted, &mut cache_a),
        Ok(Accepted::New)
    );
}

//! `WaitArm`: arming a readiness set without blocking, and the notification
//! (`Server::poll_armed`) that replaces the blocking `WaitAny` for clients
//! with a notify route. Fake network, real dispatch over wire bytes.
//!
//! Design notes
//! ------------
//! Node 0 = 10.0.0.1 runs the server under test; node 1 = 10.0.0.2 sends.
//! Client 1 has a notify route (dsoftbusd's role); client 2 has none; the
//! hostile tests use further clients.

mod common;

use common::Harness;
use nexus_net::{
    ClientId, Handle, NetError, Readiness, Reply, Request, WaitSet, MAX_NOTIFY_ROUTES, MAX_WAIT_SET,
};

const N0: [u8; 4] = [10, 0, 0, 1];
const N1: [u8; 4] = [10, 0, 0, 2];

fn two() -> Harness {
    Harness::new(&[N0, N1])
}

/// Clients named by `poll_armed` on node `n`.
fn notified(h: &mut Harness, n: usize) -> Vec<u64> {
    let id = h.nodes[n];
    let mut out = Vec::new();
    h.servers[n].poll_armed(&mut h.net.node(id), |c| out.push(c.0));
    out
}

fn arm(h: &mut Harness, client: u64, set: WaitSet) -> Result<u16, NetError> {
    match h.call(0, client, &Request::WaitArm { set })? {
        Reply::WaitArm { ready_mask } => Ok(ready_mask),
        other => panic!("unexpected reply {other:?}"),
    }
}

fn set_of(entries: &[(Handle, Readiness)]) -> WaitSet {
    let mut s = WaitSet::new();
    for (h, i) in entries {
        s.push(*h, *i).unwrap();
    }
    s
}

#[test]
fn armed_set_notifies_once_when_it_becomes_ready() {
    let mut h = two();
    assert!(h.servers[0].add_notify_route(ClientId(1)));
    let (a, _) = h.bind(0, 1, 5000).unwrap();
    let (a2, _) = h.bind(0, 1, 5001).unwrap();
    let (b, _) = h.bind(1, 7, 5000).unwrap();
    let set = set_of(&[
        (a.handle(), Readiness::READABLE),
        (a2.handle(), Readiness::READABLE),
    ]);
    // Nothing ready: armed, and nothing to notify yet.
    assert_eq!(arm(&mut h, 1, set), Ok(0));
    assert!(h.servers[0].is_armed(ClientId(1)));
    assert!(notified(&mut h, 0).is_empty());
    // Data for the second entry: one notification, then the set is disarmed.
    h.send(1, 7, b, N0, 5001, b"hi").unwrap();
    assert_eq!(notified(&mut h, 0), vec![1]);
    assert!(!h.servers[0].is_armed(ClientId(1)));
    assert!(notified(&mut h, 0).is_empty(), "once per arming");
    // Arming an already-ready set answers with the mask and keeps nothing.
    assert_eq!(arm(&mut h, 1, set), Ok(0b10));
    assert!(!h.servers[0].is_armed(ClientId(1)));
    assert!(notified(&mut h, 0).is_empty());
    // Drain, re-arm, then a closed entry counts as ready.
    assert_eq!(h.recv(0, 1, a2, 16).map(|(d, _)| d.len()), Ok(2));
    assert_eq!(arm(&mut h, 1, set), Ok(0));
    h.close(0, 1, a).unwrap();
    assert_eq!(notified(&mut h, 0), vec![1]);
    // The arming reply never parks and never replies through `poll`.
    assert!(h.poll(0).is_empty());
    assert_eq!(h.servers[0].parked().len(), 0);
}

#[test]
fn writable_interest_and_tcp_data_wake_the_armed_set() {
    let mut h = two();
    assert!(h.servers[0].add_notify_route(ClientId(1)));
    let (l, port) = h.listen(0, 1, 7000, 4).unwrap();
    assert_eq!(
        arm(&mut h, 1, set_of(&[(l.handle(), Readiness::READABLE)])),
        Ok(0)
    );
    let c = h.connect(1, 7, N0, port).unwrap();
    assert_eq!(notified(&mut h, 0), vec![1], "a pending connection");
    let (s, _) = h.accept(0, 1, l).unwrap();
    assert_eq!(
        arm(&mut h, 1, set_of(&[(s.handle(), Readiness::READABLE)])),
        Ok(0)
    );
    h.write(1, 7, c, b"record").unwrap();
    assert_eq!(notified(&mut h, 0), vec![1], "bytes arrived");
}

#[test]
fn a_new_arm_replaces_the_old_one() {
    let mut h = two();
    assert!(h.servers[0].add_notify_route(ClientId(1)));
    let (a, _) = h.bind(0, 1, 5000).unwrap();
    let (a2, _) = h.bind(0, 1, 5001).unwrap();
    let (b, _) = h.bind(1, 7, 5000).unwrap();
    assert_eq!(
        arm(&mut h, 1, set_of(&[(a.handle(), Readiness::READABLE)])),
        Ok(0)
    );
    assert_eq!(
        arm(&mut h, 1, set_of(&[(a2.handle(), Readiness::READABLE)])),
        Ok(0)
    );
    // Only the second set is watched.
    h.send(1, 7, b, N0, 5000, b"x").unwrap();
    assert!(notified(&mut h, 0).is_empty());
    h.send(1, 7, b, N0, 5001, b"y").unwrap();
    assert_eq!(notified(&mut h, 0), vec![1]);
}

#[test]
fn client_without_a_route_is_refused_and_keeps_wait_any() {
    let mut h = two();
    assert!(h.servers[0].add_notify_route(ClientId(1)));
    let (u, _) = h.bind(0, 2, 5000).unwrap();
    let set = set_of(&[(u.handle(), Readiness::READABLE)]);
    for _ in 0..1000 {
        assert_eq!(arm(&mut h, 2, set), Err(NetError::Unsupported));
    }
    assert!(!h.servers[0].is_armed(ClientId(2)));
    assert!(notified(&mut h, 0).is_empty());
    // Its blocking WaitAny still works.
    let (b, _) = h.bind(1, 7, 5000).unwrap();
    let corr = h.park(
        0,
        2,
        &Request::WaitAny {
            set,
            deadline_ns: u64::MAX,
        },
    );
    h.send(1, 7, b, N0, 5000, b"z").unwrap();
    let woke = h.poll(0);
    assert_eq!(woke.len(), 1);
    assert_eq!((woke[0].0, woke[0].1), (ClientId(2), corr));
    assert!(notified(&mut h, 0).is_empty());
}

#[test]
fn hostile_arming_costs_only_the_client() {
    let mut h = two();
    assert!(h.servers[0].add_notify_route(ClientId(1)));
    assert!(h.servers[0].add_notify_route(ClientId(3)));
    // Routes are bounded; adding one twice is a no-op.
    assert!(h.servers[0].add_notify_route(ClientId(3)));
    for c in 0..MAX_NOTIFY_ROUTES as u64 {
        let _ = h.servers[0].add_notify_route(ClientId(100 + c));
    }
    assert!(!h.servers[0].add_notify_route(ClientId(999)));
    // The honest client arms its socket.
    let (a, _) = h.bind(0, 1, 5000).unwrap();
    let (b, _) = h.bind(1, 7, 5000).unwrap();
    assert_eq!(
        arm(&mut h, 1, set_of(&[(a.handle(), Readiness::READABLE)])),
        Ok(0)
    );
    // The hostile client (route 3) arms the largest set there is, of
    // handles that are not its own (the honest client's, guessed ones): they
    // read as gone, so the arm is answered "ready" and nothing is kept.
    let mut theirs = WaitSet::new();
    for i in 0..MAX_WAIT_SET as u32 {
        theirs
            .push(
                Handle::from_raw(a.handle().raw().wrapping_add(i)),
                Readiness::READABLE,
            )
            .unwrap();
    }
    for _ in 0..10_000 {
        assert_eq!(arm(&mut h, 3, theirs), Ok(u16::MAX));
    }
    assert!(!h.servers[0].is_armed(ClientId(3)));
    // Then a full set of its own idle sockets, re-armed in a loop: one set
    // kept (replaced each time), no parked request, no notification.
    let mut own = WaitSet::new();
    for p in 0..MAX_WAIT_SET as u16 {
        let (s, _) = h.bind(0, 3, 6000 + p).unwrap();
        own.push(s.handle(), Readiness::READABLE).unwrap();
    }
    for _ in 0..10_000 {
        assert_eq!(arm(&mut h, 3, own), Ok(0));
    }
    assert!(h.servers[0].is_armed(ClientId(3)));
    assert_eq!(h.servers[0].parked().len(), 0);
    assert!(notified(&mut h, 0).is_empty());
    // An oversized set never decodes (17 entries: Malformed, nothing kept).
    let mut bytes = common::encode(&Request::WaitArm { set: own }, 5, 0);
    bytes[16] = (MAX_WAIT_SET + 1) as u8;
    h.raw(0, 3, &bytes);
    assert_eq!(h.decoded().body, Err(NetError::Malformed));
    // The honest client is still served exactly once.
    h.send(1, 7, b, N0, 5000, b"ok").unwrap();
    assert_eq!(notified(&mut h, 0), vec![1]);
    // The hostile client's arming ends with it.
    h.servers[0].drop_client(&mut h.net.node(h.nodes[0]), ClientId(3));
    assert!(!h.servers[0].is_armed(ClientId(3)));
}

#[test]
fn client_gone_frees_the_armed_set_and_the_route_stays() {
    let mut h = two();
    assert!(h.servers[0].add_notify_route(ClientId(1)));
    let (a, _) = h.bind(0, 1, 5000).unwrap();
    assert_eq!(
        arm(&mut h, 1, set_of(&[(a.handle(), Readiness::READABLE)])),
        Ok(0)
    );
    h.servers[0].drop_client(&mut h.net.node(h.nodes[0]), ClientId(1));
    assert!(!h.servers[0].is_armed(ClientId(1)));
    assert!(notified(&mut h, 0).is_empty());
    // The restarted client (same badge) arms again.
    let (a, _) = h.bind(0, 1, 5000).unwrap();
    let (b, _) = h.bind(1, 7, 5000).unwrap();
    assert_eq!(
        arm(&mut h, 1, set_of(&[(a.handle(), Readiness::READABLE)])),
        Ok(0)
    );
    h.send(1, 7, b, N0, 5000, b"again").unwrap();
    assert_eq!(notified(&mut h, 0), vec![1]);
}

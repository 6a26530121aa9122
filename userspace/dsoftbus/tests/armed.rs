//! The armed loop (`Daemon::poll_ready`, `arm`, `on_notify`) on the fake network: what a
//! bus record round trip costs each daemon in facade calls, and that reading only the
//! sockets that may hold something misses nothing.
//!
//! Design notes:
//! - Two real daemons over `SimNet`, each through a transport that counts its facade
//!   calls. The session comes up with plain `poll` passes (as in tests/daemon.rs); then
//!   the test plays dsoftbusd's loop by hand, step by step: netstackd's `Notify` is
//!   played by the test (it calls `on_notify` when the daemon is armed and a socket of
//!   its wait set is ready, probed through a separate, uncounted client).
//! - The counts are exact: virtual time moves only when the test advances it, so no
//!   keepalive or announce falls into a measured step.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::world::{config, Plat, CLIENT};
use common::{identity, Rng, MS, SEC};
use dsoftbus::daemon::{BusEvent, Daemon, StreamRef};
use dsoftbus::mux::{Mode, Priority};
use nexus_net::fake::{NodeId, SimNet, SimTransport};
use nexus_net::{ClientId, Ipv4Addr, NetClient, NetError, Transport};

/// A facade transport that counts its calls.
struct Counting {
    inner: SimTransport,
    calls: Rc<Cell<u64>>,
}

impl Transport for Counting {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        self.calls.set(self.calls.get() + 1);
        self.inner.call(request, reply)
    }
}

struct Node {
    id: NodeId,
    d: Daemon<Counting, Plat>,
    calls: Rc<Cell<u64>>,
    events: Vec<BusEvent>,
}

fn node(sim: &SimNet, name: &'static str, addr: [u8; 4], seed: u64) -> Node {
    let id = sim.add_node(Ipv4Addr::from(addr));
    // dsoftbusd's notify route on netstackd (the grant `{ notify = "bus" }`).
    assert!(sim.with_server(id, |s| s.add_notify_route(ClientId(CLIENT))));
    let calls = Rc::new(Cell::new(0));
    let net = NetClient::new(Counting {
        inner: sim.transport(id, CLIENT),
        calls: calls.clone(),
    });
    let plat = Plat {
        sim: sim.clone(),
        rng: Rng(seed ^ 0x5eed),
        name,
        logs: Default::default(),
    };
    let d = Daemon::start(net, plat, identity(name, seed), config()).unwrap();
    Node {
        id,
        d,
        calls,
        events: Vec::new(),
    }
}

impl Node {
    /// Calls since `before`.
    fn since(&self, before: u64) -> u64 {
        self.calls.get() - before
    }

    /// Whether a socket of the wait set is ready now (netstackd would `Notify`),
    /// asked through a client that is not counted.
    fn ready(&self, sim: &SimNet) -> bool {
        let set = self.d.wait_set();
        sim.client(self.id, CLIENT)
            .wait_any(&set, sim.now())
            .is_ok()
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.d.next_event() {
            self.events.push(e);
        }
    }
}

/// Plain `poll` passes on every node, the clock moved to the next wake-up or network
/// event, until `stop` holds (bounded by `within` of virtual time).
fn run_plain(sim: &SimNet, n: &mut [Node], within: u64, mut stop: impl FnMut(&mut [Node]) -> bool) {
    let end = sim.now() + within;
    while !stop(n) {
        let now = sim.now();
        assert!(now < end, "timed out");
        let mut wake = u64::MAX;
        for x in n.iter_mut() {
            wake = wake.min(x.d.poll());
            x.drain_events();
        }
        if wake <= now || n.iter().any(|x| x.ready(sim)) {
            continue;
        }
        let next_net = sim.with_net(|net| net.next_event()).unwrap_or(u64::MAX);
        sim.advance(wake.min(next_net).min(end).max(now + 1) - now);
    }
}

/// Moves the clock until a frame in flight has arrived (nothing else is due).
fn deliver(sim: &SimNet) {
    while let Some(t) = sim.with_net(|net| net.next_event()) {
        let now = sim.now();
        if t > now + 50 * MS {
            break;
        }
        sim.advance(t.saturating_sub(now).max(1));
    }
}

/// An interactive `echo` stream from node `a` to node `b` (which publishes `echo`),
/// accepted: (a's end, b's end).
fn echo_stream(sim: &SimNet, n: &mut [Node], a: usize, b: usize) -> (StreamRef, StreamRef) {
    let b_id = n[b].d.identity().device_id().to_string();
    let s = n[a]
        .d
        .open(&b_id, "echo", Mode::Message, Priority::Interactive)
        .unwrap();
    let mut incoming = None;
    run_plain(sim, n, 5 * SEC, |n| {
        for e in n[b].events.drain(..) {
            if let BusEvent::Incoming { stream, .. } = e {
                incoming = Some(stream);
            }
        }
        incoming.is_some()
    });
    let t = incoming.unwrap();
    n[b].d.accept(t).unwrap();
    run_plain(sim, n, 5 * SEC, |n| {
        n[a].events
            .iter()
            .any(|e| matches!(e, BusEvent::Accepted(x) if *x == s))
    });
    (s, t)
}

/// Every socket read, nothing in flight, every daemon armed with nothing ready.
fn quiet(sim: &SimNet, n: &mut [Node]) {
    for _ in 0..100 {
        deliver(sim);
        let mut quiet = true;
        for x in n.iter_mut() {
            x.d.poll();
            x.drain_events();
            quiet &= x.d.arm() == Ok(true);
        }
        let in_flight = sim.with_net(|net| net.next_event()).is_some();
        if quiet && !in_flight && !n.iter().any(|x| x.ready(sim)) {
            return;
        }
    }
    panic!("never quiet after the set-up");
}

/// Nodes with a session between every two, each publishing `echo`.
fn mesh(k: usize) -> (SimNet, Vec<Node>) {
    const NAMES: [&str; 3] = ["node-a", "node-b", "node-c"];
    let sim = SimNet::new();
    let mut n: Vec<Node> = (0..k)
        .map(|i| node(&sim, NAMES[i], [10, 0, 0, i as u8 + 1], i as u64 + 1))
        .collect();
    for x in n.iter_mut() {
        x.d.publish("echo").unwrap();
    }
    run_plain(&sim, &mut n, 5 * SEC, |n| {
        n.iter().all(|x| x.d.sessions() == k - 1)
    });
    (sim, n)
}

/// Two nodes with a session, an interactive `echo` stream from a to b accepted by b,
/// and both daemons armed with nothing ready.
fn setup() -> (SimNet, Vec<Node>, StreamRef, StreamRef) {
    let (sim, mut n) = mesh(2);
    let (s, t) = echo_stream(&sim, &mut n, 0, 1);
    quiet(&sim, &mut n);
    (sim, n, s, t)
}

/// One step of dsoftbusd's loop after a `Notify` (if armed and ready) or a bus call:
/// a pass, then arming.
fn armed_pass(sim: &SimNet, x: &mut Node, armed: &mut bool) {
    if *armed && x.ready(sim) {
        *armed = false;
        x.d.on_notify();
    }
    loop {
        x.d.poll_ready();
        x.drain_events();
        match x.d.arm() {
            Ok(true) => {
                *armed = true;
                return;
            }
            Ok(false) => continue,
            Err(e) => panic!("arm: {e:?}"),
        }
    }
}

#[test]
fn a_record_round_trip_costs_each_daemon_three_facade_calls() {
    let (sim, mut n, s, t) = setup();
    let (mut a_armed, mut b_armed) = (true, true);
    let msg = [0x42u8; 64];
    let mut buf = [0u8; 256];
    for round in 0..50 {
        let (a0, b0) = (n[0].calls.get(), n[1].calls.get());
        // A: the application's `send` wakes the loop; nothing is ready, so the pass
        // writes the record and reads nothing, and the set armed before stays armed.
        assert_eq!(n[0].d.send(s, &msg), Ok(msg.len()));
        armed_pass(&sim, &mut n[0], &mut a_armed);
        assert_eq!(
            n[0].since(a0),
            1,
            "round {round}: A's send pass (TcpWrite only)"
        );
        // B: the record arrives; `Notify`; the one session is read (one call), and
        // the arming that ends the pass is the second.
        deliver(&sim);
        assert!(b_armed && n[1].ready(&sim), "round {round}: B not notified");
        armed_pass(&sim, &mut n[1], &mut b_armed);
        assert_eq!(n[1].d.recv(t, &mut buf), Ok(msg.len()));
        assert_eq!(&buf[..msg.len()], &msg);
        // B's application echoes it: written at once, the set already armed again.
        assert_eq!(n[1].d.send(t, &msg), Ok(msg.len()));
        armed_pass(&sim, &mut n[1], &mut b_armed);
        // A: the echo arrives.
        deliver(&sim);
        assert!(a_armed && n[0].ready(&sim), "round {round}: A not notified");
        armed_pass(&sim, &mut n[0], &mut a_armed);
        assert_eq!(n[0].d.recv(s, &mut buf), Ok(msg.len()));
        assert_eq!(
            (n[0].since(a0), n[1].since(b0)),
            (3, 3),
            "round {round}: facade calls per round trip (A, B)"
        );
    }
}

#[test]
fn data_arriving_after_a_short_read_is_not_missed() {
    let (sim, mut n, s, t) = setup();
    let mut b_armed = true;
    let mut buf = [0u8; 256];
    // B sends one record; A is notified and reads it (a short read: A's socket is
    // then taken for drained).
    assert_eq!(n[1].d.send(t, b"one"), Ok(3));
    armed_pass(&sim, &mut n[1], &mut b_armed);
    deliver(&sim);
    assert!(n[0].ready(&sim));
    n[0].d.on_notify();
    n[0].d.poll_ready();
    // A second record arrives before A arms again, with no `Notify` for it.
    assert_eq!(n[1].d.send(t, b"two"), Ok(3));
    armed_pass(&sim, &mut n[1], &mut b_armed);
    deliver(&sim);
    // Arming finds it ready, and the next pass reads it.
    assert_eq!(n[0].d.arm(), Ok(false), "arming must see the second record");
    let mut a_armed = false;
    armed_pass(&sim, &mut n[0], &mut a_armed);
    assert_eq!(n[0].d.recv(s, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"one");
    assert_eq!(n[0].d.recv(s, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"two");
    assert!(a_armed);
}

#[test]
fn with_two_sessions_a_notify_reads_only_the_ready_one() {
    // a has sessions with b and c; a record from b costs a one `WaitArm` (which says
    // which socket is ready), one read of that session (not of c's), and the arming.
    let (sim, mut n) = mesh(3);
    let (s, t) = echo_stream(&sim, &mut n, 0, 1);
    quiet(&sim, &mut n);
    let (mut a_armed, mut b_armed) = (true, true);
    let mut buf = [0u8; 64];
    assert_eq!(n[1].d.send(t, b"from b"), Ok(6));
    armed_pass(&sim, &mut n[1], &mut b_armed);
    deliver(&sim);
    assert!(n[0].ready(&sim));
    let a0 = n[0].calls.get();
    armed_pass(&sim, &mut n[0], &mut a_armed);
    assert_eq!(
        n[0].since(a0),
        3,
        "WaitArm, TcpRead of b's session, WaitArm"
    );
    assert!(a_armed);
    assert_eq!(n[0].d.recv(s, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"from b");
}

#[test]
fn the_plain_poll_still_reads_every_socket() {
    // `poll` (the loop without a notify route, and nexus-bus) ignores the probe marks:
    // a record sent while the daemon took its socket for drained is read by the next
    // `poll` without any `Notify` or arming.
    let (sim, mut n, s, t) = setup();
    let mut b_armed = true;
    let mut buf = [0u8; 64];
    assert_eq!(n[1].d.send(t, b"plain"), Ok(5));
    armed_pass(&sim, &mut n[1], &mut b_armed);
    deliver(&sim);
    n[0].d.poll();
    assert_eq!(n[0].d.recv(s, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"plain");
}

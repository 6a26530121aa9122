//! Trust and pairing on real daemons over the fake network: PIN pairing, wrong PINs and
//! rate limits, expired PINs, untrusted peers refused, per-peer grants, untrust, and a
//! relay that sits between two sessions.

mod common;

use common::world::*;
use common::{id_of, identity, SEC};
use dsoftbus::daemon::{BusError, BusEvent, DaemonConfig};
use dsoftbus::mux::{Mode, Priority, RefuseReason};
use dsoftbus::pairing::PairError;
use dsoftbus::{TrustEntry, TrustOrigin};

/// Two strangers: authenticated to each other, trusting nobody. Both publish `echo`
/// and grant it to whoever pairs with them.
const P: u64 = 21;
const Q: u64 = 22;

fn stranger_config() -> DaemonConfig {
    let mut c = config();
    c.trusted = Vec::new();
    c.pair_grant = vec!["echo".into(), "nodeinfo".into()];
    c
}

fn strangers() -> World {
    let mut w = World::new();
    w.add_with("node-p", [10, 0, 0, 21], P, stranger_config());
    w.add_with("node-q", [10, 0, 0, 22], Q, stranger_config());
    for i in 0..2 {
        w.nodes[i].d().publish("echo").unwrap();
    }
    let q = id_of(Q);
    w.wait_for(5 * SEC, "p-q session", |w| connected(w, 0, &q));
    w
}

/// Node `i` pairs with `peer` using `pin`; returns the outcome.
fn pair(w: &mut World, i: usize, peer: &str, pin: u32) -> Result<(), PairError> {
    w.nodes[i].events.clear();
    w.nodes[i].d().pair(peer, pin).unwrap();
    let mut out = None;
    w.wait_for(30 * SEC, "pairing outcome", |w| {
        out = w.nodes[i].events.iter().find_map(|e| match e {
            BusEvent::PairDone { peer: p, result } if p == peer => Some(*result),
            _ => None,
        });
        out.is_some()
    });
    out.unwrap()
}

/// Node `i` opens `service` on node `j` (device `peer`), which accepts whatever arrives.
fn open_accepted(w: &mut World, i: usize, j: usize, peer: &str, service: &str) {
    let s = w.nodes[i]
        .d()
        .open(peer, service, Mode::Message, Priority::Interactive)
        .unwrap();
    w.wait_for(2 * SEC, "accepted", |w| {
        let evs: Vec<BusEvent> = w.nodes[j].events.drain(..).collect();
        for e in evs {
            if let BusEvent::Incoming { stream, .. } = e {
                w.nodes[j].d().accept(stream).unwrap();
            }
        }
        w.nodes[i].events.contains(&BusEvent::Accepted(s))
    });
}

/// Moves node `i`'s queued daemon events into its event list.
fn drain(w: &mut World, i: usize) {
    while let Some(e) = w.nodes[i].d().next_event() {
        w.nodes[i].events.push(e);
    }
}

fn refused_denied(w: &mut World, i: usize, peer: &str, service: &str) {
    let (s, ev) = open(w, i, peer, service, Mode::Message);
    assert_eq!(
        ev,
        BusEvent::Refused(s, RefuseReason::Denied),
        "{service} must be denied"
    );
}

#[test]
fn attack_untrusted_authenticated_peer_cannot_open_a_published_service() {
    let mut w = strangers();
    let (p, q) = (id_of(P), id_of(Q));
    // Authenticated session both ways, yet nothing but pairing is open to the stranger.
    refused_denied(&mut w, 1, &p, "echo");
    refused_denied(&mut w, 1, &p, "nodeinfo");
    refused_denied(&mut w, 0, &q, "echo");
    assert!(w.nodes[0].logged(&format!(
        "dsoftbusd: untrusted peer={q} refused svc=echo (pair first)"
    )));
    // Not published stays "not published" (announces list what exists anyway).
    let (s, ev) = open(&mut w, 1, &p, "samgrd", Mode::Message);
    assert_eq!(ev, BusEvent::Refused(s, RefuseReason::NotPublished));
    // Pairing is the one service an untrusted peer reaches: asked without a PIN shown.
    assert_eq!(pair(&mut w, 1, &p, 0), Err(PairError::NotPairing));
}

#[test]
fn pairing_with_the_right_pin_trusts_both_sides_and_opens_the_grant() {
    let mut w = strangers();
    let (p, q) = (id_of(P), id_of(Q));
    let pin = w.nodes[0].d().show_pin(60 * SEC).unwrap();
    assert!(pin <= 999_999);
    assert!(w.nodes[0].d().showing_pin());
    assert_eq!(pair(&mut w, 1, &p, pin), Ok(()));
    // q trusts p once p's verdict arrived; p trusted q when q's confirmation verified.
    w.wait_for(SEC, "p trusts q", |w| {
        w.nodes[0].d().trust().get(&q).is_some()
    });
    let on_p = w.nodes[0].d().trust().get(&q).unwrap().clone();
    let on_q = w.nodes[1].d().trust().get(&p).unwrap().clone();
    assert_eq!(on_p.key(), &identity("x", Q).public_key());
    assert_eq!(on_q.key(), &identity("x", P).public_key());
    assert_eq!(on_p.origin(), TrustOrigin::Paired);
    // Each keeps the name the other announced when they paired.
    assert_eq!((on_p.name(), on_q.name()), ("node-q", "node-p"));
    assert_eq!(
        on_p.services(),
        ["echo".to_string(), "nodeinfo".to_string()]
    );
    assert!(w.nodes[0]
        .events
        .contains(&BusEvent::TrustChanged(q.clone())));
    assert!(w.nodes[1]
        .events
        .contains(&BusEvent::TrustChanged(p.clone())));
    assert!(w.nodes[0].logged(&format!("dsoftbusd: paired peer={q}")));
    // The PIN is used up.
    assert!(!w.nodes[0].d().showing_pin());
    // Now q may open p's echo (and p q's).
    open_accepted(&mut w, 1, 0, &p, "echo");
    let (s, ev) = open(&mut w, 0, &q, "nodeinfo", Mode::Message);
    assert_eq!(ev, BusEvent::Accepted(s));
}

#[test]
fn attack_wrong_pin_is_refused_on_both_sides_and_rate_limited() {
    let mut w = strangers();
    let (p, q) = (id_of(P), id_of(Q));
    let pin = w.nodes[0].d().show_pin(300 * SEC).unwrap();
    let wrong = (pin + 1) % 1_000_000;
    assert_eq!(pair(&mut w, 1, &p, wrong), Err(PairError::WrongPin));
    let line = format!("dsoftbusd: pairing failed peer={q} (WrongPin)");
    w.wait_for(SEC, "p saw the failure", |w| w.nodes[0].logged(&line));
    assert!(w.nodes[0].d().trust().is_empty());
    assert!(w.nodes[1].d().trust().is_empty());
    // An immediate retry, even with the right PIN, is rate limited.
    assert_eq!(pair(&mut w, 1, &p, pin), Err(PairError::RateLimited));
    refused_denied(&mut w, 1, &p, "echo");
    // After the back-off (1 s) the right PIN still pairs (1 of 3 attempts used).
    w.run_for(2 * SEC);
    assert_eq!(pair(&mut w, 1, &p, pin), Ok(()));
    w.wait_for(SEC, "p trusts q", |w| {
        w.nodes[0].d().trust().get(&q).is_some()
    });
}

#[test]
fn attack_three_wrong_pins_withdraw_the_pin() {
    let mut w = strangers();
    let p = id_of(P);
    let pin = w.nodes[0].d().show_pin(300 * SEC).unwrap();
    for k in 1..=3u32 {
        assert_eq!(
            pair(&mut w, 1, &p, (pin + k) % 1_000_000),
            Err(PairError::WrongPin)
        );
        // Wait out the back-off (1, 2, 4 s).
        w.run_for((1 << k) * SEC);
    }
    assert!(!w.nodes[0].d().showing_pin());
    assert_eq!(pair(&mut w, 1, &p, pin), Err(PairError::NotPairing));
    assert!(w.nodes[0].d().trust().is_empty());
}

#[test]
fn expired_and_withdrawn_pins_are_not_pairing() {
    let mut w = strangers();
    let p = id_of(P);
    let pin = w.nodes[0].d().show_pin(SEC).unwrap();
    w.run_for(2 * SEC);
    assert_eq!(pair(&mut w, 1, &p, pin), Err(PairError::NotPairing));
    let pin = w.nodes[0].d().show_pin(60 * SEC).unwrap();
    w.nodes[0].d().withdraw_pin();
    assert_eq!(pair(&mut w, 1, &p, pin), Err(PairError::NotPairing));
    assert!(w.nodes[1].d().trust().is_empty());
}

#[test]
fn untrust_closes_sessions_and_later_opens_are_refused() {
    let mut w = strangers();
    let (p, q) = (id_of(P), id_of(Q));
    let pin = w.nodes[0].d().show_pin(60 * SEC).unwrap();
    assert_eq!(pair(&mut w, 1, &p, pin), Ok(()));
    w.wait_for(SEC, "p trusts q", |w| {
        w.nodes[0].d().trust().get(&q).is_some()
    });
    let s = w.nodes[1]
        .d()
        .open(&p, "echo", Mode::Message, Priority::Interactive)
        .unwrap();
    w.wait_for(2 * SEC, "incoming on p", |w| {
        w.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, BusEvent::Incoming { .. }))
    });
    w.nodes[0].events.clear();
    assert!(w.nodes[0].d().untrust(&q));
    assert!(!w.nodes[0].d().untrust(&q), "already gone");
    drain(&mut w, 0);
    assert!(w.nodes[0]
        .events
        .contains(&BusEvent::TrustChanged(q.clone())));
    assert!(w.nodes[0].d().trust().get(&q).is_none());
    // q's stream ends with PeerGone (its session was closed).
    w.wait_for(5 * SEC, "peer gone on q", |w| {
        w.nodes[1].events.contains(&BusEvent::PeerGone(s))
    });
    assert_eq!(w.nodes[1].d().send(s, b"x"), Err(BusError::PeerGone));
    // A new session comes up (authentication still works) but may only pair.
    w.wait_for(10 * SEC, "new session", |w| connected(w, 1, &p));
    refused_denied(&mut w, 1, &p, "echo");
    let pin = w.nodes[0].d().show_pin(60 * SEC).unwrap();
    assert_eq!(pair(&mut w, 1, &p, pin), Ok(()));
}

#[test]
fn grants_are_per_peer() {
    let mut w = World::new();
    let mut c = stranger_config();
    // p trusts x (may open echo) and y (may open nothing), by provisioning.
    for (name, seed, grant) in [("node-x", 23u64, vec!["echo"]), ("node-y", 24, vec![])] {
        c.trusted.push(
            TrustEntry::new(
                identity(name, seed).public_key(),
                name,
                &grant,
                TrustOrigin::Provisioned,
                0,
                0,
            )
            .unwrap(),
        );
    }
    w.add_with("node-p", [10, 0, 0, 21], P, c);
    w.add_with("node-x", [10, 0, 0, 23], 23, stranger_config());
    w.add_with("node-y", [10, 0, 0, 24], 24, stranger_config());
    w.nodes[0].d().publish("echo").unwrap();
    let p = id_of(P);
    w.wait_for(5 * SEC, "sessions", |w| {
        connected(w, 1, &p) && connected(w, 2, &p)
    });
    open_accepted(&mut w, 1, 0, &p, "echo");
    refused_denied(&mut w, 2, &p, "echo");
    // Grants change at run time: y gets echo, x loses it.
    w.nodes[0].d().grant(&id_of(24), &["echo"]).unwrap();
    w.nodes[0].d().grant(&id_of(23), &[] as &[&str]).unwrap();
    drain(&mut w, 0);
    assert!(w.nodes[0]
        .events
        .contains(&BusEvent::TrustChanged(id_of(24))));
    open_accepted(&mut w, 2, 0, &p, "echo");
    refused_denied(&mut w, 1, &p, "echo");
    // A grant for a device that is not trusted is refused.
    assert!(w.nodes[0].d().grant(&id_of(99), &["echo"]).is_err());
}

/// One raw session of the relay: a Noise session with its own stream multiplexer.
struct Leg {
    hs: Option<dsoftbus::driver::PendingSession>,
    conn: Option<dsoftbus::Connection>,
    mux: dsoftbus::mux::Mux,
    net: nexus_net::NetClient<nexus_net::fake::SimTransport>,
    incoming: Vec<dsoftbus::mux::StreamId>,
    accepted: Vec<dsoftbus::mux::StreamId>,
}

impl Leg {
    fn dial(
        w: &World,
        node: nexus_net::fake::NodeId,
        client: u64,
        me: &dsoftbus::LocalIdentity,
        to: &dsoftbus::LocalIdentity,
        addr: [u8; 4],
        seed: u8,
    ) -> Leg {
        let mut net = w.sim.client(node, client);
        let a = to.announce(1, PORT, &[]).unwrap();
        let entry = dsoftbus::PeerEntry::from_announce(&a, nexus_net::Ipv4Addr::from(addr), 0);
        let hs = dsoftbus::driver::PendingSession::connect(
            &mut net,
            &entry,
            me,
            [seed; 32],
            w.sim.now() + 5 * SEC,
        )
        .unwrap();
        Leg {
            hs: Some(hs),
            conn: None,
            mux: dsoftbus::mux::Mux::new(dsoftbus::mux::MuxConfig::default(), true),
            net,
            incoming: Vec::new(),
            accepted: Vec::new(),
        }
    }

    /// Handshake, read records into the mux (answering pings), write the mux's frames.
    fn pump(&mut self, now: u64) {
        if let Some(h) = self.hs.as_mut() {
            match h.step(&mut self.net, now, &dsoftbus::NoDirectory) {
                Ok(Some(c)) => {
                    self.conn = Some(c);
                    self.hs = None;
                }
                Ok(None) => return,
                Err(e) => panic!("relay leg handshake failed: {e:?}"),
            }
        }
        let Some(c) = self.conn.as_mut() else { return };
        let mut pongs = Vec::new();
        loop {
            if c.session().record_ready() {
                match c.session_mut().open().unwrap() {
                    Some(dsoftbus::Record::Data(d)) => match self.mux.receive(d).unwrap() {
                        Some(dsoftbus::mux::Event::Incoming { id, .. }) => self.incoming.push(id),
                        Some(dsoftbus::mux::Event::Accepted(id)) => self.accepted.push(id),
                        _ => {}
                    },
                    Some(dsoftbus::Record::Ping(x)) => pongs.push(x),
                    _ => {}
                }
                continue;
            }
            match self.net.tcp_read(c.stream(), c.session_mut().rx_space()) {
                Ok(n) if n > 0 => c.session_mut().rx_commit(n),
                _ => break,
            }
        }
        let mut frame = vec![0u8; 4096];
        let mut sealed = vec![0u8; dsoftbus::MAX_WIRE_FRAME];
        for x in pongs {
            let n = c
                .session_mut()
                .seal(&dsoftbus::Record::Pong(x), &mut sealed)
                .unwrap();
            self.net.tcp_write(c.stream(), &sealed[..n]).unwrap();
        }
        while let Some(m) = self.mux.poll_transmit(&mut frame) {
            let n = c
                .session_mut()
                .seal(&dsoftbus::Record::Data(&frame[..m]), &mut sealed)
                .unwrap();
            self.net.tcp_write(c.stream(), &sealed[..n]).unwrap();
        }
    }
}

/// (relay) The user of q means to pair with p, which shows the PIN, but picks the
/// attacker m, which relays every pairing message unchanged between its session with q
/// and its session with p. m knows no PIN and needs none if relaying worked; it does
/// not: the PAKE is bound to the static keys and handshake hash of each session, so
/// confirmation fails on both sides and nobody trusts anybody.
#[test]
fn attack_a_relay_between_two_sessions_cannot_pair() {
    let mut w = strangers();
    let m_id = identity("mallory", 66);
    let evil = w.sim.add_node(nexus_net::Ipv4Addr::new(10, 0, 0, 66));
    let mut anet = w.sim.client(evil, 1);
    let (udp, _) = anet.udp_bind(dsoftbus::DISCOVERY_PORT).unwrap();
    // Announce so both daemons accept m's sessions (its id is bound to its own key).
    let ann = m_id.announce(1, PORT, &[]).unwrap();
    for _ in 0..2 {
        let _ =
            dsoftbus::driver::broadcast_announce(&mut anet, udp, dsoftbus::DISCOVERY_PORT, &ann);
        w.run_for(100 * common::MS);
    }
    let mut to_q = Leg::dial(&w, evil, 2, &m_id, &identity("x", Q), [10, 0, 0, 22], 1);
    let mut to_p = Leg::dial(&w, evil, 3, &m_id, &identity("x", P), [10, 0, 0, 21], 2);
    let mut next_ann = 0;
    let mut step = |w: &mut World| {
        let now = w.sim.now();
        if now >= next_ann {
            let _ = dsoftbus::driver::broadcast_announce(
                &mut anet,
                udp,
                dsoftbus::DISCOVERY_PORT,
                &ann,
            );
            next_ann = now + 500 * common::MS;
        }
        to_q.pump(now);
        to_p.pump(now);
        // q's pairing stream arrives on the q leg: accept it and open one to p.
        if let Some(id) = to_q.incoming.pop() {
            to_q.mux.accept(id).unwrap();
            let out = to_p
                .mux
                .open("pairing", Mode::Message, Priority::Interactive)
                .unwrap();
            to_q.accepted.push(id);
            to_p.incoming.push(out);
        }
        // Relay whole messages both ways once p accepted.
        if let (Some(&qs), Some(&ps)) = (to_q.accepted.first(), to_p.incoming.first()) {
            if to_p.accepted.contains(&ps) {
                let mut buf = [0u8; 256];
                while let Ok(n) = to_q.mux.recv(qs, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    to_p.mux.send(ps, &buf[..n]).unwrap();
                }
                while let Ok(n) = to_p.mux.recv(ps, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    to_q.mux.send(qs, &buf[..n]).unwrap();
                }
            }
        }
        false
    };
    let end = w.sim.now() + 3 * SEC;
    w.run_until(end, |w| step(w));
    let mal = m_id.device_id().to_string();
    assert!(connected(&mut w, 1, &mal), "q has a session with m");
    assert!(connected(&mut w, 0, &mal), "p has a session with m");
    let pin = w.nodes[0].d().show_pin(60 * SEC).unwrap();
    // The user types p's PIN on q but selected m.
    w.nodes[1].events.clear();
    w.nodes[1].d().pair(&mal, pin).unwrap();
    let mut out = None;
    let end = w.sim.now() + 20 * SEC;
    w.run_until(end, |w| {
        step(w);
        out = w.nodes[1].events.iter().find_map(|e| match e {
            BusEvent::PairDone { result, .. } => Some(*result),
            _ => None,
        });
        out.is_some() && w.nodes[0].logged("dsoftbusd: pairing failed")
    });
    assert_eq!(out, Some(Err(PairError::WrongPin)), "q detects the relay");
    assert!(
        w.nodes[0].logged(&format!("dsoftbusd: pairing failed peer={mal} (WrongPin)")),
        "p detects the relay"
    );
    assert!(w.nodes[0].d().trust().is_empty());
    assert!(w.nodes[1].d().trust().is_empty());
    // The relayed attempt counted against p's PIN and backed m off.
    assert!(w.nodes[0].d().showing_pin(), "2 of 3 attempts left");
}

#[test]
fn a_retry_at_once_after_a_wrong_pin_meets_the_rate_limit() {
    let mut w = strangers();
    let p = id_of(P);
    let pin = w.nodes[0].d().show_pin(300 * SEC).unwrap();
    assert_eq!(
        pair(&mut w, 1, &p, (pin + 1) % 1_000_000),
        Err(PairError::WrongPin)
    );
    // The retry's OPEN leaves q while p is not polled, so p reads q's verdict on the
    // old stream and the OPEN of the new one in one pass (as a loaded VM does). The
    // answer must be the rate limit, not a refused stream ("pairing stream ended").
    w.nodes[0].running = false;
    w.nodes[1].events.clear();
    w.nodes[1].d().pair(&p, pin).unwrap();
    w.run_for(SEC / 10);
    w.nodes[0].running = true;
    let mut out = None;
    w.wait_for(30 * SEC, "pairing outcome", |w| {
        out = w.nodes[1].events.iter().find_map(|e| match e {
            BusEvent::PairDone { peer: x, result } if *x == p => Some(*result),
            _ => None,
        });
        out.is_some()
    });
    assert_eq!(out.unwrap(), Err(PairError::RateLimited));
    assert!(w.nodes[0].d().trust().is_empty());
}

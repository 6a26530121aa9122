//! The daemon harness shared by the fake-network daemon tests: real `Daemon`s over
//! `SimNet`, a virtual clock advanced only when no node has work (see tests/daemon.rs).
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use super::{id_of, identity, Rng, SEC};
use dsoftbus::daemon::{BusEvent, Daemon, DaemonConfig, Limits, Platform, StreamRef};
use dsoftbus::mux::{Mode, MuxConfig, Priority};
use dsoftbus::{TrustEntry, TrustOrigin, DISCOVERY_PORT};
use nexus_net::fake::{NodeId, SimNet, SimTransport};
use nexus_net::Ipv4Addr;

pub const PORT: u16 = 37030;
pub const CLIENT: u64 = 9;

pub struct Plat {
    pub sim: SimNet,
    pub rng: Rng,
    pub name: &'static str,
    pub logs: Rc<RefCell<Vec<String>>>,
}

impl Platform for Plat {
    fn now_ns(&mut self) -> u64 {
        self.sim.now()
    }
    fn ephemeral(&mut self) -> Option<[u8; 32]> {
        Some(self.rng.key())
    }
    fn log(&mut self, line: std::fmt::Arguments<'_>) {
        let s = format!("{}", line);
        if std::env::var_os("DSOFTBUS_LOG").is_some() {
            eprintln!(
                "[{:>8.3}s {}] {}",
                self.sim.now() as f64 / 1e9,
                self.name,
                s
            );
        }
        self.logs.borrow_mut().push(s);
    }
}

pub struct Node {
    pub id: NodeId,
    pub d: Option<Daemon<SimTransport, Plat>>,
    pub logs: Rc<RefCell<Vec<String>>>,
    pub events: Vec<BusEvent>,
    pub running: bool,
}

impl Node {
    pub fn d(&mut self) -> &mut Daemon<SimTransport, Plat> {
        self.d.as_mut().unwrap()
    }
    pub fn logged(&self, needle: &str) -> bool {
        self.logs.borrow().iter().any(|l| l.contains(needle))
    }
}

/// node-a, node-b and node-c trust each other (provisioned) with `nodeinfo` and `echo`;
/// every other identity is an authenticated stranger.
pub fn trusted_nodes() -> Vec<TrustEntry> {
    [("node-a", 1), ("node-b", 2), ("node-c", 3)]
        .iter()
        .map(|(name, seed)| {
            TrustEntry::new(
                identity(name, *seed).public_key(),
                name,
                &["nodeinfo", "echo"],
                TrustOrigin::Provisioned,
                0,
                0,
            )
            .unwrap()
        })
        .collect()
}

pub fn config() -> DaemonConfig {
    DaemonConfig {
        session_port: PORT,
        discovery_port: DISCOVERY_PORT,
        extra_announce_ports: [0, 0],
        nodeinfo: true,
        trusted: trusted_nodes(),
        pair_grant: Vec::new(),
        boot: 1,
        mux: MuxConfig::default(),
        limits: Limits::default(),
    }
}

pub struct World {
    pub sim: SimNet,
    pub nodes: Vec<Node>,
}

impl World {
    pub fn new() -> Self {
        World {
            sim: SimNet::new(),
            nodes: Vec::new(),
        }
    }

    pub fn add(&mut self, name: &'static str, addr: [u8; 4], seed: u64) -> usize {
        self.add_with(name, addr, seed, config())
    }

    pub fn add_with(
        &mut self,
        name: &'static str,
        addr: [u8; 4],
        seed: u64,
        cfg: DaemonConfig,
    ) -> usize {
        let id = self.sim.add_node(Ipv4Addr::from(addr));
        let logs = Rc::new(RefCell::new(Vec::new()));
        let plat = Plat {
            sim: self.sim.clone(),
            rng: Rng(seed ^ 0x5eed),
            name,
            logs: logs.clone(),
        };
        let d =
            Daemon::start(self.sim.client(id, CLIENT), plat, identity(name, seed), cfg).unwrap();
        self.nodes.push(Node {
            id,
            d: Some(d),
            logs,
            events: Vec::new(),
            running: true,
        });
        self.nodes.len() - 1
    }

    /// Polls every running node; returns the earliest wake-up.
    pub fn pass(&mut self) -> u64 {
        let mut wake = u64::MAX;
        for n in self.nodes.iter_mut().filter(|n| n.running) {
            let d = n.d.as_mut().unwrap();
            wake = wake.min(d.poll());
            while let Some(e) = d.next_event() {
                n.events.push(e);
            }
        }
        wake
    }

    pub fn any_ready(&self) -> bool {
        let now = self.sim.now();
        self.nodes.iter().filter(|n| n.running).any(|n| {
            let set = n.d.as_ref().unwrap().wait_set();
            let mut probe = self.sim.client(n.id, CLIENT);
            probe.wait_any(&set, now).is_ok()
        })
    }

    /// Runs until `until` (absolute) or until `stop` holds.
    pub fn run_until(&mut self, until: u64, mut stop: impl FnMut(&mut World) -> bool) -> bool {
        let mut spins = 0;
        loop {
            if stop(self) {
                return true;
            }
            let now = self.sim.now();
            if now >= until {
                return false;
            }
            let wake = self.pass();
            if (wake <= now || self.any_ready()) && spins < 10_000 {
                spins += 1;
                continue;
            }
            spins = 0;
            let next_net = self.sim.with_net(|n| n.next_event()).unwrap_or(u64::MAX);
            let next = wake.min(next_net).min(until).max(now + 1);
            self.sim.advance(next - now);
        }
    }

    pub fn run_for(&mut self, ns: u64) {
        let end = self.sim.now() + ns;
        self.run_until(end, |_| false);
    }

    pub fn wait_for(&mut self, ns: u64, what: &str, stop: impl FnMut(&mut World) -> bool) {
        let end = self.sim.now() + ns;
        assert!(self.run_until(end, stop), "timed out waiting for {what}");
    }
}

pub fn three() -> World {
    let mut w = World::new();
    w.add("node-a", [10, 0, 0, 1], 1);
    w.add("node-b", [10, 0, 0, 2], 2);
    w.add("node-c", [10, 0, 0, 3], 3);
    w
}

/// The device id of a test node by name (ids derive from the seeded keys).
pub fn nid(name: &str) -> String {
    let seed = match name {
        "node-a" => 1,
        "node-b" => 2,
        "node-c" => 3,
        "flooder" => 7,
        "ghost" => 9,
        _ => panic!("unknown test node {name}"),
    };
    id_of(seed)
}

pub fn connected(w: &mut World, i: usize, peer: &str) -> bool {
    w.nodes[i].d().connected().any(|p| p == peer)
}

/// Opens `service` on `peer` from node `i` and waits for the answer.
pub fn open(
    w: &mut World,
    i: usize,
    peer: &str,
    service: &str,
    mode: Mode,
) -> (StreamRef, BusEvent) {
    let s = w.nodes[i]
        .d()
        .open(peer, service, mode, Priority::Interactive)
        .unwrap();
    let mut answer = None;
    w.wait_for(2 * SEC, "open answer", |w| {
        answer = w.nodes[i]
            .events
            .iter()
            .find(|e| matches!(e, BusEvent::Accepted(x) | BusEvent::Refused(x, _) if *x == s))
            .cloned();
        answer.is_some()
    });
    (s, answer.unwrap())
}

/// Node `i` answers every `Incoming` for `echo` and echoes what it reads.
pub fn echo_server(w: &mut World, i: usize, streams: &mut Vec<StreamRef>) {
    let evs: Vec<BusEvent> = w.nodes[i].events.drain(..).collect();
    for e in evs {
        if let BusEvent::Incoming {
            stream, service, ..
        } = e
        {
            assert_eq!(service, "echo");
            w.nodes[i].d().accept(stream).unwrap();
            streams.push(stream);
        }
    }
    let mut buf = vec![0u8; 16 * 1024];
    for s in streams.iter() {
        loop {
            let space = w.nodes[i].d().send_space(*s).unwrap_or(0);
            if space == 0 {
                break;
            }
            let n = buf.len().min(space);
            match w.nodes[i].d().recv(*s, &mut buf[..n]) {
                Ok(0) => {
                    let _ = w.nodes[i].d().close(*s);
                    break;
                }
                Ok(n) => {
                    assert_eq!(w.nodes[i].d().send(*s, &buf[..n]), Ok(n));
                }
                Err(_) => break,
            }
        }
    }
}

//! The harness shared by the `bus` interface tests: real `Daemon`s, each with a
//! `BusService`, on `SimNet`; "applications" are badges that send encoded `bus`
//! requests and decode the replies, as over IPC. Parked calls are retried after the
//! daemons made progress, as dsoftbusd's loop does. A node may have a storaged `kv`
//! store on a fake disk, where its trust changes are saved as dsoftbusd saves them.
#![allow(dead_code)]

use dsoftbus::daemon::{Daemon, Platform};
use dsoftbus::{DeviceId, StaticKeypair};
use dsoftbusd::bus::{BusService, Served};
use dsoftbusd::trust::save;
use nexus_interfaces::bus::{self, Request};
use nexus_net::fake::{NodeId, SimNet, SimTransport};

pub const SEC: u64 = 1_000_000_000;
pub const MS: u64 = 1_000_000;
/// dsoftbusd's badge towards storaged.
pub const KV_BADGE: u64 = 0x30;

pub struct Plat {
    pub sim: SimNet,
    pub seed: u64,
}

impl Platform for Plat {
    fn now_ns(&mut self) -> u64 {
        self.sim.now()
    }
    fn ephemeral(&mut self) -> Option<[u8; 32]> {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = (self.seed >> (i % 8 * 8)) as u8 ^ i as u8;
        }
        Some(k)
    }
    fn log(&mut self, line: std::fmt::Arguments<'_>) {
        if std::env::var_os("DSOFTBUS_LOG").is_some() {
            eprintln!("[{:.3}] {}", self.sim.now() as f64 / 1e9, line);
        }
    }
}

/// storaged's `kv` server on a fake disk.
pub type Kv = storaged::KvServer<nexus_kv::fake::FakeDisk>;

/// Calls go straight to storaged's `kv` server with dsoftbusd's badge.
pub struct Direct<'a>(pub &'a mut Kv);

impl nexus_idl::Transport for Direct<'_> {
    fn call(
        &mut self,
        req: &[u8],
        rep: &mut [u8],
        _: u64,
    ) -> Result<usize, nexus_idl::TransportError> {
        let mut out = vec![0u8; nexus_interfaces::kv::REPLY_MAX];
        let n = nexus_interfaces::kv::dispatch(self.0, KV_BADGE, req, &mut out);
        let dst = rep
            .get_mut(..n)
            .ok_or(nexus_idl::TransportError::TooLarge)?;
        dst.copy_from_slice(&out[..n]);
        Ok(n)
    }
}

/// dsoftbusd's `kv` client on `server`.
pub fn kv(server: &mut Kv) -> nexus_interfaces::kv::Client<Direct<'_>> {
    nexus_interfaces::kv::Client::new(Direct(server))
}

/// The device id of the node whose static secret is `[seed; 32]`.
pub fn id(seed: u8) -> String {
    let key = StaticKeypair::from_secret([seed; 32]).public_key();
    DeviceId::of(&key).as_str().to_string()
}

pub struct Node {
    pub net: NodeId,
    /// The daemon's facade client id.
    pub client: u64,
    pub seed: u8,
    pub d: Daemon<SimTransport, Plat>,
    pub bus: BusService,
    /// The node's storaged store, if it has one.
    pub disk: Option<Kv>,
    /// Its boot count (from the store).
    pub boot: u32,
}

impl Node {
    /// The node's store (panics for a node without one).
    pub fn disk(&mut self) -> &mut Kv {
        self.disk.as_mut().expect("node has a disk")
    }
}

pub struct World {
    pub sim: SimNet,
    pub nodes: Vec<Node>,
}

pub fn deadline(w: &World, ns: u64) -> u64 {
    w.sim.now() + ns
}

impl World {
    pub fn empty() -> Self {
        World {
            sim: SimNet::new(),
            nodes: Vec::new(),
        }
    }

    /// One loop iteration of every node (trust changes saved to its disk, if any);
    /// advances time if nothing moved.
    pub fn step(&mut self) {
        let now = self.sim.now();
        let mut wake = u64::MAX;
        for n in self.nodes.iter_mut() {
            wake = wake.min(n.d.poll());
            while let Some(ev) = n.d.next_event() {
                let _ = n.bus.on_event(&mut n.d, ev, now);
            }
            for id in n.bus.take_trust_changes() {
                if let Some(disk) = n.disk.as_mut() {
                    save(&mut kv(disk), n.d.trust(), &id).unwrap();
                }
            }
        }
        if wake > now {
            let ready = self.nodes.iter().any(|n| {
                let mut probe = self.sim.client(n.net, n.client);
                probe.wait_any(&n.d.wait_set(), now).is_ok()
            });
            if !ready {
                self.sim.advance((wake - now).clamp(1, 5 * MS));
            }
        }
    }

    pub fn run(&mut self, ns: u64) {
        let end = self.sim.now() + ns;
        while self.sim.now() < end {
            self.step();
        }
    }

    /// A call from `app` on node `i`: parks and retries like dsoftbusd's loop.
    pub fn call(&mut self, i: usize, app: u64, req: &Request<'_>) -> Vec<u8> {
        let mut buf = vec![0u8; bus::REQUEST_MAX];
        let n = req.encode(&mut buf).unwrap();
        let mut out = vec![0u8; bus::REPLY_MAX];
        for _ in 0..200_000 {
            let now = self.sim.now();
            let node = &mut self.nodes[i];
            match node.bus.serve(&mut node.d, app, &buf[..n], &mut out, now) {
                Served::Reply(k) => return out[..k].to_vec(),
                Served::Park(deadline) => {
                    assert!(deadline > now);
                    self.step();
                }
            }
        }
        panic!("call never finished");
    }

    /// Runs until nodes 0 and 1 each hold a session (10 s at most).
    pub fn connected(&mut self) {
        let end = self.sim.now() + 10 * SEC;
        while self.nodes[0].d.sessions() == 0 || self.nodes[1].d.sessions() == 0 {
            assert!(self.sim.now() < end, "no session");
            self.step();
        }
    }
}

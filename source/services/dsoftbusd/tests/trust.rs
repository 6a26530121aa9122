//! Trust through the `bus` interface: the `manage` right, PIN pairing between two
//! nodes, and the trust store persisted in storaged's real `kv` store (a fake disk per
//! node) across a daemon restart.

use dsoftbus::daemon::{Daemon, DaemonConfig, Limits, Platform};
use dsoftbus::mux::MuxConfig;
use dsoftbus::{DeviceId, LocalIdentity, StaticKeypair, DISCOVERY_PORT};
use dsoftbusd::bus::{BusService, Served};
use dsoftbusd::trust::{load, next_boot, record_key, save};
use nexus_interfaces::bus::{self, reply, Error, Mode, Priority, Request, TrustOrigin};
use nexus_net::fake::{NodeId, SimNet, SimTransport};
use nexus_net::Ipv4Addr;

const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
/// The badge with the `manage` right; `APP` has none.
const ADMIN: u64 = 0x71;
const APP: u64 = 0x70;
/// dsoftbusd's badge towards storaged.
const KV_BADGE: u64 = 0x30;

struct Plat {
    sim: SimNet,
    seed: u64,
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

type Kv = storaged::KvServer<nexus_kv::fake::FakeDisk>;

/// Calls go straight to storaged's `kv` server with dsoftbusd's badge.
struct Direct<'a>(&'a mut Kv);

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

fn kv(server: &mut Kv) -> nexus_interfaces::kv::Client<Direct<'_>> {
    nexus_interfaces::kv::Client::new(Direct(server))
}

struct Node {
    net: NodeId,
    seed: u8,
    d: Daemon<SimTransport, Plat>,
    bus: BusService,
    disk: Kv,
    boot: u32,
    client: u64,
}

struct World {
    sim: SimNet,
    nodes: Vec<Node>,
}

fn id(seed: u8) -> String {
    let key = StaticKeypair::from_secret([seed; 32]).public_key();
    DeviceId::of(&key).as_str().to_string()
}

/// A daemon for node `seed` whose trust store comes from its disk, as dsoftbusd starts.
fn start(
    sim: &SimNet,
    net: NodeId,
    seed: u8,
    disk: &mut Kv,
    client: u64,
) -> (Daemon<SimTransport, Plat>, u32) {
    let boot = next_boot(&mut kv(disk)).unwrap();
    let loaded = load(&mut kv(disk)).unwrap();
    assert!(loaded.damaged.is_empty());
    let cfg = DaemonConfig {
        session_port: 37030,
        discovery_port: DISCOVERY_PORT,
        extra_announce_ports: [0, 0],
        nodeinfo: true,
        trusted: loaded.entries,
        pair_grant: vec!["echo".into()],
        boot,
        mux: MuxConfig::default(),
        limits: Limits::default(),
    };
    let me = LocalIdentity::new(StaticKeypair::from_secret([seed; 32]));
    let plat = Plat {
        sim: sim.clone(),
        seed: u64::from(seed) * 7 + u64::from(boot),
    };
    (
        Daemon::start(sim.client(net, client), plat, me, cfg).unwrap(),
        boot,
    )
}

impl World {
    fn new() -> Self {
        let sim = SimNet::new();
        let mut w = World {
            sim,
            nodes: Vec::new(),
        };
        for (seed, addr) in [(1u8, [10, 0, 0, 1]), (2, [10, 0, 0, 2])] {
            let net = w.sim.add_node(Ipv4Addr::from(addr));
            let disk = nexus_kv::fake::FakeDisk::new(128);
            let (store, _) = nexus_kv::Store::open(disk, nexus_kv::BadImage::Reformat)
                .unwrap_or_else(|(_, e)| panic!("open: {e:?}"));
            let mut disk = storaged::KvServer { store };
            let (d, boot) = start(&w.sim, net, seed, &mut disk, 1);
            let bus = BusService::new(&[(APP, "echo")]).with_manage(&[ADMIN]);
            w.nodes.push(Node {
                net,
                seed,
                d,
                bus,
                disk,
                boot,
                client: 1,
            });
        }
        w
    }

    /// dsoftbusd's node restarts: a new daemon and bus service on the same disk.
    fn restart(&mut self, i: usize, client: u64) {
        let n = &mut self.nodes[i];
        // The old daemon's facade client goes away with it (its sockets are freed).
        self.sim.drop_client(n.net, client - 1);
        let (d, boot) = start(&self.sim, n.net, n.seed, &mut n.disk, client);
        n.d = d;
        n.boot = boot;
        n.client = client;
        n.bus = BusService::new(&[(APP, "echo")]).with_manage(&[ADMIN]);
    }

    /// One loop iteration of every node, persisting trust changes as dsoftbusd does.
    fn step(&mut self) {
        let now = self.sim.now();
        let mut wake = u64::MAX;
        for n in self.nodes.iter_mut() {
            wake = wake.min(n.d.poll());
            while let Some(ev) = n.d.next_event() {
                let _ = n.bus.on_event(&mut n.d, ev, now);
            }
            for id in n.bus.take_trust_changes() {
                save(&mut kv(&mut n.disk), n.d.trust(), &id).unwrap();
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

    fn run(&mut self, ns: u64) {
        let end = self.sim.now() + ns;
        while self.sim.now() < end {
            self.step();
        }
    }

    fn call(&mut self, i: usize, app: u64, req: &Request<'_>) -> Vec<u8> {
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

    fn connected(&mut self) {
        let end = self.sim.now() + 10 * SEC;
        while self.nodes[0].d.sessions() == 0 || self.nodes[1].d.sessions() == 0 {
            assert!(self.sim.now() < end, "no session");
            self.step();
        }
    }

    /// Node 0 opens `echo` on node 1 and node 1's echo app accepts; the open's result.
    fn open_echo(&mut self) -> Result<u32, Error> {
        let b = id(2);
        let deadline = self.sim.now() + 3 * SEC;
        let r = self.call(
            0,
            APP,
            &Request::Open {
                peer: &b,
                service: "echo",
                mode: Mode::Message,
                priority: Priority::Interactive,
                deadline_ns: deadline,
            },
        );
        reply::decode_open(&r)
    }
}

#[test]
fn trust_ops_need_the_manage_right() {
    let mut w = World::new();
    w.connected();
    let b = id(2);
    let deadline = w.sim.now() + SEC;
    let r = w.call(1, APP, &Request::ShowPin { valid_ms: 60_000 });
    assert_eq!(reply::decode_show_pin(&r), Err(Error::Denied));
    let r = w.call(
        0,
        APP,
        &Request::Pair {
            peer: &b,
            pin: 1,
            deadline_ns: deadline,
        },
    );
    assert_eq!(reply::decode_pair(&r), Err(Error::Denied));
    let r = w.call(
        0,
        APP,
        &Request::Grant {
            peer: &b,
            services: nexus_idl::List(Default::default()),
        },
    );
    assert_eq!(reply::decode_grant(&r), Err(Error::Denied));
    let r = w.call(0, APP, &Request::Untrust { peer: &b });
    assert_eq!(reply::decode_untrust(&r), Err(Error::Denied));
    // Reading the store needs no right; with the right, bounds and unknown devices.
    let r = w.call(0, APP, &Request::Trusted { after: "" });
    assert!(reply::decode_trusted(&r).unwrap().0.is_empty());
    let r = w.call(1, ADMIN, &Request::ShowPin { valid_ms: 0 });
    assert_eq!(reply::decode_show_pin(&r), Err(Error::BadMessage));
    let r = w.call(1, ADMIN, &Request::ShowPin { valid_ms: 300_001 });
    assert_eq!(reply::decode_show_pin(&r), Err(Error::BadMessage));
    let r = w.call(0, ADMIN, &Request::Untrust { peer: &b });
    assert_eq!(reply::decode_untrust(&r), Err(Error::Untrusted));
    // Nothing was changed by the refused calls.
    assert!(w.nodes[0].d.trust().is_empty() && w.nodes[1].d.trust().is_empty());
    assert!(!w.nodes[1].d.showing_pin());
}

#[test]
fn paired_trust_survives_a_restart_on_the_same_disk() {
    let mut w = World::new();
    w.connected();
    let (a, b) = (id(1), id(2));
    let r = w.call(1, APP, &Request::Publish { service: "echo" });
    assert_eq!(reply::decode_publish(&r), Ok(()));
    w.run(1200 * MS);
    // Untrusted: the open is refused.
    assert_eq!(w.open_echo(), Err(Error::Refused));
    // B shows a PIN; A enters a wrong one first, then (after the back-off) the right one.
    let r = w.call(1, ADMIN, &Request::ShowPin { valid_ms: 120_000 });
    let pin = reply::decode_show_pin(&r).unwrap();
    assert!(pin <= 999_999);
    let pair = |w: &mut World, pin: u32| {
        let deadline = w.sim.now() + 10 * SEC;
        let r = w.call(
            0,
            ADMIN,
            &Request::Pair {
                peer: &b,
                pin,
                deadline_ns: deadline,
            },
        );
        reply::decode_pair(&r)
    };
    assert_eq!(pair(&mut w, (pin + 1) % 1_000_000), Err(Error::WrongPin));
    assert_eq!(pair(&mut w, pin), Err(Error::RateLimited));
    w.run(1500 * MS);
    assert_eq!(pair(&mut w, pin), Ok(()));
    w.run(200 * MS);
    // Both trust each other, with their pairing grant, recorded on their disks.
    let r = w.call(0, APP, &Request::Trusted { after: "" });
    let list = reply::decode_trusted(&r).unwrap();
    assert_eq!(list.0.len(), 1);
    assert_eq!(list.0[0].device_id, b.as_str());
    assert_eq!(list.0[0].origin, TrustOrigin::Paired);
    assert_eq!(list.0[0].added_boot, 1);
    assert_eq!(list.0[0].services.0[0], "echo");
    for (i, peer) in [(0, &b), (1, &a)] {
        let stored = kv(&mut w.nodes[i].disk).get(&record_key(peer)).unwrap();
        let e = dsoftbus::TrustEntry::decode(&stored).unwrap();
        assert_eq!(e.device_id(), peer.as_str());
    }
    assert!(w.open_echo().is_ok());
    // Both daemons restart on their disks: trust is back without pairing.
    w.restart(0, 2);
    w.restart(1, 2);
    assert_eq!(w.nodes[0].boot, 2);
    assert!(w.nodes[0].d.trust().get(&b).is_some());
    assert!(w.nodes[1].d.trust().get(&a).is_some());
    w.connected();
    let r = w.call(1, APP, &Request::Publish { service: "echo" });
    assert_eq!(reply::decode_publish(&r), Ok(()));
    w.run(1200 * MS);
    assert!(w.open_echo().is_ok(), "a stream to B works without pairing");
    // Untrust on B removes the record from B's disk; A's opens are refused again.
    let r = w.call(1, ADMIN, &Request::Untrust { peer: &a });
    assert_eq!(reply::decode_untrust(&r), Ok(()));
    w.run(SEC);
    assert_eq!(
        kv(&mut w.nodes[1].disk).get(&record_key(&a)).err(),
        Some(nexus_interfaces::kv::Error::NotFound)
    );
    w.connected();
    w.run(1200 * MS);
    assert_eq!(w.open_echo(), Err(Error::Refused));
    // A damaged record is skipped at the next start, never trusted.
    kv(&mut w.nodes[0].disk)
        .put(&record_key(&b), b"NXTR\x01garbage")
        .unwrap();
    let loaded = load(&mut kv(&mut w.nodes[0].disk)).unwrap();
    assert!(loaded.entries.is_empty());
    assert_eq!(loaded.damaged, vec![b.clone()]);
}

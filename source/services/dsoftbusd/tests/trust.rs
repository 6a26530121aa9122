//! Trust through the `bus` interface: the `manage` right, PIN pairing between two
//! nodes, and the trust store persisted in storaged's real `kv` store (a fake disk per
//! node) across a daemon restart.

mod common;

use common::{id, kv, Kv, Node, Plat, World, MS, SEC};
use dsoftbus::daemon::{Daemon, DaemonConfig, Limits};
use dsoftbus::mux::MuxConfig;
use dsoftbus::{LocalIdentity, StaticKeypair, DISCOVERY_PORT};
use dsoftbusd::bus::BusService;
use dsoftbusd::trust::{load, next_boot, record_key};
use nexus_interfaces::bus::{reply, Error, Mode, Priority, Request, TrustOrigin};
use nexus_net::fake::{NodeId, SimNet, SimTransport};
use nexus_net::Ipv4Addr;

/// The badge with the `manage` right; `APP` has none.
const ADMIN: u64 = 0x71;
const APP: u64 = 0x70;

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
        let mut w = World::empty();
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
                disk: Some(disk),
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
        let (d, boot) = start(&self.sim, n.net, n.seed, n.disk(), client);
        n.d = d;
        n.boot = boot;
        n.client = client;
        n.bus = BusService::new(&[(APP, "echo")]).with_manage(&[ADMIN]);
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
        let stored = kv(w.nodes[i].disk()).get(&record_key(peer)).unwrap();
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
        kv(w.nodes[1].disk()).get(&record_key(&a)).err(),
        Some(nexus_interfaces::kv::Error::NotFound)
    );
    w.connected();
    w.run(1200 * MS);
    assert_eq!(w.open_echo(), Err(Error::Refused));
    // A damaged record is skipped at the next start, never trusted.
    kv(w.nodes[0].disk())
        .put(&record_key(&b), b"NXTR\x01garbage")
        .unwrap();
    let loaded = load(&mut kv(w.nodes[0].disk())).unwrap();
    assert!(loaded.entries.is_empty());
    assert_eq!(loaded.damaged, vec![b.clone()]);
}

//! The `bus` interface end to end on the fake network: two nodes, each a real
//! `Daemon` with a `BusService`; "applications" are badges that send encoded `bus`
//! requests and decode the replies, exactly as over IPC. Parked calls are retried after
//! the daemons made progress, as dsoftbusd's loop does.

mod common;

use common::{deadline, id, Node, Plat, World, MS, SEC};
use dsoftbus::daemon::{Daemon, DaemonConfig, Limits};
use dsoftbus::mux::MuxConfig;
use dsoftbus::{LocalIdentity, StaticKeypair, TrustEntry, TrustOrigin, DISCOVERY_PORT};
use dsoftbusd::bus::{BusService, Served, MAX_HANDLES_PER_CLIENT};
use nexus_interfaces::bus::{self, reply, Error, Mode, PeerEvent, Priority, Request};
use nexus_net::Ipv4Addr;

const ECHO_APP: u64 = 7;
const CLIENT_APP: u64 = 5;

impl World {
    fn new() -> Self {
        let mut w = World::empty();
        w.add("node-a", [10, 0, 0, 1], 1);
        w.add("node-b", [10, 0, 0, 2], 2);
        w
    }

    fn add(&mut self, name: &str, addr: [u8; 4], seed: u8) {
        let net = self.sim.add_node(Ipv4Addr::from(addr));
        let bus = BusService::new(&[(ECHO_APP, "echo")]);
        // node-a (seed 1) and node-b (seed 2) trust each other with nodeinfo and echo.
        let trusted = [1u8, 2]
            .iter()
            .filter(|&&s| s != seed)
            .map(|&s| {
                let key = StaticKeypair::from_secret([s; 32]).public_key();
                TrustEntry::new(
                    key,
                    "",
                    &["nodeinfo", "echo"],
                    TrustOrigin::Provisioned,
                    0,
                    0,
                )
                .unwrap()
            })
            .collect();
        let cfg = DaemonConfig {
            session_port: 37030,
            discovery_port: DISCOVERY_PORT,
            extra_announce_ports: [0, 0],
            nodeinfo: true,
            trusted,
            pair_grant: Vec::new(),
            boot: 1,
            mux: MuxConfig::default(),
            limits: Limits::default(),
        };
        let me = LocalIdentity::new(StaticKeypair::from_secret([seed; 32]))
            .with_name(name)
            .unwrap();
        let plat = Plat {
            sim: self.sim.clone(),
            seed: u64::from(seed),
        };
        let d = Daemon::start(self.sim.client(net, 1), plat, me, cfg).unwrap();
        self.nodes.push(Node {
            net,
            client: 1,
            seed,
            d,
            bus,
            disk: None,
            boot: 1,
        });
    }
}

#[test]
fn echo_through_the_bus_interface_with_precise_errors() {
    let (a_id, b_id) = (id(1), id(2));
    let mut w = World::new();
    w.connected();
    // Publishing is governed by the rules: the echo app may, the client may not.
    let r = w.call(1, CLIENT_APP, &Request::Publish { service: "echo" });
    assert_eq!(reply::decode_publish(&r), Err(Error::Denied));
    let r = w.call(1, ECHO_APP, &Request::Publish { service: "echo" });
    assert_eq!(reply::decode_publish(&r), Ok(()));
    w.run(1200 * MS);
    // Peers list B with its services.
    let r = w.call(0, CLIENT_APP, &Request::Peers { after: "" });
    let peers = reply::decode_peers(&r).unwrap();
    let b = peers
        .0
        .iter()
        .find(|p| p.device_id == b_id.as_str())
        .unwrap();
    assert!(b.online);
    assert!(b.services.0.iter().any(|s| s == "echo"));
    // The name B announces (a claim shown to people; the id is what is checked).
    assert_eq!(b.display_name, "node-b");
    // A opens echo on B (parks until B answers), B's app accepts.
    let dl = deadline(&w, 2 * SEC);
    let r = w.call(
        0,
        CLIENT_APP,
        &Request::Open {
            peer: b_id.as_str(),
            service: "echo",
            mode: Mode::Message,
            priority: Priority::Interactive,
            deadline_ns: dl,
        },
    );
    let h = reply::decode_open(&r).unwrap();
    let dl = deadline(&w, 2 * SEC);
    let r = w.call(
        1,
        ECHO_APP,
        &Request::Accept {
            service: "echo",
            deadline_ns: dl,
        },
    );
    let inc = reply::decode_accept(&r).unwrap();
    assert_eq!(inc.peer, a_id.as_str());
    assert_eq!(inc.mode, Mode::Message);
    for msg in [&b"hello"[..], &[0x5a; 8000][..]] {
        let dl = deadline(&w, 2 * SEC);
        let r = w.call(
            0,
            CLIENT_APP,
            &Request::Send {
                handle: h,
                data: msg,
                deadline_ns: dl,
            },
        );
        assert_eq!(reply::decode_send(&r), Ok(msg.len() as u32));
        let dl = deadline(&w, 2 * SEC);
        let r = w.call(
            1,
            ECHO_APP,
            &Request::Recv {
                handle: inc.handle,
                max: 8000,
                deadline_ns: dl,
            },
        );
        let got = reply::decode_recv(&r).unwrap();
        assert_eq!(&got[..], msg);
        let r = w.call(
            1,
            ECHO_APP,
            &Request::Send {
                handle: inc.handle,
                data: &got,
                deadline_ns: dl,
            },
        );
        assert!(reply::decode_send(&r).is_ok());
        let r = w.call(
            0,
            CLIENT_APP,
            &Request::Recv {
                handle: h,
                max: 8000,
                deadline_ns: dl,
            },
        );
        assert_eq!(&reply::decode_recv(&r).unwrap()[..], msg);
    }
    // Both sides list the one session carrying the stream, with its bytes.
    for (node, peer) in [(0, b_id.as_str()), (1, a_id.as_str())] {
        let r = w.call(node, CLIENT_APP, &Request::Sessions { after: "" });
        let list = reply::decode_sessions(&r).unwrap();
        assert_eq!(list.0.len(), 1, "node {node}");
        let s = &list.0[0];
        assert_eq!(s.peer, peer);
        assert_eq!(s.streams, 1);
        // Two messages each way (5 and 8000 bytes), sealed: more than that.
        assert!(s.bytes_in > 8005 && s.bytes_out > 8005, "{s:?}");
        let r = w.call(node, CLIENT_APP, &Request::Sessions { after: peer });
        assert!(reply::decode_sessions(&r).unwrap().0.is_empty());
    }
    // A recv with nothing to read times out exactly at its deadline.
    let dl = deadline(&w, 300 * MS);
    let r = w.call(
        0,
        CLIENT_APP,
        &Request::Recv {
            handle: h,
            max: 100,
            deadline_ns: dl,
        },
    );
    assert_eq!(reply::decode_recv(&r), Err(Error::TimedOut));
    assert!(w.sim.now() >= dl);
    // Errors that say what happened.
    let dl = deadline(&w, SEC);
    let open = |peer, service| Request::Open {
        peer,
        service,
        mode: Mode::Bytes,
        priority: Priority::Bulk,
        deadline_ns: dl,
    };
    let r = w.call(0, CLIENT_APP, &open(b_id.as_str(), "samgrd"));
    assert_eq!(reply::decode_open(&r), Err(Error::NotPublished));
    let r = w.call(0, CLIENT_APP, &open("nobody", "echo"));
    assert_eq!(reply::decode_open(&r), Err(Error::UnknownPeer));
    let r = w.call(
        1,
        CLIENT_APP,
        &Request::Recv {
            handle: inc.handle,
            max: 1,
            deadline_ns: 0,
        },
    );
    assert_eq!(
        reply::decode_recv(&r),
        Err(Error::UnknownHandle),
        "another client's handle"
    );
    // The client app dies: its stream is reset, and B's app learns it.
    let n0 = &mut w.nodes[0];
    n0.bus.client_gone(&mut n0.d, CLIENT_APP);
    assert_eq!(w.nodes[0].bus.handles_of(CLIENT_APP), 0);
    let dl = deadline(&w, 2 * SEC);
    let r = w.call(
        1,
        ECHO_APP,
        &Request::Recv {
            handle: inc.handle,
            max: 100,
            deadline_ns: dl,
        },
    );
    assert_eq!(reply::decode_recv(&r), Err(Error::Reset));
}

#[test]
fn peer_events_handles_bound_and_peer_gone() {
    let b_id = id(2);
    let mut w = World::new();
    // Subscribe before the session exists: the online event arrives.
    let dl = deadline(&w, 5 * SEC);
    let r = w.call(0, CLIENT_APP, &Request::NextPeerEvent { deadline_ns: dl });
    match reply::decode_next_peer_event(&r).unwrap() {
        PeerEvent::Online { peer } => assert_eq!(peer.device_id, b_id.as_str()),
        e => panic!("{e:?}"),
    }
    let r = w.call(1, ECHO_APP, &Request::Publish { service: "echo" });
    assert_eq!(reply::decode_publish(&r), Ok(()));
    // B's new service reaches A's subscriber with its next announcement.
    let dl = deadline(&w, 3 * SEC);
    let r = w.call(0, CLIENT_APP, &Request::NextPeerEvent { deadline_ns: dl });
    match reply::decode_next_peer_event(&r).unwrap() {
        PeerEvent::ServicesChanged { peer } => {
            assert_eq!(peer.device_id, b_id.as_str());
            assert!(peer.services.0.iter().any(|s| s == "echo"));
        }
        e => panic!("{e:?}"),
    }
    // Handles per client are bounded.
    let mut handles = Vec::new();
    for k in 0..MAX_HANDLES_PER_CLIENT + 1 {
        let dl = deadline(&w, 200 * MS);
        let r = w.call(
            0,
            CLIENT_APP,
            &Request::Open {
                peer: b_id.as_str(),
                service: "echo",
                mode: Mode::Bytes,
                priority: Priority::Bulk,
                deadline_ns: dl,
            },
        );
        let dl = deadline(&w, 200 * MS);
        let _ = w.call(
            1,
            ECHO_APP,
            &Request::Accept {
                service: "echo",
                deadline_ns: dl,
            },
        );
        match reply::decode_open(&r) {
            Ok(h) => handles.push(h),
            Err(e) => {
                assert_eq!(k, MAX_HANDLES_PER_CLIENT);
                assert_eq!(e, Error::NoResources);
            }
        }
    }
    assert_eq!(handles.len(), MAX_HANDLES_PER_CLIENT);
    // B goes away: A's streams end with PeerGone and the offline event arrives.
    // Stop running B (no announces, no reads, no FIN).
    w.nodes.pop();
    check_gone(w, handles);
}

fn check_gone(mut w: World, handles: Vec<u32>) {
    let b_id = id(2);
    let dl = deadline(&w, 10 * SEC);
    let r = w.call(
        0,
        CLIENT_APP,
        &Request::Recv {
            handle: handles[0],
            max: 10,
            deadline_ns: dl,
        },
    );
    assert_eq!(reply::decode_recv(&r), Err(Error::PeerGone));
    let dl = deadline(&w, SEC);
    let r = w.call(0, CLIENT_APP, &Request::NextPeerEvent { deadline_ns: dl });
    match reply::decode_next_peer_event(&r).unwrap() {
        PeerEvent::Offline { device_id } => assert_eq!(device_id, b_id.as_str()),
        e => panic!("{e:?}"),
    }
    let r = w.call(0, CLIENT_APP, &Request::Reset { handle: handles[0] });
    assert_eq!(reply::decode_reset(&r), Ok(()));
}

/// Serves a request once (no retry): `None` if it parked.
fn try_call(w: &mut World, i: usize, app: u64, req: &Request<'_>) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; bus::REQUEST_MAX];
    let n = req.encode(&mut buf).unwrap();
    let mut out = vec![0u8; bus::REPLY_MAX];
    let now = w.sim.now();
    let node = &mut w.nodes[i];
    match node.bus.serve(&mut node.d, app, &buf[..n], &mut out, now) {
        Served::Reply(k) => Some(out[..k].to_vec()),
        Served::Park(_) => None,
    }
}

#[test]
fn local_echo_between_two_applications_of_one_device() {
    let a_id = id(1);
    let mut w = World::new();
    let r = w.call(0, ECHO_APP, &Request::Publish { service: "echo" });
    assert_eq!(reply::decode_publish(&r), Ok(()));
    let dl = deadline(&w, 2 * SEC);
    let open = Request::Open {
        peer: "",
        service: "echo",
        mode: Mode::Message,
        priority: Priority::Interactive,
        deadline_ns: dl,
    };
    // The open waits for the local application to accept.
    assert_eq!(try_call(&mut w, 0, CLIENT_APP, &open), None);
    let r = w.call(
        0,
        ECHO_APP,
        &Request::Accept {
            service: "echo",
            deadline_ns: dl,
        },
    );
    let inc = reply::decode_accept(&r).unwrap();
    assert_eq!(inc.peer, a_id.as_str());
    let h = reply::decode_open(&try_call(&mut w, 0, CLIENT_APP, &open).unwrap()).unwrap();
    for msg in [&b"local"[..], &[7u8; 8000][..]] {
        let r = w.call(
            0,
            CLIENT_APP,
            &Request::Send {
                handle: h,
                data: msg,
                deadline_ns: dl,
            },
        );
        assert_eq!(reply::decode_send(&r), Ok(msg.len() as u32));
        let r = w.call(
            0,
            ECHO_APP,
            &Request::Recv {
                handle: inc.handle,
                max: 8000,
                deadline_ns: dl,
            },
        );
        let got = reply::decode_recv(&r).unwrap();
        assert_eq!(&got[..], msg);
        let r = w.call(
            0,
            ECHO_APP,
            &Request::Send {
                handle: inc.handle,
                data: &got,
                deadline_ns: dl,
            },
        );
        assert!(reply::decode_send(&r).is_ok());
        let r = w.call(
            0,
            CLIENT_APP,
            &Request::Recv {
                handle: h,
                max: 8000,
                deadline_ns: dl,
            },
        );
        assert_eq!(&reply::decode_recv(&r).unwrap()[..], msg);
    }
    // A full local window throttles the sender (the echo app does not read).
    let mut accepted = 0;
    let fill = Request::Send {
        handle: h,
        data: &[1u8; 8000],
        deadline_ns: dl,
    };
    while let Some(r) = try_call(&mut w, 0, CLIENT_APP, &fill) {
        accepted += reply::decode_send(&r).unwrap();
        assert!(accepted <= dsoftbusd::bus::LOCAL_WINDOW as u32);
    }
    // Graceful close: the reader drains, then sees the end.
    let r = w.call(0, CLIENT_APP, &Request::Close { handle: h });
    assert_eq!(reply::decode_close(&r), Ok(()));
    let mut drained = 0;
    loop {
        let r = w.call(
            0,
            ECHO_APP,
            &Request::Recv {
                handle: inc.handle,
                max: 8000,
                deadline_ns: dl,
            },
        );
        let got = reply::decode_recv(&r).unwrap();
        if got.is_empty() {
            break;
        }
        drained += got.len() as u32;
    }
    assert_eq!(drained, accepted);
    // The opener's app dies: the other end is reset.
    let n0 = &mut w.nodes[0];
    n0.bus.client_gone(&mut n0.d, CLIENT_APP);
    let r = w.call(
        0,
        ECHO_APP,
        &Request::Send {
            handle: inc.handle,
            data: b"x",
            deadline_ns: dl,
        },
    );
    assert_eq!(reply::decode_send(&r), Err(Error::Reset));
    // Nobody publishes samgrd locally.
    let r = w.call(
        0,
        CLIENT_APP,
        &Request::Open {
            peer: "",
            service: "samgrd",
            mode: Mode::Bytes,
            priority: Priority::Bulk,
            deadline_ns: dl,
        },
    );
    assert_eq!(reply::decode_open(&r), Err(Error::NotPublished));
}

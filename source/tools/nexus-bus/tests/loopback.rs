//! Two nexus-bus nodes on 127.0.0.1 with their own ports (no root, no namespace):
//! they discover each other, authenticate with Noise XK through the `dsoftbus` crate,
//! are refused while untrusted, fail to pair with a wrong PIN, pair with the right one
//! (both trust stores persisted),
//! and stream 1 MiB, checked byte for byte (digest) at the other end, while junk
//! connections sit on the session port; an echo stream in message mode; a refused open;
//! and the identity file's round trip and refusals.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use dsoftbus::mux::{Mode, Priority, RefuseReason};
use dsoftbus::pairing::PairError;
use dsoftbus::StaticKeypair;
use nexus_bus::identity::{self, Origin};
use nexus_bus::net::now_ns;
use nexus_bus::node::{hex, HostPlatform, SEC};
use nexus_bus::{Error, Node, NodeConfig, ServeMode};
use nexus_net::{IfaceInfo, Ipv4Addr};

const MIB: usize = 1 << 20;

/// Free UDP and TCP port numbers on 127.0.0.1 (held while picking so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<(UdpSocket, std::net::TcpListener)> = (0..n)
        .map(|_| loop {
            let u = UdpSocket::bind("127.0.0.1:0").unwrap();
            let p = u.local_addr().unwrap().port();
            if let Ok(t) = std::net::TcpListener::bind(("127.0.0.1", p)) {
                break (u, t);
            }
        })
        .collect();
    held.iter()
        .map(|(u, _)| u.local_addr().unwrap().port())
        .collect()
}

fn keys(seed: u8) -> StaticKeypair {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).unwrap();
    s[0] = seed;
    StaticKeypair::from_secret(s)
}

type Logs = Arc<Mutex<Vec<String>>>;

fn node(
    keys: StaticKeypair,
    ports: (u16, u16, u16),
    serve: &[&str],
    logs: Logs,
    trust_dir: &std::path::Path,
) -> Node {
    let (session, discovery, other) = ports;
    Node::start(
        keys,
        NodeConfig {
            // A /32: the "broadcast" address is 127.0.0.1 itself, so announces reach
            // the other node's discovery port on this host.
            iface: IfaceInfo {
                addr: Ipv4Addr::LOCALHOST,
                prefix_len: 32,
                gateway: None,
                mtu: 1500,
            },
            session_port: session,
            discovery_port: discovery,
            extra_announce_ports: [other, 0],
            name: "test".into(),
            serve: serve.iter().map(|s| s.to_string()).collect(),
            trusted: nexus_bus::trustdir::load(trust_dir).unwrap(),
            pair_grant: serve.iter().map(|s| s.to_string()).collect(),
            trust_dir: Some(trust_dir.to_path_buf()),
        },
        HostPlatform::new(Box::new(move |l: &str| {
            if std::env::var_os("NEXUS_BUS_LOG").is_some() {
                eprintln!("{}", l);
            }
            logs.lock().unwrap().push(l.to_string());
        })),
    )
    .unwrap()
}

fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

#[test]
fn two_nodes_discover_authenticate_and_stream_1_mib() {
    let p = free_ports(4);
    let (ka, kb) = (keys(1), keys(2));
    let (la, lb): (Logs, Logs) = Default::default();
    let tmp = std::env::temp_dir().join(format!("nexus-bus-pair-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (ta, tb) = (tmp.join("a"), tmp.join("b"));
    let mut a = node(ka, (p[0], p[1], p[3]), &["sink", "echo"], la.clone(), &ta);
    let mut b = node(kb, (p[2], p[3], p[1]), &[], lb.clone(), &tb);
    let (ida, idb) = (a.id().to_string(), b.id().to_string());
    assert_ne!(ida, idb);
    let pin = a.show_pin(60 * SEC).unwrap();
    assert!(pin <= 999_999);

    // A serves on its own thread (its daemon also answers pairing): one sink stream,
    // one echo stream.
    let server = std::thread::spawn(move || {
        let mut served = Vec::new();
        a.serve(ServeMode::Sink, Some(1), now_ns() + 60 * SEC, |s| {
            served.push(s.clone())
        })
        .unwrap();
        a.serve(ServeMode::Echo, Some(1), now_ns() + 60 * SEC, |s| {
            served.push(s.clone())
        })
        .unwrap();
        // As the tool does before it exits: B must read the echo and our CLOSE
        // before the session goes (a session's end drops its streams' unread data).
        a.leave(SEC);
        served
    });

    // Unauthenticated junk on A's session port: garbage, a silent connection, a
    // half-sent handshake frame. It costs only those connections.
    let mut junk = Vec::new();
    for bytes in [&b"GET / HTTP/1.0\r\n\r\n"[..], &[], &[0x00, 0x30, 1, 2, 3]] {
        let mut t = std::net::TcpStream::connect(("127.0.0.1", p[0])).unwrap();
        std::io::Write::write_all(&mut t, bytes).unwrap();
        junk.push(t);
    }

    // B discovers A (with its services) and an authenticated session comes up.
    let end = now_ns() + 30 * SEC;
    b.run_until(end, "discovery", |n| {
        n.peers()
            .iter()
            .any(|p| p.id == ida && p.session && p.services.contains(&"sink".to_string()))
    })
    .unwrap();
    let listed = b.peers();
    let pa = listed.iter().find(|p| p.id == ida).unwrap();
    assert_eq!(pa.addr, Ipv4Addr::LOCALHOST);
    assert_eq!(pa.port, p[0]);

    // Authenticated but not trusted: A refuses every service (denied).
    assert_eq!(
        b.open(&ida, "sink", Mode::Bytes, Priority::Bulk, end)
            .unwrap_err(),
        Error::Refused(RefuseReason::Denied)
    );
    // A wrong PIN does not pair.
    let wrong = (pin + 1) % 1_000_000;
    assert_eq!(
        b.pair(&ida, wrong, end).unwrap_err(),
        Error::Pair(PairError::WrongPin)
    );
    assert!(b.trusted().is_empty());
    // The right PIN pairs (after A's back-off for the failed attempt).
    // A retry right after the failure may also find A still closing the failed
    // exchange (`Gone`); both are retried, a bounded number of times.
    for tries in 1.. {
        match b.pair(&ida, pin, end) {
            Ok(()) => break,
            Err(Error::Pair(PairError::RateLimited | PairError::Gone)) if tries < 10 => {
                let t = now_ns() + 300 * nexus_bus::node::MS;
                b.run_until(t, "back-off", |_| false).unwrap_err();
            }
            Err(e) => panic!("pairing: {}", e),
        }
    }
    // Both trust each other, on disk too; B may open what A's pairing grant lists.
    assert_eq!(b.trusted()[0].device_id(), ida);
    assert_eq!(nexus_bus::trustdir::load(&tb).unwrap()[0].device_id(), ida);
    b.run_until(end, "A's trust file", |_| {
        nexus_bus::trustdir::load(&ta).unwrap().len() == 1
    })
    .unwrap();
    let ea = &nexus_bus::trustdir::load(&ta).unwrap()[0];
    assert_eq!(ea.device_id(), idb);
    assert_eq!(ea.services(), ["sink".to_string(), "echo".to_string()]);

    // A service A does not publish is refused.
    assert_eq!(
        b.open(&ida, "samgrd", Mode::Bytes, Priority::Bulk, end)
            .unwrap_err(),
        Error::Refused(RefuseReason::NotPublished)
    );

    // 1 MiB byte stream B -> A, digest checked by A and answered.
    let s = b
        .open(&ida, "sink", Mode::Bytes, Priority::Bulk, end)
        .unwrap();
    let data: Vec<u8> = (0..MIB as u64).map(pattern).collect();
    let mut off = 0;
    let sent = b
        .send_all(
            s,
            |buf| {
                let n = (MIB - off).min(10_000);
                buf.extend_from_slice(&data[off..off + n]);
                off += n;
                Ok(())
            },
            end,
        )
        .unwrap();
    assert_eq!(sent, MIB as u64);
    let mut reply = Vec::new();
    b.recv_all(
        s,
        |x| {
            reply.extend_from_slice(x);
            Ok(())
        },
        end,
    )
    .unwrap();
    let want = hex(&<blake2::Blake2s256 as blake2::Digest>::digest(&data));
    assert_eq!(
        String::from_utf8(reply).unwrap(),
        format!("ok bytes={} blake2s={}\n", MIB, want)
    );

    // Message-mode echo.
    let e = b
        .open(&ida, "echo", Mode::Message, Priority::Interactive, end)
        .unwrap();
    assert_eq!(b.try_send(e, b"hello bus").unwrap(), 9);
    b.close(e).unwrap();
    let mut msgs = Vec::new();
    b.recv_all(
        e,
        |m| {
            msgs.push(m.to_vec());
            Ok(())
        },
        end,
    )
    .unwrap();
    assert_eq!(msgs, vec![b"hello bus".to_vec()]);

    drop(junk);
    let _ = std::fs::remove_dir_all(&tmp);
    let served = server.join().unwrap();
    assert_eq!(served.len(), 2);
    assert_eq!(served[0].peer, idb);
    assert_eq!(served[0].service, "sink");
    assert_eq!(served[0].bytes, MIB as u64);
    assert_eq!(served[0].digest, want);
    assert_eq!(served[1].service, "echo");
    // Both daemons logged the authenticated session with the other's derived id.
    assert!(la
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(&format!("auth ok peer={}", idb))));
    assert!(lb
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(&format!("auth ok peer={}", ida))));
}

#[test]
fn identity_is_created_once_then_loaded_and_damage_is_refused() {
    let dir = std::env::temp_dir().join(format!("nexus-bus-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (k1, o1) = identity::load_or_create(&dir).unwrap();
    assert_eq!(o1, Origin::Created);
    let path = dir.join(identity::FILE);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (k2, o2) = identity::load_or_create(&dir).unwrap();
    assert_eq!(o2, Origin::Loaded);
    assert_eq!(k1.public_key(), k2.public_key());
    // The id is the VM's derivation of the key.
    assert_eq!(
        dsoftbus::LocalIdentity::new(k2).device_id(),
        dsoftbus::DeviceId::of(&k1.public_key()).as_str()
    );
    // A record whose public key does not match its secret is refused, not replaced.
    let mut rec = std::fs::read(&path).unwrap();
    rec[identity::RECORD_LEN - 1] ^= 1;
    std::fs::write(&path, &rec).unwrap();
    assert!(matches!(
        identity::load_or_create(&dir),
        Err(identity::IdentityError::Damaged(_, _))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), rec);
    // Every truncation and a wrong magic are refused too (the decoder is total).
    for n in 0..identity::RECORD_LEN {
        assert!(identity::decode(&rec[..n]).is_err());
    }
    let mut bad = identity::encode(&k1);
    bad[0] = b'X';
    assert!(identity::decode(&bad).is_err());
    assert!(identity::decode(&identity::encode(&k1)).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

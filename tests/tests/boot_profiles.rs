//! From the manifests to a running service's view, across crates: what
//! `nexus-manifest` resolves is what nexus-init's generated tables hold, the
//! slots each service reads (`nexus-slots`) are where init puts the grants,
//! and every start-up argument decodes as the struct its service decodes.
use nexus_idl::{Reader, Wire};
use nexus_init::profile::{Grant, PROFILES};
use nexus_interfaces::args;
use nexus_manifest::{GrantKind, NetPath};
use std::path::Path;

fn system() -> nexus_manifest::System {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    nexus_manifest::load(
        &root.join("profiles"),
        &root.join("source/libs/nexus-interfaces/idl/args.toml"),
    )
    .expect("profiles load")
}

#[test]
fn init_tables_are_the_manifests() {
    let sys = system();
    let canonical: Vec<_> = sys.on_path(NetPath::Canonical).collect();
    assert_eq!(PROFILES.len(), canonical.len());
    for (p, m) in PROFILES.iter().zip(&canonical) {
        assert_eq!(p.name, m.name);
        assert_eq!(p.services.len(), m.services.len());
        for (s, ms) in p.services.iter().zip(&m.services) {
            assert_eq!(
                (s.name, s.image, s.arg),
                (ms.name.as_str(), ms.image.as_str(), &ms.arg[..])
            );
            assert_eq!(s.grants.len(), ms.grants.len(), "{}", s.name);
            for (g, mg) in s.grants.iter().zip(&ms.grants) {
                assert_eq!(g.slot(), mg.slot);
                match (g, &mg.kind) {
                    (Grant::Client { badge, .. }, GrantKind::Client { badge: b, .. }) => {
                        assert_eq!(badge, b)
                    }
                    (Grant::Device { device_id, .. }, GrantKind::Device { id, .. }) => {
                        assert_eq!(device_id, id)
                    }
                    (
                        Grant::InitEndpoint { kill, poweroff, .. },
                        GrantKind::Init {
                            kill: k,
                            poweroff: o,
                            ..
                        },
                    ) => assert_eq!((kill, poweroff), (k, o)),
                    (Grant::ConsoleInput { .. }, GrantKind::ConsoleInput) => {}
                    (Grant::MemBudget { pages, .. }, GrantKind::Shm { pages: n }) => {
                        assert_eq!(u64::from(*pages), u64::from(*n), "{}", s.name)
                    }
                    (Grant::Dma { .. }, GrantKind::Dma) | (Grant::Endpoint { .. }, _) => {}
                    (g, k) => panic!("{}: {g:?} generated from {k:?}", s.name),
                }
            }
        }
    }
}

#[test]
fn services_read_the_slots_init_fills() {
    let slot_of = |p: &str, svc: &str, grant: &str| {
        let prof = PROFILES.iter().find(|x| x.name == p).unwrap();
        let s = prof.services.iter().find(|s| s.name == svc).unwrap();
        let sys = system();
        let names = &sys.slots[s.image];
        let i = names.iter().position(|n| n == grant).unwrap() as u32 + 1;
        assert!(
            s.grants.iter().any(|g| g.slot() == i),
            "{svc}.{grant} not granted at {i}"
        );
        i
    };
    // (profile, service, grant) -> the constant the service reads. One image
    // in several roles (the kernel checker and the doomed server) finds a
    // grant at the same slot.
    for (profile, svc, grant, want) in [
        (
            "smoke",
            "netstackd",
            "endpoint",
            nexus_slots::netstackd::ENDPOINT,
        ),
        (
            "smoke",
            "netstackd",
            "net_mmio",
            nexus_slots::netstackd::NET_MMIO,
        ),
        ("smoke", "netstackd", "init", nexus_slots::netstackd::INIT),
        ("smoke", "dsoftbusd", "rng", nexus_slots::dsoftbusd::RNG),
        (
            "smoke",
            "dsoftbus-restart",
            "init",
            nexus_slots::selftest_dsoftbus::INIT,
        ),
        ("os2vm-b", "dsoftbusd", "net", nexus_slots::dsoftbusd::NET),
        (
            "smoke",
            "selftest-client",
            "server",
            nexus_slots::selftest_client::SERVER,
        ),
        (
            "smoke",
            "kernel-check",
            "doomed",
            nexus_slots::selftest_kernel::DOOMED,
        ),
        (
            "smoke",
            "doomed-server",
            "doomed",
            nexus_slots::selftest_kernel::DOOMED,
        ),
        (
            "smoke",
            "syscall-fuzz",
            "server",
            nexus_slots::syscall_fuzz::SERVER,
        ),
    ] {
        assert_eq!(
            slot_of(profile, svc, grant),
            want,
            "{profile}/{svc}.{grant}"
        );
    }
}

#[test]
fn every_argument_decodes_as_its_service_decodes_it() {
    for p in PROFILES {
        for s in p.services {
            for raw in [Some(s.arg), s.flag.map(|f| f.1)].into_iter().flatten() {
                if raw.is_empty() {
                    continue;
                }
                let mut r = Reader::new(raw);
                let ok = match s.image {
                    "netstackd" => args::NetstackdArgs::decode(&mut r).is_ok(),
                    "dsoftbusd" => args::DsoftbusdArgs::decode(&mut r).is_ok(),
                    "syscall-fuzz" => args::SyscallFuzzArgs::decode(&mut r).is_ok(),
                    "selftest-attacker" => args::AttackerArgs::decode(&mut r).is_ok(),
                    _ => args::ModeArgs::decode(&mut r).is_ok(),
                };
                assert!(
                    ok && r.finish().is_ok(),
                    "{}/{}: argument does not decode",
                    p.name,
                    s.name
                );
            }
        }
    }
    // The two-VM profiles give netstackd static addresses on one /24.
    let addr = |p: &str| {
        let prof = PROFILES.iter().find(|x| x.name == p).unwrap();
        let s = prof
            .services
            .iter()
            .find(|s| s.name == "netstackd")
            .unwrap();
        args::NetstackdArgs::decode(&mut Reader::new(s.arg))
            .unwrap()
            .ipv4
            .unwrap()
    };
    let (a, b) = (addr("os2vm-a"), addr("os2vm-b"));
    assert_eq!((a.prefix_len, b.prefix_len), (24, 24));
    assert_eq!(a.addr[..3], b.addr[..3]);
    assert_ne!(a.addr, b.addr);
    // `just os2vm-attack`: the attacker is a third address on that /24 and attacks
    // exactly those two nodes (A as its target, B as its victim).
    let c = addr("os2vm-attack-c");
    assert_eq!(
        (c.prefix_len, c.addr[..3].to_vec()),
        (24, a.addr[..3].to_vec())
    );
    assert!(c.addr != a.addr && c.addr != b.addr);
    let prof = PROFILES
        .iter()
        .find(|x| x.name == "os2vm-attack-c")
        .unwrap();
    let s = prof
        .services
        .iter()
        .find(|s| s.image == "selftest-attacker")
        .unwrap();
    let args = args::AttackerArgs::decode(&mut Reader::new(s.arg)).unwrap();
    assert_eq!((args.target, args.victim), (a.addr, b.addr));
}

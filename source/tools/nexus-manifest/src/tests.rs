//! Generation-time checks: each rule refuses a profile that breaks it, with
//! an error naming the profile, the service and the rule.
use super::*;

const ARGS: &str = include_str!("../../../libs/nexus-interfaces/idl/args.toml");

fn one(services: &str) -> Result<System, String> {
    load_str(
        &[&format!(
            "name = \"p\"\nkind = \"test\"\npaths = [\"canonical\"]\ndoc = \"d\"\n{services}"
        )],
        ARGS,
    )
}

const NETSTACKD: &str = r#"
[[service]]
name = "netstackd"
image = "netstackd"
grants.endpoint = { serve = "net" }
grants.net_mmio = { device = "net" }
"#;

#[test]
fn the_repository_profiles_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let sys = load(
        &root.join("profiles"),
        &root.join("source/libs/nexus-interfaces/idl/args.toml"),
    )
    .unwrap();
    assert!(sys.profiles.iter().any(|p| p.name == "smoke"));
    // Slots of an image are the same in every profile.
    for p in &sys.profiles {
        for s in &p.services {
            for g in &s.grants {
                assert_eq!(sys.slots[&s.image][g.slot as usize - 1], g.name);
            }
        }
    }
    // The canonical image never carries lite services and vice versa.
    let canon = programs(&sys, NetPath::Canonical);
    let lite = programs(&sys, NetPath::Lite);
    for l in ["virtionetd-lite", "netstackd-lite", "echod", "fetchd"] {
        assert!(!canon.iter().any(|p| p == l), "{l} in the canonical image");
    }
    for c in ["netstackd", "dsoftbusd", "rngd", "selftest-net"] {
        assert!(!lite.iter().any(|p| p == c), "{c} in the lite image");
    }
}

#[test]
fn only_the_named_driver_gets_a_device() {
    let e = one(r#"
[[service]]
name = "sneaky"
image = "selftest-client"
grants.dev = { device = "net" }
"#)
    .unwrap_err();
    assert!(
        e.contains("service sneaky") && e.contains("may only be granted to its driver"),
        "{e}"
    );
    assert!(one(NETSTACKD).is_ok());
    let e = one(&NETSTACKD.replace("\"net\" }\n", "\"gpu\" }\n")).unwrap_err();
    assert!(e.contains("unknown device `gpu`"), "{e}");
}

#[test]
fn the_empty_transport_goes_only_to_the_kernel_test() {
    let sys = one(r#"
[[service]]
name = "kernel-check"
image = "selftest-kernel"
grants.mmio = { device = "none" }
"#)
    .unwrap();
    let g = &sys.profiles[0].services[0].grants[0];
    assert_eq!(
        g.kind,
        GrantKind::Device {
            name: "none".into(),
            id: 0
        }
    );
    let tables = init_tables(&sys, NetPath::Canonical);
    assert!(
        tables.contains("Grant::Device { device_id: 0, slot: 1 }"),
        "{tables}"
    );
    for image in ["selftest-client", "netstackd", "shell"] {
        let e = one(&format!(
            "[[service]]\nname = \"x\"\nimage = \"{image}\"\ngrants.mmio = {{ device = \"none\" }}\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("service x")
                && e.contains("only be granted to its driver (selftest-kernel)"),
            "{e}"
        );
    }
}

#[test]
fn badge_zero_and_duplicate_badges_are_refused() {
    let e = one(&format!(
        "{NETSTACKD}[[service]]\nname = \"c\"\nimage = \"bench-net\"\ngrants.net = {{ client = \"net\", badge = 0 }}\n"
    ))
    .unwrap_err();
    assert!(e.contains("badge 0 is init's own"), "{e}");
    let e = one(&format!(
        "{NETSTACKD}[[service]]\nname = \"c\"\nimage = \"bench-net\"\ngrants.net = {{ client = \"net\", badge = 5 }}\n[[service]]\nname = \"d\"\nimage = \"bench-net\"\ngrants.net = {{ client = \"net\", badge = 5 }}\n"
    ))
    .unwrap_err();
    assert!(e.contains("already used"), "{e}");
}

#[test]
fn clients_need_a_server_and_endpoints_one_server() {
    let e = one(
        "[[service]]\nname = \"c\"\nimage = \"bench-net\"\ngrants.net = { client = \"net\" }\n",
    )
    .unwrap_err();
    assert!(
        e.contains("nothing in the profile serves endpoint `net`"),
        "{e}"
    );
    let e = one(&format!(
        "{NETSTACKD}{}",
        NETSTACKD.replace("name = \"netstackd\"", "name = \"two\"")
    ))
    .unwrap_err();
    assert!(e.contains("served by both"), "{e}");
}

#[test]
fn limits_hold() {
    let mut s = String::new();
    for i in 0..=MAX_SERVICES {
        s.push_str(&format!(
            "[[service]]\nname = \"s{i}\"\nimage = \"selftest-fault\"\n"
        ));
    }
    assert!(one(&s).unwrap_err().contains("34 services"));
    let mut s = String::from("[[service]]\nname = \"g\"\nimage = \"selftest-dma\"\n");
    for i in 0..=MAX_GRANTS {
        s.push_str(&format!("grants.d{i} = {{ dma = true }}\n"));
    }
    assert!(one(&s).unwrap_err().contains("more than 8 grants"));
    assert!(
        one("[[service]]\nname = \"this-name-is-far-too-long-for-init\"\nimage = \"x\"\n").is_err()
    );
}

#[test]
fn user_profiles_hold_no_test_image() {
    let e = load_str(
        &["name = \"u\"\nkind = \"user\"\npaths = [\"canonical\"]\ndoc = \"d\"\n[[service]]\nname = \"t\"\nimage = \"selftest-client\"\n"],
        ARGS,
    )
    .unwrap_err();
    assert!(
        e.contains("user profile") && e.contains("selftest-client"),
        "{e}"
    );
    // Test apps named otherwise are refused as well.
    for image in ["bus-selftest", "syscall-fuzz", "fetchd"] {
        let m = format!("name = \"u\"\nkind = \"user\"\npaths = [\"canonical\"]\ndoc = \"d\"\n[[service]]\nname = \"t\"\nimage = \"{image}\"\n");
        let e = load_str(&[&m], ARGS).unwrap_err();
        assert!(e.contains("user profile") && e.contains(image), "{e}");
    }
}

#[test]
fn arguments_are_typed_and_encoded_as_the_wire_decodes_them() {
    use nexus_idl::{Reader, Wire};
    use nexus_interfaces::args::{DsoftbusdArgs, ModeArgs, NetstackdArgs};
    let sys = one(r#"
[[service]]
name = "netstackd"
image = "netstackd"
arg = { ipv4 = { addr = "10.42.0.10", prefix_len = 24 }, gateway = "10.42.0.1" }
grants.endpoint = { serve = "net" }
[[service]]
name = "dsoftbusd"
image = "dsoftbusd"
arg = { node = "node-a", extra_announce = [37021, 37022], publish = [{ badge = 0x70, service = "echo" }] }
grants.net = { client = "net" }
[[service]]
name = "m"
image = "selftest-net"
arg = { mode = 2 }
arg_type = "ModeArgs"
cmdline_flag = { word = "nexus.netpeers=1", field = "netpeers" }
"#)
    .unwrap();
    let s = &sys.profiles[0].services;
    let n = NetstackdArgs::decode(&mut Reader::new(&s[0].arg)).unwrap();
    assert_eq!(n.ipv4.unwrap().addr, [10, 42, 0, 10]);
    assert_eq!(n.gateway, Some([10, 42, 0, 1]));
    let d = DsoftbusdArgs::decode(&mut Reader::new(&s[1].arg)).unwrap();
    assert_eq!(
        (
            d.node.as_str(),
            &d.extra_announce.0[..],
            d.publish.0.len(),
            d.publish.0.first().map(|r| (r.badge, r.service.as_str()))
        ),
        ("node-a", &[37021u16, 37022][..], 1, Some((0x70, "echo")))
    );
    // The arg grant to init was added, at a slot of its own.
    assert!(s[1]
        .grants
        .iter()
        .any(|g| matches!(g.kind, GrantKind::Init { kill: false, .. })));
    let m = ModeArgs::decode(&mut Reader::new(&s[2].arg)).unwrap();
    assert_eq!((m.mode, m.netpeers), (2, false));
    let (word, alt) = s[2].flag.as_ref().unwrap();
    assert_eq!(word, "nexus.netpeers=1");
    assert!(ModeArgs::decode(&mut Reader::new(alt)).unwrap().netpeers);

    for (bad, want) in [
        (
            "arg = { mode = 300 }\narg_type = \"ModeArgs\"",
            "out of range",
        ),
        (
            "arg = { mdoe = 1 }\narg_type = \"ModeArgs\"",
            "no field `mdoe`",
        ),
        (
            "arg = {}\narg_type = \"ModeArgs\"",
            "ModeArgs.mode: missing",
        ),
        (
            "arg = { node = \"a-name-longer-than-twenty-four\" }",
            "over the bound",
        ),
        (
            "arg = { mode = 1 }\narg_type = \"Nope\"",
            "no argument struct `Nope`",
        ),
    ] {
        let e = one(&format!(
            "[[service]]\nname = \"x\"\nimage = \"dsoftbusd\"\n{bad}\n"
        ))
        .unwrap_err();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

const SHELL: &str = r#"
[[service]]
name = "shell"
image = "shell"
grants.console = { console = true }
grants.init = { init = ["poweroff"] }
"#;

#[test]
fn console_input_goes_only_to_the_shell_and_to_one_service() {
    let sys = one(SHELL).unwrap();
    let g = &sys.profiles[0].services[0].grants;
    assert!(g.iter().any(|g| g.kind == GrantKind::ConsoleInput));
    let tables = init_tables(&sys, NetPath::Canonical);
    assert!(tables.contains("Grant::ConsoleInput { slot: "), "{tables}");
    // Any other image is refused, a test app as much as a service.
    for image in ["selftest-client", "netstackd", "dsoftbusd"] {
        let e = one(&format!(
            "[[service]]\nname = \"sneaky\"\nimage = \"{image}\"\ngrants.console = {{ console = true }}\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("service sneaky")
                && e.contains("console input may only be granted to shell"),
            "{e}"
        );
    }
    // The bus test app reads the console in a test profile (the harness types the
    // pairing PIN), never in a profile a person boots.
    let app = "[[service]]\nname = \"pin\"\nimage = \"bus-selftest\"\narg = { mode = 1 }\narg_type = \"ModeArgs\"\ngrants.console = { console = true }\n";
    assert!(one(app).is_ok());
    let e = load_str(
        &[&format!(
            "name = \"p\"\nkind = \"user\"\npaths = [\"canonical\"]\ndoc = \"d\"\n{app}"
        )],
        ARGS,
    )
    .unwrap_err();
    // (Refused first as a test image in a user profile; the console rule
    // would refuse it too.)
    assert!(
        e.contains("belongs in a test profile") || e.contains("only in a test profile"),
        "{e}"
    );
    // Two readers in one profile would steal each other's keystrokes.
    let e = one(&format!(
        "{SHELL}{}",
        SHELL.replace("name = \"shell\"", "name = \"shell-2\"")
    ))
    .unwrap_err();
    assert!(e.contains("one reader per profile"), "{e}");
    let e =
        one("[[service]]\nname = \"s\"\nimage = \"shell\"\ngrants.console = { console = false }\n")
            .unwrap_err();
    assert!(e.contains("grants nothing"), "{e}");
    let e = one(
        "[[service]]\nname = \"s\"\nimage = \"shell\"\ngrants.c = { console = true, dma = true }\n",
    )
    .unwrap_err();
    assert!(e.contains("exactly one of"), "{e}");
}

#[test]
fn poweroff_is_granted_only_as_listed_and_only_to_the_shell() {
    let sys = one(SHELL).unwrap();
    let init = sys.profiles[0].services[0]
        .grants
        .iter()
        .find(|g| g.name == "init")
        .unwrap();
    assert!(matches!(
        init.kind,
        GrantKind::Init {
            poweroff: true,
            kill: false,
            ..
        }
    ));
    let tables = init_tables(&sys, NetPath::Canonical);
    assert!(tables.contains("kill: false, poweroff: true"), "{tables}");
    // Without the op listed, the holder has the plain grant.
    let sys = one(&SHELL.replace("[\"poweroff\"]", "[]")).unwrap();
    assert!(init_tables(&sys, NetPath::Canonical).contains("kill: false, poweroff: false"));
    let e = one("[[service]]\nname = \"t\"\nimage = \"selftest-client\"\ngrants.init = { init = [\"poweroff\"] }\n")
        .unwrap_err();
    assert!(
        e.contains("service t") && e.contains("`poweroff` may only be granted to shell"),
        "{e}"
    );
    let e = one(
        "[[service]]\nname = \"s\"\nimage = \"shell\"\ngrants.init = { init = [\"reboot\"] }\n",
    )
    .unwrap_err();
    assert!(e.contains("unknown init operation `reboot`"), "{e}");
}

#[test]
fn the_user_profile_is_what_a_person_boots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let sys = load(
        &root.join("profiles"),
        &root.join("source/libs/nexus-interfaces/idl/args.toml"),
    )
    .unwrap();
    let user = sys.profiles.iter().find(|p| p.name == "user").unwrap();
    assert_eq!(user.kind, Kind::User);
    let images: Vec<&str> = user.services.iter().map(|s| s.image.as_str()).collect();
    assert_eq!(
        images,
        ["netstackd", "rngd", "storaged", "dsoftbusd", "shell"]
    );
    assert!(user.services.iter().all(|s| s.supervise.is_some()));
    // Across every profile, only the shell reads the console or may power off; in a
    // test profile the bus test app may read it too (the harness types pairing PINs).
    for p in &sys.profiles {
        for s in &p.services {
            for g in &s.grants {
                if matches!(g.kind, GrantKind::Init { poweroff: true, .. }) {
                    assert_eq!(s.image, "shell", "profile {}: {}", p.name, s.name);
                }
                if g.kind == GrantKind::ConsoleInput {
                    assert!(
                        s.image == "shell" || (s.image == "bus-selftest" && p.kind == Kind::Test),
                        "profile {}: {}",
                        p.name,
                        s.name
                    );
                }
            }
        }
    }
    assert!(programs(&sys, NetPath::Canonical).contains(&"shell".to_string()));
}

#[test]
fn test_profiles_live_apart_from_user_profiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let args = root.join("source/libs/nexus-interfaces/idl/args.toml");
    let dir = std::env::temp_dir().join(format!("nexus-manifest-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("test")).unwrap();
    let text = "name = \"t\"\nkind = \"test\"\npaths = [\"canonical\"]\ndoc = \"d\"\n[[service]]\nname = \"s\"\nimage = \"selftest-fault\"\n";
    std::fs::write(dir.join("t.toml"), text).unwrap();
    let e = load(&dir, &args).unwrap_err();
    assert!(
        e.contains("a test profile belongs in profiles/test/"),
        "{e}"
    );
    std::fs::remove_file(dir.join("t.toml")).unwrap();
    std::fs::write(dir.join("test/t.toml"), text).unwrap();
    assert_eq!(load(&dir, &args).unwrap().profiles.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn notify_grants_are_notify_only_and_checked() {
    let ok = one(&format!(
        "{NETSTACKD}[[service]]\nname = \"w\"\nimage = \"bench-net\"\ngrants.net = {{ notify = \"net\" }}\n"
    ))
    .unwrap();
    let w = &ok.profiles[0].services[1];
    assert_eq!(w.grants[0].kind, GrantKind::Notify { ep: "net".into() });
    let e = one(
        "[[service]]\nname = \"w\"\nimage = \"bench-net\"\ngrants.net = { notify = \"net\" }\n",
    )
    .unwrap_err();
    assert!(
        e.contains("nothing in the profile serves endpoint `net`"),
        "{e}"
    );
    let e = one(&format!(
        "{NETSTACKD}[[service]]\nname = \"w\"\nimage = \"bench-net\"\ngrants.net = {{ notify = \"net\", badge = 7 }}\n"
    ))
    .unwrap_err();
    assert!(e.contains("carries no badge"), "{e}");
    let e = one(&format!(
        "{NETSTACKD}[[service]]\nname = \"w\"\nimage = \"bench-net\"\ngrants.net = {{ notify = \"net\", transfer = true }}\n"
    ))
    .unwrap_err();
    assert!(e.contains("carries no badge"), "{e}");
    let e = one(&NETSTACKD.replace(
        "grants.net_mmio",
        "grants.wake = { notify = \"net\" }\ngrants.net_mmio",
    ))
    .unwrap_err();
    assert!(e.contains("serves `net` itself"), "{e}");
    let e = one(&format!(
        "{NETSTACKD}[[service]]\nname = \"w\"\nimage = \"bench-net\"\ngrants.net = {{ notify = \"net\", send = \"net\" }}\n"
    ))
    .unwrap_err();
    assert!(e.contains("exactly one of"), "{e}");
}

#[test]
fn a_bus_server_on_net_must_be_woken_by_netstackd() {
    let bus = "[[service]]\nname = \"dsoftbusd\"\nimage = \"dsoftbusd\"\ngrants.net = { client = \"net\", badge = 0x30 }\ngrants.bus = { serve = \"bus\" }\n";
    // No notify grant: refused, naming what is missing.
    let e = one(&format!("{NETSTACKD}{bus}")).unwrap_err();
    assert!(e.contains("notify = \"bus\""), "{e}");
    // A notify grant but the wrong badge in the argument: refused.
    let woken = |badge: &str| {
        format!(
            "[[service]]\nname = \"netstackd\"\nimage = \"netstackd\"\narg = {{ bus_client = {badge} }}\ngrants.endpoint = {{ serve = \"net\" }}\ngrants.net_mmio = {{ device = \"net\" }}\ngrants.wake = {{ notify = \"bus\" }}\n{bus}"
        )
    };
    let e = one(&woken("0x31")).unwrap_err();
    assert!(e.contains("bus_client = 0x30"), "{e}");
    // Both right: accepted.
    one(&woken("0x30")).unwrap();
}

#[test]
fn shared_memory_budgets_are_bounded_and_generate_a_budget_grant() {
    let sys =
        one("[[service]]\nname = \"b\"\nimage = \"bench-net\"\ngrants.shm = { shm_pages = 64 }\n")
            .unwrap();
    let g = &sys.profiles[0].services[0].grants[0];
    assert_eq!(g.kind, GrantKind::Shm { pages: 64 });
    assert!(
        init_tables(&sys, NetPath::Canonical).contains("Grant::MemBudget { pages: 64, slot: 1 }")
    );
    assert!(slots_rs(&sys).contains("a shared-memory budget of 64 pages"));
    for bad in ["0", "257", "-1", "100000000000"] {
        let e = one(&format!(
            "[[service]]\nname = \"b\"\nimage = \"bench-net\"\ngrants.shm = {{ shm_pages = {bad} }}\n"
        ))
        .unwrap_err();
        assert!(e.contains("profile p, service b, grant shm"), "{bad}: {e}");
    }
    let e =
        one("[[service]]\nname = \"b\"\nimage = \"bench-net\"\ngrants.shm = { shm_pages = 0 }\n")
            .unwrap_err();
    assert!(e.contains("1..=256 pages"), "{e}");
    let e = one(
        "[[service]]\nname = \"b\"\nimage = \"bench-net\"\ngrants.shm = { shm_pages = 8, dma = true }\n",
    )
    .unwrap_err();
    assert!(e.contains("exactly one of"), "{e}");
    // Together: at most half of init's DMA pool, at most 8 budgets.
    let mut s = String::new();
    for i in 0..3 {
        s.push_str(&format!(
            "[[service]]\nname = \"b{i}\"\nimage = \"bench-net\"\ngrants.shm = {{ shm_pages = 200 }}\n"
        ));
    }
    let e = one(&s).unwrap_err();
    assert!(e.contains("profile p, service b2, grant shm"), "{e}");
    assert!(e.contains("600 pages; at most 512"), "{e}");
    let mut s = String::new();
    for i in 0..=MAX_SHM_GRANTS {
        s.push_str(&format!(
            "[[service]]\nname = \"b{i}\"\nimage = \"bench-net\"\ngrants.shm = {{ shm_pages = 1 }}\n"
        ));
    }
    let e = one(&s).unwrap_err();
    assert!(e.contains("more than 8 shared-memory budgets"), "{e}");
    assert_eq!(SHM_MAX_PAGES as u64, nexus_abi::MEM_BUDGET_MAX_PAGES);
}

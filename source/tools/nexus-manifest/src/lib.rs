//! Boot-profile manifests: `profiles/*.toml` are the only place a profile
//! is written. This crate reads them, checks them (with errors that name the
//! profile, the service and the rule), and generates from them:
//!
//! - nexus-init's tables ([`init_tables`], from nexus-init's `build.rs`),
//! - every image's capability-slot constants ([`slots_rs`], `nexus-slots`),
//! - the programs an image is built from and the riscv crates to lint
//!   ([`programs`], `nexus-manifest programs <path>`),
//! - `docs/boot-profiles.md` ([`boot_profiles_md`]).
//!
//! The format is described in `docs/boot-profiles.md` (generated, with the
//! rules) and `profiles/README.md`.
#![forbid(unsafe_code)]

use nexus_idlgen::{Interface, Ty};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Most services one profile may start (init's table; the kernel's task
/// table holds init, these and headroom for restarts).
pub const MAX_SERVICES: usize = 33;
/// Most grants one service may get (init's spawn list).
pub const MAX_GRANTS: usize = 8;
/// Most named endpoints one profile may use (init's table).
pub const MAX_ENDPOINTS: usize = 8;
/// Capability slots of a task (`nexus_abi::CAP_SLOTS`).
pub const CAP_SLOTS: u32 = 32;
/// Longest service or image name (`nexus_abi::NAME_MAX`).
pub const NAME_MAX: usize = 24;
/// Most pages of one shared-memory budget grant
/// (`nexus_abi::MEM_BUDGET_MAX_PAGES`).
pub const SHM_MAX_PAGES: u32 = 256;
/// Most pages of all shared-memory budget grants of one profile together:
/// half of init's DMA pool (1024 pages), which every budget is carved from,
/// so the device drivers' DMA keeps the other half.
pub const SHM_PROFILE_MAX_PAGES: u32 = 512;
/// Most shared-memory budget grants in one profile (the kernel holds 32
/// budgets; a restarted service takes a new one while objects of the old
/// one may still be alive).
pub const MAX_SHM_GRANTS: usize = 8;

/// Devices a profile can grant, by name: virtio id and the only images that
/// may drive it. Granting a device to anything else is refused. `none` is
/// a virtio-mmio transport with no device behind it (id 0): harmless to
/// map, and granted only to the kernel-hardening test (its `MmioMap` reuse
/// proof).
pub const DEVICES: &[(&str, u32, &[&str])] = &[
    ("net", 1, &["netstackd", "virtionetd-lite"]),
    ("blk", 2, &["storaged"]),
    ("rng", 4, &["rngd"]),
    ("none", 0, &["selftest-kernel"]),
];

/// The only images that may read console input (`{ console = true }`): what
/// a person types goes to the shell and nowhere else, except in the two-VM test
/// profile, where the harness types the pairing PIN into the bus test app
/// (`bus-selftest`, as a person enters a PIN shown by the other device). The
/// same capability sets the system-wide log level (`ConsoleLevel`).
pub const CONSOLE_READERS: &[&str] = &["shell", "bus-selftest"];

/// The only images that may hold init's `poweroff` operation: the machine
/// is switched off by the person at the console, not by a service.
pub const POWEROFF_HOLDERS: &[&str] = &["shell"];

/// Operations of init's interface a grant can allow beyond the ones every
/// holder has (status, args).
pub const INIT_OPS: &[&str] = &["kill", "poweroff"];

/// Network paths (`net-canonical` / `net-bringup-lite` images).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetPath {
    /// smoltcp, netstackd, dsoftbusd.
    Canonical,
    /// The bring-up path.
    Lite,
}

impl NetPath {
    /// The cargo feature of nexus-init for this path.
    pub fn feature(self) -> &'static str {
        match self {
            NetPath::Canonical => "net-canonical",
            NetPath::Lite => "net-bringup-lite",
        }
    }
    /// Parses `canonical` / `lite`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "canonical" => Some(NetPath::Canonical),
            "lite" => Some(NetPath::Lite),
            _ => None,
        }
    }
}

/// Who boots a profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A person (`just run`): no test image may appear.
    User,
    /// A harness.
    Test,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    name: String,
    kind: Kind,
    paths: Vec<NetPath>,
    doc: String,
    #[serde(default)]
    used_by: String,
    #[serde(rename = "service")]
    services: Vec<ServiceFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    name: String,
    image: String,
    #[serde(default)]
    doc: String,
    arg: Option<toml::Table>,
    arg_type: Option<String>,
    cmdline_flag: Option<CmdlineFlag>,
    supervise: Option<Supervise>,
    #[serde(default)]
    grants: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CmdlineFlag {
    word: String,
    field: String,
}

/// Supervision of a service: restarted after a fault, a kill or a non-zero
/// exit, after `backoff_ms` doubling per restart, at most `restarts` times.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supervise {
    /// Restarts before init gives up.
    pub restarts: u32,
    /// Back-off before the first restart.
    pub backoff_ms: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    serve: Option<String>,
    client: Option<String>,
    send: Option<String>,
    notify: Option<String>,
    #[serde(default)]
    transfer: bool,
    badge: Option<u64>,
    device: Option<String>,
    dma: Option<bool>,
    shm_pages: Option<u64>,
    init: Option<Vec<String>>,
    console: Option<bool>,
}

/// What one grant gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantKind {
    /// RECV on a named endpoint (the service serves it).
    Serve {
        /// Endpoint name.
        ep: String,
    },
    /// SEND on a named endpoint as a client: its server is told when the
    /// holder ends.
    Client {
        /// Endpoint name.
        ep: String,
        /// Badge the server sees (never 0).
        badge: u64,
    },
    /// SEND (and GRANT with `transfer`) on a named endpoint, no client-gone.
    Send {
        /// Endpoint name.
        ep: String,
        /// Also the GRANT right (may transfer capabilities).
        transfer: bool,
        /// Badge the server sees (never 0).
        badge: u64,
    },
    /// NOTIFY only on a named endpoint: may post notifications (`Notify`)
    /// to its server, neither call nor receive.
    Notify {
        /// Endpoint name.
        ep: String,
    },
    /// A virtio device's MMIO + interrupt capability.
    Device {
        /// Device name (`net`, `blk`, `rng`).
        name: String,
        /// Virtio device id.
        id: u32,
    },
    /// A copy of init's DMA budget capability.
    Dma,
    /// A shared-memory budget of its own (`MemBudget`): `MemCreate` up to
    /// `pages` alive at once, no `DmaAlloc`, no physical addresses.
    Shm {
        /// Pages (1..=[`SHM_MAX_PAGES`]).
        pages: u32,
    },
    /// SEND on init's endpoint.
    Init {
        /// Badge init sees.
        badge: u64,
        /// May ask init to kill a service.
        kill: bool,
        /// May ask init to power the machine off.
        poweroff: bool,
    },
    /// The console-input capability (`ConsoleRead`, and setting the log
    /// level with `ConsoleLevel`).
    ConsoleInput,
}

/// One resolved grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Grant name: the service reads `nexus_slots::<image>::<NAME>`.
    pub name: String,
    /// Destination slot (fixed per image across every profile).
    pub slot: u32,
    /// What it gives.
    pub kind: GrantKind,
}

/// One resolved service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Name in markers and status queries.
    pub name: String,
    /// Boot-image program.
    pub image: String,
    /// What it is for in this profile.
    pub doc: String,
    /// The encoded argument (empty: none).
    pub arg: Vec<u8>,
    /// The argument's TOML, for the docs.
    pub arg_text: String,
    /// A command-line word and the argument encoded with its flag set.
    pub flag: Option<(String, Vec<u8>)>,
    /// Grants in slot order.
    pub grants: Vec<Grant>,
    /// Supervision, if any.
    pub supervise: Option<Supervise>,
}

/// One resolved profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Name on the command line (`nexus.profile=`).
    pub name: String,
    /// Who boots it.
    pub kind: Kind,
    /// Images that carry it.
    pub paths: Vec<NetPath>,
    /// What it is.
    pub doc: String,
    /// The harness recipe or command that boots it.
    pub used_by: String,
    /// Services in start order.
    pub services: Vec<Service>,
}

/// Every profile, resolved and checked.
#[derive(Clone, Debug)]
pub struct System {
    /// Profiles sorted by name.
    pub profiles: Vec<Profile>,
    /// Per image, its grant names in slot order (slot = index + 1).
    pub slots: BTreeMap<String, Vec<String>>,
}

/// Test apps whose names do not start with `selftest-` or `bench-`.
pub const TEST_IMAGES: &[&str] = &["bus-selftest", "syscall-fuzz", "fetchd"];

/// Whether an image is a test app (never in a user profile).
pub fn is_test_image(image: &str) -> bool {
    image.starts_with("selftest-") || image.starts_with("bench-") || TEST_IMAGES.contains(&image)
}

fn snake(s: &str) -> String {
    s.replace('-', "_")
}

fn camel(s: &str) -> String {
    s.split(['-', '_'])
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Loads and checks every profile against the argument structs of
/// `args_idl` (`idl/args.toml`): user profiles are `profiles_dir/*.toml`,
/// test profiles `profiles_dir/test/*.toml`, so the two stay visibly apart.
pub fn load(profiles_dir: &Path, args_idl: &Path) -> Result<System, String> {
    let args = nexus_idlgen::load(args_idl)?;
    let mut parsed = Vec::new();
    for (dir, kind) in [
        (profiles_dir.to_path_buf(), Kind::User),
        (profiles_dir.join("test"), Kind::Test),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let m: ManifestFile =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
            let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if m.name != stem {
                return Err(format!(
                    "{}: profile `{}` must live in a file named {}.toml",
                    f.display(),
                    m.name,
                    m.name
                ));
            }
            if m.kind != kind {
                return Err(format!(
                    "{}: a {} profile belongs in {}",
                    f.display(),
                    if m.kind == Kind::User { "user" } else { "test" },
                    if m.kind == Kind::User {
                        "profiles/"
                    } else {
                        "profiles/test/"
                    }
                ));
            }
            parsed.push(m);
        }
    }
    resolve(parsed, &args)
}

/// Parses manifests from strings (tests).
pub fn load_str(manifests: &[&str], args_idl: &str) -> Result<System, String> {
    let args: Interface = toml::from_str(args_idl).map_err(|e| e.to_string())?;
    let parsed = manifests
        .iter()
        .map(|t| toml::from_str::<ManifestFile>(t).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    resolve(parsed, &args)
}

fn parse_grant(
    pname: &str,
    sname: &str,
    gname: &str,
    v: &toml::Value,
) -> Result<GrantFile, String> {
    let g = GrantFile::deserialize(v.clone())
        .map_err(|e| format!("profile {pname}, service {sname}, grant {gname}: {e}"))?;
    let n = [
        g.serve.is_some(),
        g.client.is_some(),
        g.send.is_some(),
        g.notify.is_some(),
        g.device.is_some(),
        g.dma.is_some(),
        g.shm_pages.is_some(),
        g.init.is_some(),
        g.console.is_some(),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if n != 1 {
        return Err(format!(
            "profile {pname}, service {sname}, grant {gname}: give exactly one of serve, client, send, notify, device, dma, shm_pages, init, console"
        ));
    }
    Ok(g)
}

fn resolve(mut files: Vec<ManifestFile>, args: &Interface) -> Result<System, String> {
    files.sort_by(|a, b| a.name.cmp(&b.name));
    // Slots: per image, every grant name in order of first appearance.
    let mut slots: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut profiles = Vec::new();
    let mut names = BTreeSet::new();
    for m in &files {
        let p = &m.name;
        if !names.insert(p.clone()) {
            return Err(format!("profile {p} is defined twice"));
        }
        if m.paths.is_empty() {
            return Err(format!("profile {p}: `paths` names no network path"));
        }
        if m.services.is_empty() || m.services.len() > MAX_SERVICES {
            return Err(format!(
                "profile {p}: {} services (1..={MAX_SERVICES} allowed)",
                m.services.len()
            ));
        }
        let mut svc_names = BTreeSet::new();
        let mut served: BTreeMap<String, String> = BTreeMap::new();
        let mut badges: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        let mut init_badges = BTreeSet::new();
        let mut console_reader: Option<&str> = None;
        let (mut shm_grants, mut shm_pages) = (0usize, 0u32);
        // First pass: servers and explicit badges.
        for s in &m.services {
            for (gname, v) in &s.grants {
                let g = parse_grant(p, &s.name, gname, v)?;
                if let Some(ep) = &g.serve {
                    if let Some(other) = served.insert(ep.clone(), s.name.clone()) {
                        return Err(format!(
                            "profile {p}: endpoint `{ep}` is served by both {other} and {}",
                            s.name
                        ));
                    }
                }
                if let (Some(b), Some(ep)) = (g.badge, g.client.as_ref().or(g.send.as_ref())) {
                    if b == 0 {
                        return Err(format!(
                            "profile {p}, service {}, grant {gname}: badge 0 is init's own on every endpoint",
                            s.name
                        ));
                    }
                    if !badges.entry(ep.clone()).or_default().insert(b) {
                        return Err(format!(
                            "profile {p}, service {}, grant {gname}: badge {b:#x} is already used on `{ep}`",
                            s.name
                        ));
                    }
                }
                if let (Some(b), Some(_)) = (g.badge, g.init.as_ref()) {
                    if b == 0 || !init_badges.insert(b) {
                        return Err(format!(
                            "profile {p}, service {}, grant {gname}: init badge {b:#x} is 0 or already used",
                            s.name
                        ));
                    }
                }
            }
        }
        let mut services = Vec::new();
        for s in &m.services {
            let sn = &s.name;
            if sn.is_empty()
                || sn.len() > NAME_MAX
                || s.image.is_empty()
                || s.image.len() > NAME_MAX
            {
                return Err(format!(
                    "profile {p}, service {sn}: names are 1..={NAME_MAX} bytes"
                ));
            }
            if !svc_names.insert(sn.clone()) {
                return Err(format!("profile {p}: service {sn} appears twice"));
            }
            if m.kind == Kind::User && is_test_image(&s.image) {
                return Err(format!(
                    "profile {p} is a user profile; test image {} (service {sn}) belongs in a test profile",
                    s.image
                ));
            }
            let mut entries: Vec<(String, GrantFile)> = Vec::new();
            for (gname, v) in &s.grants {
                entries.push((gname.clone(), parse_grant(p, sn, gname, v)?));
            }
            // A service with an argument fetches it from init.
            if s.arg.is_some() && !entries.iter().any(|(_, g)| g.init.is_some()) {
                entries.push((
                    "init".into(),
                    GrantFile {
                        init: Some(vec![]),
                        ..Default::default()
                    },
                ));
            }
            if entries.len() > MAX_GRANTS {
                return Err(format!(
                    "profile {p}, service {sn}: more than {MAX_GRANTS} grants"
                ));
            }
            let img_slots = slots.entry(s.image.clone()).or_default();
            let mut grants = Vec::new();
            for (gname, g) in entries {
                if !gname
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(format!(
                        "profile {p}, service {sn}: grant name `{gname}` must be snake_case"
                    ));
                }
                let slot = match img_slots.iter().position(|n| *n == gname) {
                    Some(i) => i as u32 + 1,
                    None => {
                        img_slots.push(gname.clone());
                        img_slots.len() as u32
                    }
                };
                if slot >= CAP_SLOTS {
                    return Err(format!(
                        "image {}: more than {} grant names",
                        s.image,
                        CAP_SLOTS - 1
                    ));
                }
                let ctx = format!("profile {p}, service {sn}, grant {gname}");
                let mut auto_badge = |ep: &str, explicit: Option<u64>| -> u64 {
                    explicit.unwrap_or_else(|| {
                        let used = badges.entry(ep.to_string()).or_default();
                        let b = (0x100..).find(|b| !used.contains(b)).unwrap();
                        used.insert(b);
                        b
                    })
                };
                let need_server = |ep: &str| -> Result<(), String> {
                    if served.contains_key(ep) {
                        Ok(())
                    } else {
                        Err(format!(
                            "{ctx}: nothing in the profile serves endpoint `{ep}`"
                        ))
                    }
                };
                let kind = if let Some(ep) = g.serve {
                    GrantKind::Serve { ep }
                } else if let Some(ep) = g.client {
                    need_server(&ep)?;
                    let badge = auto_badge(&ep, g.badge);
                    GrantKind::Client { ep, badge }
                } else if let Some(ep) = g.send {
                    need_server(&ep)?;
                    let badge = auto_badge(&ep, g.badge);
                    GrantKind::Send {
                        ep,
                        transfer: g.transfer,
                        badge,
                    }
                } else if let Some(ep) = g.notify {
                    need_server(&ep)?;
                    if g.badge.is_some() || g.transfer {
                        return Err(format!(
                            "{ctx}: a notify grant carries no badge and no transfer (a notification names no sender)"
                        ));
                    }
                    if served.get(&ep) == Some(&s.name) {
                        return Err(format!(
                            "{ctx}: service {} serves `{ep}` itself; a notify grant is for another task",
                            s.name
                        ));
                    }
                    GrantKind::Notify { ep }
                } else if let Some(dev) = g.device {
                    let Some(&(_, id, drivers)) = DEVICES.iter().find(|d| d.0 == dev) else {
                        return Err(format!("{ctx}: unknown device `{dev}`"));
                    };
                    if !drivers.contains(&s.image.as_str()) {
                        return Err(format!(
                            "{ctx}: device `{dev}` may only be granted to its driver ({}), not to image {}",
                            drivers.join(" or "),
                            s.image
                        ));
                    }
                    GrantKind::Device { name: dev, id }
                } else if g.dma == Some(true) {
                    GrantKind::Dma
                } else if let Some(pages) = g.shm_pages {
                    if pages == 0 || pages > SHM_MAX_PAGES as u64 {
                        return Err(format!(
                            "{ctx}: shm_pages = {pages}; a shared-memory budget is 1..={SHM_MAX_PAGES} pages"
                        ));
                    }
                    shm_grants += 1;
                    shm_pages += pages as u32;
                    if shm_grants > MAX_SHM_GRANTS {
                        return Err(format!(
                            "{ctx}: more than {MAX_SHM_GRANTS} shared-memory budgets in one profile"
                        ));
                    }
                    if shm_pages > SHM_PROFILE_MAX_PAGES {
                        return Err(format!(
                            "{ctx}: the profile's shared-memory budgets add up to {shm_pages} pages; at most {SHM_PROFILE_MAX_PAGES} (half of init's DMA pool)"
                        ));
                    }
                    GrantKind::Shm {
                        pages: pages as u32,
                    }
                } else if let Some(ops) = g.init {
                    for op in &ops {
                        if !INIT_OPS.contains(&op.as_str()) {
                            return Err(format!(
                                "{ctx}: unknown init operation `{op}` (known: {})",
                                INIT_OPS.join(", ")
                            ));
                        }
                    }
                    let poweroff = ops.iter().any(|o| o == "poweroff");
                    if poweroff && !POWEROFF_HOLDERS.contains(&s.image.as_str()) {
                        return Err(format!(
                            "{ctx}: init operation `poweroff` may only be granted to {}, not to image {}",
                            POWEROFF_HOLDERS.join(" or "),
                            s.image
                        ));
                    }
                    let badge = g.badge.unwrap_or_else(|| {
                        let b = (1..).find(|b| !init_badges.contains(b)).unwrap();
                        init_badges.insert(b);
                        b
                    });
                    GrantKind::Init {
                        badge,
                        kill: ops.iter().any(|o| o == "kill"),
                        poweroff,
                    }
                } else if g.console == Some(true) {
                    if !CONSOLE_READERS.contains(&s.image.as_str()) {
                        return Err(format!(
                            "{ctx}: console input may only be granted to {}, not to image {}",
                            CONSOLE_READERS.join(" or "),
                            s.image
                        ));
                    }
                    if s.image != "shell" && m.kind != Kind::Test {
                        return Err(format!(
                            "{ctx}: console input goes to image {} only in a test profile",
                            s.image
                        ));
                    }
                    if let Some(other) = console_reader.replace(sn.as_str()) {
                        return Err(format!(
                            "{ctx}: console input is already granted to service {other}; one reader per profile"
                        ));
                    }
                    GrantKind::ConsoleInput
                } else if g.console == Some(false) {
                    return Err(format!(
                        "{ctx}: `console = false` grants nothing; remove it"
                    ));
                } else {
                    return Err(format!("{ctx}: `dma = false` grants nothing; remove it"));
                };
                grants.push(Grant {
                    name: gname,
                    slot,
                    kind,
                });
            }
            grants.sort_by_key(|g| g.slot);
            let (arg, arg_text, flag) = encode_service_arg(p, s, args)?;
            if let Some(sv) = s.supervise {
                if sv.restarts == 0
                    || sv.restarts > 16
                    || sv.backoff_ms == 0
                    || sv.backoff_ms > 60_000
                {
                    return Err(format!(
                        "profile {p}, service {sn}: supervise needs 1..=16 restarts and a back-off of 1..=60000 ms"
                    ));
                }
            }
            services.push(Service {
                name: sn.clone(),
                image: s.image.clone(),
                doc: s.doc.trim().to_string(),
                arg,
                arg_text,
                flag,
                grants,
                supervise: s.supervise,
            });
        }
        check_bus_wakeup(p, m, &services)?;
        let eps: BTreeSet<&String> = served.keys().collect();
        if eps.len() > MAX_ENDPOINTS {
            return Err(format!("profile {p}: more than {MAX_ENDPOINTS} endpoints"));
        }
        profiles.push(Profile {
            name: p.clone(),
            kind: m.kind,
            paths: m.paths.clone(),
            doc: m.doc.trim().to_string(),
            used_by: m.used_by.trim().to_string(),
            services,
        });
    }
    Ok(System { profiles, slots })
}

/// dsoftbusd sleeps in one `IpcRecv` and is woken by netstackd's `Notify`
/// (`docs/dsoftbus.md` §11): a profile where the `bus` server is a client of
/// `net` must give the `net` server a notify grant on `bus` and name, in its
/// `bus_client` argument, the badge the `bus` server calls `net` with.
/// Without them dsoftbusd falls back to a capped poll, so this is a mistake
/// the generator refuses rather than a slower system nobody notices.
fn check_bus_wakeup(p: &str, m: &ManifestFile, services: &[Service]) -> Result<(), String> {
    let serves = |s: &Service, ep: &str| {
        s.grants
            .iter()
            .any(|g| matches!(&g.kind, GrantKind::Serve { ep: e } if e == ep))
    };
    let Some(bus) = services.iter().find(|s| serves(s, "bus")) else {
        return Ok(());
    };
    let Some(badge) = bus.grants.iter().find_map(|g| match &g.kind {
        GrantKind::Client { ep, badge } if ep == "net" => Some(*badge),
        _ => None,
    }) else {
        return Ok(());
    };
    let Some(net) = services.iter().find(|s| serves(s, "net")) else {
        return Ok(());
    };
    let ctx = format!("profile {p}, service {}", net.name);
    if !net
        .grants
        .iter()
        .any(|g| matches!(&g.kind, GrantKind::Notify { ep } if ep == "bus"))
    {
        return Err(format!(
            "{ctx}: {} serves `bus` and is a `net` client, so the `net` server needs `{{ notify = \"bus\" }}` to wake it",
            bus.name
        ));
    }
    let named = m
        .services
        .iter()
        .find(|f| f.name == net.name)
        .and_then(|f| f.arg.as_ref())
        .and_then(|a| a.get("bus_client"))
        .and_then(|v| v.as_integer());
    if named != i64::try_from(badge).ok() {
        return Err(format!(
            "{ctx}: its argument needs `bus_client = {badge:#x}` (the badge {} calls `net` with)",
            bus.name
        ));
    }
    Ok(())
}

type ArgParts = (Vec<u8>, String, Option<(String, Vec<u8>)>);

fn encode_service_arg(p: &str, s: &ServiceFile, args: &Interface) -> Result<ArgParts, String> {
    let ctx = format!("profile {p}, service {}", s.name);
    let Some(table) = &s.arg else {
        if s.cmdline_flag.is_some() || s.arg_type.is_some() {
            return Err(format!("{ctx}: cmdline_flag/arg_type need an `arg`"));
        }
        return Ok((Vec::new(), String::new(), None));
    };
    let ty = s
        .arg_type
        .clone()
        .unwrap_or_else(|| format!("{}Args", camel(&s.image)));
    if !args.structs.iter().any(|st| st.name == ty) {
        return Err(format!(
            "{ctx}: no argument struct `{ty}` in idl/args.toml (set arg_type, or declare it)"
        ));
    }
    let v = toml::Value::Table(table.clone());
    let mut out = Vec::new();
    encode_value(args, &Ty::Named(ty.clone()), Some(&v), &mut out)
        .map_err(|e| format!("{ctx}: arg: {e}"))?;
    let text = toml_inline(table);
    let flag = match &s.cmdline_flag {
        None => None,
        Some(f) => {
            let mut t = table.clone();
            t.insert(f.field.clone(), toml::Value::Boolean(true));
            let mut alt = Vec::new();
            encode_value(args, &Ty::Named(ty), Some(&toml::Value::Table(t)), &mut alt)
                .map_err(|e| format!("{ctx}: cmdline_flag field `{}`: {e}", f.field))?;
            if f.word.is_empty() || f.word.contains(char::is_whitespace) {
                return Err(format!("{ctx}: cmdline_flag word must be one word"));
            }
            Some((f.word.clone(), alt))
        }
    };
    if out.len() > 256 {
        return Err(format!(
            "{ctx}: argument encodes to {} bytes (max 256)",
            out.len()
        ));
    }
    Ok((out, text, flag))
}

fn toml_inline(t: &toml::Table) -> String {
    let parts: Vec<String> = t.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", parts.join(", "))
}

/// Encodes a TOML value as `ty`, exactly as `nexus_idl::Wire` lays it out.
/// Absent options are `None`, absent bools `false`, absent lists empty.
pub fn encode_value(
    i: &Interface,
    ty: &Ty,
    v: Option<&toml::Value>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    use toml::Value as V;
    let int = |v: Option<&V>, lo: i128, hi: i128| -> Result<i128, String> {
        match v {
            Some(V::Integer(n)) if (lo..=hi).contains(&(*n as i128)) => Ok(*n as i128),
            Some(V::Integer(n)) => Err(format!("{n} is out of range {lo}..={hi}")),
            Some(other) => Err(format!("expected an integer, found {other}")),
            None => Err("missing".into()),
        }
    };
    match ty {
        Ty::Prim(p) => match p.as_str() {
            "bool" => match v {
                None | Some(V::Boolean(false)) => out.push(0),
                Some(V::Boolean(true)) => out.push(1),
                Some(o) => return Err(format!("expected a bool, found {o}")),
            },
            "()" => {}
            p => {
                let (bytes, signed) = match p {
                    "u8" => (1, false),
                    "u16" => (2, false),
                    "u32" => (4, false),
                    "u64" => (8, false),
                    "i8" => (1, true),
                    "i16" => (2, true),
                    "i32" => (4, true),
                    _ => (8, true),
                };
                let bits = bytes * 8;
                let (lo, hi) = if signed {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, (1i128 << bits) - 1)
                };
                let n = int(v, lo, hi.min(i64::MAX as i128))?;
                out.extend_from_slice(&(n as i64).to_le_bytes()[..bytes]);
            }
        },
        Ty::Bytes(n) | Ty::Str(n) => {
            let b: Vec<u8> = match v {
                Some(V::String(s)) => s.as_bytes().to_vec(),
                Some(V::Array(a)) if matches!(ty, Ty::Bytes(_)) => a
                    .iter()
                    .map(|x| int(Some(x), 0, 255).map(|b| b as u8))
                    .collect::<Result<_, _>>()?,
                Some(o) => return Err(format!("expected a string, found {o}")),
                None => return Err("missing".into()),
            };
            if b.len() > *n {
                return Err(format!("{} bytes, over the bound of {n}", b.len()));
            }
            out.extend_from_slice(&(b.len() as u16).to_le_bytes());
            out.extend_from_slice(&b);
        }
        Ty::Array(n) => {
            let b: Vec<u8> = match v {
                Some(V::String(s)) if *n == 4 => s
                    .parse::<std::net::Ipv4Addr>()
                    .map_err(|_| format!("`{s}` is not an IPv4 address"))?
                    .octets()
                    .to_vec(),
                Some(V::Array(a)) => a
                    .iter()
                    .map(|x| int(Some(x), 0, 255).map(|b| b as u8))
                    .collect::<Result<_, _>>()?,
                Some(o) => return Err(format!("expected {n} bytes, found {o}")),
                None => return Err("missing".into()),
            };
            if b.len() != *n {
                return Err(format!("expected exactly {n} bytes, found {}", b.len()));
            }
            out.extend_from_slice(&b);
        }
        Ty::List(t, n) => {
            let items: &[V] = match v {
                None => &[],
                Some(V::Array(a)) => a,
                Some(o) => return Err(format!("expected a list, found {o}")),
            };
            if items.len() > *n {
                return Err(format!("{} items, over the bound of {n}", items.len()));
            }
            out.extend_from_slice(&(items.len() as u16).to_le_bytes());
            for it in items {
                encode_value(i, t, Some(it), out)?;
            }
        }
        Ty::Option(t) => match v {
            None => out.push(0),
            Some(x) => {
                out.push(1);
                encode_value(i, t, Some(x), out)?;
            }
        },
        Ty::Named(name) => {
            let Some(st) = i.structs.iter().find(|s| &s.name == name) else {
                return Err(format!("`{name}` is not a struct of idl/args.toml"));
            };
            let table = match v {
                Some(V::Table(t)) => t.clone(),
                None => toml::Table::new(),
                Some(o) => return Err(format!("expected a table for {name}, found {o}")),
            };
            for k in table.keys() {
                if !st.fields.iter().any(|f| &f.name == k) {
                    let known: Vec<&str> = st.fields.iter().map(|f| f.name.as_str()).collect();
                    return Err(format!(
                        "{name} has no field `{k}` (fields: {})",
                        known.join(", ")
                    ));
                }
            }
            for f in &st.fields {
                let fty = nexus_idlgen::parse_ty(&f.ty)?;
                encode_value(i, &fty, table.get(&f.name), out)
                    .map_err(|e| format!("{name}.{}: {e}", f.name))?;
            }
        }
    }
    Ok(())
}

fn bytes_lit(b: &[u8]) -> String {
    let parts: Vec<String> = b.iter().map(|x| x.to_string()).collect();
    format!("&[{}]", parts.join(", "))
}

impl System {
    /// Profiles carried by `path`'s image.
    pub fn on_path(&self, path: NetPath) -> impl Iterator<Item = &Profile> {
        self.profiles
            .iter()
            .filter(move |p| p.paths.contains(&path))
    }
}

/// nexus-init's tables for `path`'s image (see `nexus_init::profile`).
pub fn init_tables(sys: &System, path: NetPath) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "// Generated by nexus-manifest from profiles/*.toml; do not edit."
    );
    let _ = writeln!(
        o,
        "/// Every profile this image carries.\npub static PROFILES: &[Profile] = &["
    );
    for p in sys.on_path(path) {
        let _ = writeln!(
            o,
            "    Profile {{\n        name: {:?},\n        user: {},\n        services: &[",
            p.name,
            p.kind == Kind::User
        );
        for s in &p.services {
            let flag = match &s.flag {
                None => "None".to_string(),
                Some((w, b)) => format!("Some(({w:?}, {}))", bytes_lit(b)),
            };
            let sup = match s.supervise {
                None => "None".to_string(),
                Some(sv) => format!(
                    "Some(Supervise {{ restarts: {}, backoff_ns: {} }})",
                    sv.restarts,
                    sv.backoff_ms * 1_000_000
                ),
            };
            let _ = writeln!(
                o,
                "            Service {{\n                name: {:?},\n                image: {:?},\n                arg: {},\n                flag: {flag},\n                supervise: {sup},\n                grants: &[",
                s.name,
                s.image,
                bytes_lit(&s.arg)
            );
            for g in &s.grants {
                let slot = g.slot;
                let line = match &g.kind {
                    GrantKind::Serve { ep } => {
                        format!("Grant::Endpoint {{ ep: {ep:?}, rights: rights::RECV, badge: 0, slot: {slot} }}")
                    }
                    GrantKind::Client { ep, badge } => {
                        format!("Grant::Client {{ ep: {ep:?}, badge: {badge:#x}, slot: {slot} }}")
                    }
                    GrantKind::Send { ep, transfer, badge } => format!(
                        "Grant::Endpoint {{ ep: {ep:?}, rights: rights::SEND{}, badge: {badge:#x}, slot: {slot} }}",
                        if *transfer { " | rights::GRANT" } else { "" }
                    ),
                    GrantKind::Notify { ep } => {
                        format!("Grant::Endpoint {{ ep: {ep:?}, rights: rights::NOTIFY, badge: 0, slot: {slot} }}")
                    }
                    GrantKind::Device { id, .. } => format!("Grant::Device {{ device_id: {id}, slot: {slot} }}"),
                    GrantKind::Dma => format!("Grant::Dma {{ slot: {slot} }}"),
                    GrantKind::Shm { pages } => {
                        format!("Grant::MemBudget {{ pages: {pages}, slot: {slot} }}")
                    }
                    GrantKind::Init { badge, kill, poweroff } => {
                        format!("Grant::InitEndpoint {{ badge: {badge}, kill: {kill}, poweroff: {poweroff}, slot: {slot} }}")
                    }
                    GrantKind::ConsoleInput => format!("Grant::ConsoleInput {{ slot: {slot} }}"),
                };
                let _ = writeln!(o, "                    {line},");
            }
            let _ = writeln!(o, "                ],\n            }},");
        }
        let _ = writeln!(o, "        ],\n    }},");
    }
    let _ = writeln!(o, "];");
    let others: Vec<String> = sys
        .profiles
        .iter()
        .filter(|p| !p.paths.contains(&path))
        .map(|p| format!("{:?}", p.name))
        .collect();
    let other = match path {
        NetPath::Canonical => NetPath::Lite,
        NetPath::Lite => NetPath::Canonical,
    };
    let _ = writeln!(
        o,
        "/// Profiles only the other path's image carries, and that path's feature.\npub static OTHER_PATH: (&str, &[&str]) = ({:?}, &[{}]);",
        other.feature(),
        others.join(", ")
    );
    o
}

/// Every image's slot constants (`nexus_slots::<image>::<GRANT>`).
pub fn slots_rs(sys: &System) -> String {
    let mut o = String::from("// Generated by nexus-manifest from profiles/*.toml; do not edit.\n");
    for (image, names) in &sys.slots {
        let _ = writeln!(
            o,
            "/// Capability slots of `{image}`.\npub mod {} {{",
            snake(image)
        );
        for (i, n) in names.iter().enumerate() {
            let what = describe_grant_name(sys, image, n);
            let _ = writeln!(
                o,
                "    /// {what}\n    pub const {}: u32 = {};",
                n.to_ascii_uppercase(),
                i + 1
            );
        }
        let _ = writeln!(o, "}}");
    }
    o
}

fn describe_grant_name(sys: &System, image: &str, name: &str) -> String {
    for p in &sys.profiles {
        for s in p.services.iter().filter(|s| s.image == image) {
            if let Some(g) = s.grants.iter().find(|g| g.name == name) {
                return describe(&g.kind);
            }
        }
    }
    String::new()
}

fn describe(k: &GrantKind) -> String {
    match k {
        GrantKind::Serve { ep } => format!("RECV on `{ep}` (serves it)"),
        GrantKind::Client { ep, .. } => {
            format!("client of `{ep}` (SEND; its server hears when this task ends)")
        }
        GrantKind::Send { ep, transfer, .. } => {
            format!("SEND{} on `{ep}`", if *transfer { "+GRANT" } else { "" })
        }
        GrantKind::Notify { ep } => {
            format!("NOTIFY on `{ep}` (may wake its server; no message, no call)")
        }
        GrantKind::Device { id: 0, .. } => {
            "an empty virtio-mmio transport (device id 0, no device behind it): MMIO, MAP right"
                .into()
        }
        GrantKind::Device { name, id } => {
            format!("the virtio-{name} device (id {id}): MMIO + interrupt, MAP right")
        }
        GrantKind::Dma => "a DMA budget capability".into(),
        GrantKind::Shm { pages } => format!(
            "a shared-memory budget of {pages} pages (`MemCreate` only: no `DmaAlloc`, no physical addresses)"
        ),
        GrantKind::Init { kill, poweroff, .. } => {
            let mut s = String::from("SEND on init's endpoint (status, start-up argument, list)");
            match (kill, poweroff) {
                (true, true) => s.push_str(", allowed to kill services and to power off"),
                (true, false) => s.push_str(", allowed to kill services"),
                (false, true) => s.push_str(", allowed to power off"),
                (false, false) => {}
            }
            s
        }
        GrantKind::ConsoleInput => {
            "console input (`ConsoleRead`) and the system log level (`ConsoleLevel`), RECV right"
                .into()
        }
    }
}

/// The programs `path`'s image is built from: nexus-init, then every image
/// its profiles use, sorted.
pub fn programs(sys: &System, path: NetPath) -> Vec<String> {
    let mut set = BTreeSet::new();
    for p in sys.on_path(path) {
        for s in &p.services {
            set.insert(s.image.clone());
        }
    }
    let mut v = vec!["nexus-init".to_string()];
    v.extend(set);
    v
}

/// `docs/boot-profiles.md`, generated.
pub fn boot_profiles_md(sys: &System) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Boot profiles\n\n<!-- Generated by `just gen` (nexus-manifest docs) from profiles/*.toml; `just check-docs` fails when it is stale. Edit the manifests, not this file. -->\n"
    );
    o.push_str(include_str!("format.md"));
    let _ = writeln!(o, "\n## Profiles\n\n| profile | kind | paths | services | booted by |\n|---|---|---|---:|---|");
    for p in &sys.profiles {
        let paths: Vec<&str> = p
            .paths
            .iter()
            .map(|x| match x {
                NetPath::Canonical => "canonical",
                NetPath::Lite => "lite",
            })
            .collect();
        let _ = writeln!(
            o,
            "| [`{}`](#profile-{}) | {} | {} | {} | {} |",
            p.name,
            p.name,
            match p.kind {
                Kind::User => "user",
                Kind::Test => "test",
            },
            paths.join(", "),
            p.services.len(),
            if p.used_by.is_empty() {
                "–"
            } else {
                &p.used_by
            }
        );
    }
    for p in &sys.profiles {
        let _ = writeln!(
            o,
            "\n### Profile `{}`\n\n<a id=\"profile-{}\"></a>{}\n",
            p.name, p.name, p.doc
        );
        let _ = writeln!(o, "| # | service | image | argument | grants (slot: what) | supervision |\n|---:|---|---|---|---|---|");
        for (i, s) in p.services.iter().enumerate() {
            let grants: Vec<String> = s
                .grants
                .iter()
                .map(|g| {
                    let badge = match &g.kind {
                        GrantKind::Client { badge, .. } | GrantKind::Send { badge, .. } => {
                            format!(", badge {badge:#x}")
                        }
                        GrantKind::Init { badge, .. } => format!(", badge {badge}"),
                        _ => String::new(),
                    };
                    format!("{} `{}`: {}{badge}", g.slot, g.name, describe(&g.kind))
                })
                .collect();
            let mut arg = if s.arg_text.is_empty() {
                "–".to_string()
            } else {
                format!("`{}`", s.arg_text)
            };
            if let Some((w, _)) = &s.flag {
                arg.push_str(&format!(" (flag from `{w}`)"));
            }
            let sup = s.supervise.map_or("–".to_string(), |sv| {
                format!(
                    "{} restarts, back-off {} ms doubling",
                    sv.restarts, sv.backoff_ms
                )
            });
            let _ = writeln!(
                o,
                "| {} | `{}` | `{}` | {} | {} | {} |",
                i + 1,
                s.name,
                s.image,
                arg,
                if grants.is_empty() {
                    "none".into()
                } else {
                    grants.join("<br>")
                },
                sup
            );
        }
    }
    o
}

#[cfg(test)]
mod tests;

//! nexus-init: the first task. Starts the boot profile's services and
//! supervises them.
//!
//! 1. Prints `init: start`, reads the kernel command line, selects the
//!    profile (an unknown profile is refused with a message, and init exits).
//! 2. Probes the virtio-mmio capabilities the kernel gave it and reports the
//!    devices present (the network device is only ever granted onward to the
//!    service a profile names).
//! 3. Spawns each service in order with exactly its listed capabilities,
//!    printing `init: up <svc>`, then `init: ready`.
//! 4. Serves its endpoint: kernel death notices (printed as
//!    `init: svc <name> exited code=…` / `… faulted cause=…`) and the
//!    `init` interface (`idl/init.toml`): status, kill, start-up args, the
//!    service list, and power-off (after which init stops every service and
//!    ends; with no task left the kernel halts the machine).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod init {
    use nexus_abi::{rights, slots, DeathKind, DeathNotice, GrantSpec, KERNEL_BADGE};
    use nexus_idl::{heapless, List};
    use nexus_init::profile::{self, Grant, ProfileError};
    use nexus_interfaces::{init as api, notice};
    use nexus_rt::{println, sys};

    /// What init knows of a service.
    #[derive(Copy, Clone, PartialEq, Eq)]
    enum Status {
        Running,
        Exited(u64),
        Faulted(u64, u64),
    }

    const MAX_SERVICES: usize = profile::MAX_SERVICES;
    const MAX_EPS: usize = 8;

    struct Record {
        svc: &'static profile::Service,
        task: u64,
        status: Status,
        restarts: u32,
        restart_at: Option<u64>,
        /// Pages the kernel mapped when it was (last) started.
        loaded_pages: u64,
    }

    /// Virtio device id per MMIO slot of init (0 = none or not virtio).
    type DeviceIds = [u32; slots::init::MMIO_MAX as usize];

    /// Named endpoints init created (it keeps the originals, badge 0).
    struct Eps {
        list: [(&'static str, u32); MAX_EPS],
        n: usize,
    }

    impl Eps {
        fn get_or_create(&mut self, ctl: u32, name: &'static str) -> Option<u32> {
            if let Some(&(_, s)) = self.list[..self.n].iter().find(|(n, _)| *n == name) {
                return Some(s);
            }
            if self.n == MAX_EPS {
                println!("init: too many endpoints for {}", name);
                return None;
            }
            let Ok(s) = sys::endpoint_create(ctl) else {
                println!("init: cannot create endpoint {}", name);
                return None;
            };
            self.list[self.n] = (name, s);
            self.n += 1;
            Some(s)
        }
    }

    struct Ctx {
        ctl: u32,
        own_ep: u32,
        devices: DeviceIds,
    }

    /// Spawns `svc` with exactly its grants; the task id and the pages the
    /// kernel mapped for it, or `None`.
    fn start(svc: &'static profile::Service, cx: &Ctx, eps: &mut Eps) -> Option<(u64, u64)> {
        let mut grants = [GrantSpec {
            src: 0,
            dst: 0,
            rights: 0,
            badge: 0,
        }; 8];
        let mut ng = 0;
        for g in svc.grants.iter().take(grants.len()) {
            grants[ng] = match *g {
                Grant::Endpoint {
                    ep,
                    rights,
                    badge,
                    slot,
                } => GrantSpec {
                    src: eps.get_or_create(cx.ctl, ep)?,
                    dst: slot,
                    rights,
                    badge,
                },
                Grant::Client { ep, badge, slot } => GrantSpec {
                    src: eps.get_or_create(cx.ctl, ep)?,
                    dst: slot,
                    rights: rights::SEND,
                    badge,
                },
                Grant::Device { device_id, slot } => {
                    let Some(i) = cx.devices.iter().position(|&d| d == device_id) else {
                        println!(
                            "init: no virtio device id {} for {}; not started",
                            device_id, svc.name
                        );
                        return None;
                    };
                    GrantSpec {
                        src: slots::init::MMIO_FIRST + i as u32,
                        dst: slot,
                        rights: rights::MAP,
                        badge: 0,
                    }
                }
                Grant::Dma { slot } => GrantSpec {
                    src: slots::init::DMA,
                    dst: slot,
                    rights: 0,
                    badge: 0,
                },
                // Carved below, once nothing else can fail.
                Grant::MemBudget { slot, .. } => GrantSpec {
                    src: u32::MAX,
                    dst: slot,
                    rights: 0,
                    badge: 0,
                },
                Grant::InitEndpoint { badge, slot, .. } => GrantSpec {
                    src: cx.own_ep,
                    dst: slot,
                    rights: rights::SEND,
                    badge,
                },
                Grant::ConsoleInput { slot } => GrantSpec {
                    src: slots::init::CONSOLE_INPUT,
                    dst: slot,
                    rights: rights::RECV,
                    badge: 0,
                },
            };
            ng += 1;
        }
        // Arguments are fetched with `init.args()`; a0 carries nothing.
        // A fresh shared-memory budget per start, carved from init's DMA
        // capability; init drops its copies once the child holds them (or
        // the spawn failed), so the child's are the only ones.
        let mut budgets = [0u32; 8];
        let mut nb = 0;
        let drop_budgets = |b: &[u32]| {
            for &s in b {
                let _ = sys::cap_drop(s);
            }
        };
        for (spec, g) in grants[..ng].iter_mut().zip(svc.grants) {
            let Grant::MemBudget { pages, .. } = *g else {
                continue;
            };
            match sys::mem_budget(slots::init::DMA, pages as u64) {
                Ok(b) => {
                    spec.src = b;
                    budgets[nb] = b;
                    nb += 1;
                }
                Err(e) => {
                    println!(
                        "init: no shared-memory budget for {}: {}; not started",
                        svc.name, e
                    );
                    drop_budgets(&budgets[..nb]);
                    return None;
                }
            }
        }
        let started = sys::spawn_loaded(cx.ctl, svc.image, &grants[..ng], Some(cx.own_ep), 0);
        drop_budgets(&budgets[..nb]);
        match started {
            Ok(started) => Some(started),
            Err(e) => {
                println!("init: svc {} failed to start: {}", svc.name, e);
                None
            }
        }
    }

    /// Tells each server this dead service was a client of, so the server
    /// frees what the client held. Bounded: one short call per grant.
    fn notify_servers(grants: &[Grant], eps: &[(&str, u32)]) {
        for g in grants {
            let Grant::Client { ep, badge, .. } = *g else {
                continue;
            };
            let Some(&(_, slot)) = eps.iter().find(|(n, _)| *n == ep) else {
                continue;
            };
            let mut msg = [0u8; notice::REQUEST_MAX];
            let Ok(n) = (notice::Request::ClientGone { badge }).encode(&mut msg) else {
                continue;
            };
            let mut reply = [0u8; 64];
            let deadline = sys::now_ns() + 200_000_000;
            if let Err(e) = sys::ipc_call(slot, &msg[..n], &mut reply, None, deadline) {
                println!("init: could not tell {} a client ended: {}", ep, e);
            }
        }
    }

    fn probe_devices() -> DeviceIds {
        let mut ids: DeviceIds = [0; slots::init::MMIO_MAX as usize];
        for i in 0..slots::init::MMIO_MAX {
            let slot = slots::init::MMIO_FIRST + i;
            let Ok(info) = sys::cap_info(slot) else {
                continue;
            };
            let Ok(va) = sys::mmio_map(slot) else {
                continue;
            };
            // SAFETY: `va` maps the device window of this MMIO capability
            // (device memory, at least one page); the virtio-mmio magic and
            // device-id registers are at +0 and +8.
            let (magic, id) = unsafe {
                (
                    core::ptr::read_volatile(va as *const u32),
                    core::ptr::read_volatile((va + 8) as *const u32),
                )
            };
            if magic == 0x7472_6976 && id != 0 {
                ids[i as usize] = id;
                let kind = match id {
                    1 => "net",
                    2 => "blk",
                    4 => "rng",
                    _ => "other",
                };
                println!(
                    "init: virtio-mmio slot {} base={:#x} irq={} id={} ({})",
                    i,
                    info.x,
                    info.y >> 48,
                    id,
                    kind
                );
            }
        }
        ids
    }

    pub fn main(_arg: u64) -> i32 {
        println!("init: start");
        let mut cmdline = [0u8; 256];
        let n = sys::boot_args(slots::init::CONTROL, &mut cmdline).unwrap_or(0);
        let cmdline = core::str::from_utf8(&cmdline[..n]).unwrap_or("");
        let prof = match profile::select(cmdline) {
            Ok(p) => p,
            Err(ProfileError::Unknown(name)) => {
                println!(
                    "init: profile '{}' is not in this image; refusing to boot it",
                    name
                );
                return 2;
            }
            Err(ProfileError::OtherPath(name, path)) => {
                println!(
                    "init: profile '{}' belongs to the {} path, which this image ({}) was not built with; refusing to boot it",
                    name,
                    path,
                    profile::NET_PATH
                );
                return 2;
            }
        };
        println!("init: profile {} (path {})", prof.name, profile::NET_PATH);
        let devices = probe_devices();

        let ctl = slots::init::CONTROL;
        let Ok(own_ep) = sys::endpoint_create(ctl) else {
            println!("init: cannot create its endpoint");
            return 3;
        };
        let cx = Ctx {
            ctl,
            own_ep,
            devices,
        };
        let mut eps = Eps {
            list: [("", 0); MAX_EPS],
            n: 0,
        };
        let mut records: [Option<Record>; MAX_SERVICES] = [const { None }; MAX_SERVICES];
        for (i, svc) in prof.services.iter().enumerate().take(MAX_SERVICES) {
            if let Some((task, loaded_pages)) = start(svc, &cx, &mut eps) {
                records[i] = Some(Record {
                    svc,
                    task,
                    status: Status::Running,
                    restarts: 0,
                    restart_at: None,
                    loaded_pages,
                });
                println!("init: up {}", svc.name);
            }
        }
        println!("init: ready t_ms={}", sys::now_ns() / 1_000_000);

        let mut buf = [0u8; api::REQUEST_MAX];
        let mut reply = [0u8; api::REPLY_MAX];
        let mut token = 0;
        let mut reply_len = 0;
        // Receive errors are caused by clients (e.g. a reply buffer too
        // small): only the first few are printed, so a misbehaving client
        // cannot make init flood the console.
        let mut recv_errors = 0u32;
        loop {
            // Restarts that are due.
            let now = sys::now_ns();
            for r in records.iter_mut().flatten() {
                if r.restart_at.is_some_and(|t| t <= now) {
                    r.restart_at = None;
                    r.restarts += 1;
                    let limit = r.svc.supervise.map_or(0, |s| s.restarts);
                    println!("init: restart {} ({}/{})", r.svc.name, r.restarts, limit);
                    if let Some((task, pages)) = start(r.svc, &cx, &mut eps) {
                        r.task = task;
                        r.status = Status::Running;
                        r.loaded_pages = pages;
                    }
                }
            }
            let wake = records
                .iter()
                .flatten()
                .filter_map(|r| r.restart_at)
                .min()
                .unwrap_or(0);
            let msg = match sys::ipc_reply_recv(own_ep, token, &reply[..reply_len], &mut buf, wake)
            {
                Ok(m) => m,
                Err(nexus_abi::Error::TimedOut) => {
                    token = 0;
                    reply_len = 0;
                    continue;
                }
                Err(e) => {
                    recv_errors = recv_errors.saturating_add(1);
                    if recv_errors <= 3 {
                        println!("init: receive failed: {}", e);
                    } else if recv_errors == 4 {
                        println!("init: further receive errors not printed");
                    }
                    token = 0;
                    reply_len = 0;
                    continue;
                }
            };
            token = 0;
            reply_len = 0;
            if msg.badge == KERNEL_BADGE {
                let Some(n) = DeathNotice::decode(&buf[..msg.len]) else {
                    continue;
                };
                let rec = records.iter_mut().flatten().find(|r| r.task == n.task);
                let name = rec.as_ref().map_or("?", |r| r.svc.name);
                match n.kind {
                    DeathKind::Exited => {
                        println!("init: svc {} exited code={}", name, n.code as i64)
                    }
                    DeathKind::Faulted => println!(
                        "init: svc {} faulted cause={} addr={:#x} pc={:#x}",
                        name,
                        nexus_abi::cause_name(n.code),
                        n.addr,
                        n.pc
                    ),
                    DeathKind::Killed => println!("init: svc {} killed", name),
                    DeathKind::Interrupt | DeathKind::Notify => continue,
                }
                if let Some(r) = rec {
                    r.status = match n.kind {
                        DeathKind::Faulted => Status::Faulted(n.code, n.addr),
                        DeathKind::Killed => Status::Faulted(0, 0),
                        _ => Status::Exited(n.code),
                    };
                    notify_servers(r.svc.grants, &eps.list[..eps.n]);
                    let unexpected = !matches!(n.kind, DeathKind::Exited) || n.code != 0;
                    if let (true, Some(sv)) = (unexpected, r.svc.supervise) {
                        if r.restarts < sv.restarts {
                            r.restart_at = Some(sys::now_ns() + sv.backoff_ns(r.restarts + 1));
                        } else {
                            println!(
                                "init: {} reached its restart limit ({}); not restarting",
                                r.svc.name, sv.restarts
                            );
                        }
                    }
                }
                continue;
            }
            let mut control = Control {
                records: &mut records,
                profile: prof,
                cmdline,
                ctl,
                power_off: false,
            };
            reply_len = api::dispatch(&mut control, msg.badge, &buf[..msg.len], &mut reply);
            if control.power_off {
                // Stop every service, last started first (the caller too,
                // which therefore gets no reply); then end init. With no
                // task left the kernel halts the machine (SBI).
                println!("init: poweroff");
                for r in records.iter().rev().flatten() {
                    if r.status == Status::Running {
                        let _ = sys::kill(ctl, r.task);
                    }
                }
                return 0;
            }
            token = msg.token;
        }
    }

    fn state(s: Status) -> api::ServiceState {
        match s {
            Status::Running => api::ServiceState::Running,
            Status::Exited(code) => api::ServiceState::Exited { code },
            Status::Faulted(cause, addr) => api::ServiceState::Faulted { cause, addr },
        }
    }

    /// Init's side of the `init` interface, over its service records.
    struct Control<'a> {
        records: &'a mut [Option<Record>],
        profile: &'static profile::Profile,
        cmdline: &'a str,
        ctl: u32,
        /// Set by an allowed `poweroff`; the loop acts on it.
        power_off: bool,
    }

    impl api::Server for Control<'_> {
        fn status(&mut self, _: u64, name: &str) -> Result<api::ServiceState, api::Error> {
            let r = self
                .records
                .iter()
                .flatten()
                .find(|r| r.svc.name == name)
                .ok_or(api::Error::UnknownService)?;
            Ok(state(r.status))
        }

        fn kill(&mut self, caller: u64, name: &str) -> Result<(), api::Error> {
            let allowed = profile::by_init_badge(self.profile, caller)
                .and_then(|s| s.init_badge())
                .is_some_and(|(_, kill)| kill);
            if !allowed {
                return Err(api::Error::Denied);
            }
            let r = self
                .records
                .iter()
                .flatten()
                .find(|r| r.svc.name == name && r.status == Status::Running)
                .ok_or(api::Error::UnknownService)?;
            sys::kill(self.ctl, r.task).map_err(|_| api::Error::UnknownService)
        }

        fn args(&mut self, caller: u64) -> Result<heapless::Vec<u8, 256>, api::Error> {
            let svc = profile::by_init_badge(self.profile, caller).ok_or(api::Error::Denied)?;
            let arg = svc.arg_for(self.cmdline);
            if arg.is_empty() {
                return Err(api::Error::NoArgument);
            }
            heapless::Vec::from_slice(arg).map_err(|_| api::Error::TooLarge)
        }

        fn list(&mut self, _: u64) -> Result<List<api::ServiceInfo, 33>, api::Error> {
            let mut out = List(heapless::Vec::new());
            for r in self.records.iter().flatten() {
                let mut name = heapless::String::new();
                // Names are at most NAME_MAX (24) bytes, checked by the
                // manifest generator.
                name.push_str(r.svc.name)
                    .map_err(|_| api::Error::TooLarge)?;
                let info = api::ServiceInfo {
                    name,
                    state: state(r.status),
                    restarts: r.restarts,
                    pages: r.loaded_pages.min(u32::MAX as u64) as u32,
                };
                out.0.push(info).map_err(|_| api::Error::TooLarge)?;
            }
            Ok(out)
        }

        fn poweroff(&mut self, caller: u64) -> Result<(), api::Error> {
            let allowed =
                profile::by_init_badge(self.profile, caller).is_some_and(|s| s.may_power_off());
            if !allowed {
                return Err(api::Error::Denied);
            }
            self.power_off = true;
            Ok(())
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(init::main);

//! dsoftbusd: the DSoftBus daemon. A thin loop around `dsoftbus::daemon::Daemon`:
//! serve bus requests, poll (non-blocking), then arm every socket with the facade's
//! `WaitArm` and sleep in `IpcRecv` on the bus endpoint until a bus request, the
//! facade's `Notify` (a socket is ready) or the next timer. Without a notify route
//! (netstackd answers `Unsupported`) it sleeps in a capped facade `WaitAny` instead.
//!
//! The platform: monotonic time from the kernel, ephemeral-key entropy from `rngd`
//! (virtio-rng) over IPC, console lines; the facade transport is IPC to netstackd.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    use core::fmt;

    extern crate alloc;

    use alloc::rc::Rc;
    use alloc::vec::Vec;
    use core::cell::RefCell;

    use dsoftbus::daemon::{Daemon, Platform};
    use dsoftbus::{EphemeralKeypair, Escaped, TrustEntry, TrustOrigin};
    use dsoftbusd::bus::{BusService, Served};
    use dsoftbusd::identity::{load_or_create, Origin};
    use dsoftbusd::{Config, SESSION_PORT};
    use nexus_interfaces::args::DsoftbusdArgs;
    use nexus_interfaces::bus;
    use nexus_net::NetClient;
    use nexus_net_ipc::IpcTransport;
    use nexus_rt::{println, sys};
    use nexus_slots::dsoftbusd as slot;

    /// The facade transport, counting its calls (loop figures).
    struct Counted {
        inner: IpcTransport,
        calls: Rc<core::cell::Cell<u64>>,
        ticks: Rc<core::cell::Cell<u64>>,
    }

    impl nexus_net::Transport for Counted {
        fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, nexus_net::NetError> {
            self.calls.set(self.calls.get() + 1);
            let t0 = sys::instret();
            let r = self.inner.call(request, reply);
            self.ticks
                .set(self.ticks.get() + sys::instret().wrapping_sub(t0));
            r
        }
    }

    /// 32 bytes from rngd (bounded wait), `None` without entropy.
    fn entropy() -> Option<[u8; 32]> {
        let mut rng = nexus_interfaces::rng::Client::new(nexus_rt::ipc::Endpoint(slot::RNG));
        rng.deadline_ns = sys::now_ns() + 1_000_000_000;
        rng.fill(32).ok()?.as_slice().try_into().ok()
    }

    /// The platform. `spare` is the next handshake's ephemeral key pair: its secret
    /// fetched from rngd and its public half derived while the loop is idle (before it
    /// sleeps), so that a handshake neither waits for the device (milliseconds on a
    /// loaded host) nor computes the fixed-base scalar multiplication; used once, then
    /// taken.
    struct Os {
        spare: Rc<RefCell<Option<EphemeralKeypair>>>,
    }

    impl Platform for Os {
        fn now_ns(&mut self) -> u64 {
            sys::now_ns()
        }

        fn ticks(&mut self) -> u64 {
            sys::instret()
        }

        fn ephemeral(&mut self) -> Option<[u8; 32]> {
            entropy()
        }

        fn ephemeral_keypair(&mut self) -> Option<EphemeralKeypair> {
            let spare = self.spare.borrow_mut().take();
            spare.or_else(|| entropy().map(EphemeralKeypair::from_secret))
        }

        fn log(&mut self, line: fmt::Arguments<'_>) {
            println!("{}", line);
        }

        fn heap_used(&mut self) -> usize {
            nexus_rt::heap_used()
        }
    }

    /// The device's identity. With a `kv` client capability (the profile grants one) the
    /// static key is loaded from storaged, or created from rngd's entropy and stored on
    /// first boot (`dsoftbusd::identity`); the start-up argument's `node` is then only the
    /// display name. Without one there is no identity (no key is compiled in) and the
    /// daemon does not start.
    fn identity(cfg: &Config) -> Option<(dsoftbus::LocalIdentity, u16, u16)> {
        let granted = sys::cap_info(slot::KV)
            .map(|c| c.kind == Some(nexus_abi::CapKind::Endpoint))
            .unwrap_or(false);
        if !granted {
            // No compiled-in key exists: without a key store, no identity.
            return None;
        }
        persisted(cfg)
    }

    fn persisted(cfg: &Config) -> Option<(dsoftbus::LocalIdentity, u16, u16)> {
        let mut kv = nexus_interfaces::kv::Client::new(nexus_rt::ipc::Endpoint(slot::KV));
        // storaged may still be opening (or formatting) its disk: bounded wait.
        kv.deadline_ns = sys::now_ns() + KV_WAIT_NS;
        match load_or_create(&mut kv, entropy, &cfg.node) {
            Ok((me, Origin::Created)) => {
                println!("dsoftbusd: identity created id={}", Escaped(me.device_id()));
                Some((me, SESSION_PORT, dsoftbus::DISCOVERY_PORT))
            }
            Ok((me, Origin::Loaded)) => {
                println!("dsoftbusd: identity loaded id={}", Escaped(me.device_id()));
                Some((me, SESSION_PORT, dsoftbus::DISCOVERY_PORT))
            }
            Err(e) => {
                println!("dsoftbusd: no identity from the key store: {:?}", e);
                None
            }
        }
    }

    /// Bound on each call to storaged while the identity is loaded or created.
    const KV_WAIT_NS: u64 = 10_000_000_000;
    /// Bound on storing one trust change.
    const KV_SAVE_NS: u64 = 2_000_000_000;
    /// Without a notify route only (netstackd answers `WaitArm` with
    /// `Unsupported`): the longest facade `WaitAny` while applications use the
    /// bus, whose requests arrive on another endpoint (docs/dsoftbus.md §13).
    const BUS_POLL_NS: u64 = 2_000_000;
    /// Without a notify route: the longest `WaitAny` while no application uses the bus.
    const BUS_IDLE_NS: u64 = 50_000_000;
    /// Parked bus calls (all clients).
    const MAX_PARKED: usize = 32;

    struct Parked {
        badge: u64,
        token: u64,
        /// Answer by then at the latest (the sleep ends there).
        deadline: u64,
        req: Vec<u8>,
    }

    pub fn main(_: u64) -> i32 {
        let args = match nexus_rt::ipc::fetch_args::<DsoftbusdArgs>(slot::INIT) {
            Ok(a) => a,
            Err(e) => {
                println!("dsoftbusd: no start-up argument: {:?}", e);
                return 2;
            }
        };
        let Some(cfg) = Config::from_args(&args) else {
            println!("dsoftbusd: bad start-up argument {:?}", args);
            return 2;
        };
        let Some((me, session_port, discovery_port)) = identity(&cfg) else {
            println!(
                "dsoftbusd: no identity for {} (no key store); not starting",
                Escaped(&cfg.node)
            );
            return 5;
        };
        let calls = Rc::new(core::cell::Cell::new(0u64));
        let facade_ticks = Rc::new(core::cell::Cell::new(0u64));
        let mut net = NetClient::new(Counted {
            inner: IpcTransport::new(slot::NET),
            calls: calls.clone(),
            ticks: facade_ticks.clone(),
        });
        // Wait (bounded) for netstackd to have an address.
        let end = sys::now_ns() + 30_000_000_000;
        while net
            .local_addr()
            .map(|i| i.addr.is_unspecified())
            .unwrap_or(true)
        {
            if sys::now_ns() > end {
                println!("dsoftbusd: no network address; giving up");
                return 3;
            }
            sys::sleep_ms(20);
        }
        // The trust store: the boot counter, the stored entries, then the profile's.
        let mut kv = nexus_interfaces::kv::Client::new(nexus_rt::ipc::Endpoint(slot::KV));
        kv.deadline_ns = sys::now_ns() + KV_WAIT_NS;
        let boot = match dsoftbusd::trust::next_boot(&mut kv) {
            Ok(b) => b,
            Err(e) => {
                println!("dsoftbusd: no boot counter from the key store: {:?}", e);
                return 5;
            }
        };
        kv.deadline_ns = sys::now_ns() + KV_WAIT_NS;
        let loaded = match dsoftbusd::trust::load(&mut kv) {
            Ok(l) => l,
            Err(e) => {
                println!("dsoftbusd: no trust store from the key store: {:?}", e);
                return 5;
            }
        };
        for id in &loaded.damaged {
            println!("dsoftbusd: trust record {} damaged; skipped", Escaped(id));
        }
        let mut trusted = loaded.entries;
        let stored = trusted.len();
        for (key, services) in &cfg.trusted {
            let Ok(e) = TrustEntry::new(*key, "", services, TrustOrigin::Provisioned, boot, 0)
            else {
                continue;
            };
            trusted.retain(|x| x.device_id() != e.device_id());
            trusted.push(e);
        }
        println!(
            "dsoftbusd: trust store boot={} stored={} provisioned={}",
            boot,
            stored,
            cfg.trusted.len()
        );
        let dcfg = cfg.daemon_config(session_port, discovery_port, trusted, boot);
        let spare = Rc::new(RefCell::new(None));
        let os = Os {
            spare: spare.clone(),
        };
        let mut d = match Daemon::start(net, os, me, dcfg) {
            Ok(d) => d,
            Err(e) => {
                println!("dsoftbusd: cannot start: {:?}", e);
                return 4;
            }
        };
        let rules: Vec<(u64, &str)> = cfg.publish.iter().map(|(b, s)| (*b, s.as_str())).collect();
        let mut svc = BusService::new(&rules).with_manage(&cfg.manage);
        let mut parked: Vec<Parked> = Vec::new();
        let mut req = alloc::vec![0u8; bus::REQUEST_MAX];
        let mut rep = alloc::vec![0u8; bus::REPLY_MAX];
        // Set after an arming: the first receive below sleeps until then.
        let mut sleep: Option<u64> = None;
        // Whether netstackd took `WaitArm` (a notify route); if not, the
        // capped `WaitAny` of before.
        let mut armable = true;
        let (mut n_wakes, mut n_passes, mut n_bus, mut n_notes) = (0u64, 0u64, 0u64, 0u64);
        let (mut t_sleep, mut t_serve, mut t_poll) = (0u64, 0u64, 0u64);
        loop {
            n_passes += 1;
            // Set when events or answered parked calls may have made more work than
            // this pass's poll saw (requests come before the poll, which serves them).
            let mut again = false;
            // Bus requests: the first receive may sleep (after an arming, until a
            // request, the facade's `Notify` or the deadline); the rest never block.
            loop {
                let slept = sleep.is_some();
                let deadline = match sleep.take() {
                    Some(t) => t,
                    None => sys::now_ns().max(1),
                };
                let t0 = sys::instret();
                let got = sys::ipc_recv(slot::BUS, &mut req, deadline);
                if slept {
                    t_sleep += sys::instret().wrapping_sub(t0);
                }
                let Ok(m) = got else {
                    break;
                };
                if slept {
                    n_wakes += 1;
                }
                let body = &req[..m.len.min(req.len())];
                if m.badge == nexus_abi::KERNEL_BADGE {
                    n_notes += 1;
                    // The facade's notification: a socket is ready. It does not
                    // say which: one `WaitArm` asks (the poll below reads those).
                    if armable {
                        d.on_notify();
                    } else {
                        d.notified();
                    }
                    continue;
                }
                if m.badge == 0 {
                    // Only init holds badge 0 on this endpoint.
                    if let Some(badge) = nexus_interfaces::client_gone(body) {
                        svc.client_gone(&mut d, badge);
                        parked.retain(|p| p.badge != badge);
                    }
                    let _ = sys::ipc_reply(m.token, &[], None);
                    continue;
                }
                n_bus += 1;
                let t0 = sys::instret();
                let served = svc.serve(&mut d, m.badge, body, &mut rep, sys::now_ns());
                t_serve += sys::instret().wrapping_sub(t0);
                match served {
                    Served::Reply(n) => {
                        let _ = sys::ipc_reply(m.token, &rep[..n], None);
                        if svc.take_stats_asked() {
                            // The loop's figures with every `stats` call (the bus
                            // benchmark reads the difference over its round trips).
                            let st = d.stats();
                            println!(
                                "dsoftbusd: loop bus_calls={} wakes={} notifies={} passes={} facade_calls={} facade_ticks={} sleep_ticks={} serve_ticks={} poll_ticks={} seal_ticks={} open_ticks={} records_sealed={} records_opened={} bytes_sealed={} bytes_opened={} ticks={}",
                                n_bus,
                                n_wakes,
                                n_notes,
                                n_passes,
                                calls.get(),
                                facade_ticks.get(),
                                t_sleep,
                                t_serve,
                                t_poll,
                                st.seal_ticks,
                                st.open_ticks,
                                st.records_sealed,
                                st.records_opened,
                                st.bytes_sealed,
                                st.bytes_opened,
                                sys::instret()
                            );
                        }
                    }
                    Served::Park(dl) if parked.len() < MAX_PARKED => parked.push(Parked {
                        badge: m.badge,
                        token: m.token,
                        deadline: dl,
                        req: body.to_vec(),
                    }),
                    Served::Park(_) => {
                        let n = bus::reply::send(&Err(bus::Error::NoResources), &mut rep);
                        let _ = sys::ipc_reply(m.token, &rep[..n], None);
                    }
                }
            }
            // Armed: only the sockets that may hold something are read.
            let t0 = sys::instret();
            let until = if armable { d.poll_ready() } else { d.poll() };
            t_poll += sys::instret().wrapping_sub(t0);
            while let Some(ev) = d.next_event() {
                again = true;
                let now = sys::now_ns();
                // Events of streams nobody here owns need no action.
                let _ = svc.on_event(&mut d, ev, now);
            }
            // Trust changes go to the disk as they happen (one record per device).
            for id in svc.take_trust_changes() {
                kv.deadline_ns = sys::now_ns() + KV_SAVE_NS;
                if let Err(e) = dsoftbusd::trust::save(&mut kv, d.trust(), &id) {
                    println!(
                        "dsoftbusd: trust change of {} not persisted: {:?}",
                        Escaped(&id),
                        e
                    );
                }
            }
            // Parked bus calls: retry; answered ones leave.
            let mut k = 0;
            while k < parked.len() {
                let now = sys::now_ns();
                match svc.serve(&mut d, parked[k].badge, &parked[k].req, &mut rep, now) {
                    Served::Reply(n) => {
                        let p = parked.swap_remove(k);
                        let _ = sys::ipc_reply(p.token, &rep[..n], None);
                        again = true;
                    }
                    Served::Park(dl) => {
                        parked[k].deadline = dl;
                        k += 1;
                    }
                }
            }
            let until = parked.iter().map(|p| p.deadline).fold(until, u64::min);
            if again || until <= sys::now_ns() {
                continue;
            }
            // Idle: the next handshake's ephemeral key pair, off its critical path.
            if spare.borrow().is_none() {
                let next = entropy().map(EphemeralKeypair::from_secret);
                *spare.borrow_mut() = next;
            }
            // `Some(true)`: armed, sleep on the endpoint; `Some(false)`: ready now.
            let armed = if armable {
                match d.arm() {
                    Ok(a) => Some(a),
                    // No notify route: the capped `WaitAny` from now on.
                    Err(nexus_net::NetError::Unsupported) => {
                        armable = false;
                        None
                    }
                    // Anything else (e.g. netstackd gone for a moment): this once.
                    Err(_) => None,
                }
            } else {
                None
            };
            match armed {
                Some(true) => sleep = Some(until.max(1)),
                Some(false) => {}
                None => {
                    let now = sys::now_ns();
                    let cap = if svc.active() || !parked.is_empty() {
                        BUS_POLL_NS
                    } else {
                        BUS_IDLE_NS
                    };
                    d.wait(until.min(now + cap));
                    // Whatever woke the wait: read every socket next pass.
                    d.notified();
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main);

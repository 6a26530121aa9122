//! dsoftbusd: the DSoftBus daemon. A thin loop around `dsoftbus::daemon::Daemon`:
//! poll (non-blocking), then sleep in one facade `WaitAny` on every socket until
//! something arrives or the next timer is due.
//!
//! The platform: monotonic time from the kernel, ephemeral-key entropy from `rngd`
//! (virtio-rng) over IPC, console lines; the facade transport is IPC to netstackd.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    use core::fmt;

    use dsoftbus::daemon::{Daemon, Platform};
    use dsoftbusd::Config;
    use nexus_interfaces::args::DsoftbusdArgs;
    use nexus_net::NetClient;
    use nexus_net_ipc::IpcTransport;
    use nexus_rt::{println, sys};
    use nexus_slots::dsoftbusd as slot;

    struct Os;

    impl Platform for Os {
        fn now_ns(&mut self) -> u64 {
            sys::now_ns()
        }

        fn ephemeral(&mut self) -> Option<[u8; 32]> {
            let mut rng = nexus_interfaces::rng::Client::new(nexus_rt::ipc::Endpoint(slot::RNG));
            rng.deadline_ns = sys::now_ns() + 1_000_000_000;
            rng.fill(32).ok()?.as_slice().try_into().ok()
        }

        fn log(&mut self, line: fmt::Arguments<'_>) {
            println!("{}", line);
        }

        fn heap_used(&mut self) -> usize {
            nexus_rt::heap_used()
        }
    }

    #[cfg(feature = "test-identities")]
    fn identity(cfg: &Config) -> Option<(dsoftbus::LocalIdentity, u16, u16)> {
        let n = dsoftbus_testnodes::TEST_NODES
            .iter()
            .find(|n| n.device_id == cfg.node)?;
        Some((n.identity(), n.session_port, n.discovery_port))
    }

    #[cfg(not(feature = "test-identities"))]
    fn identity(_cfg: &Config) -> Option<(dsoftbus::LocalIdentity, u16, u16)> {
        // No key store yet: only test builds carry (public) test identities.
        None
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
                "dsoftbusd: no identity provisioned for {}; not starting",
                cfg.node
            );
            return 5;
        };
        let mut net = NetClient::new(IpcTransport::new(slot::NET));
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
        let dcfg = cfg.daemon_config(session_port, discovery_port);
        let mut d = match Daemon::start(net, Os, me, dcfg) {
            Ok(d) => d,
            Err(e) => {
                println!("dsoftbusd: cannot start: {:?}", e);
                return 4;
            }
        };
        #[cfg(feature = "test-identities")]
        let mut modes = dsoftbusd::testmodes::TestModes::new(cfg, &mut d);
        loop {
            let until = d.poll();
            #[allow(unused_mut)]
            let mut again = false;
            #[cfg(feature = "test-identities")]
            {
                while let Some(ev) = d.next_event() {
                    modes.on_event(&mut d, ev, sys::now_ns());
                    again = true;
                }
                again |= modes.step(&mut d, sys::now_ns());
            }
            #[cfg(not(feature = "test-identities"))]
            while d.next_event().is_some() {}
            if !again {
                d.wait(until);
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main);

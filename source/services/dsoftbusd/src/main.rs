//! dsoftbusd: the DSoftBus daemon (see the library for the design).
//!
//! The platform: monotonic time from the kernel, ephemeral-key entropy from
//! `rngd` (virtio-rng) over IPC, console lines; the facade transport is IPC
//! to netstackd. Its boot argument picks the test identity (`Config`).
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod svc {
    use core::fmt;

    use dsoftbusd::{Config, Daemon, Platform};
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

        #[cfg(not(feature = "test-deterministic-ephemeral"))]
        fn ephemeral(&mut self) -> Option<[u8; 32]> {
            let mut rng = nexus_interfaces::rng::Client::new(nexus_rt::ipc::Endpoint(slot::RNG));
            rng.deadline_ns = sys::now_ns() + 1_000_000_000;
            rng.fill(32).ok()?.as_slice().try_into().ok()
        }

        #[cfg(feature = "test-deterministic-ephemeral")]
        fn ephemeral(&mut self) -> Option<[u8; 32]> {
            // TEST ONLY: predictable ephemeral keys.
            Some([0x5e; 32])
        }

        fn log(&mut self, line: fmt::Arguments<'_>) {
            println!("{}", line);
        }

        fn heap_used(&mut self) -> usize {
            nexus_rt::heap_used()
        }
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
        let net = NetClient::new(IpcTransport::new(slot::NET));
        // Wait (bounded) for netstackd to have an address.
        let mut net = net;
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
        let mut d = match Daemon::start(net, Os, cfg) {
            Ok(d) => d,
            Err(e) => {
                println!("dsoftbusd: cannot start: {:?}", e);
                return 4;
            }
        };
        loop {
            let until = d.step();
            if d.proxy_selftest_due() {
                proxy_selftest(&mut d);
            }
            if d.bulk_due() {
                match d.bulk_send() {
                    Ok((bytes, ns, true)) => {
                        let kbps = bytes * 1_000_000 / ns.max(1);
                        println!(
                            "dsoftbusd: bulk sent bytes={} ms={} MB/s={}.{:03} verified by peer",
                            bytes,
                            ns / 1_000_000,
                            kbps / 1000,
                            kbps % 1000
                        );
                    }
                    other => println!("SELFTEST: FAIL bulk transfer: {:?}", other),
                }
            }
            d.sleep(until);
        }
    }

    fn proxy_selftest(d: &mut Daemon<IpcTransport, Os>) {
        let mut out = [0u8; 200];
        match d.proxy_call("nodeinfo", &mut out) {
            Ok(Some(n)) => {
                let text = core::str::from_utf8(&out[..n]).unwrap_or("?");
                println!("SELFTEST: remote proxy ok ({})", text);
            }
            other => println!("SELFTEST: FAIL remote proxy nodeinfo: {:?}", other),
        }
        match d.proxy_call("samgrd", &mut out) {
            Ok(None) => println!("SELFTEST: remote proxy denied ok"),
            other => println!("SELFTEST: FAIL remote proxy denial: {:?}", other),
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(svc::main);

//! selftest-server: the IPC peer of the selftests and of the IPC benchmark.
//!
//! It serves the generated `selftest` interface (`idl/selftest.toml`):
//! `transform` (XOR 0x5A), `cap_check` (the kind of a transferred
//! capability) and `ping` (the benchmark's round trip). Anything malformed
//! gets the interface's `Malformed` reply.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod server {
    use nexus_abi::{CAP_SLOTS, MSG_MAX};
    use nexus_idl::heapless;
    use nexus_interfaces::selftest::{self as api, Error};
    use nexus_rt::sys;

    /// The slot offered for a capability a client transfers (`cap_check`):
    /// the last one, above every slot the manifests grant (those count up
    /// from 1); it is emptied again before the next receive.
    const ACCEPT: u32 = CAP_SLOTS as u32 - 1;

    /// The server's state for one call: the capability that came with it.
    struct Peer {
        cap: Option<u32>,
    }

    impl api::Server for Peer {
        fn transform(&mut self, _: u64, data: &[u8]) -> Result<heapless::Vec<u8, 8188>, Error> {
            let mut out = heapless::Vec::new();
            for b in data {
                out.push(b ^ 0x5a).map_err(|_| Error::TooLarge)?;
            }
            Ok(out)
        }

        fn cap_check(&mut self, _: u64) -> Result<u8, Error> {
            Ok(self
                .cap
                .and_then(|slot| sys::cap_info(slot).ok())
                .and_then(|i| i.kind)
                .map_or(0, |k| k as u8))
        }

        fn ping(&mut self, _: u64, v: u64) -> Result<u64, Error> {
            Ok(v)
        }
    }

    pub fn main(_arg: u64) -> i32 {
        let ep = nexus_slots::selftest_server::ENDPOINT;
        let mut buf = [0u8; MSG_MAX];
        let mut out = [0u8; MSG_MAX];
        let mut token = 0;
        let mut out_len = 0;
        loop {
            let accept = Some(ACCEPT);
            let m =
                match sys::ipc_reply_recv_accept(ep, token, &out[..out_len], &mut buf, accept, 0) {
                    Ok(m) => m,
                    Err(_) => {
                        token = 0;
                        out_len = 0;
                        continue;
                    }
                };
            token = m.token;
            let mut peer = Peer { cap: m.cap };
            out_len = api::dispatch(&mut peer, m.badge, &buf[..m.len], &mut out);
            // Whatever came with the message, the offered slot is empty
            // again for the next one.
            if let Some(slot) = m.cap {
                let _ = sys::cap_drop(slot);
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(server::main);

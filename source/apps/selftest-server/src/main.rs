//! selftest-server: the IPC peer of the selftests and of the IPC benchmark.
//!
//! Protocol (first byte = op):
//! - `1` echo-transform: replies with the payload, every byte XOR 0x5A;
//! - `2` cap-check: expects a transferred capability, replies
//!   `[2, kind, 1 if it was an endpoint]` and drops it;
//! - `3` ping: replies with the 8 bytes it got (benchmark round trip);
//! - anything else, or a malformed message: replies `[0xff]`.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod server {
    use nexus_abi::{CapKind, CAP_SLOTS, MSG_MAX};
    use nexus_rt::sys;

    /// The slot offered for a capability a client transfers (op `2`): the
    /// last one, above every slot the manifests grant (those count up from
    /// 1); it is emptied again before the next receive.
    const ACCEPT: u32 = CAP_SLOTS as u32 - 1;

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
            let msg = &buf[..m.len];
            out_len = match msg.first() {
                Some(1) => {
                    for (o, b) in out.iter_mut().zip(msg) {
                        *o = b ^ 0x5a;
                    }
                    msg.len()
                }
                Some(2) => match m.cap {
                    Some(slot) => {
                        let kind = sys::cap_info(slot).ok().and_then(|i| i.kind);
                        let _ = sys::cap_drop(slot);
                        out[..3].copy_from_slice(&[
                            2,
                            kind.map_or(0, |k| k as u8),
                            (kind == Some(CapKind::Endpoint)) as u8,
                        ]);
                        3
                    }
                    None => {
                        out[0] = 0xff;
                        1
                    }
                },
                Some(3) if msg.len() == 8 => {
                    out[..8].copy_from_slice(msg);
                    8
                }
                _ => {
                    out[0] = 0xff;
                    1
                }
            };
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

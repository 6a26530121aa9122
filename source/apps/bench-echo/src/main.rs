//! bench-echo: the raw peer of the IPC benchmark. It answers every message
//! with the same bytes (at most 64), without any codec, so that
//! bench-client's `BENCH: ipc roundtrip raw` figure is the kernel's round
//! trip plus only the few instructions of this loop and of the syscall
//! wrappers. A caller whose badge is `SHORT_BADGE` (bench-client's
//! `echo_short` grant, which calls with `IpcCallShort`) is answered in
//! registers (`IpcReplyRecvShort`); every other caller through memory
//! (`IpcReplyRecv`), so the raw figure stays the memory ABI's.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod echo {
    use nexus_rt::sys;

    /// Largest message echoed; a longer call fails with `TooLarge`.
    const MAX: usize = 64;
    /// The badge of bench-client's register-ABI grant (profiles/test/bench.toml).
    const SHORT_BADGE: u64 = 5;

    /// Word-aligned buffers: the kernel copies aligned short messages a
    /// word at a time.
    #[repr(align(8))]
    struct Buf([u8; MAX]);

    pub fn main(_arg: u64) -> i32 {
        let ep = nexus_slots::bench_echo::ENDPOINT;
        let mut buf = Buf([0; MAX]);
        let mut out = Buf([0; MAX]);
        let mut token = 0;
        let mut len = 0;
        let mut short: Option<sys::Short> = None;
        loop {
            let r = match short {
                Some(m) => sys::ipc_reply_recv_short(ep, token, m, &mut buf.0, 0),
                None => sys::ipc_reply_recv(ep, token, &out.0[..len], &mut buf.0, 0),
            };
            match r {
                Ok(m) => {
                    token = m.token;
                    len = m.len.min(MAX);
                    short = None;
                    if m.badge == SHORT_BADGE {
                        short = sys::Short::new(&buf.0[..len]).ok();
                    } else if len == 8 {
                        // The benchmark's size: one word.
                        out.0[..8].copy_from_slice(&buf.0[..8]);
                    } else {
                        out.0[..len].copy_from_slice(&buf.0[..len]);
                    }
                }
                Err(_) => {
                    token = 0;
                    len = 0;
                    short = None;
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(echo::main);

//! bench-echo: the raw peer of the IPC benchmark. It answers every message
//! with the same bytes (at most 64), without any codec, so that
//! bench-client's `BENCH: ipc raw` figure is the kernel's round trip plus
//! only the few instructions of this loop and of the syscall wrappers.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod echo {
    use nexus_rt::sys;

    /// Largest message echoed; a longer call fails with `TooLarge`.
    const MAX: usize = 64;

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
        loop {
            match sys::ipc_reply_recv(ep, token, &out.0[..len], &mut buf.0, 0) {
                Ok(m) => {
                    token = m.token;
                    len = m.len.min(MAX);
                    if len == 8 {
                        // The benchmark's size: one word.
                        out.0[..8].copy_from_slice(&buf.0[..8]);
                    } else {
                        out.0[..len].copy_from_slice(&buf.0[..len]);
                    }
                }
                Err(_) => {
                    token = 0;
                    len = 0;
                }
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(echo::main);

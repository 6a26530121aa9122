//! bench-client: measures the IPC call+reply round trip between two address
//! spaces, in retired instructions (`rdinstret`, deterministic under QEMU
//! `-icount`) and in guest nanoseconds.
//!
//! Three round trips, each from the call to its return (the instructions of
//! both tasks and of the kernel, as the one hart retires them):
//! - `raw`: an 8-byte word-aligned message to bench-echo, which answers
//!   with the same bytes (no codec): the kernel's round trip plus the few
//!   instructions of the echo loop and the syscall wrappers;
//! - `short`: the same 8 bytes through the register forms (`IpcCallShort`,
//!   answered with `IpcReplyRecvShort`): no user memory touched by the
//!   kernel for the message or the reply;
//! - `codec`: `selftest.ping` (10-byte messages) to selftest-server, which
//!   decodes and encodes with the generated codec (what a real service pays).
//!
//! Prints `BENCH: ipc roundtrip raw instr_per_rt=… min=… p99=… iters=…
//! bytes=8`, the same for `short` (bytes=8) and `codec` (bytes=10), `BENCH: ipc roundtrip ns
//! median=…` (codec, guest ns) and `BENCH: null syscall instr median=…`.
//!
//! Then the compute of one DSoftBus session handshake: both roles of a
//! complete `Noise_XK_25519_ChaChaPoly_BLAKE2s` handshake in this task (no
//! network, no waits), as dsoftbusd's sessions run it:
//! `BENCH: xk handshake compute instr_per_side=… ns_per_side=… iters=…`
//! (half of a handshake with both roles; `ns` is guest time, which under
//! `-icount` is the instruction count). The os2vm handshake time minus this
//! is waiting (docs/performance.md). Then it exits.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod bench {
    extern crate alloc;
    use alloc::vec::Vec;
    use nexus_interfaces::selftest;
    use nexus_rt::{println, sys};

    const ITERS: usize = 20_000;
    const WARMUP: usize = 200;

    /// A word-aligned 8-byte message (the kernel copies such a message a
    /// word at a time).
    #[repr(align(8))]
    struct Word([u8; 8]);

    /// The raw round trip to bench-echo: median, min and p99 instructions,
    /// or `None` if a reply was wrong.
    fn raw_roundtrip() -> Option<(u64, u64, u64)> {
        let ep = nexus_slots::bench_client::ECHO;
        let mut msg = Word([0; 8]);
        let mut reply = Word([0; 8]);
        let mut instr = Vec::with_capacity(ITERS);
        for i in 0..WARMUP + ITERS {
            msg.0 = (i as u64).to_le_bytes();
            let c0 = sys::instret();
            let r = sys::ipc_call(ep, &msg.0, &mut reply.0, None, 0);
            let c1 = sys::instret();
            if r != Ok((8, None)) || reply.0 != msg.0 {
                println!("BENCH: ipc roundtrip wrong reply (raw) at {}", i);
                return None;
            }
            if i >= WARMUP {
                instr.push(c1 - c0);
            }
        }
        instr.sort_unstable();
        Some((instr[ITERS / 2], instr[0], instr[ITERS * 99 / 100]))
    }

    /// The register-ABI round trip to bench-echo (the same 8 bytes as
    /// `raw_roundtrip`): median, min and p99 instructions.
    fn short_roundtrip() -> Option<(u64, u64, u64)> {
        let ep = nexus_slots::bench_client::ECHO_SHORT;
        let mut instr = Vec::with_capacity(ITERS);
        for i in 0..WARMUP + ITERS {
            let msg = sys::Short {
                len: 8,
                words: [i as u64, 0, 0, 0],
            };
            let c0 = sys::instret();
            let r = sys::ipc_call_short(ep, msg, 0);
            let c1 = sys::instret();
            if !matches!(r, Ok(m) if m.len == 8 && m.words[0] == i as u64) {
                println!("BENCH: ipc roundtrip wrong reply (short) at {}", i);
                return None;
            }
            if i >= WARMUP {
                instr.push(c1 - c0);
            }
        }
        instr.sort_unstable();
        Some((instr[ITERS / 2], instr[0], instr[ITERS * 99 / 100]))
    }

    /// Both roles of `iters` complete XK handshakes; (instructions, guest
    /// ns) per role (half of one handshake), medians.
    fn xk_handshake(iters: usize) -> Option<(u64, u64)> {
        use nexus_noise_xk::{HandshakeState, StaticKeypair};
        let secret = |tag: u8, n: u64| {
            let mut s = [tag; 32];
            s[..8].copy_from_slice(&n.to_le_bytes());
            s
        };
        let i_static = StaticKeypair::from_secret(secret(0x11, 1));
        let r_static = StaticKeypair::from_secret(secret(0x22, 2));
        let r_public = r_static.public_key();
        let mut wire = alloc::vec![0u8; 256];
        let mut scratch = alloc::vec![0u8; 256];
        let mut instr = Vec::with_capacity(iters);
        let mut ns = Vec::with_capacity(iters);
        for n in 0..iters as u64 {
            let t0 = sys::now_ns();
            let c0 = sys::instret();
            let mut i =
                HandshakeState::new_initiator(&i_static, &r_public, b"bench", secret(0x33, n));
            let mut r = HandshakeState::new_responder(&r_static, b"bench", secret(0x44, n));
            let m = i.write_message(b"", &mut wire).ok()?;
            r.read_message(&wire[..m], &mut scratch).ok()?;
            let m = r.write_message(b"", &mut wire).ok()?;
            i.read_message(&wire[..m], &mut scratch).ok()?;
            let m = i.write_message(b"", &mut wire).ok()?;
            r.read_message(&wire[..m], &mut scratch).ok()?;
            let (ti, tr) = (i.split().ok()?, r.split().ok()?);
            let c1 = sys::instret();
            let t1 = sys::now_ns();
            if ti.handshake_hash() != tr.handshake_hash() {
                return None;
            }
            instr.push((c1 - c0) / 2);
            ns.push((t1 - t0) / 2);
        }
        instr.sort_unstable();
        ns.sort_unstable();
        Some((instr[iters / 2], ns[iters / 2]))
    }

    pub fn main(_arg: u64) -> i32 {
        let Some((raw_median, raw_min, raw_p99)) = raw_roundtrip() else {
            return 1;
        };
        let Some((short_median, short_min, short_p99)) = short_roundtrip() else {
            return 1;
        };
        let ep = nexus_slots::bench_client::SERVER;
        // The `selftest.ping` request, encoded once by the generated codec
        // (10 bytes: op, value); the loop varies the value in place, so the
        // figure is the kernel round trip plus the server's decode/encode.
        let mut msg = [0u8; 10];
        if (selftest::Request::Ping { v: 0 }).encode(&mut msg) != Ok(10) {
            println!("BENCH: ipc roundtrip cannot encode its request");
            return 1;
        }
        let mut reply = [0u8; 10];
        for _ in 0..WARMUP {
            let r = sys::ipc_call(ep, &msg, &mut reply, None, 0);
            if r.is_err() || selftest::reply::decode_ping(&reply) != Ok(0) {
                println!("BENCH: ipc roundtrip failed");
                return 1;
            }
        }
        let mut instr = Vec::with_capacity(ITERS);
        let mut ns = Vec::with_capacity(ITERS);
        for i in 0..ITERS {
            msg[2..].copy_from_slice(&(i as u64).to_le_bytes());
            let t0 = sys::now_ns();
            let c0 = sys::instret();
            let r = sys::ipc_call(ep, &msg, &mut reply, None, 0);
            let c1 = sys::instret();
            let t1 = sys::now_ns();
            if r != Ok((10, None)) || reply[2..] != msg[2..] || reply[..2] != [0, 0] {
                println!("BENCH: ipc roundtrip wrong reply at {}", i);
                return 1;
            }
            instr.push(c1 - c0);
            ns.push(t1 - t0);
        }
        instr.sort_unstable();
        ns.sort_unstable();
        // Cost of the trap path alone: a syscall that does nothing but read
        // the clock.
        let mut null = Vec::with_capacity(1000);
        for _ in 0..1000 {
            let c0 = sys::instret();
            core::hint::black_box(sys::now_ns());
            let c1 = sys::instret();
            null.push(c1 - c0);
        }
        null.sort_unstable();
        println!("BENCH: null syscall instr median={}", null[500]);
        println!(
            "BENCH: ipc roundtrip raw instr_per_rt={} min={} p99={} iters={} bytes=8",
            raw_median, raw_min, raw_p99, ITERS
        );
        println!(
            "BENCH: ipc roundtrip short instr_per_rt={} min={} p99={} iters={} bytes=8",
            short_median, short_min, short_p99, ITERS
        );
        println!(
            "BENCH: ipc roundtrip codec instr_per_rt={} min={} p99={} iters={} bytes=10",
            instr[ITERS / 2],
            instr[0],
            instr[ITERS * 99 / 100],
            ITERS
        );
        println!(
            "BENCH: ipc roundtrip ns median={} iters={}",
            ns[ITERS / 2],
            ITERS
        );
        const XK_ITERS: usize = 9;
        match xk_handshake(XK_ITERS) {
            Some((i, n)) => println!(
                "BENCH: xk handshake compute instr_per_side={} ns_per_side={} iters={}",
                i, n, XK_ITERS
            ),
            None => {
                println!("BENCH: xk handshake compute failed");
                return 1;
            }
        }
        println!("BENCH: end");
        0
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(bench::main);

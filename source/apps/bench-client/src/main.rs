//! bench-client: measures the IPC call+reply round trip between two address
//! spaces, in retired instructions (`rdinstret`, deterministic under QEMU
//! `-icount`) and in guest nanoseconds.
//!
//! Prints `BENCH: ipc roundtrip instr median=… min=… p99=… iters=…` and
//! `BENCH: ipc roundtrip ns median=…`, then exits.
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod bench {
    extern crate alloc;
    use alloc::vec::Vec;
    use nexus_rt::{println, sys};

    const ITERS: usize = 20_000;
    const WARMUP: usize = 200;

    pub fn main(_arg: u64) -> i32 {
        let ep = nexus_slots::bench_client::SERVER;
        let msg = [3u8, 0, 0, 0, 0, 0, 0, 0];
        let mut reply = [0u8; 8];
        for _ in 0..WARMUP {
            if sys::ipc_call(ep, &msg, &mut reply, None, 0).is_err() {
                println!("BENCH: ipc roundtrip failed");
                return 1;
            }
        }
        let mut instr = Vec::with_capacity(ITERS);
        let mut ns = Vec::with_capacity(ITERS);
        for i in 0..ITERS {
            let m = (i as u64).to_le_bytes();
            let mut m = m;
            m[0] = 3;
            let t0 = sys::now_ns();
            let c0 = sys::instret();
            let r = sys::ipc_call(ep, &m, &mut reply, None, 0);
            let c1 = sys::instret();
            let t1 = sys::now_ns();
            if r != Ok((8, None)) || reply != m {
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
            "BENCH: ipc roundtrip instr median={} min={} p99={} iters={}",
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
        println!("BENCH: end");
        0
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(bench::main);

//! syscall-fuzz: raw syscalls from a seed, with oracles after every call.
//!
//! Each iteration picks a syscall number (valid and invalid; never `Exit`)
//! and arguments from
//! classes: small integers, capability slots, pointers (kernel, device,
//! unmapped, null, its own read-only data, wrapping, page-straddling, a valid
//! scratch buffer), lengths (0 … huge) and deadlines (none only where a reply
//! is certain, otherwise past or within 1 ms). After each call it checks:
//!
//! - every register other than the results `a0..a4` (`a0..a5` for
//!   `IpcCallShort`) is unchanged (`t0..t6`, `s2..s11`, `a5..a7` are loaded
//!   with fresh canaries each call);
//! - a call with a bad pointer (and a length that makes it matter) fails;
//! - init-only calls (`Spawn`, `EndpointCreate`, `BootArgs`, `Kill`) and
//!   calls needing capabilities it lacks (`MmioMap`, `DmaAlloc`,
//!   `VirtToPhys`, IRQ calls, `ConsoleRead`, `Notify` (its endpoint has
//!   SEND only), setting the log level with `ConsoleLevel`, `MemCreate`,
//!   `MemBudget`, `MemMap`, `MemUnmap`) fail;
//! - a `CapCopy` that succeeds made an endpoint copy with SEND at most
//!   (dropped again at once);
//! - every 64 calls: slot 1 still holds exactly its SEND endpoint, every
//!   other slot is empty (no capability appeared or gained rights);
//! - every 256 calls: an echo round trip with the selftest server arrives
//!   intact (every other one a short one through `IpcCallShort`);
//! - every 1024 calls and at the end: its read-only data is unchanged.
//!
//! Its start-up argument (`SyscallFuzzArgs`) gives the seed and whether
//! this is the long run (`nexus.fuzzlong=1`, which also mixes the boot time
//! into the seed; the seed is printed). It fetches the argument from init,
//! then drops that capability: the fuzz reaches no service but the selftest
//! server. Prints
//! `SELFTEST: syscall fuzz ok calls=<n> seed=<s>`, or
//! `SELFTEST: FAIL syscall fuzz: <oracle> nr=<..> args=<..> iter=<..>`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod fuzz {
    use nexus_abi::{rights, CapKind, Error, Sysno, CAP_SLOTS};
    use nexus_interfaces::args::SyscallFuzzArgs;
    use nexus_rt::{println, sys};

    const SERVER: u32 = nexus_slots::syscall_fuzz::SERVER;
    const INIT: u32 = nexus_slots::syscall_fuzz::INIT;
    /// One past the highest syscall number (`IpcReplyRecvShort`; the
    /// unassigned numbers below it must fail with `InvalidSyscall`).
    const SYSNO_END: u64 = Sysno::IpcReplyRecvShort as u64 + 1;
    const BRIEF: u64 = 200_000;
    const LONG: u64 = 2_000_000;

    /// Read-only data whose content is checked (pointers into it are the
    /// "read-only" class: the kernel must never write there).
    static RO: [u8; 8192] = {
        let mut a = [0u8; 8192];
        let mut i = 0;
        while i < a.len() {
            a[i] = (i * 31 % 251) as u8;
            i += 1;
        }
        a
    };

    /// Scratch the kernel may legitimately read or write (only through
    /// syscalls: Rust code never reads it).
    static mut SCRATCH: [u8; 32768] = [0; 32768];

    fn hash(b: &[u8]) -> u64 {
        b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
            (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
        })
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// What the kernel must allow through a pointer of this class.
    #[derive(Copy, Clone, PartialEq, Eq)]
    enum Ptr {
        /// Readable and writable (the first 8 KiB of SCRATCH, so that any
        /// legal write of at most 8 KiB stays inside it).
        Good,
        /// Readable only (its own read-only data).
        ReadOnly,
        /// Neither.
        Bad,
    }

    fn scratch() -> u64 {
        // Only the address is taken; the kernel writes through it while this
        // task is stopped in `ecall`, and no Rust reference to it is formed.
        core::ptr::addr_of_mut!(SCRATCH) as u64
    }

    fn pointer(r: &mut Rng) -> (u64, Ptr) {
        let s = scratch();
        match r.below(10) {
            0 => (0, Ptr::Bad),
            1 => (0x8020_0000 + r.below(0x100_0000), Ptr::Bad), // kernel
            2 => (0x1000_0000 + r.below(0x1000), Ptr::Bad),     // device
            3 => (0x5_0000_0000 + r.below(1 << 20), Ptr::Bad),  // unmapped
            4 => (RO.as_ptr() as u64 + r.below(4096), Ptr::ReadOnly),
            5 => (u64::MAX - r.below(4096), Ptr::Bad), // wrapping
            6 => (r.next(), Ptr::Bad),                 // anything
            7 => (s + 4096 - r.below(64), Ptr::Good),  // straddling
            _ => (s + r.below(4096), Ptr::Good),
        }
    }

    fn length(r: &mut Rng) -> u64 {
        match r.below(8) {
            0 => 0,
            1 => 1 + r.below(64),
            2 => 4096,
            3 => 8192,
            4 => 8193,
            5 => u64::MAX - r.below(16),
            6 => 1 << (r.below(40) + 16),
            _ => r.below(4096),
        }
    }

    fn deadline(r: &mut Rng, may_block: bool) -> u64 {
        match r.below(3) {
            0 if may_block => 0,
            0 | 1 => 1 + r.below(1000),
            _ => sys::now_ns() + r.below(1_000_000),
        }
    }

    /// One raw call with canaries in every register it must preserve.
    /// Returns a0..a4 and whether all canaries survived.
    fn call(nr: u64, a: [u64; 7], c: u64) -> ([u64; 5], bool) {
        let k = |i: u64| c ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let (mut r0, mut r1, mut r2, mut r3, mut r4) = (a[0], a[1], a[2], a[3], a[4]);
        let (mut x5, mut x6, mut x7) = (a[5], a[6], nr);
        let mut t = [k(1), k(2), k(3), k(4), k(5), k(6), k(7)];
        let mut s = [
            k(8),
            k(9),
            k(10),
            k(11),
            k(12),
            k(13),
            k(14),
            k(15),
            k(16),
            k(17),
        ];
        // SAFETY: `ecall` into the kernel, which writes only a0..a4 (that is
        // what is being checked); the pointers passed may be anything, and
        // the only memory the kernel may write is SCRATCH, which no Rust
        // reference covers.
        unsafe {
            core::arch::asm!(
                "ecall",
                inlateout("a0") r0, inlateout("a1") r1, inlateout("a2") r2,
                inlateout("a3") r3, inlateout("a4") r4, inlateout("a5") x5,
                inlateout("a6") x6, inlateout("a7") x7,
                inlateout("t0") t[0], inlateout("t1") t[1], inlateout("t2") t[2],
                inlateout("t3") t[3], inlateout("t4") t[4], inlateout("t5") t[5],
                inlateout("t6") t[6],
                inlateout("s2") s[0], inlateout("s3") s[1], inlateout("s4") s[2],
                inlateout("s5") s[3], inlateout("s6") s[4], inlateout("s7") s[5],
                inlateout("s8") s[6], inlateout("s9") s[7], inlateout("s10") s[8],
                inlateout("s11") s[9],
                options(nostack)
            );
        }
        // `IpcCallShort` returns its reply in a2..a5.
        let regs_ok = (x5 == a[5] || nr == Sysno::IpcCallShort as u64)
            && x6 == a[6]
            && x7 == nr
            && t.iter().enumerate().all(|(i, &v)| v == k(i as u64 + 1))
            && s.iter().enumerate().all(|(i, &v)| v == k(i as u64 + 8));
        ([r0, r1, r2, r3, r4], regs_ok)
    }

    fn caps_unchanged() -> bool {
        for slot in 0..CAP_SLOTS as u32 + 4 {
            let info = sys::cap_info(slot);
            let ok = if slot == SERVER {
                matches!(info, Ok(i) if i.kind == Some(CapKind::Endpoint) && i.rights == rights::SEND)
            } else {
                info == Err(Error::NoCapability)
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn echo_intact(r: &mut Rng) -> bool {
        use nexus_interfaces::selftest;
        let mut data = [0u8; 508];
        let n = r.below(509) as usize;
        data[..n].iter_mut().for_each(|b| *b = r.next() as u8);
        let mut msg = [0u8; 512];
        let Ok(len) = (selftest::Request::Transform { data: &data[..n] }).encode(&mut msg) else {
            return false;
        };
        let mut reply = [0u8; 512];
        if n <= 20 || r.below(2) == 0 {
            // The register form, the same request cut to at most 20 bytes.
            let n = n.min(20);
            let Ok(len) = (selftest::Request::Transform { data: &data[..n] }).encode(&mut msg)
            else {
                return false;
            };
            let Ok(req) = sys::Short::new(&msg[..len]) else {
                return false;
            };
            return match sys::ipc_call_short(SERVER, req, 0) {
                Ok(m) => match m.read(&mut reply) {
                    Ok(k) => match selftest::reply::decode_transform(&reply[..k]) {
                        Ok(got) => {
                            got.len() == n
                                && data[..n].iter().zip(&got).all(|(a, b)| a ^ 0x5a == *b)
                        }
                        Err(_) => false,
                    },
                    Err(_) => false,
                },
                Err(_) => false,
            };
        }
        match sys::ipc_call(SERVER, &msg[..len], &mut reply, None, 0) {
            Ok((m, None)) => match selftest::reply::decode_transform(&reply[..m]) {
                Ok(got) => {
                    got.len() == n && data[..n].iter().zip(&got).all(|(a, b)| a ^ 0x5a == *b)
                }
                Err(_) => false,
            },
            _ => false,
        }
    }

    pub fn main(_: u64) -> i32 {
        let arg = match nexus_rt::ipc::fetch_args::<SyscallFuzzArgs>(INIT) {
            Ok(a) => a,
            Err(e) => {
                println!("SELFTEST: FAIL syscall fuzz: no argument: {:?}", e);
                return 1;
            }
        };
        if sys::cap_drop(INIT).is_err() {
            println!("SELFTEST: FAIL syscall fuzz: cannot drop the init capability");
            return 1;
        }
        let long = arg.long;
        let seed = if long {
            arg.seed ^ sys::now_ns()
        } else {
            arg.seed
        };
        let total = if long { LONG } else { BRIEF };
        let ro_hash = hash(&RO);
        let mut r = Rng(seed | 1);
        let mut calls = 0u64;
        let fail = |what: &str, nr: u64, a: &[u64; 7], i: u64| {
            println!(
                "SELFTEST: FAIL syscall fuzz: {} nr={} args={:x?} iter={} seed={}",
                what, nr, a, i, seed
            );
            1
        };
        for i in 0..total {
            let nr = match r.below(16) {
                0 => r.next(),
                1 => SYSNO_END + r.below(100),
                _ => r.below(SYSNO_END),
            };
            if nr == Sysno::Exit as u64 {
                continue;
            }
            let mut a = [0u64; 7];
            let mut class = [Ptr::Good; 7];
            for j in 0..7 {
                a[j] = match r.below(4) {
                    0 => r.below(40),
                    1 => {
                        let (p, q) = pointer(&mut r);
                        class[j] = q;
                        p
                    }
                    2 => length(&mut r),
                    // An arbitrary value: possibly a valid address, so no
                    // oracle judges it.
                    _ => r.next(),
                };
            }
            // Keep the run bounded and the oracles meaningful.
            match Sysno::try_from(nr) {
                Ok(Sysno::ConsoleWrite) => {
                    // Never print junk: a readable pointer gets length 0.
                    let (p, q) = pointer(&mut r);
                    a[0] = p;
                    class[0] = q;
                    if q != Ptr::Bad {
                        a[1] = 0;
                    }
                }
                Ok(Sysno::SleepUntil) => a[0] = deadline(&mut r, false),
                Ok(Sysno::IpcCall | Sysno::IpcCallShort) => {
                    // Slot 1 (the server, which always replies) may block
                    // without a deadline; anything else gets a short one.
                    a[0] = if r.below(2) == 0 { SERVER as u64 } else { a[0] };
                    a[6] = deadline(&mut r, a[0] == SERVER as u64);
                }
                Ok(
                    Sysno::IpcRecv
                    | Sysno::IpcReplyRecv
                    | Sysno::IpcReplyRecvShort
                    | Sysno::IrqWait,
                ) => {
                    a[6] = deadline(&mut r, false);
                    a[1] = if nr == Sysno::IrqWait as u64 {
                        deadline(&mut r, false)
                    } else {
                        a[1]
                    };
                }
                // It holds no console-input capability, so this must fail;
                // were it wrongly accepted, it must not wait forever.
                Ok(Sysno::ConsoleRead) => a[3] = deadline(&mut r, false),
                Ok(Sysno::CapDrop) if a[0] == SERVER as u64 => continue,
                _ => {}
            }
            let (res, regs_ok) = call(nr, a, r.next());
            calls += 1;
            if !regs_ok {
                return fail("registers changed", nr, &a, i);
            }
            let ok = res[0] == 0;
            let init_only = matches!(
                Sysno::try_from(nr),
                Ok(Sysno::Spawn
                    | Sysno::EndpointCreate
                    | Sysno::BootArgs
                    | Sysno::Kill
                    | Sysno::MmioMap
                    | Sysno::DmaAlloc
                    | Sysno::VirtToPhys
                    | Sysno::IrqWait
                    | Sysno::IrqAck
                    | Sysno::IrqBind
                    | Sysno::ConsoleRead
                    | Sysno::Notify
                    // No DMA budget, no memory capability, nothing mapped.
                    | Sysno::MemCreate
                    | Sysno::MemBudget
                    | Sysno::MemMap
                    | Sysno::MemUnmap)
            );
            if ok && init_only {
                return fail("privileged call succeeded", nr, &a, i);
            }
            // Reading the log level is open to all; setting it needs the
            // console-input capability, which this task does not hold.
            if ok && nr == Sysno::ConsoleLevel as u64 && a[1] != nexus_abi::LOG_LEVEL_QUERY {
                return fail("log level set without the capability", nr, &a, i);
            }
            if ok && Sysno::try_from(nr).is_err() {
                return fail("unknown syscall succeeded", nr, &a, i);
            }
            // `CapCopy` of its endpoint may succeed: the copy must be an
            // endpoint with SEND at most, in another slot; it is dropped at
            // once so the table oracle below still holds.
            if ok && nr == Sysno::CapCopy as u64 {
                let copy = res[1] as u32;
                let info = sys::cap_info(copy);
                let fits = matches!(info, Ok(c) if c.kind == Some(CapKind::Endpoint)
                    && c.rights & !rights::SEND == 0);
                if copy == SERVER || !fits || sys::cap_drop(copy).is_err() {
                    return fail("capability copy gained rights", nr, &a, i);
                }
            }
            let unreadable = |j: usize| class[j] == Ptr::Bad;
            let unwritable = |j: usize| class[j] != Ptr::Good;
            let bad_ptr = match Sysno::try_from(nr) {
                Ok(Sysno::ConsoleWrite) => unreadable(0) && a[1] != 0,
                Ok(Sysno::IpcCall) => {
                    (unreadable(1) && a[2] != 0 && a[2] <= 8192)
                        || (unwritable(3) && a[4] & 0xffff_ffff != 0)
                }
                Ok(Sysno::IpcReply) => unreadable(1) && a[2] != 0 && a[2] <= 8192,
                Ok(Sysno::ConsoleRead) => unwritable(1) && a[2] != 0,
                _ => false,
            };
            if ok && bad_ptr {
                return fail("bad pointer accepted", nr, &a, i);
            }
            if i % 64 == 0 && !caps_unchanged() {
                return fail("capabilities changed", nr, &a, i);
            }
            if i % 256 == 0 && !echo_intact(&mut r) {
                return fail("ipc payload damaged", nr, &a, i);
            }
            if i % 1024 == 0 && hash(&RO) != ro_hash {
                return fail("read-only data changed", nr, &a, i);
            }
            // The long run shares the machine with the whole smoke: it
            // pauses 1 ms every 128 calls so the other services' proofs
            // (timed network exchanges) are not starved of CPU.
            if long && i % 128 == 127 {
                sys::sleep_ms(1);
            }
        }
        if hash(&RO) != ro_hash || !caps_unchanged() || !echo_intact(&mut r) {
            return fail("final check", 0, &[0; 7], total);
        }
        println!("SELFTEST: syscall fuzz ok calls={} seed={}", calls, seed);
        0
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(fuzz::main);

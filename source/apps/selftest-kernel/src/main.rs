//! selftest-kernel: proofs of the kernel hardening (issue 14), one image in
//! several roles chosen by its start-up argument (`ModeArgs::mode`):
//!
//! - 0 `kernel-check`: the checker. Asks init about the children below and
//!   attacks the IPC rules; prints one marker per passed check, or
//!   `SELFTEST: FAIL <check>: <why>`.
//! - 1 `doomed-server`: receives on the "doomed" endpoint (offering no slot
//!   for capabilities); on `d` it replies, sleeps and exits, so a caller
//!   queues on a server that then dies. On `L` it replies 40 bytes, on `m`
//!   3 bytes through `IpcReplyRecvShort` with other data in the rest of
//!   its registers (the short-message checks).
//! - 2 `fault-fp`: executes one FP instruction (`fmv.w.x f1, zero`); the
//!   kernel runs tasks with `sstatus.FS` = Off, so it must fault.
//! - `burst-N` (no argument and no capabilities, so nothing to fetch):
//!   exits at once with code 0 (nine of them die together, before init gets
//!   to receive).
//! - 4 `forger`: prints another task's marker, which the harness must
//!   ignore; then floods the console (spaces, no newline) and exits 0 only
//!   if the kernel cut it off (`NoResources`) within 40 KiB.
//! - 5 `shm-peer`: the receiving side of selftest-dma's shared-memory
//!   proofs (see `shm.rs`).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod shm;

#[cfg(target_os = "none")]
mod kcheck {
    use nexus_abi::Error;
    use nexus_interfaces::args::ModeArgs;
    use nexus_interfaces::init::ServiceState as Status;
    use nexus_rt::{println, sys};

    const INIT: u32 = nexus_slots::selftest_kernel::INIT;
    const DOOMED: u32 = nexus_slots::selftest_kernel::DOOMED;
    const SERVER: u32 = nexus_slots::selftest_kernel::SERVER;
    const MMIO: u32 = nexus_slots::selftest_kernel::MMIO;
    /// `fmv.w.x f1, zero`: an F-extension instruction.
    const FP_INSN: u64 = 0xf000_00d3;
    /// The burst children's service names (more than the 8 notices the
    /// kernel used to queue per endpoint).
    const BURST: [&str; 9] = [
        "burst-0", "burst-1", "burst-2", "burst-3", "burst-4", "burst-5", "burst-6", "burst-7",
        "burst-8",
    ];

    type Check = Result<(), &'static str>;
    /// A check and the marker printed when it passes.
    type NamedCheck = (&'static str, fn() -> Check);

    fn ensure(ok: bool, what: &'static str) -> Check {
        if ok {
            Ok(())
        } else {
            Err(what)
        }
    }

    fn status_of(name: &str) -> Result<Status, &'static str> {
        let mut init = nexus_rt::ipc::init_client(INIT);
        init.deadline_ns = sys::now_ns() + 1_000_000_000;
        init.status(name).map_err(|_| "init status")
    }

    /// Waits (bounded) until init no longer reports `name` as running.
    fn settled(name: &str) -> Result<Status, &'static str> {
        let deadline = sys::now_ns() + 10_000_000_000;
        loop {
            match status_of(name)? {
                Status::Running if sys::now_ns() < deadline => sys::sleep_ms(10),
                s => return Ok(s),
            }
        }
    }

    fn fp_isolated() -> Check {
        match settled("fault-fp")? {
            Status::Faulted { cause: 2, addr } if addr == FP_INSN => Ok(()),
            Status::Faulted { cause: 2, .. } => Err("faulted, but not on the FP instruction"),
            Status::Exited { .. } => Err("the FP instruction executed"),
            _ => Err("fault-fp not reported as an illegal instruction"),
        }
    }

    fn deaths_all_reported() -> Check {
        for name in BURST {
            match settled(name)? {
                Status::Exited { code: 0 } => {}
                Status::Running => return Err("a death was never reported to init"),
                _ => return Err("wrong status for a burst child"),
            }
        }
        Ok(())
    }

    fn call_doomed(msg: &[u8], xfer: Option<u32>, deadline: u64) -> Result<u8, Error> {
        let mut reply = [0u8; 8];
        let (n, _) = sys::ipc_call(DOOMED, msg, &mut reply, xfer, deadline)?;
        Ok(if n > 0 { reply[0] } else { 0xfe })
    }

    fn soon(ms: u64) -> u64 {
        sys::now_ns() + ms * 1_000_000
    }

    /// A call whose deadline has passed is refused and never reaches the
    /// server; a capability sent to a server that offered no slot is
    /// refused; callers queued on a server that dies get `PeerDead`, and so
    /// do later calls.
    fn dead_server_wakes_callers() -> Check {
        ensure(
            call_doomed(b"p", None, 1) == Err(Error::TimedOut),
            "past-deadline call not refused",
        )?;
        ensure(
            call_doomed(b"c", None, soon(2000)) == Ok(0),
            "past-deadline call was delivered",
        )?;
        ensure(
            call_doomed(b"d", None, soon(2000)) == Ok(0),
            "doomed server did not answer",
        )?;
        // The server now sleeps, then exits: this call queues, then must end
        // with PeerDead (not wait for the 5 s deadline).
        let t0 = sys::now_ns();
        let r = call_doomed(b"h", None, soon(5000));
        ensure(
            r == Err(Error::PeerDead),
            "queued caller not woken with PeerDead",
        )?;
        ensure(
            sys::now_ns() - t0 < 4_000_000_000,
            "woken only by its deadline",
        )?;
        ensure(
            call_doomed(b"h", None, 0) == Err(Error::PeerDead),
            "call to a dead server without deadline",
        )
    }

    fn short(b: &[u8]) -> sys::Short {
        sys::Short::new(b).unwrap_or_default()
    }

    /// The register forms keep every rule of the memory ones: the
    /// capability is checked, a message over 32 bytes is refused, a past
    /// deadline is refused and never delivered, a reply over 32 bytes to a
    /// short caller is `TooLarge`, and a reply carries exactly its bytes
    /// (nothing else of the replier's registers).
    fn short_ipc_rules() -> Check {
        ensure(
            sys::ipc_call_short(MMIO, short(b"c"), 0) == Err(Error::WrongCapability),
            "short call on a device capability",
        )?;
        ensure(
            sys::ipc_call_short(31, short(b"c"), 0) == Err(Error::NoCapability),
            "short call on an empty slot",
        )?;
        let long = sys::Short {
            len: 33,
            words: [u64::MAX; 4],
        };
        ensure(
            sys::ipc_call_short(DOOMED, long, soon(2000)) == Err(Error::TooLarge),
            "33-byte short call accepted",
        )?;
        ensure(
            sys::ipc_call_short(DOOMED, short(b"p"), 1) == Err(Error::TimedOut),
            "past-deadline short call not refused",
        )?;
        let r = sys::ipc_call_short(DOOMED, short(b"c"), soon(2000));
        ensure(
            r.map(|m| (m.len, m.words)) == Ok((1, [0; 4])),
            "past-deadline short call was delivered",
        )?;
        ensure(
            sys::ipc_call_short(DOOMED, short(b"L"), soon(2000)) == Err(Error::TooLarge),
            "40-byte reply to a short call not refused",
        )?;
        let r = sys::ipc_call_short(DOOMED, short(b"m"), soon(2000));
        ensure(
            r.map(|m| (m.len, m.words)) == Ok((3, [0x66_7788, 0, 0, 0])),
            "register reply carried more than its bytes",
        )?;
        // The memory form still works after the server replied in registers.
        ensure(
            call_doomed(b"c", None, soon(2000)) == Ok(0),
            "memory call after a register reply",
        )?;
        // A receive with the register form needs RECV (this task holds SEND).
        let mut buf = [0u8; 8];
        ensure(
            sys::ipc_reply_recv_short(DOOMED, 0, short(b""), &mut buf, 1) == Err(Error::NoRights),
            "register receive without RECV",
        )
    }

    fn cap_unoffered_refused() -> Check {
        // The doomed server receives without offering a slot.
        ensure(
            call_doomed(b"x", Some(SERVER), soon(2000)) == Err(Error::NoSlots),
            "capability pushed into a server that offered no slot",
        )?;
        // The selftest server offers one: the same transfer lands.
        let mut req = [0u8; 8];
        let n = nexus_interfaces::selftest::Request::CapCheck
            .encode(&mut req)
            .map_err(|_| "encode")?;
        let mut reply = [0u8; 8];
        let (m, _) = sys::ipc_call(SERVER, &req[..n], &mut reply, Some(SERVER), soon(2000))
            .map_err(|_| "transfer to an offered slot failed")?;
        ensure(
            nexus_interfaces::selftest::reply::decode_cap_check(&reply[..m])
                == Ok(nexus_abi::CapKind::Endpoint as u8),
            "offered transfer not seen",
        )
    }

    /// Mapping one device window again returns the first mapping instead of
    /// new page-table entries each time.
    fn mmio_map_reused() -> Check {
        let va = sys::mmio_map(MMIO).map_err(|_| "first map failed")?;
        for _ in 0..1000 {
            ensure(
                sys::mmio_map(MMIO) == Ok(va),
                "a repeated map gave a new mapping",
            )?;
        }
        // SAFETY: `va` maps this capability's virtio-mmio window (device
        // memory, at least one page); magic is at +0.
        let magic = unsafe { core::ptr::read_volatile(va as *const u32) };
        ensure(magic == 0x7472_6976, "the mapping does not show the device")
    }

    fn console_bounded() -> Check {
        match settled("forger")? {
            Status::Exited { code: 0 } => Ok(()),
            Status::Exited { .. } => Err("40 KiB of output were all accepted"),
            _ => Err("forger did not end cleanly"),
        }
    }

    fn checker() -> i32 {
        let checks: [NamedCheck; 7] = [
            ("console budget enforced ok", console_bounded),
            ("mmio map reused ok", mmio_map_reused),
            ("short ipc rules ok", short_ipc_rules),
            ("cap transfer unoffered refused ok", cap_unoffered_refused),
            ("dead server wakes callers ok", dead_server_wakes_callers),
            ("fp isolated ok", fp_isolated),
            ("deaths all reported ok", deaths_all_reported),
        ];
        let mut failed = 0;
        for (marker, check) in checks {
            match check() {
                Ok(()) => println!("SELFTEST: {}", marker),
                Err(why) => {
                    println!("SELFTEST: FAIL {}: {}", marker, why);
                    failed += 1;
                }
            }
        }
        failed
    }

    fn doomed_server() -> i32 {
        let mut buf = [0u8; 64];
        let mut past_seen = 0u8;
        let mut next = None;
        loop {
            let got = match next.take() {
                Some(r) => r,
                None => sys::ipc_recv(DOOMED, &mut buf, 0),
            };
            let Ok(m) = got else {
                continue;
            };
            let reply = match (buf.first(), m.cap) {
                (Some(b'L'), None) => {
                    let _ = sys::ipc_reply(m.token, &[7; 40], None);
                    continue;
                }
                (Some(b'm'), None) => {
                    // Three bytes; the rest of a2..a5 holds other data.
                    let r = sys::Short {
                        len: 3,
                        words: [0x1122_3344_5566_7788, u64::MAX, u64::MAX, u64::MAX],
                    };
                    next = Some(sys::ipc_reply_recv_short(DOOMED, m.token, r, &mut buf, 0));
                    continue;
                }
                (_, Some(_)) => 0xee,
                (Some(b'p'), _) => {
                    past_seen = past_seen.saturating_add(1);
                    0
                }
                (Some(b'c'), _) => past_seen,
                (Some(b'd'), _) => {
                    let _ = sys::ipc_reply(m.token, &[0], None);
                    sys::sleep_ms(300);
                    return 0;
                }
                _ => 0xff,
            };
            let _ = sys::ipc_reply(m.token, &[reply], None);
        }
    }

    pub fn main(_: u64) -> i32 {
        // A burst child is the role without capabilities: it dies at once,
        // without waiting for init to answer anything.
        if sys::cap_info(INIT).is_err() {
            return 0;
        }
        let mode = match nexus_rt::ipc::fetch_args::<ModeArgs>(INIT) {
            Ok(a) => a.mode,
            Err(e) => {
                println!("selftest-kernel: no mode argument: {:?}", e);
                return 2;
            }
        };
        match mode {
            0 => checker(),
            1 => doomed_server(),
            2 => {
                // SAFETY: meant to fault (FS = Off); if it executes it only
                // writes f1, which no code of this task uses.
                unsafe { core::arch::asm!(".4byte 0xf00000d3") };
                println!("selftest-kernel: FP instruction executed");
                1
            }
            4 => {
                // Another task's marker: the kernel tags this line with this
                // task's name, and the harness must not count it.
                println!("SELFTEST: end");
                let junk = [b' '; 4096];
                for _ in 0..10 {
                    if sys::console_write(&junk) == Err(Error::NoResources) {
                        return 0;
                    }
                }
                1
            }
            5 => crate::shm::peer(),
            m => {
                println!("selftest-kernel: unknown mode {}", m);
                2
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(kcheck::main);

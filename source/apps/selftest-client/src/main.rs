//! selftest-client: proves the kernel's guarantees from user space.
//!
//! Each marker is printed only after its check passed; a failed check prints
//! `SELFTEST: FAIL <what>: <detail>` and the client exits non-zero (the
//! harness then misses the marker and fails). Markers are catalogued in
//! `docs/markers.md`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod client {
    use nexus_abi::{layout, CapKind, Error, Sysno, MSG_MAX};
    use nexus_interfaces::init::ServiceState;
    use nexus_interfaces::selftest;
    use nexus_rt::{println, sys};

    const SERVER: u32 = nexus_slots::selftest_client::SERVER;
    const INIT: u32 = nexus_slots::selftest_client::INIT;

    type Check = Result<(), &'static str>;
    /// A named check: the marker printed when it passes.
    type NamedCheck = (&'static str, fn() -> Check);

    fn ensure(ok: bool, what: &'static str) -> Check {
        if ok {
            Ok(())
        } else {
            Err(what)
        }
    }

    /// A `transform` request for `data` (the generated codec).
    fn transform_request(data: &[u8], out: &mut [u8]) -> Result<usize, &'static str> {
        selftest::Request::Transform { data }
            .encode(out)
            .map_err(|_| "encode")
    }

    fn ipc_roundtrip() -> Check {
        let mut data = [0u8; MSG_MAX];
        let mut msg = [0u8; MSG_MAX];
        let mut reply = [0u8; MSG_MAX];
        // Payloads that make 4 B, 64 B, 4 KiB, 4 KiB + 1 and 8 KiB messages.
        for len in [0usize, 60, 4092, 4093, MSG_MAX - 4] {
            for (i, b) in data[..len].iter_mut().enumerate() {
                *b = (i * 7 + len) as u8;
            }
            let n = transform_request(&data[..len], &mut msg)?;
            ensure(n == len + 4, "message size")?;
            let (m, cap) =
                sys::ipc_call(SERVER, &msg[..n], &mut reply, None, 0).map_err(|_| "call failed")?;
            ensure(cap.is_none(), "unexpected capability")?;
            let got = selftest::reply::decode_transform(&reply[..m]).map_err(|_| "reply")?;
            ensure(got.len() == len, "reply length")?;
            ensure(
                data[..len].iter().zip(&got).all(|(a, b)| a ^ 0x5a == *b),
                "reply content",
            )?;
        }
        // A message larger than MSG_MAX is refused before anything is sent.
        let big = [1u8; MSG_MAX + 1];
        ensure(
            sys::ipc_call(SERVER, &big, &mut reply, None, 0) == Err(Error::TooLarge),
            "oversized message",
        )?;
        // A reply that does not fit the caller's buffer is an error, not a
        // truncation.
        let n = transform_request(&data[..96], &mut msg)?;
        ensure(
            sys::ipc_call(SERVER, &msg[..n], &mut reply[..10], None, 0) == Err(Error::TooLarge),
            "small reply buffer",
        )
    }

    fn cap_transfer() -> Check {
        let mut req = [0u8; 8];
        let n = selftest::Request::CapCheck
            .encode(&mut req)
            .map_err(|_| "encode")?;
        let mut reply = [0u8; 8];
        let (m, _) = sys::ipc_call(SERVER, &req[..n], &mut reply, Some(SERVER), 0)
            .map_err(|_| "call with cap failed")?;
        ensure(
            selftest::reply::decode_cap_check(&reply[..m]) == Ok(CapKind::Endpoint as u8),
            "server did not receive an endpoint cap",
        )?;
        // The sender keeps its own copy.
        ensure(
            sys::cap_info(SERVER).map(|i| i.kind) == Ok(Some(CapKind::Endpoint)),
            "sender lost its cap",
        )?;
        // An empty slot cannot be transferred.
        ensure(
            sys::ipc_call(SERVER, &req[..n], &mut reply, Some(20), 0) == Err(Error::NoCapability),
            "empty slot transferred",
        )
    }

    fn mmio_denied() -> Check {
        // No capability in the slot: the kernel refuses to map anything.
        ensure(
            sys::mmio_map(20) == Err(Error::NoCapability),
            "map from empty slot",
        )?;
        ensure(
            sys::mmio_map(u32::MAX) == Err(Error::NoCapability),
            "map from out-of-range slot",
        )?;
        // A capability of another kind does not map a device either.
        ensure(
            sys::mmio_map(SERVER) == Err(Error::WrongCapability),
            "map through an endpoint cap",
        )?;
        ensure(
            sys::irq_wait(SERVER, 1) == Err(Error::WrongCapability),
            "irq wait through an endpoint cap",
        )?;
        ensure(
            sys::dma_alloc(20, 1) == Err(Error::NoCapability),
            "dma without a cap",
        )?;
        // Init-only operations are refused without the init-control cap.
        ensure(
            sys::endpoint_create(0) == Err(Error::NoCapability),
            "endpoint create without control cap",
        )?;
        ensure(
            sys::spawn(0, "selftest-fault", &[], None, 0) == Err(Error::NoCapability),
            "spawn without control cap",
        )
    }

    /// Console input is read only with the console-input capability, which
    /// this task was not granted; and init powers off only for the shell.
    fn console_and_poweroff_denied() -> Check {
        let mut buf = [0u8; 16];
        let soon = sys::now_ns() + 1_000_000;
        ensure(
            sys::console_read(20, &mut buf, soon) == Err(Error::NoCapability),
            "console read from an empty slot",
        )?;
        ensure(
            sys::console_read(u32::MAX, &mut buf, soon) == Err(Error::NoCapability),
            "console read from an out-of-range slot",
        )?;
        ensure(
            sys::console_read(SERVER, &mut buf, soon) == Err(Error::WrongCapability),
            "console read through an endpoint cap",
        )?;
        ensure(
            sys::console_read(INIT, &mut buf, soon) == Err(Error::WrongCapability),
            "console read through init's endpoint cap",
        )?;
        // The system-wide log level: anyone reads it, only the holder of
        // the console-input capability sets it.
        let before = sys::log_level();
        ensure(before.is_ok(), "log level not readable")?;
        ensure(
            sys::set_log_level(20, 5) == Err(Error::NoCapability),
            "log level set through an empty slot",
        )?;
        ensure(
            sys::set_log_level(SERVER, 5) == Err(Error::WrongCapability),
            "log level set through an endpoint cap",
        )?;
        ensure(
            sys::set_log_level(SERVER, 6) == Err(Error::InvalidArgument),
            "log level above trace accepted",
        )?;
        ensure(
            sys::log_level() == before,
            "log level changed by a refused set",
        )?;
        let mut init = nexus_rt::ipc::init_client(INIT);
        init.deadline_ns = sys::now_ns() + 1_000_000_000;
        ensure(
            init.poweroff() == Err(nexus_interfaces::init::Error::Denied),
            "init did not refuse poweroff to a task whose grant does not list it",
        )
    }

    fn bad_pointers() -> Check {
        let call = |nr: Sysno, a: [u64; 7]| {
            // SAFETY: the pointers passed are deliberately invalid (unmapped,
            // kernel, or overflowing), so the kernel writes nothing of ours.
            Error::from_reg(unsafe { sys::raw(nr as u64, a) }[0])
        };
        let kernel = 0x8020_0000u64;
        let unmapped = 0x1000u64;
        let stack_top = layout::STACK_TOP;
        ensure(
            call(Sysno::ConsoleWrite, [kernel, 16, 0, 0, 0, 0, 0]) == Err(Error::BadAddress),
            "console kernel ptr",
        )?;
        ensure(
            call(Sysno::ConsoleWrite, [unmapped, 8, 0, 0, 0, 0, 0]) == Err(Error::BadAddress),
            "console unmapped",
        )?;
        ensure(
            call(Sysno::ConsoleWrite, [stack_top - 8, 64, 0, 0, 0, 0, 0]) == Err(Error::BadAddress),
            "past stack",
        )?;
        ensure(
            call(Sysno::ConsoleWrite, [u64::MAX - 2, 8, 0, 0, 0, 0, 0]) != Ok(()),
            "overflowing range",
        )?;
        let msg = [1u8; 4];
        let m = msg.as_ptr() as u64;
        // Reply buffer in kernel memory; message in unmapped memory.
        ensure(
            call(
                Sysno::IpcCall,
                [SERVER as u64, m, 4, kernel, 64, u64::MAX, 0],
            ) == Err(Error::BadAddress),
            "ipc reply ptr",
        )?;
        ensure(
            call(
                Sysno::IpcCall,
                [SERVER as u64, unmapped, 4, m, 4, u64::MAX, 0],
            ) == Err(Error::BadAddress),
            "ipc msg ptr",
        )?;
        // Code is mapped read-only: the kernel must not write a reply there.
        let code = bad_pointers as *const () as u64;
        ensure(
            call(Sysno::IpcCall, [SERVER as u64, m, 4, code, 64, u64::MAX, 0])
                == Err(Error::BadAddress),
            "write to code",
        )?;
        ensure(
            call(Sysno::CapInfo, [u64::MAX, 0, 0, 0, 0, 0, 0]) == Err(Error::NoCapability),
            "cap slot range",
        )?;
        // SAFETY: an unknown syscall number touches nothing.
        let r = unsafe { sys::raw(999, [0; 7]) };
        ensure(
            Error::from_reg(r[0]) == Err(Error::InvalidSyscall),
            "unknown syscall",
        )?;
        Ok(())
    }

    fn timer_sleep() -> Check {
        let t0 = sys::now_ns();
        sys::sleep_ms(10);
        let t1 = sys::now_ns();
        ensure(t1 >= t0 + 10_000_000, "woke early")?;
        // A deadline already in the past returns at once.
        let t2 = sys::now_ns();
        sys::sleep_until(1);
        ensure(sys::now_ns() - t2 < 10_000_000, "past deadline slept")
    }

    fn status_of(name: &str) -> Result<ServiceState, &'static str> {
        let mut init = nexus_rt::ipc::init_client(INIT);
        init.deadline_ns = sys::now_ns() + 1_000_000_000;
        init.status(name).map_err(|_| "init status")
    }

    fn fault_contained() -> Check {
        let deadline = sys::now_ns() + 5_000_000_000;
        loop {
            let store = status_of("fault-store")?;
            let ill = status_of("fault-ill")?;
            match (store, ill) {
                (
                    ServiceState::Faulted { cause: 15, addr: 0 },
                    ServiceState::Faulted { cause: 2, .. },
                ) => break,
                (ServiceState::Running, _) | (_, ServiceState::Running)
                    if sys::now_ns() < deadline =>
                {
                    sys::sleep_ms(5)
                }
                _ => return Err("fault children not reported as faulted with the right cause"),
            }
        }
        // The system goes on: IPC with another task still works.
        let mut server = selftest::Client::new(nexus_rt::ipc::Endpoint(SERVER));
        let got = server.transform(&[2]).map_err(|_| "ipc after fault")?;
        ensure(got[..] == [2 ^ 0x5a], "ipc after fault")
    }

    pub fn main(_arg: u64) -> i32 {
        let checks: [NamedCheck; 7] = [
            ("ipc roundtrip ok", ipc_roundtrip),
            ("cap transfer ok", cap_transfer),
            ("mmio denied ok", mmio_denied),
            ("console read denied ok", console_and_poweroff_denied),
            ("bad pointer refused ok", bad_pointers),
            ("timer sleep ok", timer_sleep),
            ("fault contained ok", fault_contained),
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
        if failed == 0 {
            println!("SELFTEST: end");
        }
        failed
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(client::main);

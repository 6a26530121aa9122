//! selftest-fault: a task that faults on purpose, so init can prove that a
//! fault is contained. Its start-up argument (`ModeArgs`) picks the fault:
//! 0 = store to address 0, 1 = illegal instruction, 2 = load from kernel
//! memory.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod fault {
    use nexus_interfaces::args::ModeArgs;

    pub fn main(_: u64) -> i32 {
        let arg = match nexus_rt::ipc::fetch_args::<ModeArgs>(nexus_slots::selftest_fault::INIT) {
            Ok(a) => a.mode,
            Err(e) => {
                nexus_rt::println!("selftest-fault: no mode argument: {:?}", e);
                return 2;
            }
        };
        match arg {
            // SAFETY: none — this write is meant to fault; the kernel ends the
            // task before it could have any effect.
            0 => unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>(), 1) },
            // SAFETY: `unimp` raises an illegal-instruction exception.
            1 => unsafe { core::arch::asm!("unimp") },
            _ => {
                // SAFETY: meant to fault: kernel memory has no U bit.
                let v = unsafe { core::ptr::read_volatile(0x8020_0000 as *const u64) };
                core::hint::black_box(v);
            }
        }
        nexus_rt::println!(
            "selftest-fault: survived fault {} (kernel failed to stop it)",
            arg
        );
        1
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(fault::main);

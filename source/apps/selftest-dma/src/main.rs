//! selftest-dma: proves DMA allocation and address translation.
//!
//! Granted a DMA budget by init, it allocates physically contiguous pages,
//! checks the kernel's `VirtToPhys` against the returned physical address
//! page by page, writes and reads the memory, and checks the refusals
//! (zero pages, over the per-allocation limit, unmapped and device-free
//! translation). Prints `SELFTEST: dma ok` only when all hold.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod dma {
    use nexus_abi::{layout::PAGE, CapKind, Error};
    use nexus_rt::{println, sys};

    fn check() -> Result<(), &'static str> {
        let slot = nexus_slots::selftest_dma::DMA;
        let info = sys::cap_info(slot).map_err(|_| "no dma cap")?;
        if info.kind != Some(CapKind::Dma) {
            return Err("slot is not a dma cap");
        }
        let (va, pa) = sys::dma_alloc(slot, 4).map_err(|_| "alloc failed")?;
        if va % PAGE != 0 || pa % PAGE != 0 {
            return Err("unaligned allocation");
        }
        for i in 0..4 {
            if sys::virt_to_phys(va + i * PAGE + 8) != Ok(pa + i * PAGE + 8) {
                return Err("not physically contiguous");
            }
        }
        // SAFETY: [va, va + 4 pages) was just mapped read/write for this task.
        let mem = unsafe { core::slice::from_raw_parts_mut(va as *mut u8, 4 * PAGE as usize) };
        if mem.iter().any(|&b| b != 0) {
            return Err("not zeroed");
        }
        mem.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        if mem.iter().enumerate().any(|(i, &b)| b != i as u8) {
            return Err("readback");
        }
        if sys::dma_alloc(slot, 0) != Err(Error::InvalidArgument) {
            return Err("zero pages accepted");
        }
        if sys::dma_alloc(slot, 100_000) != Err(Error::InvalidArgument) {
            return Err("huge allocation accepted");
        }
        if sys::virt_to_phys(0x1000) != Err(Error::BadAddress)
            || sys::virt_to_phys(0x8020_0000) != Err(Error::BadAddress)
        {
            return Err("translation of foreign memory");
        }
        Ok(())
    }

    static RODATA: [u8; 16] = [7; 16];

    /// `VirtToPhys` answers only for `DmaAlloc` memory: the task's own stack,
    /// code and read-only data stay opaque.
    fn virt2phys_refused() -> Result<(), &'static str> {
        let local = 0u64;
        let stack = core::ptr::addr_of!(local) as u64;
        let code = check as *const () as u64;
        let ro = RODATA.as_ptr() as u64;
        for (va, what) in [(stack, "stack"), (code, "code"), (ro, "rodata")] {
            if sys::virt_to_phys(va) != Err(Error::BadAddress) {
                return Err(what);
            }
        }
        let (va, pa) = sys::dma_alloc(nexus_slots::selftest_dma::DMA, 1).map_err(|_| "alloc")?;
        if sys::virt_to_phys(va + 4) != Ok(pa + 4) {
            return Err("dma page");
        }
        Ok(())
    }

    pub fn main(_arg: u64) -> i32 {
        let mut failed = 0;
        type NamedCheck = (&'static str, fn() -> Result<(), &'static str>);
        let checks: [NamedCheck; 2] = [
            ("dma ok", check),
            ("virt2phys refused ok", virt2phys_refused),
        ];
        for (marker, f) in checks {
            match f() {
                Ok(()) => println!("SELFTEST: {}", marker),
                Err(why) => {
                    println!("SELFTEST: FAIL {}: {}", marker, why);
                    failed = 1;
                }
            }
        }
        failed
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(dma::main);

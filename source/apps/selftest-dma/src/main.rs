//! selftest-dma: proves DMA allocation and address translation.
//!
//! Granted a DMA budget by init, it allocates physically contiguous pages,
//! checks the kernel's `VirtToPhys` against the returned physical address
//! page by page, writes and reads the memory, and checks the refusals
//! (zero pages, over the per-allocation limit, unmapped and device-free
//! translation). Prints `SELFTEST: dma ok` only when all hold.
//!
//! It is also the owner in the shared-memory proofs (`MemCreate` ..
//! `CapCopy`; the peer is selftest-kernel's `shm-peer` role on the "shm"
//! endpoint): refusals of bad sizes, wrong and missing capabilities, double
//! mappings and bogus unmaps; a read-only copy and a read/write copy sent to
//! the peer; the peer's bytes seen in the owner's mapping; the pages
//! surviving the peer's death; fresh objects zeroed; and, by creating more
//! pages in turn than the pool holds, every page coming back once the last
//! mapping and capability are gone. Prints `SELFTEST: shm ok`.
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

    const PEER: u32 = nexus_slots::selftest_dma::PEER;

    fn ensure(ok: bool, what: &'static str) -> Result<(), &'static str> {
        if ok {
            Ok(())
        } else {
            Err(what)
        }
    }

    fn owner_byte(i: usize) -> u8 {
        (i * 7 + 3) as u8
    }

    fn peer_byte(i: usize) -> u8 {
        (255 - i % 251) as u8
    }

    /// One call to the peer: its one-byte verdict (0 = its checks held).
    fn ask(msg: u8, xfer: Option<u32>) -> Result<u8, Error> {
        let mut r = [0u8; 1];
        let deadline = sys::now_ns() + 5_000_000_000;
        sys::ipc_call(PEER, &[msg], &mut r, xfer, deadline).map(|_| r[0])
    }

    fn shm() -> Result<(), &'static str> {
        use nexus_abi::{rights, MEM_MAX_PAGES};
        let dma = nexus_slots::selftest_dma::DMA;
        // Refusals: sizes, capabilities of the wrong kind or none.
        ensure(
            sys::mem_create(dma, 0) == Err(Error::InvalidArgument),
            "zero pages",
        )?;
        ensure(
            sys::mem_create(dma, MEM_MAX_PAGES + 1) == Err(Error::InvalidArgument),
            "too many pages",
        )?;
        ensure(
            sys::mem_create(PEER, 1) == Err(Error::WrongCapability),
            "created under an endpoint cap",
        )?;
        ensure(
            sys::mem_create(30, 1) == Err(Error::NoCapability),
            "created without a cap",
        )?;
        ensure(
            sys::mem_map(dma, true) == Err(Error::WrongCapability),
            "mapped a dma cap",
        )?;
        ensure(
            sys::mem_unmap(0x3_0000_0000) == Err(Error::InvalidArgument),
            "unmapped what was never mapped",
        )?;
        let stack = 0u64;
        ensure(
            sys::mem_unmap(core::ptr::addr_of!(stack) as u64 & !(PAGE - 1))
                == Err(Error::InvalidArgument),
            "unmapped the stack",
        )?;
        let m = sys::mem_create(dma, 2).map_err(|_| "create")?;
        let info = sys::cap_info(m).map_err(|_| "cap info")?;
        ensure(
            info.kind == Some(CapKind::Memory)
                && info.rights == rights::MAP | rights::WRITE | rights::GRANT
                && info.x == 2,
            "new capability",
        )?;
        let (va, pages) = sys::mem_map(m, true).map_err(|_| "map")?;
        ensure(pages == 2 && va % PAGE == 0, "mapping size")?;
        ensure(sys::mem_map(m, false) == Err(Error::Busy), "mapped twice")?;
        // A fresh view of page `n` at each use, never held across a call:
        // the peer writes into these pages while this task waits.
        let view = |n: u64| -> &'static mut [u8] {
            // SAFETY: [va, va + 2 pages) stays mapped read/write for this
            // task until `mem_unmap` below, after the last view.
            unsafe { core::slice::from_raw_parts_mut((va + n * PAGE) as *mut u8, PAGE as usize) }
        };
        ensure(
            view(0).iter().chain(view(1).iter()).all(|&b| b == 0),
            "not zeroed",
        )?;
        view(0)
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = owner_byte(i));
        // Copies never gain rights; without GRANT a copy cannot travel.
        let ro = sys::cap_copy(m, rights::MAP | rights::GRANT).map_err(|_| "copy")?;
        let again = sys::cap_copy(ro, rights::ALL).map_err(|_| "copy of copy")?;
        let again_rights = sys::cap_info(again).map(|i| i.rights);
        ensure(
            again_rights == Ok(rights::MAP | rights::GRANT),
            "copy gained rights",
        )?;
        sys::cap_drop(again).map_err(|_| "drop copy")?;
        let stuck = sys::cap_copy(m, rights::MAP | rights::WRITE).map_err(|_| "copy")?;
        ensure(
            ask(b'x', Some(stuck)) == Err(Error::NoRights),
            "sent a capability without GRANT",
        )?;
        sys::cap_drop(stuck).map_err(|_| "drop")?;
        // The peer maps the read-only copy, then a read/write one.
        ensure(ask(b'r', Some(ro)) == Ok(0), "peer: read-only step")?;
        sys::cap_drop(ro).map_err(|_| "drop read-only")?;
        ensure(ask(b'w', Some(m)) == Ok(0), "peer: read/write step")?;
        let peers = |p: &[u8]| p.iter().enumerate().all(|(i, &b)| b == peer_byte(i));
        let owners = |p: &[u8]| p.iter().enumerate().all(|(i, &b)| b == owner_byte(i));
        ensure(peers(view(1)), "peer's bytes not seen")?;
        // The peer exits holding its capability and mapping; once it is
        // gone (a new call finds no server), the pages are still ours.
        ensure(ask(b'b', None) == Ok(0), "peer: bye")?;
        let gone_by = sys::now_ns() + 5_000_000_000;
        while ask(b'?', None) != Err(Error::PeerDead) {
            if sys::now_ns() > gone_by {
                return Err("peer did not end");
            }
            sys::sleep_ms(10);
        }
        ensure(
            owners(view(0)) && peers(view(1)),
            "pages changed after the peer's death",
        )?;
        sys::mem_unmap(va).map_err(|_| "unmap")?;
        ensure(
            sys::mem_unmap(va) == Err(Error::InvalidArgument),
            "unmapped twice",
        )?;
        sys::cap_drop(m).map_err(|_| "drop")?;
        ensure(
            sys::mem_map(m, false) == Err(Error::NoCapability),
            "mapped a dropped capability",
        )?;
        // More pages in turn than the pool holds: each object's pages come
        // back when its last mapping and capability go, and a new object is
        // zeroed (nothing of an earlier one shows).
        // Each mapping lands in the same freed slot, so a stale translation
        // of the previous object would show its 0xa5 bytes.
        let pool = sys::cap_info(dma).map_err(|_| "dma info")?.x;
        let mut slot = None;
        for _ in 0..=pool / MEM_MAX_PAGES {
            let c = sys::mem_create(dma, MEM_MAX_PAGES).map_err(|_| "pages not returned")?;
            let (va, _) = sys::mem_map(c, true).map_err(|_| "map in turn")?;
            ensure(*slot.get_or_insert(va) == va, "freed slot not reused")?;
            // SAFETY: a fresh writable mapping of this task, one page used.
            let p = unsafe { core::slice::from_raw_parts_mut(va as *mut u8, PAGE as usize) };
            ensure(p.iter().all(|&b| b == 0), "reused pages not zeroed")?;
            p.fill(0xa5);
            sys::cap_drop(c).map_err(|_| "drop in turn")?;
            sys::mem_unmap(va).map_err(|_| "unmap in turn")?;
        }
        // Mapping and unmapping never uses up addresses: more 64-page cycles
        // than a 2 GiB window could have held without reuse.
        let c = sys::mem_create(dma, MEM_MAX_PAGES).map_err(|_| "cycle object")?;
        for _ in 0..MAP_CYCLES {
            let (va, _) = sys::mem_map(c, false).map_err(|_| "map cycle")?;
            sys::mem_unmap(va).map_err(|_| "unmap cycle")?;
        }
        sys::cap_drop(c).map_err(|_| "drop cycle object")?;
        Ok(())
    }

    /// Map/unmap cycles of a 64-page object: more than the 8,192 a 2 GiB
    /// window without reuse would allow.
    const MAP_CYCLES: u32 = 9_000;

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
        let checks: [NamedCheck; 3] = [
            ("dma ok", check),
            ("virt2phys refused ok", virt2phys_refused),
            ("shm ok", shm),
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

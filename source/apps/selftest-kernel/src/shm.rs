//! Role 5 `shm-peer`: the receiving side of the shared-memory proofs
//! (selftest-dma is the owner). Serves the "shm" endpoint:
//!
//! - before any capability arrived, `MemMap` of an empty slot and of its
//!   endpoint capability are refused;
//! - `r` carries a read-only copy of the owner's object: mapping it
//!   writable is refused, mapping it readable shows the owner's bytes, a
//!   second mapping of the same object is refused;
//! - `w` carries a read/write copy: while the read-only mapping stands the
//!   object cannot be mapped again; after `MemUnmap` it maps writable, and
//!   the peer writes its own pattern into the second page for the owner to
//!   find;
//! - `b`: replies and exits still holding the read/write capability and
//!   its mapping (the kernel must release them without freeing pages the
//!   owner still maps).
//!
//! Prints `SELFTEST: shm peer ok` once `w` passed, or
//! `SELFTEST: FAIL shm peer: <why>`; the reply carries 0 or 1.

use nexus_abi::{layout::PAGE, rights, CapKind, Error};
use nexus_rt::{println, sys};

const SHM: u32 = nexus_slots::selftest_kernel::SHM;
/// The slots offered for the two capabilities (empty in this role).
const RO_SLOT: u32 = 28;
const RW_SLOT: u32 = 29;

/// The owner's pattern (page 0) and the peer's (page 1).
pub fn owner_byte(i: usize) -> u8 {
    (i * 7 + 3) as u8
}
pub fn peer_byte(i: usize) -> u8 {
    (255 - i % 251) as u8
}

fn ensure(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

fn page(va: u64, n: u64) -> &'static [u8] {
    // SAFETY: `va` is the start of a live `MemMap` mapping of this task of
    // at least `n + 1` pages; only read here.
    unsafe { core::slice::from_raw_parts((va + n * PAGE) as *const u8, PAGE as usize) }
}

fn before_any() -> Result<(), &'static str> {
    ensure(
        sys::mem_map(RO_SLOT, false) == Err(Error::NoCapability),
        "mapped an empty slot",
    )?;
    ensure(
        sys::mem_map(SHM, false) == Err(Error::WrongCapability),
        "mapped an endpoint capability",
    )
}

/// `r`: returns the read-only mapping's address.
fn read_only(cap: u32) -> Result<u64, &'static str> {
    let info = sys::cap_info(cap).map_err(|_| "cap info")?;
    ensure(info.kind == Some(CapKind::Memory), "not a memory cap")?;
    ensure(
        info.rights == rights::MAP | rights::GRANT,
        "rights not reduced",
    )?;
    ensure(
        sys::mem_map(cap, true) == Err(Error::NoRights),
        "mapped writable with a read-only capability",
    )?;
    let (va, pages) = sys::mem_map(cap, false).map_err(|_| "read-only map")?;
    ensure(pages == 2 && info.x == 2, "size")?;
    ensure(
        page(va, 0)
            .iter()
            .enumerate()
            .all(|(i, &b)| b == owner_byte(i)),
        "owner's bytes not seen",
    )?;
    ensure(
        sys::mem_map(cap, false) == Err(Error::Busy),
        "mapped the same object twice",
    )?;
    Ok(va)
}

/// `w`: remaps writable and writes the peer's pattern into page 1.
fn read_write(cap: u32, ro_va: u64) -> Result<(), &'static str> {
    ensure(
        sys::mem_map(cap, true) == Err(Error::Busy),
        "second mapping through another capability",
    )?;
    sys::mem_unmap(ro_va).map_err(|_| "unmap")?;
    ensure(
        sys::mem_unmap(ro_va) == Err(Error::InvalidArgument),
        "unmapped twice",
    )?;
    let (va, _) = sys::mem_map(cap, true).map_err(|_| "writable map")?;
    ensure(
        page(va, 0)
            .iter()
            .enumerate()
            .all(|(i, &b)| b == owner_byte(i)),
        "owner's bytes not seen writable",
    )?;
    // SAFETY: page 1 of the writable mapping just made; no other reference
    // into it exists in this task.
    let p1 = unsafe { core::slice::from_raw_parts_mut((va + PAGE) as *mut u8, PAGE as usize) };
    p1.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = peer_byte(i));
    sys::cap_drop(RO_SLOT).map_err(|_| "drop read-only cap")?;
    Ok(())
}

pub fn peer() -> i32 {
    let mut failed = before_any().err();
    if let Some(why) = failed {
        println!("SELFTEST: FAIL shm peer: {}", why);
    }
    let mut ro_va = 0;
    let mut buf = [0u8; 8];
    loop {
        let accept = if ro_va == 0 { RO_SLOT } else { RW_SLOT };
        let Ok(m) = sys::ipc_recv_accept(SHM, &mut buf, Some(accept), 0) else {
            continue;
        };
        let step = match (buf.first(), m.cap) {
            (Some(b'b'), None) => {
                let _ = sys::ipc_reply(m.token, &[u8::from(failed.is_some())], None);
                return 0;
            }
            _ if failed.is_some() => Ok(()),
            (Some(b'r'), Some(c)) => read_only(c).map(|va| ro_va = va),
            (Some(b'w'), Some(c)) if ro_va != 0 => {
                read_write(c, ro_va).map(|()| println!("SELFTEST: shm peer ok"))
            }
            _ => Err("unexpected message"),
        };
        if let Err(why) = step {
            println!("SELFTEST: FAIL shm peer: {}", why);
            failed = Some(why);
        }
        let _ = sys::ipc_reply(m.token, &[u8::from(failed.is_some())], None);
    }
}

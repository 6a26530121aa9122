//! A shared-memory object this task created and maps (`MemCreate`,
//! `MemMap`; `docs/abi.md`, "Shared memory"), with safe access to its
//! bytes for tasks that deny `unsafe`.

use crate::sys;
use nexus_abi::{layout::PAGE, Error};

/// An object of this task, mapped writable for the task's whole life (the
/// mapping is never removed through this type, so the bytes stay valid).
#[derive(Debug)]
pub struct SharedRegion {
    cap: u32,
    va: u64,
    len: usize,
}

impl SharedRegion {
    /// Creates an object of `pages` zeroed pages under the memory-budget
    /// (or DMA) capability `budget` and maps it writable.
    pub fn create(budget: u32, pages: u64) -> Result<Self, Error> {
        let cap = sys::mem_create(budget, pages)?;
        let (va, got) = sys::mem_map(cap, true)?;
        let len = usize::try_from(got * PAGE).map_err(|_| Error::InvalidArgument)?;
        Ok(SharedRegion { cap, va, len })
    }

    /// The slot of the object's capability (to send a copy with IPC).
    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty region (never: objects have at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes. Another task that maps the object may change them
    /// whenever this task is not running (a server writes during this
    /// task's call): take the slice afresh after each such call, and treat
    /// what another task wrote as untrusted.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `va..va + len` is this task's writable mapping of the
        // object, made in `create` and never removed while `self` lives
        // (nothing here unmaps it); `&mut self` keeps this task's own
        // views exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.va as *mut u8, self.len) }
    }
}

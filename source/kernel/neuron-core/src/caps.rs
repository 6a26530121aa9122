//! Per-task capability tables and the derivation rule (rights never grow).

use nexus_abi::{rights, CapKind, Error, CAP_SLOTS, KERNEL_BADGE};

/// A capability: an unforgeable reference to a kernel object plus rights.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Cap {
    /// Spawn, create endpoints, read boot args. Only init holds it.
    InitControl,
    /// An IPC endpoint.
    Endpoint {
        /// Endpoint table index.
        id: u16,
        /// Rights bits (`SEND`, `RECV`, `GRANT`).
        rights: u32,
        /// Identity stamped on messages sent through this capability.
        badge: u64,
    },
    /// A device register window and its interrupt line.
    Mmio {
        /// Physical base (page aligned).
        base: u64,
        /// Length in bytes (page multiple).
        len: u64,
        /// PLIC interrupt number (0 = none).
        irq: u32,
        /// Rights bits (`MAP`, `GRANT`).
        rights: u32,
    },
    /// A share of a kernel DMA budget: every copy of one capability draws on
    /// the same pool, so copying it never multiplies the budget.
    Dma {
        /// The kernel's budget object.
        pool: u16,
        /// The pool's total pages (what `CapInfo` reports).
        pages: u32,
        /// Rights bits (`GRANT`).
        rights: u32,
    },
    /// Authority to read console input (`ConsoleRead` needs `RECV`).
    ConsoleInput {
        /// Rights bits (`RECV`, `GRANT`).
        rights: u32,
    },
    /// A shared-memory object (see [`crate::shm`]): every copy names the
    /// same pages, which live while any copy or mapping of them does.
    Memory {
        /// The kernel's object index.
        obj: u16,
        /// Size in pages (what `CapInfo` reports).
        pages: u32,
        /// Rights bits (`MAP`, `WRITE`, `GRANT`).
        rights: u32,
    },
    /// A shared-memory budget (see [`crate::shm::Budgets`]): `MemCreate`
    /// up to `pages` alive at once, charged to the budget and to the DMA
    /// pool it was carved from, and nothing else (no `DmaAlloc`). Every
    /// copy draws on the same budget.
    MemBudget {
        /// The kernel's budget index.
        budget: u16,
        /// The budget's total pages (what `CapInfo` reports).
        pages: u32,
        /// Rights bits (`GRANT`).
        rights: u32,
    },
}

impl Cap {
    /// The ABI kind of this capability.
    pub fn kind(&self) -> CapKind {
        match self {
            Cap::InitControl => CapKind::InitControl,
            Cap::Endpoint { .. } => CapKind::Endpoint,
            Cap::Mmio { .. } => CapKind::Mmio,
            Cap::Dma { .. } => CapKind::Dma,
            Cap::ConsoleInput { .. } => CapKind::ConsoleInput,
            Cap::Memory { .. } => CapKind::Memory,
            Cap::MemBudget { .. } => CapKind::MemBudget,
        }
    }

    /// The capability's rights.
    pub fn rights(&self) -> u32 {
        match *self {
            Cap::InitControl => rights::ALL,
            Cap::Endpoint { rights, .. }
            | Cap::Mmio { rights, .. }
            | Cap::Dma { rights, .. }
            | Cap::Memory { rights, .. }
            | Cap::MemBudget { rights, .. }
            | Cap::ConsoleInput { rights } => rights,
        }
    }

    /// Whether the capability may cross IPC at all (with `GRANT`). The
    /// init-control capability never may.
    pub fn transferable(&self) -> bool {
        !matches!(self, Cap::InitControl) && self.rights() & rights::GRANT != 0
    }

    /// A copy with rights reduced to `mask` and, for an unbadged endpoint,
    /// `badge` stamped (0 keeps the current badge). The init-control
    /// capability is never copied; the kernel badge cannot be minted.
    pub fn derive(&self, mask: u32, badge: u64) -> Result<Cap, Error> {
        if badge == KERNEL_BADGE {
            return Err(Error::InvalidArgument);
        }
        match *self {
            Cap::InitControl => Err(Error::NoRights),
            Cap::Endpoint {
                id,
                rights,
                badge: old,
            } => {
                let badge = match (old, badge) {
                    (old, 0) => old,
                    (0, new) => new,
                    _ => return Err(Error::NoRights),
                };
                Ok(Cap::Endpoint {
                    id,
                    rights: rights & mask,
                    badge,
                })
            }
            Cap::Mmio {
                base,
                len,
                irq,
                rights,
            } => Ok(Cap::Mmio {
                base,
                len,
                irq,
                rights: rights & mask,
            }),
            Cap::Dma {
                pool,
                pages,
                rights,
            } => Ok(Cap::Dma {
                pool,
                pages,
                rights: rights & mask,
            }),
            Cap::ConsoleInput { rights } => Ok(Cap::ConsoleInput {
                rights: rights & mask,
            }),
            Cap::Memory { obj, pages, rights } => Ok(Cap::Memory {
                obj,
                pages,
                rights: rights & mask,
            }),
            Cap::MemBudget {
                budget,
                pages,
                rights,
            } => Ok(Cap::MemBudget {
                budget,
                pages,
                rights: rights & mask,
            }),
        }
    }
}

/// A task's capability table: [`CAP_SLOTS`] fixed slots.
#[derive(Clone, Debug)]
pub struct CapTable {
    slots: [Option<Cap>; CAP_SLOTS],
}

impl Default for CapTable {
    fn default() -> Self {
        Self::new()
    }
}

impl CapTable {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            slots: [None; CAP_SLOTS],
        }
    }

    /// The capability in `slot` (a user-supplied number).
    pub fn get(&self, slot: u64) -> Result<Cap, Error> {
        usize::try_from(slot)
            .ok()
            .and_then(|s| self.slots.get(s).copied().flatten())
            .ok_or(Error::NoCapability)
    }

    /// The endpoint capability in `slot` if it holds `need`: its endpoint
    /// id and badge; `None` for anything else (the IPC fast paths, which
    /// then leave the error to the general path). Always inlined: no call.
    #[inline(always)]
    pub fn endpoint(&self, slot: u64, need: u32) -> Option<(u16, u64)> {
        match self.slots.get(usize::try_from(slot).ok()?) {
            Some(Some(Cap::Endpoint { id, rights, badge })) if rights & need == need => {
                Some((*id, *badge))
            }
            _ => None,
        }
    }

    /// The capability in `slot`, which must be of `kind` and hold `need`.
    pub fn get_checked(&self, slot: u64, kind: CapKind, need: u32) -> Result<Cap, Error> {
        let cap = self.get(slot)?;
        if cap.kind() != kind {
            return Err(Error::WrongCapability);
        }
        if cap.rights() & need != need {
            return Err(Error::NoRights);
        }
        Ok(cap)
    }

    /// Puts `cap` in the first free slot.
    pub fn insert(&mut self, cap: Cap) -> Result<u32, Error> {
        let i = self.free_slot().ok_or(Error::NoSlots)?;
        self.slots[i as usize] = Some(cap);
        Ok(i)
    }

    /// The first free slot, if any.
    pub fn free_slot(&self) -> Option<u32> {
        self.slots
            .iter()
            .position(Option::is_none)
            .map(|i| i as u32)
    }

    /// Puts `cap` in `slot`, which must be in range and empty.
    pub fn insert_at(&mut self, slot: u64, cap: Cap) -> Result<(), Error> {
        let s = usize::try_from(slot)
            .ok()
            .filter(|s| *s < CAP_SLOTS)
            .ok_or(Error::InvalidArgument)?;
        if self.slots[s].is_some() {
            return Err(Error::Busy);
        }
        self.slots[s] = Some(cap);
        Ok(())
    }

    /// Deletes the capability in `slot`.
    pub fn remove(&mut self, slot: u64) -> Result<Cap, Error> {
        let cap = self.get(slot)?;
        self.slots[slot as usize] = None;
        Ok(cap)
    }

    /// Whether any slot holds a capability to memory object `obj`.
    pub fn holds_memory(&self, obj: u16) -> bool {
        self.slots
            .iter()
            .any(|c| matches!(c, Some(Cap::Memory { obj: o, .. }) if *o == obj))
    }

    /// Whether any slot holds a capability to shared-memory budget `id`.
    pub fn holds_budget(&self, id: u16) -> bool {
        self.slots
            .iter()
            .any(|c| matches!(c, Some(Cap::MemBudget { budget, .. }) if *budget == id))
    }

    /// Iterates over occupied slots.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Cap)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i as u32, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: Cap = Cap::Endpoint {
        id: 3,
        rights: rights::SEND | rights::RECV | rights::GRANT,
        badge: 0,
    };

    #[test]
    fn slots_are_checked_for_range_kind_and_rights() {
        let mut t = CapTable::new();
        let s = t.insert(EP).unwrap() as u64;
        assert_eq!(t.get(s), Ok(EP));
        assert_eq!(t.get(31), Err(Error::NoCapability));
        assert_eq!(t.get(32), Err(Error::NoCapability));
        assert_eq!(t.get(u64::MAX), Err(Error::NoCapability));
        assert_eq!(
            t.get_checked(s, CapKind::Mmio, rights::MAP),
            Err(Error::WrongCapability)
        );
        let send_only = EP.derive(rights::SEND, 0).unwrap();
        let s2 = t.insert(send_only).unwrap() as u64;
        assert_eq!(
            t.get_checked(s2, CapKind::Endpoint, rights::RECV),
            Err(Error::NoRights)
        );
        assert!(t.get_checked(s2, CapKind::Endpoint, rights::SEND).is_ok());
        // The fast paths' lookup agrees with `get_checked`.
        assert_eq!(t.endpoint(s2, rights::SEND), Some((3, 0)));
        assert_eq!(t.endpoint(s2, rights::RECV), None);
        assert_eq!(t.endpoint(s, rights::SEND | rights::RECV), Some((3, 0)));
        assert_eq!(t.endpoint(31, 0), None);
        assert_eq!(t.endpoint(u64::MAX, 0), None);
        let m = t
            .insert(Cap::Mmio {
                base: 0,
                len: 4096,
                irq: 1,
                rights: rights::MAP,
            })
            .unwrap() as u64;
        assert_eq!(t.endpoint(m, 0), None);
    }

    #[test]
    fn derive_never_amplifies_and_badges_once() {
        let a = EP.derive(rights::SEND, 7).unwrap();
        assert_eq!(
            a,
            Cap::Endpoint {
                id: 3,
                rights: rights::SEND,
                badge: 7
            }
        );
        // Asking for more rights than held yields only what was held.
        assert_eq!(a.derive(rights::ALL, 0).unwrap().rights(), rights::SEND);
        // Re-badging a badged cap is refused; the kernel badge cannot be minted.
        assert_eq!(a.derive(rights::SEND, 8), Err(Error::NoRights));
        assert_eq!(
            EP.derive(rights::SEND, KERNEL_BADGE),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            Cap::InitControl.derive(rights::ALL, 0),
            Err(Error::NoRights)
        );
    }

    #[test]
    fn init_control_never_transfers_and_grant_is_needed() {
        assert!(!Cap::InitControl.transferable());
        assert!(EP.transferable());
        assert!(!EP.derive(rights::SEND, 0).unwrap().transferable());
        let dma = Cap::Dma {
            pool: 0,
            pages: 4,
            rights: rights::GRANT,
        };
        assert_eq!(
            dma.derive(0, 0).unwrap(),
            Cap::Dma {
                pool: 0,
                pages: 4,
                rights: 0
            }
        );
    }

    #[test]
    fn memory_caps_reduce_and_are_found() {
        let m = Cap::Memory {
            obj: 5,
            pages: 2,
            rights: rights::MAP | rights::WRITE | rights::GRANT,
        };
        let ro = m.derive(rights::MAP | rights::GRANT, 0).unwrap();
        assert_eq!(ro.rights(), rights::MAP | rights::GRANT);
        assert!(ro.transferable());
        // Copying never brings WRITE back.
        assert_eq!(ro.derive(rights::ALL, 0).unwrap().rights(), ro.rights());
        assert!(!m.derive(rights::MAP, 0).unwrap().transferable());
        let mut t = CapTable::new();
        assert!(!t.holds_memory(5));
        let s = t.insert(ro).unwrap() as u64;
        assert!(t.holds_memory(5));
        assert!(!t.holds_memory(4));
        t.remove(s).unwrap();
        assert!(!t.holds_memory(5));
    }

    #[test]
    fn budget_caps_reduce_and_are_found() {
        let b = Cap::MemBudget {
            budget: 2,
            pages: 64,
            rights: rights::GRANT,
        };
        assert_eq!(b.kind(), CapKind::MemBudget);
        assert!(b.transferable());
        let plain = b.derive(rights::ALL, 0).unwrap();
        assert_eq!(plain, b);
        let none = b.derive(0, 0).unwrap();
        assert_eq!(none.rights(), 0);
        assert!(!none.transferable());
        // A budget is never a DMA capability (no `DmaAlloc` through it).
        let mut t = CapTable::new();
        let s = t.insert(none).unwrap() as u64;
        assert_eq!(
            t.get_checked(s, CapKind::Dma, 0),
            Err(Error::WrongCapability)
        );
        assert!(t.holds_budget(2));
        assert!(!t.holds_budget(3));
        assert!(!t.holds_memory(2));
        t.remove(s).unwrap();
        assert!(!t.holds_budget(2));
    }

    #[test]
    fn table_fills_up_and_frees() {
        let mut t = CapTable::new();
        for _ in 0..CAP_SLOTS {
            t.insert(EP).unwrap();
        }
        assert_eq!(t.insert(EP), Err(Error::NoSlots));
        assert_eq!(t.remove(5), Ok(EP));
        assert_eq!(t.remove(5), Err(Error::NoCapability));
        assert_eq!(t.insert(EP), Ok(5));
        assert_eq!(t.insert_at(5, EP), Err(Error::Busy));
        assert_eq!(t.insert_at(40, EP), Err(Error::InvalidArgument));
    }
}

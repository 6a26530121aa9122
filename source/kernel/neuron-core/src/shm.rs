//! Shared memory: objects of zeroed pages that several tasks may map.
//!
//! A task creates an object with `MemCreate` (its pages charged to the pool
//! of a DMA capability it holds) and gets a `Cap::Memory` for it; it maps the
//! object with `MemMap` and passes copies of the capability (possibly with
//! fewer rights, `CapCopy`) to other tasks through IPC. An object lives while
//! any task holds a capability to it or maps it: the kernel asks
//! [`held`] whenever one of those goes away (`CapDrop`, `MemUnmap`, a task's
//! end) and frees the pages and refunds the pool when nothing is left. So no
//! mapping ever outlives its pages, and an object index is never reused
//! while anything names it (a stale capability cannot reach a newer object).
//!
//! A budget ([`Budgets`], `MemBudget`) is the other way to pay for an
//! object: a capability that allows `MemCreate` up to a number of pages
//! alive at once and nothing else, carved from a DMA capability (whose pool
//! the pages are charged to as well). A task that only needs shared memory
//! holds a budget instead of a DMA capability, which would also let it
//! `DmaAlloc` and learn physical addresses.
//!
//! Mappings are not `OWNED` leaves (see [`crate::pagetable`]): tearing an
//! address space down never frees shared frames; the object does.

use crate::caps::{Cap, CapTable};
use nexus_abi::{rights, Error, CAP_SLOTS, MEM_BUDGET_MAX_PAGES, MEM_MAP_WRITE, MEM_MAX_PAGES};

/// Objects alive at once, system-wide.
pub const MAX_MEM_OBJECTS: usize = 64;

/// Objects one task may have mapped at once.
pub const MEM_MAPS: usize = nexus_abi::layout::SHM_SLOTS as usize;

/// One object: physically contiguous pages and the pool they are charged to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Physical address of the first page.
    pub pa: u64,
    /// Number of pages.
    pub pages: u32,
    /// DMA pool charged.
    pub pool: u16,
    /// Budget charged too, or [`NO_BUDGET`] (created with a DMA capability).
    pub budget: u16,
}

/// [`Object::budget`] of an object paid for by a DMA capability alone.
pub const NO_BUDGET: u16 = u16::MAX;

/// Shared-memory budgets alive at once, system-wide.
pub const MAX_MEM_BUDGETS: usize = 32;

/// One budget: pages its objects may hold at once, and the DMA pool they
/// are charged to as well.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Pages allowed alive at once.
    pub limit: u32,
    /// Pages of live objects charged to it.
    pub used: u32,
    /// Live objects charged to it (at most [`MAX_OBJECTS_PER_BUDGET`]).
    pub objects: u32,
    /// The DMA pool it was carved from.
    pub pool: u16,
}

/// Live objects one budget may have at once, so a budget holder cannot fill
/// the system-wide object table with small objects: the manifest allows at
/// most 8 budgets per profile, and 8 x 8 = [`MAX_MEM_OBJECTS`].
pub const MAX_OBJECTS_PER_BUDGET: u32 = 8;

/// The kernel's budget table. An entry is in use while a capability names
/// it or an object is charged to it (`used > 0`); only then is it never
/// handed out again, so a stale capability cannot reach a newer budget.
#[derive(Clone, Debug)]
pub struct Budgets {
    b: [Budget; MAX_MEM_BUDGETS],
}

impl Default for Budgets {
    fn default() -> Self {
        Self::new()
    }
}

/// Validates `MemBudget`'s page count: 1..=[`MEM_BUDGET_MAX_PAGES`].
pub fn check_budget_pages(pages: u64) -> Result<u32, Error> {
    if pages == 0 || pages > MEM_BUDGET_MAX_PAGES {
        return Err(Error::InvalidArgument);
    }
    Ok(pages as u32)
}

impl Budgets {
    /// No budgets.
    pub const fn new() -> Self {
        Self {
            b: [Budget {
                limit: 0,
                used: 0,
                objects: 0,
                pool: 0,
            }; MAX_MEM_BUDGETS],
        }
    }

    /// Sets up a budget of `limit` pages on `pool` in the first entry that
    /// no capability names (`named`) and no object is charged to; its
    /// index, or `NoResources` when every entry is in use.
    pub fn create(
        &mut self,
        limit: u32,
        pool: u16,
        named: impl Fn(u16) -> bool,
    ) -> Result<u16, Error> {
        let i = (0..MAX_MEM_BUDGETS as u16)
            .find(|&i| self.b[i as usize].used == 0 && !named(i))
            .ok_or(Error::NoResources)?;
        self.b[i as usize] = Budget {
            limit,
            used: 0,
            objects: 0,
            pool,
        };
        Ok(i)
    }

    /// Budget `id`.
    pub fn get(&self, id: u16) -> Option<Budget> {
        self.b.get(id as usize).copied()
    }

    /// Whether one more object of `pages` fits in budget `id` (nothing is
    /// charged): `NoMemory` when the pages do not, `NoResources` when the
    /// budget already has [`MAX_OBJECTS_PER_BUDGET`] live objects,
    /// `WrongCapability` for no such budget.
    pub fn check(&self, id: u16, pages: u32) -> Result<(), Error> {
        let b = self.b.get(id as usize).ok_or(Error::WrongCapability)?;
        if b.objects >= MAX_OBJECTS_PER_BUDGET {
            return Err(Error::NoResources);
        }
        match b.used.checked_add(pages) {
            Some(total) if total <= b.limit => Ok(()),
            _ => Err(Error::NoMemory),
        }
    }

    /// Charges `pages` to budget `id` (an object was created).
    pub fn charge(&mut self, id: u16, pages: u32) -> Result<(), Error> {
        self.check(id, pages)?;
        // In range: `check` bounded used + pages by the limit and the
        // object count by its maximum.
        self.b[id as usize].used += pages;
        self.b[id as usize].objects += 1;
        Ok(())
    }

    /// Returns `pages` charged with [`Budgets::charge`] (the object was
    /// freed). [`NO_BUDGET`] and unknown ids are ignored.
    pub fn refund(&mut self, id: u16, pages: u32) {
        if let Some(b) = self.b.get_mut(id as usize) {
            b.used = b.used.saturating_sub(pages);
            b.objects = b.objects.saturating_sub(1);
        }
    }
}

/// The kernel's object table.
#[derive(Clone, Debug)]
pub struct Objects {
    objs: [Option<Object>; MAX_MEM_OBJECTS],
}

impl Default for Objects {
    fn default() -> Self {
        Self::new()
    }
}

impl Objects {
    /// No objects.
    pub const fn new() -> Self {
        Self {
            objs: [None; MAX_MEM_OBJECTS],
        }
    }

    /// Whether a new object would fit (nothing is taken).
    pub fn has_room(&self) -> bool {
        self.objs.iter().any(Option::is_none)
    }

    /// Stores `o`; its index, or `NoResources` when the table is full.
    pub fn insert(&mut self, o: Object) -> Result<u16, Error> {
        let i = self
            .objs
            .iter()
            .position(Option::is_none)
            .ok_or(Error::NoResources)?;
        self.objs[i] = Some(o);
        Ok(i as u16)
    }

    /// Object `obj`.
    pub fn get(&self, obj: u16) -> Option<Object> {
        self.objs.get(obj as usize).copied().flatten()
    }

    /// Removes object `obj` (its pages are the caller's to free).
    pub fn remove(&mut self, obj: u16) -> Option<Object> {
        self.objs.get_mut(obj as usize).and_then(Option::take)
    }

    /// Objects alive.
    pub fn count(&self) -> usize {
        self.objs.iter().filter(|o| o.is_some()).count()
    }
}

/// Stores object `o` and charges its pages to its budget (if any): its
/// index; `NoResources` when the table is full, `NoMemory` when the budget
/// has too few pages left. Nothing changes on failure. (The DMA pool is
/// the caller's to charge.)
pub fn insert_charged(objs: &mut Objects, budgets: &mut Budgets, o: Object) -> Result<u16, Error> {
    if !objs.has_room() {
        return Err(Error::NoResources);
    }
    if o.budget != NO_BUDGET {
        budgets.charge(o.budget, o.pages)?;
    }
    objs.insert(o)
}

/// Removes object `obj` (nothing names it any more) and returns its pages
/// to its budget: the object, whose frames and pool charge are the
/// caller's to return.
pub fn remove_refunded(objs: &mut Objects, budgets: &mut Budgets, obj: u16) -> Option<Object> {
    let o = objs.remove(obj)?;
    if o.budget != NO_BUDGET {
        budgets.refund(o.budget, o.pages);
    }
    Some(o)
}

/// Validates `MemCreate`'s page count: 1..=[`MEM_MAX_PAGES`].
pub fn check_pages(pages: u64) -> Result<u32, Error> {
    if pages == 0 || pages > MEM_MAX_PAGES {
        return Err(Error::InvalidArgument);
    }
    Ok(pages as u32)
}

/// Validates `MemMap`'s mode against the capability's rights: whether the
/// mapping is writable. Read needs `MAP`; write needs `MAP | WRITE`; any
/// other mode is `InvalidArgument`.
pub fn map_access(cap_rights: u32, mode: u64) -> Result<bool, Error> {
    let (need, write) = match mode {
        0 => (rights::MAP, false),
        MEM_MAP_WRITE => (rights::MAP | rights::WRITE, true),
        _ => return Err(Error::InvalidArgument),
    };
    if cap_rights & need != need {
        return Err(Error::NoRights);
    }
    Ok(write)
}

/// One mapping of an object in a task.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The object.
    pub obj: u16,
    /// First mapped address.
    pub va: u64,
    /// Pages mapped (the whole object).
    pub pages: u32,
}

/// A task's mappings.
#[derive(Copy, Clone, Debug, Default)]
pub struct TaskMaps {
    maps: [Option<Mapping>; MEM_MAPS],
}

impl TaskMaps {
    /// No mappings.
    pub const fn new() -> Self {
        Self {
            maps: [None; MEM_MAPS],
        }
    }

    /// Where a mapping of `obj` would be recorded: `Busy` if the task
    /// already maps it, `NoResources` if it maps [`MEM_MAPS`] objects.
    pub fn free_for(&self, obj: u16) -> Result<usize, Error> {
        if self.maps_obj(obj) {
            return Err(Error::Busy);
        }
        self.maps
            .iter()
            .position(Option::is_none)
            .ok_or(Error::NoResources)
    }

    /// The address a mapping recorded at `i` starts at: a fixed slot of the
    /// shared-memory area, so a freed slot is reused (see
    /// `nexus_abi::layout::SHM_BASE`).
    pub fn slot_va(i: usize) -> u64 {
        nexus_abi::layout::SHM_BASE + i as u64 * nexus_abi::layout::SHM_SLOT_SPAN
    }

    /// Records `m` at `i` (from [`TaskMaps::free_for`]).
    pub fn set(&mut self, i: usize, m: Mapping) {
        if let Some(s) = self.maps.get_mut(i) {
            *s = Some(m);
        }
    }

    /// Whether the task maps `obj`.
    pub fn maps_obj(&self, obj: u16) -> bool {
        self.maps.iter().flatten().any(|m| m.obj == obj)
    }

    /// Removes and returns the mapping that starts at `va`
    /// (`InvalidArgument` if none does).
    pub fn take(&mut self, va: u64) -> Result<Mapping, Error> {
        let s = self
            .maps
            .iter_mut()
            .find(|m| matches!(m, Some(m) if m.va == va))
            .ok_or(Error::InvalidArgument)?;
        s.take().ok_or(Error::InvalidArgument)
    }

    /// The mappings.
    pub fn iter(&self) -> impl Iterator<Item = Mapping> + '_ {
        self.maps.iter().flatten().copied()
    }
}

/// Every object a task refers to (by capability or mapping), at most once
/// each: what a task's end must re-examine with [`held`].
pub fn referenced(caps: &CapTable, maps: &TaskMaps) -> ([u16; CAP_SLOTS + MEM_MAPS], usize) {
    let mut out = [0u16; CAP_SLOTS + MEM_MAPS];
    let mut n = 0;
    let from_caps = caps.iter().filter_map(|(_, c)| match c {
        Cap::Memory { obj, .. } => Some(obj),
        _ => None,
    });
    for obj in from_caps.chain(maps.iter().map(|m| m.obj)) {
        if !out[..n].contains(&obj) {
            out[n] = obj;
            n += 1;
        }
    }
    (out, n)
}

/// Whether anything still refers to `obj`: a capability in any table or a
/// mapping in any task. When not, the object's pages may be freed.
pub fn held<'a>(obj: u16, tasks: impl IntoIterator<Item = (&'a CapTable, &'a TaskMaps)>) -> bool {
    tasks
        .into_iter()
        .any(|(c, m)| c.holds_memory(obj) || m.maps_obj(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: u32 = rights::MAP | rights::WRITE | rights::GRANT;

    fn mem(obj: u16, rights: u32) -> Cap {
        Cap::Memory {
            obj,
            pages: 1,
            rights,
        }
    }

    #[test]
    fn page_counts_are_bounded() {
        assert_eq!(check_pages(0), Err(Error::InvalidArgument));
        assert_eq!(check_pages(1), Ok(1));
        assert_eq!(check_pages(MEM_MAX_PAGES), Ok(MEM_MAX_PAGES as u32));
        assert_eq!(check_pages(MEM_MAX_PAGES + 1), Err(Error::InvalidArgument));
        assert_eq!(check_pages(u64::MAX), Err(Error::InvalidArgument));
    }

    #[test]
    fn mapping_needs_the_rights_of_its_mode() {
        assert_eq!(map_access(RW, 0), Ok(false));
        assert_eq!(map_access(RW, MEM_MAP_WRITE), Ok(true));
        let ro = rights::MAP | rights::GRANT;
        assert_eq!(map_access(ro, 0), Ok(false));
        assert_eq!(map_access(ro, MEM_MAP_WRITE), Err(Error::NoRights));
        // WRITE without MAP maps nothing.
        assert_eq!(map_access(rights::WRITE, 0), Err(Error::NoRights));
        assert_eq!(map_access(rights::WRITE, 1), Err(Error::NoRights));
        assert_eq!(map_access(RW, 2), Err(Error::InvalidArgument));
        assert_eq!(map_access(RW, u64::MAX), Err(Error::InvalidArgument));
    }

    #[test]
    fn a_task_maps_an_object_once_and_a_few_at_most() {
        let mut m = TaskMaps::new();
        let at = |obj, va| Mapping { obj, va, pages: 1 };
        let i = m.free_for(1).unwrap();
        m.set(i, at(1, 0x3000_0000));
        assert_eq!(m.free_for(1), Err(Error::Busy));
        for obj in 2..=MEM_MAPS as u16 {
            let i = m.free_for(obj).unwrap();
            m.set(i, at(obj, 0x3000_0000 + obj as u64 * 0x1000));
        }
        assert_eq!(m.free_for(99), Err(Error::NoResources));
        // Unmapping names the start of a mapping, nothing else.
        assert_eq!(m.take(0x3000_0004), Err(Error::InvalidArgument));
        assert_eq!(m.take(0), Err(Error::InvalidArgument));
        assert_eq!(m.take(0x3000_0000), Ok(at(1, 0x3000_0000)));
        assert_eq!(m.take(0x3000_0000), Err(Error::InvalidArgument));
        assert!(!m.maps_obj(1));
        assert_eq!(m.free_for(1), Ok(0));
    }

    #[test]
    fn an_object_lives_while_any_cap_or_mapping_names_it() {
        let mut owner = CapTable::new();
        let mut peer = CapTable::new();
        let (mut owner_maps, mut peer_maps) = (TaskMaps::new(), TaskMaps::new());
        let oslot = owner.insert(mem(3, RW)).unwrap() as u64;
        owner_maps.set(
            0,
            Mapping {
                obj: 3,
                va: 0x3000_0000,
                pages: 1,
            },
        );
        // Transferred read-only to the peer, which maps it.
        let ro = mem(3, RW).derive(rights::MAP, 0).unwrap();
        let pslot = peer.insert(ro).unwrap() as u64;
        peer_maps.set(
            0,
            Mapping {
                obj: 3,
                va: 0x3000_0000,
                pages: 1,
            },
        );
        let alive =
            |o: &CapTable, om: &TaskMaps, p: &CapTable, pm: &TaskMaps| held(3, [(o, om), (p, pm)]);
        assert!(alive(&owner, &owner_maps, &peer, &peer_maps));
        // The owner ends: its table and mappings are gone; the peer's keep
        // the pages alive.
        let (refs, n) = referenced(&owner, &owner_maps);
        assert_eq!(&refs[..n], &[3]);
        owner = CapTable::new();
        owner_maps = TaskMaps::new();
        assert!(alive(&owner, &owner_maps, &peer, &peer_maps));
        // Dropping the capability is not enough while the peer maps it...
        peer.remove(pslot).unwrap();
        assert!(alive(&owner, &owner_maps, &peer, &peer_maps));
        // ...unmapping ends it.
        peer_maps.take(0x3000_0000).unwrap();
        assert!(!alive(&owner, &owner_maps, &peer, &peer_maps));
        let _ = oslot;
        // Other objects do not count.
        peer.insert(mem(4, RW)).unwrap();
        assert!(!held(3, [(&peer, &peer_maps)]));
        assert!(held(4, [(&peer, &peer_maps)]));
    }

    #[test]
    fn referenced_lists_each_object_once() {
        let mut caps = CapTable::new();
        let mut maps = TaskMaps::new();
        caps.insert(mem(7, RW)).unwrap();
        caps.insert(mem(7, rights::MAP)).unwrap();
        caps.insert(mem(2, RW)).unwrap();
        caps.insert(Cap::ConsoleInput { rights: 0 }).unwrap();
        maps.set(
            1,
            Mapping {
                obj: 7,
                va: 1,
                pages: 1,
            },
        );
        maps.set(
            2,
            Mapping {
                obj: 9,
                va: 2,
                pages: 1,
            },
        );
        let (refs, n) = referenced(&caps, &maps);
        assert_eq!(&refs[..n], &[7, 2, 9]);
        let (_, n) = referenced(&CapTable::new(), &TaskMaps::new());
        assert_eq!(n, 0);
    }

    #[test]
    fn object_table_is_bounded_and_indices_come_back() {
        let mut t = Objects::new();
        let o = Object {
            pa: 0x8100_0000,
            pages: 2,
            pool: 0,
            budget: NO_BUDGET,
        };
        for i in 0..MAX_MEM_OBJECTS {
            assert_eq!(t.insert(o), Ok(i as u16));
        }
        assert!(!t.has_room());
        assert_eq!(t.insert(o), Err(Error::NoResources));
        assert_eq!(t.remove(5), Some(o));
        assert_eq!(t.remove(5), None);
        assert_eq!(t.get(5), None);
        assert_eq!(t.remove(u16::MAX), None);
        assert_eq!(t.count(), MAX_MEM_OBJECTS - 1);
        assert_eq!(t.insert(o), Ok(5));
    }

    #[test]
    fn budget_page_counts_are_bounded() {
        assert_eq!(check_budget_pages(0), Err(Error::InvalidArgument));
        assert_eq!(check_budget_pages(1), Ok(1));
        assert_eq!(
            check_budget_pages(MEM_BUDGET_MAX_PAGES),
            Ok(MEM_BUDGET_MAX_PAGES as u32)
        );
        assert_eq!(
            check_budget_pages(MEM_BUDGET_MAX_PAGES + 1),
            Err(Error::InvalidArgument)
        );
        assert_eq!(check_budget_pages(u64::MAX), Err(Error::InvalidArgument));
    }

    #[test]
    fn a_budget_bounds_its_live_objects_so_it_cannot_fill_the_table() {
        let mut b = Budgets::new();
        let id = b.create(64, 0, |_| false).unwrap();
        for _ in 0..MAX_OBJECTS_PER_BUDGET {
            b.charge(id, 1).unwrap();
        }
        // Pages left, but no more objects: small objects cannot exhaust
        // the system-wide table.
        assert_eq!(b.check(id, 1), Err(Error::NoResources));
        assert_eq!(b.charge(id, 1), Err(Error::NoResources));
        assert_eq!(b.get(id).unwrap().used, MAX_OBJECTS_PER_BUDGET);
        b.refund(id, 1);
        b.charge(id, 1).unwrap();
        const _: () = assert!(8 * MAX_OBJECTS_PER_BUDGET as usize <= MAX_MEM_OBJECTS);
    }

    #[test]
    fn a_budget_bounds_live_pages_and_freed_objects_return_them() {
        let mut b = Budgets::new();
        let id = b.create(64, 0, |_| false).unwrap();
        // Objects up to the budget, then refused without a charge.
        b.charge(id, 40).unwrap();
        b.charge(id, 24).unwrap();
        assert_eq!(b.check(id, 1), Err(Error::NoMemory));
        assert_eq!(b.charge(id, 1), Err(Error::NoMemory));
        assert_eq!(b.charge(id, u32::MAX), Err(Error::NoMemory));
        assert_eq!(
            b.get(id),
            Some(Budget {
                limit: 64,
                used: 64,
                objects: 2,
                pool: 0
            })
        );
        // Freeing an object returns its pages: as much fits again.
        b.refund(id, 24);
        assert_eq!(b.check(id, 25), Err(Error::NoMemory));
        b.charge(id, 24).unwrap();
        b.refund(id, 24);
        b.refund(id, 40);
        assert_eq!(b.get(id).unwrap().used, 0);
        assert_eq!(b.get(id).unwrap().objects, 0);
        b.charge(id, 64).unwrap();
        // Unknown budgets: nothing to charge, refunds are ignored.
        assert_eq!(
            b.check(MAX_MEM_BUDGETS as u16, 1),
            Err(Error::WrongCapability)
        );
        assert_eq!(b.check(NO_BUDGET, 1), Err(Error::WrongCapability));
        b.refund(NO_BUDGET, 5);
        assert_eq!(b.get(id).unwrap().used, 64);
    }

    #[test]
    fn budget_entries_are_reused_only_when_nothing_names_them() {
        let mut b = Budgets::new();
        let a = b.create(8, 0, |_| false).unwrap();
        // Entry `a` is named by a capability: a new budget goes elsewhere.
        let c = b.create(4, 1, |i| i == a).unwrap();
        assert_ne!(a, c);
        assert_eq!(b.get(c).unwrap().pool, 1);
        // No capability names `a` any more, but an object is still charged
        // to it (the holder ended, a peer maps the object): still in use.
        b.charge(a, 2).unwrap();
        let d = b.create(4, 0, |i| i == c).unwrap();
        assert!(d != a && d != c);
        // The object is freed: `a` may be handed out again, fresh.
        b.refund(a, 2);
        let e = b.create(16, 0, |i| i == c || i == d).unwrap();
        assert_eq!(e, a);
        assert_eq!(
            b.get(e),
            Some(Budget {
                limit: 16,
                used: 0,
                objects: 0,
                pool: 0
            })
        );
        // The table is bounded.
        let mut full = Budgets::new();
        for i in 0..MAX_MEM_BUDGETS {
            // Without a charge or a capability the entry is free again.
            assert_eq!(full.create(1, 0, |_| false), Ok(i as u16));
            full.charge(i as u16, 1).unwrap();
        }
        assert_eq!(full.create(1, 0, |_| false), Err(Error::NoResources));
        full.refund(3, 1);
        assert_eq!(full.create(1, 0, |_| false), Ok(3));
    }

    #[test]
    fn an_object_on_a_budget_returns_its_pages_when_freed() {
        let mut objs = Objects::new();
        let mut budgets = Budgets::new();
        let mut holder = CapTable::new();
        let mut peer = CapTable::new();
        let id = budgets.create(64, 0, |_| false).unwrap();
        holder
            .insert(Cap::MemBudget {
                budget: id,
                pages: 64,
                rights: 0,
            })
            .unwrap();
        let obj = |pages| Object {
            pa: 0x8100_0000,
            pages,
            pool: 0,
            budget: id,
        };
        let a = insert_charged(&mut objs, &mut budgets, obj(48)).unwrap();
        // Beyond the budget: refused, nothing stored or charged.
        assert_eq!(
            insert_charged(&mut objs, &mut budgets, obj(17)),
            Err(Error::NoMemory)
        );
        assert_eq!(objs.count(), 1);
        assert_eq!(budgets.get(id).unwrap().used, 48);
        let b = insert_charged(&mut objs, &mut budgets, obj(16)).unwrap();
        assert_eq!(budgets.get(id).unwrap().used, 64);
        // The holder passes `a` to a peer and ends: its budget capability
        // is gone, but the peer's object keeps the entry in use.
        peer.insert(mem(a, RW)).unwrap();
        holder = CapTable::new();
        assert!(remove_refunded(&mut objs, &mut budgets, b).is_some());
        assert_eq!(budgets.get(id).unwrap().used, 48);
        let named = |i| holder.holds_budget(i) || peer.holds_budget(i);
        let other = budgets.create(8, 0, named).unwrap();
        assert_ne!(other, id);
        // The peer lets go: the pages come back, the entry is free again.
        let o = remove_refunded(&mut objs, &mut budgets, a).unwrap();
        assert_eq!((o.pages, o.budget), (48, id));
        assert_eq!(budgets.get(id).unwrap().used, 0);
        assert_eq!(remove_refunded(&mut objs, &mut budgets, a), None);
        assert_eq!(budgets.get(id).unwrap().used, 0);
        let named = |i| i == other;
        assert_eq!(budgets.create(8, 0, named), Ok(id));
        // Objects paid by a DMA capability alone touch no budget.
        let dma_only = Object {
            budget: NO_BUDGET,
            ..obj(64)
        };
        let c = insert_charged(&mut objs, &mut budgets, dma_only).unwrap();
        assert_eq!(budgets.get(id).unwrap().used, 0);
        assert!(remove_refunded(&mut objs, &mut budgets, c).is_some());
        // A full object table charges nothing.
        for _ in 0..MAX_MEM_OBJECTS {
            objs.insert(dma_only).unwrap();
        }
        assert_eq!(
            insert_charged(&mut objs, &mut budgets, obj(1)),
            Err(Error::NoResources)
        );
        assert_eq!(budgets.get(id).unwrap().used, 0);
    }
}

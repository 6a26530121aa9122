//! DMA budgets: kernel pools of pages that every copy of one DMA capability
//! draws on, and what each task took from them (returned when it ends).
//!
//! A budget belongs to the capability, not to a task: copying the
//! capability (to more slots or more tasks) never multiplies it.

/// Number of pools (pool 0 is init's; no syscall creates more yet).
pub const DMA_POOLS: usize = 4;

/// One pool.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    /// Pages the pool may hand out in total.
    pub limit: u32,
    /// Pages handed out and not yet returned.
    pub used: u32,
}

/// The kernel's pools.
#[derive(Clone, Debug, Default)]
pub struct Pools {
    pools: [Pool; DMA_POOLS],
}

/// Pages one task took from each pool.
pub type TaskShare = [u32; DMA_POOLS];

/// Why a charge was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// No such pool.
    BadPool,
    /// The pool has fewer pages left than asked.
    Exhausted,
}

impl Pools {
    /// No pools.
    pub const fn new() -> Self {
        Self {
            pools: [Pool { limit: 0, used: 0 }; DMA_POOLS],
        }
    }

    /// Sets up pool `id` with `limit` pages.
    pub fn create(&mut self, id: usize, limit: u32) -> Result<(), DmaError> {
        let p = self.pools.get_mut(id).ok_or(DmaError::BadPool)?;
        *p = Pool { limit, used: 0 };
        Ok(())
    }

    /// Pool `id`.
    pub fn get(&self, id: usize) -> Option<Pool> {
        self.pools.get(id).copied()
    }

    /// Whether `pages` more fit in pool `id` (nothing is charged).
    pub fn check(&self, id: usize, pages: u64) -> Result<(), DmaError> {
        let p = self.pools.get(id).ok_or(DmaError::BadPool)?;
        match (p.used as u64).checked_add(pages) {
            Some(total) if total <= p.limit as u64 => Ok(()),
            _ => Err(DmaError::Exhausted),
        }?;
        Ok(())
    }

    /// Charges `pages` of pool `id` to `share` (a task's record).
    pub fn charge(&mut self, id: usize, pages: u64, share: &mut TaskShare) -> Result<(), DmaError> {
        self.check(id, pages)?;
        // In range: `check` bounded used + pages by a u32 limit.
        self.pools[id].used += pages as u32;
        share[id] += pages as u32;
        Ok(())
    }

    /// Charges `pages` of pool `id` to an object that outlives any one task
    /// (a shared-memory object); [`Pools::refund`] returns them.
    pub fn charge_object(&mut self, id: usize, pages: u64) -> Result<(), DmaError> {
        self.check(id, pages)?;
        // In range: `check` bounded used + pages by a u32 limit.
        self.pools[id].used += pages as u32;
        Ok(())
    }

    /// Returns `pages` charged with [`Pools::charge_object`].
    pub fn refund(&mut self, id: usize, pages: u32) {
        if let Some(p) = self.pools.get_mut(id) {
            p.used = p.used.saturating_sub(pages);
        }
    }

    /// Returns everything a task took (it ended) and clears its record.
    pub fn release(&mut self, share: &mut TaskShare) {
        for (p, s) in self.pools.iter_mut().zip(share.iter_mut()) {
            p.used = p.used.saturating_sub(*s);
            *s = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_one_budget_and_pages_come_back() {
        let mut pools = Pools::new();
        pools.create(0, 10).unwrap();
        // Two tasks holding copies of the same capability (same pool).
        let (mut a, mut b) = ([0; DMA_POOLS], [0; DMA_POOLS]);
        pools.charge(0, 6, &mut a).unwrap();
        assert_eq!(pools.charge(0, 6, &mut b), Err(DmaError::Exhausted));
        pools.charge(0, 4, &mut b).unwrap();
        assert_eq!(pools.charge(0, 1, &mut a), Err(DmaError::Exhausted));
        // A ends: its pages return, B's stay charged.
        pools.release(&mut a);
        assert_eq!(a, [0; DMA_POOLS]);
        assert_eq!(pools.get(0), Some(Pool { limit: 10, used: 4 }));
        pools.charge(0, 6, &mut a).unwrap();
        assert_eq!(pools.charge(7, 1, &mut a), Err(DmaError::BadPool));
        assert_eq!(pools.charge(0, u64::MAX, &mut a), Err(DmaError::Exhausted));
    }

    #[test]
    fn objects_draw_on_the_pool_until_refunded() {
        let mut pools = Pools::new();
        pools.create(0, 10).unwrap();
        let mut a = [0; DMA_POOLS];
        pools.charge(0, 4, &mut a).unwrap();
        pools.charge_object(0, 6).unwrap();
        assert_eq!(pools.charge_object(0, 1), Err(DmaError::Exhausted));
        // The task's end returns only its own share, not the object's.
        pools.release(&mut a);
        assert_eq!(pools.get(0), Some(Pool { limit: 10, used: 6 }));
        pools.refund(0, 6);
        assert_eq!(pools.get(0), Some(Pool { limit: 10, used: 0 }));
        pools.refund(9, 1);
        assert_eq!(pools.charge_object(9, 1), Err(DmaError::BadPool));
    }
}

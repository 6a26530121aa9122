//! Endpoint state for synchronous IPC: waiting senders, the waiting receiver,
//! kernel notices, and the encodings of task ids and reply tokens.
//!
//! Endpoints hold no message bytes: a call either meets a waiting receiver
//! and is copied at once, or the caller blocks in the endpoint's sender queue
//! and is copied when a receiver arrives. The only buffered data are kernel
//! [`DeathNotice`]s, bounded per endpoint (the oldest is dropped and counted
//! when full).

use nexus_abi::DeathNotice;

/// A fixed-capacity FIFO of `Copy` items that supports removal from the middle.
#[derive(Clone, Debug)]
pub struct Ring<T: Copy, const N: usize> {
    items: [Option<T>; N],
    head: usize,
    len: usize,
}

impl<T: Copy + PartialEq, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + PartialEq, const N: usize> Ring<T, N> {
    /// An empty ring.
    pub const fn new() -> Self {
        Self {
            items: [None; N],
            head: 0,
            len: 0,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends; gives the item back when full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        if self.len == N {
            return Err(v);
        }
        self.items[(self.head + self.len) % N] = Some(v);
        self.len += 1;
        Ok(())
    }

    /// Removes the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let v = self.items[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        v
    }

    /// Removes the first item equal to `v`, keeping the order of the rest.
    pub fn remove(&mut self, v: T) -> bool {
        let Some(pos) = (0..self.len).find(|i| self.items[(self.head + i) % N] == Some(v)) else {
            return false;
        };
        for i in pos..self.len - 1 {
            self.items[(self.head + i) % N] = self.items[(self.head + i + 1) % N];
        }
        self.items[(self.head + self.len - 1) % N] = None;
        self.len -= 1;
        true
    }
}

/// Maximum tasks the kernel runs at once (task indices are `0..MAX_TASKS`).
/// Init, 33 services and headroom for restarts in flight.
pub const MAX_TASKS: usize = 48;
/// Maximum endpoints.
pub const MAX_ENDPOINTS: usize = 32;
/// Interrupt notices buffered per endpoint (= lines that may be bound to it).
pub const NOTICE_DEPTH: usize = 8;

/// One endpoint.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    /// Tasks blocked in `IpcCall` on this endpoint, oldest first.
    pub senders: Ring<u8, MAX_TASKS>,
    /// The task blocked in `IpcRecv` on this endpoint, if any.
    pub receiver: Option<u8>,
    /// Pending interrupt notices.
    pub notices: Ring<NoticeSlot, NOTICE_DEPTH>,
    /// Notices dropped because the queue was full (never, by the bound on
    /// bound lines; kept as a check).
    pub notices_lost: u32,
    /// Death records of tasks whose fault endpoint this is, not yet received.
    pub deaths: u16,
    /// The task that last received on this endpoint (its server).
    pub server: Option<u8>,
    /// The server died and no task has received since: calls fail at once
    /// with `PeerDead` instead of queueing for nobody.
    pub orphaned: bool,
    /// `Notify` posts not yet delivered (0 = none pending). However many
    /// arrive, they are one pending notice: coalesced, never queued.
    pub notify_posts: u64,
}

/// A [`DeathNotice`] in a ring (wrapper to give it `PartialEq` by value).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NoticeSlot(pub DeathNotice);

impl Endpoint {
    /// Queues a kernel notice, dropping (and counting) the oldest if full.
    pub fn push_notice(&mut self, n: DeathNotice) {
        if self.notices.push(NoticeSlot(n)).is_err() {
            self.notices.pop();
            self.notices_lost += 1;
            let _ = self.notices.push(NoticeSlot(n));
        }
    }
}

/// A task id as user space sees it: index in the low 8 bits, generation above.
/// A stale id (the slot was reused) never matches the new task.
pub fn task_id(index: usize, generation: u32) -> u64 {
    index as u64 | (generation as u64) << 8
}

/// Splits a task id into (index, generation); `None` when out of range.
pub fn split_task_id(id: u64) -> Option<(usize, u32)> {
    let index = (id & 0xff) as usize;
    let generation = u32::try_from(id >> 8).ok()?;
    (index < MAX_TASKS).then_some((index, generation))
}

/// A reply token names one particular call: (caller index, generation, call
/// sequence). Replying with a token whose call has already ended (timed out,
/// caller died) fails with `PeerDead` instead of reaching a later call.
pub fn reply_token(index: usize, generation: u32, seq: u32) -> u64 {
    (seq as u64) << 32 | task_id(index, generation & 0xff_ffff)
}

/// Splits a reply token into (index, generation, seq).
pub fn split_reply_token(t: u64) -> Option<(usize, u32, u32)> {
    let seq = (t >> 32) as u32;
    let (index, generation) = split_task_id(t & 0xffff_ffff)?;
    Some((index, generation, seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_abi::DeathKind;

    #[test]
    fn ring_fifo_order_full_and_middle_removal() {
        let mut r: Ring<u8, 4> = Ring::new();
        for i in 0..4 {
            r.push(i).unwrap();
        }
        assert_eq!(r.push(9), Err(9));
        assert_eq!(r.pop(), Some(0));
        r.push(4).unwrap(); // wraps
        assert!(r.remove(2));
        assert!(!r.remove(2));
        assert_eq!(
            core::iter::from_fn(|| r.pop()).collect::<Vec<_>>(),
            vec![1, 3, 4]
        );
        assert!(r.is_empty());
    }

    #[test]
    fn notices_are_bounded_and_losses_counted() {
        let mut ep = Endpoint::default();
        for t in 0..(NOTICE_DEPTH as u64 + 3) {
            ep.push_notice(DeathNotice {
                task: t,
                kind: DeathKind::Exited,
                code: 0,
                addr: 0,
                pc: 0,
            });
        }
        assert_eq!(ep.notices.len(), NOTICE_DEPTH);
        assert_eq!(ep.notices_lost, 3);
        assert_eq!(ep.notices.pop().unwrap().0.task, 3, "oldest were dropped");
    }

    #[test]
    fn ids_and_tokens_roundtrip_and_reject_garbage() {
        assert_eq!(split_task_id(task_id(5, 77)), Some((5, 77)));
        assert_eq!(split_task_id(0xff), None);
        let t = reply_token(3, 9, 0xdead);
        assert_eq!(split_reply_token(t), Some((3, 9, 0xdead)));
        assert_eq!(split_reply_token(MAX_TASKS as u64), None);
    }
}

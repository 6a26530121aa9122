//! Console input: the bytes the kernel drained from the UART, and the one
//! task allowed to read them (`ConsoleRead`).
//!
//! The kernel owns the UART. When a reader exists it enables the UART's
//! receive interrupt, drains the receive FIFO into [`InputRing`] (at most
//! [`INPUT_RING`] bytes; while the ring is full the bytes stay in the UART,
//! whose own FIFO then holds the sender back), and copies them to the reader
//! when it asks or is waiting. Reading needs a console-input capability with
//! the `RECV` right, and only one task may read: the first one that reads
//! owns the input until it ends.

use crate::caps::CapTable;
use nexus_abi::{rights, CapKind, Error};

/// Bytes of input the kernel buffers.
pub const INPUT_RING: usize = 256;

/// A fixed ring of input bytes.
#[derive(Clone, Debug)]
pub struct InputRing {
    buf: [u8; INPUT_RING],
    head: usize,
    len: usize,
}

impl Default for InputRing {
    fn default() -> Self {
        Self::new()
    }
}

impl InputRing {
    /// An empty ring.
    pub const fn new() -> Self {
        Self {
            buf: [0; INPUT_RING],
            head: 0,
            len: 0,
        }
    }

    /// Bytes buffered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no byte fits.
    pub fn is_full(&self) -> bool {
        self.len == INPUT_RING
    }

    /// Appends `b`; false (and nothing changes) when full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.is_full() {
            return false;
        }
        self.buf[(self.head + self.len) % INPUT_RING] = b;
        self.len += 1;
        true
    }

    /// Moves the oldest bytes into `out`; returns how many.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for o in out.iter_mut().take(n) {
            *o = self.buf[self.head];
            self.head = (self.head + 1) % INPUT_RING;
        }
        self.len -= n;
        n
    }
}

/// The console input and its single reader.
#[derive(Clone, Debug, Default)]
pub struct ConsoleInput {
    /// Bytes waiting for the reader.
    pub ring: InputRing,
    reader: Option<u8>,
}

impl ConsoleInput {
    /// No input, no reader.
    pub const fn new() -> Self {
        Self {
            ring: InputRing::new(),
            reader: None,
        }
    }

    /// Checks that task `task` may read through the capability in `slot` of
    /// `caps` (kind console input, right `RECV`) and makes it the reader.
    /// Another task is refused with `Busy` while the reader lives.
    pub fn claim(&mut self, caps: &CapTable, slot: u64, task: u8) -> Result<(), Error> {
        caps.get_checked(slot, CapKind::ConsoleInput, rights::RECV)?;
        match self.reader {
            Some(r) if r != task => Err(Error::Busy),
            _ => {
                self.reader = Some(task);
                Ok(())
            }
        }
    }

    /// The reader, if one has claimed the input.
    pub fn reader(&self) -> Option<u8> {
        self.reader
    }

    /// Task `task` ended: if it was the reader, the input is free again.
    pub fn release(&mut self, task: u8) {
        if self.reader == Some(task) {
            self.reader = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Cap;

    #[test]
    fn ring_keeps_order_wraps_and_refuses_when_full() {
        let mut r = InputRing::new();
        let mut out = [0u8; 8];
        for round in 0..3u8 {
            for i in 0..200u8 {
                assert!(r.push(i ^ round));
            }
            let mut got = 0;
            while !r.is_empty() {
                let n = r.pop_into(&mut out);
                for (k, b) in out[..n].iter().enumerate() {
                    assert_eq!(*b, (got + k) as u8 ^ round);
                }
                got += n;
            }
            assert_eq!(got, 200);
        }
        for i in 0..INPUT_RING {
            assert!(r.push(i as u8));
        }
        assert!(r.is_full());
        assert!(!r.push(1), "a full ring takes nothing more");
        assert_eq!(r.pop_into(&mut []), 0);
        assert_eq!(r.len(), INPUT_RING);
    }

    #[test]
    fn only_a_holder_of_the_right_reads_and_only_one_at_a_time() {
        let mut c = ConsoleInput::new();
        let mut none = CapTable::new();
        // No capability in the slot.
        assert_eq!(c.claim(&none, 1, 3), Err(Error::NoCapability));
        // An endpoint is not the console.
        none.insert_at(
            1,
            Cap::Endpoint {
                id: 0,
                rights: rights::ALL,
                badge: 0,
            },
        )
        .unwrap();
        assert_eq!(c.claim(&none, 1, 3), Err(Error::WrongCapability));
        // A console capability without RECV (e.g. only GRANT) cannot read.
        let full = Cap::ConsoleInput {
            rights: rights::RECV | rights::GRANT,
        };
        let mut grant_only = CapTable::new();
        grant_only
            .insert_at(1, full.derive(rights::GRANT, 0).unwrap())
            .unwrap();
        assert_eq!(c.claim(&grant_only, 1, 3), Err(Error::NoRights));
        assert_eq!(c.reader(), None);

        let mut shell = CapTable::new();
        shell
            .insert_at(1, full.derive(rights::RECV, 0).unwrap())
            .unwrap();
        assert_eq!(c.claim(&shell, 1, 4), Ok(()));
        assert_eq!(c.claim(&shell, 1, 4), Ok(()), "the reader reads again");
        // A second holder of the capability is refused while the reader lives.
        assert_eq!(c.claim(&shell, 1, 5), Err(Error::Busy));
        c.release(5);
        assert_eq!(c.reader(), Some(4), "a non-reader's end frees nothing");
        c.release(4);
        assert_eq!(c.claim(&shell, 1, 5), Ok(()));
    }
}

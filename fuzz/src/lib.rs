//! Helpers shared by the fuzz targets: splitting one fuzz input into several
//! messages, and the fixed identities the crypto targets use.
//!
//! Chunk format (used by every target that feeds more than one message):
//! `ctl: u8, len: u16 little-endian, len bytes`, repeated; the last chunk is
//! cut to whatever bytes are left. `ctl` is target-specific (which client
//! sends, how far the clock moves, ...). `fuzz/seedgen` writes seeds in the
//! same format.

/// One message of a split fuzz input.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// Target-specific control byte.
    pub ctl: u8,
    /// The message bytes.
    pub data: &'a [u8],
}

/// Iterator over the chunks of a fuzz input (see the module docs).
pub struct Chunks<'a> {
    rest: &'a [u8],
}

/// Splits `data` into chunks.
pub fn chunks(data: &[u8]) -> Chunks<'_> {
    Chunks { rest: data }
}

impl Chunks<'_> {
    /// True when no chunk is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        let (&ctl, rest) = self.rest.split_first()?;
        let (len, rest) = match rest {
            [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
            _ => (0, &[][..]),
        };
        let n = len.min(rest.len());
        let (data, rest) = rest.split_at(n);
        self.rest = rest;
        Some(Chunk { ctl, data })
    }
}

/// Static secret of the DSoftBus / Noise initiator ("node-a").
pub const INITIATOR_SECRET: [u8; 32] = [1; 32];
/// Static secret of the DSoftBus / Noise responder ("node-b").
pub const RESPONDER_SECRET: [u8; 32] = [2; 32];
/// Ephemeral secret of the initiator.
pub const INITIATOR_EPHEMERAL: [u8; 32] = [3; 32];
/// Ephemeral secret of the responder.
pub const RESPONDER_EPHEMERAL: [u8; 32] = [4; 32];
/// Prologue of the raw Noise targets (DSoftBus uses its own `PROLOGUE`).
pub const NOISE_PROLOGUE: &[u8] = b"neuron-fuzz";
/// Display name of the DSoftBus initiator (its device id is derived from its key).
pub const INITIATOR_ID: &str = "node-a";
/// Display name of the DSoftBus responder (its device id is derived from its key).
pub const RESPONDER_ID: &str = "node-b";

/// A cursor over a fuzz input that never fails: reads past the end give
/// zeros / empty slices.
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next `u16` little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (m, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        m
    }

    /// A message prefixed with its `u16` little-endian length.
    pub fn msg(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.bytes(len)
    }
}

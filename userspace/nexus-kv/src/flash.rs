//! An emulated NOR flash over a range of sectors, for `sequential-storage`.
//!
//! `sequential-storage` is written for NOR flash: erase sets a whole page to
//! `0xff`, a write can only clear bits (the stored byte becomes
//! `old & new`), and its power-loss design assumes an interrupted write
//! leaves each written word either old or new or somewhere on the way from
//! one to the other (which its CRCs detect). [`NorOverBlock`] gives it
//! exactly those rules on a sector device:
//!
//! * the whole region is mirrored in RAM (read once at open), so reads cost
//!   no I/O;
//! * a write or erase computes the new contents of each sector it touches
//!   and writes those sectors one by one, in ascending order, waiting for
//!   each; the RAM mirror is updated only after the device accepted the
//!   sector. A power cut therefore leaves a prefix of the sectors new and the
//!   rest old, each sector whole (the [`BlockDevice`] contract), which is a
//!   NOR write interrupted between words.
//!
//! Flash address 0 is the first byte of sector `first`.

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashErrorKind, ReadNorFlash,
};

use crate::block::{BlockDevice, IoError, SECTOR};

/// Erase unit of the emulated flash: 8 sectors.
pub const PAGE: usize = 4096;
/// Write unit of the emulated flash.
pub const WORD: usize = 4;

/// NOR flash rules over `pages` pages of a [`BlockDevice`], starting at
/// sector `first`, mirrored in RAM.
pub struct NorOverBlock<D> {
    dev: D,
    first: u64,
    ram: Vec<u8>,
}

impl<D: BlockDevice> NorOverBlock<D> {
    /// Reads the region into RAM. Fails if the device cannot be read or is
    /// smaller than the region.
    pub fn load(mut dev: D, first: u64, pages: usize) -> Result<Self, (D, IoError)> {
        let len = pages * PAGE;
        let sectors = (len / SECTOR) as u64;
        if first
            .checked_add(sectors)
            .is_none_or(|end| end > dev.sectors())
        {
            return Err((dev, IoError));
        }
        let mut ram = vec![0u8; len];
        let mut buf = [0u8; SECTOR];
        for (i, chunk) in ram.chunks_exact_mut(SECTOR).enumerate() {
            if let Err(e) = dev.read_sector(first + i as u64, &mut buf) {
                return Err((dev, e));
            }
            chunk.copy_from_slice(&buf);
        }
        Ok(NorOverBlock { dev, first, ram })
    }

    /// The device, back.
    pub fn into_inner(self) -> D {
        self.dev
    }

    /// The device.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The mirrored region (what the device holds).
    pub fn contents(&self) -> &[u8] {
        &self.ram
    }

    /// Writes sectors `s0..` of the region from `f(sector_index, buf)`,
    /// where `f` turns the sector's current contents into the new ones.
    fn rewrite(
        &mut self,
        from: usize,
        to: usize,
        mut f: impl FnMut(usize, &mut [u8; SECTOR]),
    ) -> Result<(), NorFlashErrorKind> {
        let s0 = from / SECTOR;
        let s1 = to.div_ceil(SECTOR);
        let mut buf = [0u8; SECTOR];
        for s in s0..s1 {
            let at = s * SECTOR;
            buf.copy_from_slice(&self.ram[at..at + SECTOR]);
            f(at, &mut buf);
            if buf[..] == self.ram[at..at + SECTOR] {
                continue;
            }
            self.dev
                .write_sector(self.first + s as u64, &buf)
                .map_err(|_| NorFlashErrorKind::Other)?;
            self.ram[at..at + SECTOR].copy_from_slice(&buf);
        }
        Ok(())
    }

    fn check(&self, offset: u32, len: usize, align: usize) -> Result<usize, NorFlashErrorKind> {
        let start = offset as usize;
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(NorFlashErrorKind::NotAligned);
        }
        match start.checked_add(len) {
            Some(end) if end <= self.ram.len() => Ok(start),
            _ => Err(NorFlashErrorKind::OutOfBounds),
        }
    }
}

impl<D> ErrorType for NorOverBlock<D> {
    type Error = NorFlashErrorKind;
}

impl<D: BlockDevice> ReadNorFlash for NorOverBlock<D> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let start = self.check(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(&self.ram[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.ram.len()
    }
}

impl<D: BlockDevice> NorFlash for NorOverBlock<D> {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = PAGE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if to < from {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        let start = self.check(from, (to - from) as usize, PAGE)?;
        self.rewrite(start, to as usize, |_, buf| buf.fill(0xff))
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let start = self.check(offset, bytes.len(), WORD)?;
        let end = start + bytes.len();
        self.rewrite(start, end, |at, buf| {
            // The part of `bytes` that falls in this sector; NOR: old & new.
            let lo = start.max(at);
            let hi = end.min(at + SECTOR);
            for (b, n) in buf[lo - at..hi - at]
                .iter_mut()
                .zip(&bytes[lo - start..hi - start])
            {
                *b &= *n;
            }
        })
    }
}

/// Writing an already written word again only clears more bits, as on NOR.
impl<D: BlockDevice> MultiwriteNorFlash for NorOverBlock<D> {}

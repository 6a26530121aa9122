//! An in-memory disk that can lose power at any sector write.

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

use crate::block::{BlockDevice, IoError, SECTOR};

/// How the write that meets the power cut ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The sector keeps its old contents (the write never reached it).
    Clean,
    /// The first `n` bytes of the sector are new, the rest old (a torn
    /// sector, beyond the device contract; used to probe robustness).
    Torn(usize),
}

/// A RAM disk of [`SECTOR`]-byte sectors. After `cut_at(n, ..)`, the
/// `n`-th following sector write (0-based) meets the power cut: it ends as
/// [`Cut`] says, and the device then fails every read and write until
/// [`FakeDisk::reboot`].
#[derive(Clone, Debug)]
pub struct FakeDisk {
    data: Vec<u8>,
    writes: u64,
    cut: Option<(u64, Cut)>,
    dead: bool,
}

impl FakeDisk {
    /// A zero-filled disk of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        Self::from_image(vec![0; sectors * SECTOR])
    }

    /// A disk holding `image` (a trailing partial sector is dropped, as a
    /// virtio-blk device would not expose it).
    pub fn from_image(mut image: Vec<u8>) -> Self {
        image.truncate(image.len() / SECTOR * SECTOR);
        FakeDisk {
            data: image,
            writes: 0,
            cut: None,
            dead: false,
        }
    }

    /// The disk's bytes.
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// The disk's bytes, mutable (to damage it).
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Sector writes that completed since creation or the last reboot.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Arms a power cut at the `n`-th sector write from now.
    pub fn cut_at(&mut self, n: u64, how: Cut) {
        self.cut = Some((self.writes + n, how));
    }

    /// Whether the power was cut.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Power back on: the contents stay, the cut is disarmed.
    pub fn reboot(&mut self) {
        self.dead = false;
        self.cut = None;
        self.writes = 0;
    }
}

impl BlockDevice for FakeDisk {
    fn sectors(&self) -> u64 {
        (self.data.len() / SECTOR) as u64
    }

    fn read_sector(&mut self, index: u64, buf: &mut [u8; SECTOR]) -> Result<(), IoError> {
        if self.dead || index >= self.sectors() {
            return Err(IoError);
        }
        let at = index as usize * SECTOR;
        buf.copy_from_slice(&self.data[at..at + SECTOR]);
        Ok(())
    }

    fn write_sector(&mut self, index: u64, buf: &[u8; SECTOR]) -> Result<(), IoError> {
        if self.dead || index >= self.sectors() {
            return Err(IoError);
        }
        let at = index as usize * SECTOR;
        if let Some((n, how)) = self.cut {
            if n == self.writes {
                if let Cut::Torn(k) = how {
                    let k = k.min(SECTOR);
                    self.data[at..at + k].copy_from_slice(&buf[..k]);
                }
                self.dead = true;
                return Err(IoError);
            }
        }
        self.data[at..at + SECTOR].copy_from_slice(buf);
        self.writes += 1;
        Ok(())
    }
}

//! The sector device the store runs on.

/// Bytes per sector (virtio-blk's unit).
pub const SECTOR: usize = 512;

/// A device failure (an I/O error reported by the device, or a request
/// outside its capacity).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IoError;

/// A synchronous device of [`SECTOR`]-byte sectors.
///
/// Contract the store relies on: when `write_sector` returns `Ok`, a later
/// `read_sector` (also after a reboot) returns exactly those bytes; a write
/// cut by power loss leaves its sector either wholly old or wholly new.
/// Writes reach the device in the order they are issued.
pub trait BlockDevice {
    /// Number of sectors.
    fn sectors(&self) -> u64;
    /// Reads sector `index` into `buf`.
    fn read_sector(&mut self, index: u64, buf: &mut [u8; SECTOR]) -> Result<(), IoError>;
    /// Writes `buf` to sector `index`; returns once the device reports it done.
    fn write_sector(&mut self, index: u64, buf: &[u8; SECTOR]) -> Result<(), IoError>;
    /// Makes every completed write durable (a device with a volatile cache
    /// writes it back). The store calls it before acknowledging a change.
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

//! What the storage selftest writes and how it checks what it reads back
//! (pure, host-tested).
//!
//! The writer commits numbered values `i = 0, 1, 2, …`: first `v<i % RING>`
//! = [`value`]`(i)`, then `last` = `i` (8 bytes LE), and prints
//! `selftest-storage: committed <i>` after both puts returned. After a
//! reboot it reads `last = L` and checks that the `RING - 1` values before
//! and including `L` are exactly there; the slot of `L + 1` may hold
//! `L + 1` (its put landed before the cut) or the value it replaced.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Ring of value keys: the newest `RING` values are kept.
pub const RING: u64 = 128;
/// Longest value written.
pub const VALUE_MAX: usize = 8 + 199;

/// Writes the key of value `i` into `out`; returns its length.
pub fn key(i: u64, out: &mut [u8; 8]) -> usize {
    let slot = i % RING;
    out[0] = b'v';
    let mut n = 1;
    let digits = [slot / 100, slot / 10 % 10, slot % 10];
    for d in digits {
        out[n] = b'0' + d as u8;
        n += 1;
    }
    n
}

/// Writes value `i` into `out` (`8 + i * 7 % 200` bytes: `i` LE, then a
/// pattern that depends on `i`); returns its length.
pub fn value(i: u64, out: &mut [u8; VALUE_MAX]) -> usize {
    let n = 8 + (i.wrapping_mul(7) % 200) as usize;
    out[..8].copy_from_slice(&i.to_le_bytes());
    for (j, b) in out[8..n].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(j as u8);
    }
    n
}

/// The values a reader must find after `last = L`: `(first, L)` inclusive.
pub fn must_hold(last: u64) -> (u64, u64) {
    ((last + 2).saturating_sub(RING), last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cycle_over_the_ring_and_values_differ() {
        let mut k = [0; 8];
        let n = key(5, &mut k);
        assert_eq!(&k[..n], b"v005");
        let n = key(RING + 127, &mut k);
        assert_eq!(&k[..n], b"v127");
        let (mut a, mut b) = ([0; VALUE_MAX], [0; VALUE_MAX]);
        let na = value(3, &mut a);
        let nb = value(3 + RING, &mut b);
        assert_ne!(a[..na], b[..nb]);
        assert!((8..=VALUE_MAX).contains(&na));
    }

    #[test]
    fn the_slot_after_last_is_not_required() {
        let (first, last) = must_hold(1000);
        assert_eq!(last - first + 1, RING - 1);
        assert_ne!(first % RING, (last + 1) % RING);
        assert_eq!(must_hold(3), (0, 3));
    }
}

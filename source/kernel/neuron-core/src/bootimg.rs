//! The boot image: a small archive of named service ELFs the kernel boots with.
//!
//! Layout (little-endian, see `docs/boot-image.md`):
//! ```text
//! 0   magic "NXBI"   4   version u16 (=1)   6   count u16
//! 8   total length u32                      12  reserved u32 (0)
//! 16  count × entry { name [u8; 24] NUL-padded, offset u32, len u32 }
//! ..  blobs, each starting 8-byte aligned
//! ```
//! [`BootImage::parse`] is total: any inconsistency is an error, never a panic.

use nexus_abi::NAME_MAX;

/// Magic bytes at offset 0.
pub const MAGIC: [u8; 4] = *b"NXBI";
/// Format version.
pub const VERSION: u16 = 1;
/// Header size.
pub const HEADER: usize = 16;
/// Entry size.
pub const ENTRY: usize = NAME_MAX + 8;
/// Maximum entries.
pub const MAX_ENTRIES: usize = 32;

/// Why a boot image was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Shorter than its header or entry table, or the total length lies.
    Truncated,
    /// Not "NXBI".
    BadMagic,
    /// Unknown version.
    BadVersion,
    /// Too many entries.
    TooManyEntries,
    /// An entry's range leaves the image or is misaligned.
    BadRange,
    /// An entry's name is empty, too long or not UTF-8.
    BadName,
    /// Two entries share a name.
    DuplicateName,
}

/// A parsed, validated boot image borrowing the raw bytes.
#[derive(Copy, Clone, Debug)]
pub struct BootImage<'a> {
    bytes: &'a [u8],
    count: usize,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

impl<'a> BootImage<'a> {
    /// Validates the whole image up front.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ImageError> {
        if bytes.len() < HEADER {
            return Err(ImageError::Truncated);
        }
        if bytes[0..4] != MAGIC {
            return Err(ImageError::BadMagic);
        }
        if u16_at(bytes, 4) != VERSION {
            return Err(ImageError::BadVersion);
        }
        let count = u16_at(bytes, 6) as usize;
        if count > MAX_ENTRIES {
            return Err(ImageError::TooManyEntries);
        }
        let total = u32_at(bytes, 8) as usize;
        if total != bytes.len() || HEADER + count * ENTRY > total {
            return Err(ImageError::Truncated);
        }
        let img = Self { bytes, count };
        for i in 0..count {
            let (name, data) = img.entry_raw(i)?;
            for j in 0..i {
                if img.entry_raw(j)?.0 == name {
                    return Err(ImageError::DuplicateName);
                }
            }
            let _ = data;
        }
        Ok(img)
    }

    fn entry_raw(&self, i: usize) -> Result<(&'a str, &'a [u8]), ImageError> {
        let e = &self.bytes[HEADER + i * ENTRY..HEADER + (i + 1) * ENTRY];
        let name_len = e[..NAME_MAX]
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(NAME_MAX);
        if name_len == 0 || e[name_len..NAME_MAX].iter().any(|&c| c != 0) {
            return Err(ImageError::BadName);
        }
        let name = core::str::from_utf8(&e[..name_len]).map_err(|_| ImageError::BadName)?;
        let off = u32_at(e, NAME_MAX) as usize;
        let len = u32_at(e, NAME_MAX + 4) as usize;
        let end = off.checked_add(len).ok_or(ImageError::BadRange)?;
        if !off.is_multiple_of(8) || off < HEADER + self.count * ENTRY || end > self.bytes.len() {
            return Err(ImageError::BadRange);
        }
        Ok((name, &self.bytes[off..end]))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the image has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Entry `i` as (name, bytes).
    pub fn entry(&self, i: usize) -> Option<(&'a str, &'a [u8])> {
        (i < self.count).then(|| self.entry_raw(i).ok()).flatten()
    }

    /// The bytes of the entry called `name`.
    pub fn find(&self, name: &[u8]) -> Option<&'a [u8]> {
        (0..self.count)
            .filter_map(|i| self.entry(i))
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, d)| d)
    }
}

/// Builds an image from (name, bytes) pairs (host tools and tests).
#[cfg(any(test, feature = "builder"))]
pub fn build(entries: &[(&str, &[u8])]) -> Result<alloc::vec::Vec<u8>, ImageError> {
    use alloc::vec::Vec;
    if entries.len() > MAX_ENTRIES {
        return Err(ImageError::TooManyEntries);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    let mut off = HEADER + entries.len() * ENTRY;
    let mut table = Vec::new();
    for (name, data) in entries {
        if name.is_empty() || name.len() > NAME_MAX {
            return Err(ImageError::BadName);
        }
        off = off.div_ceil(8) * 8;
        let mut n = [0u8; NAME_MAX];
        n[..name.len()].copy_from_slice(name.as_bytes());
        table.extend_from_slice(&n);
        table.extend_from_slice(&(off as u32).to_le_bytes());
        table.extend_from_slice(&(data.len() as u32).to_le_bytes());
        off += data.len();
    }
    out.extend_from_slice(&table);
    for (_, data) in entries {
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
    }
    let total = out.len() as u32;
    out[8..12].copy_from_slice(&total.to_le_bytes());
    BootImage::parse(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_parse_find_roundtrip() {
        let img = build(&[
            ("nexus-init", b"ELF-A"),
            ("selftest-client", b"second blob"),
        ])
        .unwrap();
        let p = BootImage::parse(&img).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.find(b"nexus-init"), Some(&b"ELF-A"[..]));
        assert_eq!(p.find(b"selftest-client"), Some(&b"second blob"[..]));
        assert_eq!(p.find(b"nexus"), None);
        assert_eq!(p.entry(2), None);
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error() {
        let img = build(&[("a", b"12345678"), ("b", b"xyz")]).unwrap();
        for cut in 0..img.len() {
            assert!(
                BootImage::parse(&img[..cut]).is_err(),
                "truncated at {cut} accepted"
            );
        }
        let mut bad = img.clone();
        bad[0] = b'X';
        assert_eq!(BootImage::parse(&bad).unwrap_err(), ImageError::BadMagic);
        let mut bad = img.clone();
        bad[4] = 2;
        assert_eq!(BootImage::parse(&bad).unwrap_err(), ImageError::BadVersion);
        let mut bad = img.clone();
        bad[6] = 200;
        assert_eq!(
            BootImage::parse(&bad).unwrap_err(),
            ImageError::TooManyEntries
        );
        // Entry length pointing past the end.
        let mut bad = img.clone();
        bad[HEADER + NAME_MAX + 4..HEADER + NAME_MAX + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(BootImage::parse(&bad).unwrap_err(), ImageError::BadRange);
        // Offset into the entry table.
        let mut bad = img.clone();
        bad[HEADER + NAME_MAX..HEADER + NAME_MAX + 4].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(BootImage::parse(&bad).unwrap_err(), ImageError::BadRange);
        // Invalid UTF-8 name.
        let mut bad = img.clone();
        bad[HEADER] = 0xff;
        assert_eq!(BootImage::parse(&bad).unwrap_err(), ImageError::BadName);
    }

    #[test]
    fn duplicates_and_bad_names_refused() {
        assert_eq!(
            build(&[("a", b"1"), ("a", b"2")]).unwrap_err(),
            ImageError::DuplicateName
        );
        assert_eq!(build(&[("", b"1")]).unwrap_err(), ImageError::BadName);
        assert_eq!(
            build(&[(&"x".repeat(NAME_MAX + 1), b"1")]).unwrap_err(),
            ImageError::BadName
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..200 {
            let mut buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if len >= 16 {
                buf[..4].copy_from_slice(&MAGIC);
                buf[4..6].copy_from_slice(&VERSION.to_le_bytes());
                buf[8..12].copy_from_slice(&(len as u32).to_le_bytes());
            }
            let _ = BootImage::parse(&buf);
        }
    }
}

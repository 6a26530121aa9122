//! Validation of service ELF files into a load plan the kernel can execute.
//!
//! [`plan`] accepts only static RISC-V 64 executables whose loadable segments
//! lie inside the user image window, do not share pages, and are never both
//! writable and executable. The kernel then allocates, copies and maps.

use elf::abi::{EM_RISCV, ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD};
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::ElfBytes;
use nexus_abi::layout::{IMAGE_BASE, IMAGE_END, PAGE};

/// Maximum loadable segments.
pub const MAX_SEGMENTS: usize = 8;

/// One loadable segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual start.
    pub vaddr: u64,
    /// Bytes in memory (the tail past `filesz` is zero).
    pub memsz: u64,
    /// File offset of the initialised bytes.
    pub offset: u64,
    /// Initialised bytes.
    pub filesz: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Segment {
    /// First and one-past-last page addresses covered.
    pub fn pages(&self) -> (u64, u64) {
        (
            self.vaddr / PAGE * PAGE,
            (self.vaddr + self.memsz).div_ceil(PAGE) * PAGE,
        )
    }
}

/// A validated load plan.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Entry point.
    pub entry: u64,
    /// Segments, `count` of them valid.
    pub segments: [Option<Segment>; MAX_SEGMENTS],
}

impl Plan {
    /// The valid segments.
    pub fn iter(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().flatten()
    }
}

/// Why an ELF was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a parseable ELF.
    Malformed,
    /// Not a 64-bit little-endian RISC-V static executable.
    WrongKind,
    /// A segment's file range leaves the file, or filesz > memsz.
    BadSegment,
    /// A segment lies outside the user image window.
    OutOfWindow,
    /// A segment is writable and executable.
    WriteExec,
    /// Two segments share a page, or there are too many.
    Layout,
    /// The entry point is not in an executable segment.
    BadEntry,
}

/// Validates `bytes` and returns its load plan.
pub fn plan(bytes: &[u8]) -> Result<Plan, ElfError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(|_| ElfError::Malformed)?;
    let h = &file.ehdr;
    if h.class != Class::ELF64 || h.e_machine != EM_RISCV || h.e_type != ET_EXEC {
        return Err(ElfError::WrongKind);
    }
    let phdrs = file.segments().ok_or(ElfError::Malformed)?;
    let mut out = Plan {
        entry: h.e_entry,
        segments: [None; MAX_SEGMENTS],
    };
    let mut n = 0;
    for ph in phdrs.iter() {
        if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
            continue;
        }
        let file_end = ph
            .p_offset
            .checked_add(ph.p_filesz)
            .ok_or(ElfError::BadSegment)?;
        if ph.p_filesz > ph.p_memsz || file_end > bytes.len() as u64 {
            return Err(ElfError::BadSegment);
        }
        let end = ph
            .p_vaddr
            .checked_add(ph.p_memsz)
            .ok_or(ElfError::OutOfWindow)?;
        if ph.p_vaddr < IMAGE_BASE || end > IMAGE_END {
            return Err(ElfError::OutOfWindow);
        }
        let seg = Segment {
            vaddr: ph.p_vaddr,
            memsz: ph.p_memsz,
            offset: ph.p_offset,
            filesz: ph.p_filesz,
            read: ph.p_flags & PF_R != 0,
            write: ph.p_flags & PF_W != 0,
            exec: ph.p_flags & PF_X != 0,
        };
        if seg.write && seg.exec {
            return Err(ElfError::WriteExec);
        }
        let (a0, a1) = seg.pages();
        if out.iter().any(|o| {
            let (b0, b1) = o.pages();
            a0 < b1 && b0 < a1
        }) {
            return Err(ElfError::Layout);
        }
        if n == MAX_SEGMENTS {
            return Err(ElfError::Layout);
        }
        out.segments[n] = Some(seg);
        n += 1;
    }
    if !out
        .iter()
        .any(|s| s.exec && out.entry >= s.vaddr && out.entry < s.vaddr + s.memsz)
    {
        return Err(ElfError::BadEntry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal ELF64 RISC-V executable with the given segments
    /// (vaddr, filesz, memsz, flags); file data is a byte pattern.
    fn make_elf(entry: u64, segs: &[(u64, u64, u64, u32)], machine: u16) -> Vec<u8> {
        let phoff = 64u64;
        let data_off = phoff + 56 * segs.len() as u64;
        let mut b = vec![0u8; 64];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // ELFCLASS64
        b[5] = 1; // little endian
        b[6] = 1; // EV_CURRENT
        b[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&entry.to_le_bytes());
        b[32..40].copy_from_slice(&phoff.to_le_bytes());
        b[52..54].copy_from_slice(&64u16.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        b[58..60].copy_from_slice(&64u16.to_le_bytes());
        let mut off = data_off;
        for &(vaddr, filesz, memsz, flags) in segs {
            let mut p = vec![0u8; 56];
            p[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
            p[4..8].copy_from_slice(&flags.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&vaddr.to_le_bytes());
            p[24..32].copy_from_slice(&vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&filesz.to_le_bytes());
            p[40..48].copy_from_slice(&memsz.to_le_bytes());
            p[48..56].copy_from_slice(&PAGE.to_le_bytes());
            b.extend_from_slice(&p);
            off += filesz;
        }
        for &(_, filesz, _, _) in segs {
            b.extend((0..filesz).map(|i| i as u8));
        }
        b
    }

    const B: u64 = IMAGE_BASE;

    #[test]
    fn valid_executable_plans() {
        let elf = make_elf(
            B,
            &[
                (B, 100, 100, PF_R | PF_X),
                (B + PAGE, 10, 3 * PAGE, PF_R | PF_W),
            ],
            EM_RISCV,
        );
        let p = plan(&elf).unwrap();
        assert_eq!(p.entry, B);
        let segs: Vec<_> = p.iter().copied().collect();
        assert_eq!(segs.len(), 2);
        assert!(segs[0].exec && !segs[0].write);
        assert_eq!(segs[1].pages(), (B + PAGE, B + 4 * PAGE));
    }

    #[test]
    fn refusals() {
        let rx = PF_R | PF_X;
        assert_eq!(plan(b"not an elf"), Err(ElfError::Malformed));
        assert_eq!(
            plan(&make_elf(B, &[(B, 8, 8, rx)], 62)),
            Err(ElfError::WrongKind)
        );
        assert_eq!(
            plan(&make_elf(B, &[(0x1000, 8, 8, rx)], EM_RISCV)),
            Err(ElfError::OutOfWindow)
        );
        assert_eq!(
            plan(&make_elf(B, &[(IMAGE_END - 4, 8, 8, rx)], EM_RISCV)),
            Err(ElfError::OutOfWindow)
        );
        assert_eq!(
            plan(&make_elf(B, &[(B, 8, 8, rx | PF_W)], EM_RISCV)),
            Err(ElfError::WriteExec)
        );
        assert_eq!(
            plan(&make_elf(B, &[(B, 16, 8, rx)], EM_RISCV)),
            Err(ElfError::BadSegment)
        );
        assert_eq!(
            plan(&make_elf(
                B,
                &[(B, 8, 8, rx), (B + 100, 8, 8, PF_R)],
                EM_RISCV
            )),
            Err(ElfError::Layout)
        );
        assert_eq!(
            plan(&make_elf(B + PAGE, &[(B, 8, 8, rx)], EM_RISCV)),
            Err(ElfError::BadEntry)
        );
        assert_eq!(
            plan(&make_elf(
                B + PAGE,
                &[(B, 8, 8, rx), (B + PAGE, 8, 8, PF_R | PF_W)],
                EM_RISCV
            )),
            Err(ElfError::BadEntry)
        );
        // File range past the end: truncate a valid file.
        let elf = make_elf(B, &[(B, 64, 64, rx)], EM_RISCV);
        assert!(plan(&elf[..elf.len() - 1]).is_err());
    }

    #[test]
    fn truncations_never_panic() {
        let elf = make_elf(
            B,
            &[(B, 40, 40, PF_R | PF_X), (B + PAGE, 8, 64, PF_R | PF_W)],
            EM_RISCV,
        );
        for cut in 0..elf.len() {
            assert!(plan(&elf[..cut]).is_err());
        }
    }
}

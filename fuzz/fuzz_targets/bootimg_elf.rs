//! Kernel boot image (neuron-core `bootimg`) and ELF load plans (`elfload`).
//!
//! The input is parsed as a boot image; every entry of an accepted image is
//! then planned as a service ELF. The input is also planned as an ELF
//! directly. The seed corpus holds a real image built with the `builder`
//! (by `fuzz/seedgen`) around small valid RISC-V executables, and those
//! executables on their own.
//!
//! Invariants: never panics; an accepted image has at most `MAX_ENTRIES`
//! entries with unique, non-empty names, 8-aligned blobs inside the image
//! and past the entry table, and `find` returns each entry's bytes; an
//! accepted plan has non-overlapping, never writable-and-executable
//! segments inside the user image window whose file ranges lie inside the
//! file, and an entry point inside an executable segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuron_core::bootimg::{BootImage, ENTRY, HEADER, MAX_ENTRIES};
use neuron_core::elfload::{plan, MAX_SEGMENTS};

const IMAGE_BASE: u64 = 0x1_0000_0000;
const IMAGE_END: u64 = 0x2_0000_0000;

fn check_plan(bytes: &[u8]) {
    let Ok(p) = plan(bytes) else { return };
    let segs: Vec<_> = p.iter().copied().collect();
    assert!(!segs.is_empty() && segs.len() <= MAX_SEGMENTS);
    for (i, s) in segs.iter().enumerate() {
        assert!(s.memsz > 0 && s.filesz <= s.memsz);
        assert!(s
            .offset
            .checked_add(s.filesz)
            .is_some_and(|e| e <= bytes.len() as u64));
        assert!(s.vaddr >= IMAGE_BASE && s.vaddr + s.memsz <= IMAGE_END);
        assert!(!(s.write && s.exec));
        let (a0, a1) = s.pages();
        assert!(a0 < a1 && a1 <= IMAGE_END);
        for t in &segs[..i] {
            let (b0, b1) = t.pages();
            assert!(a1 <= b0 || b1 <= a0, "segments share a page");
        }
    }
    assert!(segs
        .iter()
        .any(|s| s.exec && p.entry >= s.vaddr && p.entry < s.vaddr + s.memsz));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = BootImage::parse(data) {
        assert!(img.len() <= MAX_ENTRIES);
        assert_eq!(img.is_empty(), img.entry(0).is_none());
        let table_end = HEADER + img.len() * ENTRY;
        for i in 0..img.len() {
            let (name, blob) = img
                .entry(i)
                .expect("every entry of an accepted image reads");
            assert!(!name.is_empty());
            let off = blob.as_ptr() as usize - data.as_ptr() as usize;
            assert!(off.is_multiple_of(8) && off >= table_end && off + blob.len() <= data.len());
            let found = img.find(name.as_bytes()).expect("find() sees every entry");
            assert_eq!(found.as_ptr(), blob.as_ptr());
            for j in 0..i {
                assert_ne!(img.entry(j).unwrap().0, name, "duplicate names");
            }
            check_plan(blob);
        }
        assert!(img.entry(img.len()).is_none());
    }
    check_plan(data);
});

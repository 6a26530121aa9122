//! Bad disk images: garbage, damaged maps, truncated and tiny disks. Open
//! reports and reformats (or refuses) and never panics; operations on a
//! damaged store answer errors, never panic.

mod common;

use common::*;
use nexus_kv::fake::FakeDisk;
use nexus_kv::store::{Superblock, MIN_SECTORS};
use nexus_kv::{BadImage, FormatReason, Namespace, OpenError, Opened, Store, SECTOR};

const SECTORS: usize = 128;

fn filled() -> (FakeDisk, Model) {
    let (mut s, _) = open(FakeDisk::new(SECTORS));
    let mut m = Model::new();
    for op in workload(3, 300) {
        apply(&mut s, &mut m, &op).unwrap();
    }
    (s.into_device(), m)
}

/// Any operation on the store answers, whatever the disk holds.
fn exercise(s: &mut Store<FakeDisk>, r: &mut Rng) {
    let mut out = vec![0; nexus_kv::MAX_VALUE];
    for _ in 0..30 {
        let ns = Namespace(1 + r.below(2));
        let key = format!("key-{}", r.below(12)).into_bytes();
        let _ = match r.below(4) {
            0 => s.get(ns, &key, &mut out).map(|_| ()),
            1 => {
                let n = r.below(200) as usize;
                s.put(ns, &key, &r.bytes(n))
            }
            2 => s.delete(ns, &key),
            _ => s.list(ns, b"", 8).map(|_| ()),
        };
    }
}

#[test]
fn random_images_are_reported_and_reformatted() {
    let mut r = Rng(11);
    for size in [MIN_SECTORS as usize, 40, 128, 300] {
        for _ in 0..20 {
            let d = FakeDisk::from_image(r.bytes(size * SECTOR));
            let (mut s, opened) = open(d);
            assert!(
                matches!(
                    opened,
                    Opened::Formatted {
                        reason: FormatReason::Garbage,
                        ..
                    }
                ),
                "{opened:?}"
            );
            s.put(Namespace(1), b"k", b"v").unwrap();
            let (mut s, opened) = open(s.into_device());
            assert!(matches!(opened, Opened::Existing { items: 1, .. }));
            assert_eq!(get(&mut s, 1, b"k"), Some(b"v".to_vec()));
        }
    }
}

#[test]
fn garbage_is_refused_when_asked() {
    let d = FakeDisk::from_image(vec![0x5a; 64 * SECTOR]);
    match Store::open(d, BadImage::Refuse) {
        Err((d, OpenError::Refused(FormatReason::Garbage))) => {
            assert!(
                d.image().iter().all(|&b| b == 0x5a),
                "refused means untouched"
            )
        }
        other => panic!("{:?}", other.map(|(_, o)| o).map_err(|(_, e)| e)),
    }
    // A blank disk is formatted even under Refuse.
    let (_, opened) = Store::open(FakeDisk::new(64), BadImage::Refuse)
        .ok()
        .unwrap();
    assert!(matches!(
        opened,
        Opened::Formatted {
            reason: FormatReason::Blank,
            ..
        }
    ));
}

#[test]
fn valid_superblock_over_a_random_map_never_panics() {
    let mut r = Rng(12);
    for _ in 0..200 {
        let mut img = r.bytes(SECTORS * SECTOR);
        img[..SECTOR].copy_from_slice(&Superblock { pages: 15 }.encode());
        let (mut s, opened) = open(FakeDisk::from_image(img));
        assert!(
            matches!(
                opened,
                Opened::Existing { .. }
                    | Opened::Formatted {
                        reason: FormatReason::Corrupt,
                        ..
                    }
            ),
            "{opened:?}"
        );
        exercise(&mut s, &mut r);
    }
}

#[test]
fn bit_flips_in_a_live_store_never_panic() {
    let (d, _) = filled();
    let mut r = Rng(13);
    for _ in 0..300 {
        let mut d = d.clone();
        for _ in 0..1 + r.below(8) {
            let at = SECTOR * 8 + r.below((d.image().len() - SECTOR * 8) as u64) as usize;
            d.image_mut()[at] ^= 1 << r.below(8);
        }
        let (mut s, _) = open(d);
        exercise(&mut s, &mut r);
    }
}

#[test]
fn a_damaged_superblock_is_garbage() {
    let (mut d, _) = filled();
    d.image_mut()[20] ^= 1;
    let (_, opened) = open(d);
    assert!(matches!(
        opened,
        Opened::Formatted {
            reason: FormatReason::Garbage,
            ..
        }
    ));
}

#[test]
fn truncated_images_are_reported() {
    let (d, m) = filled();
    assert!(!m.is_empty());
    let half = FakeDisk::from_image(d.image()[..SECTORS / 2 * SECTOR].to_vec());
    let (_, opened) = open(half);
    assert_eq!(
        opened,
        Opened::Formatted {
            reason: FormatReason::Truncated {
                recorded: 15,
                fits: 7
            },
            pages: 7
        }
    );
    // Cut inside a sector: the partial sector is not part of the disk.
    let odd = FakeDisk::from_image(d.image()[..SECTORS * SECTOR - 100].to_vec());
    let (_, opened) = open(odd);
    assert!(matches!(
        opened,
        Opened::Formatted {
            reason: FormatReason::Truncated { .. },
            ..
        }
    ));
    let tiny = FakeDisk::from_image(d.image()[..(MIN_SECTORS as usize - 1) * SECTOR].to_vec());
    assert!(matches!(
        Store::open(tiny, BadImage::Reformat),
        Err((_, OpenError::TooSmall))
    ));
    assert!(matches!(
        Store::open(FakeDisk::new(0), BadImage::Reformat),
        Err((_, OpenError::TooSmall))
    ));
}

#[test]
fn a_larger_disk_keeps_its_store() {
    let (d, m) = filled();
    let mut img = d.image().to_vec();
    img.extend(vec![0; 64 * SECTOR]);
    let (mut s, opened) = open(FakeDisk::from_image(img));
    assert!(matches!(opened, Opened::Existing { pages: 15, .. }));
    check_exact(&mut s, &m);
}

//! Power loss at every sector write: after the cut the store opens without
//! reformatting, every acknowledged write is there, and the write in flight
//! is either wholly there or not at all.

mod common;

use common::*;
use nexus_kv::fake::{Cut, FakeDisk};
use nexus_kv::{FormatReason, Opened};

/// 1 superblock page + 4 map pages.
const SECTORS: usize = 40;
const OPS: usize = 300;

/// Runs the workload with a cut armed at write `k` (from the blank disk on,
/// the format included). Returns false when the workload finished before
/// the cut.
fn trial(ops: &[Op], k: u64, how: Cut) -> bool {
    let mut d = FakeDisk::new(SECTORS);
    d.cut_at(k, how);
    let mut m = Model::new();
    let mut in_flight = None;
    let formatted = match nexus_kv::Store::open(d.clone(), nexus_kv::BadImage::Reformat) {
        Ok((mut s, _)) => {
            for op in ops {
                if apply(&mut s, &mut m, op).is_err() {
                    in_flight = Some(op.clone());
                    break;
                }
            }
            d = s.into_device();
            true
        }
        Err((dev, _)) => {
            d = dev;
            false
        }
    };
    if !d.is_dead() {
        return false;
    }
    d.reboot();
    let (mut s, opened) = open(d);
    if formatted {
        assert!(
            matches!(opened, Opened::Existing { .. }),
            "cut at write {k} ({how:?}): reopened as {opened:?}"
        );
    } else if how == Cut::Clean {
        assert!(
            matches!(
                opened,
                Opened::Formatted {
                    reason: FormatReason::Blank,
                    ..
                }
            ),
            "cut at write {k} during format: {opened:?}"
        );
    }
    // (A torn superblock write may leave a complete superblock, a blank one
    // or garbage: all open to an empty store, which the checks below see.)
    // Everything acknowledged is there; the op in flight is all or nothing.
    for (ns, key) in all_keys() {
        let got = get(&mut s, ns, &key);
        let before = m.get(&(ns, key.clone())).cloned();
        let ok = match &in_flight {
            Some(Op::Put(ins, ik, iv)) if (*ins, ik) == (ns, &key) => {
                got == before || got.as_ref() == Some(iv)
            }
            Some(Op::Delete(ins, ik)) if (*ins, ik) == (ns, &key) => got == before || got.is_none(),
            _ => got == before,
        };
        assert!(
            ok,
            "cut at write {k} ({how:?}), in flight {in_flight:?}: {ns}/{} is {got:?}, acknowledged {before:?}",
            String::from_utf8_lossy(&key)
        );
        // Adopt what the store chose for the in-flight key.
        match got {
            Some(v) => m.insert((ns, key), v),
            None => m.remove(&(ns, key)),
        };
    }
    // The store keeps working after the cut: more writes, another reopen.
    for op in workload(k ^ 0x5eed, 40) {
        apply(&mut s, &mut m, &op).unwrap_or_else(|e| panic!("after cut {k}: {op:?}: {e:?}"));
    }
    let (mut s, opened) = open(s.into_device());
    assert!(matches!(opened, Opened::Existing { .. }));
    check_exact(&mut s, &m);
    true
}

fn every_write(how: impl Fn(u64) -> Cut) -> u64 {
    let ops = workload(7, OPS);
    let mut k = 0;
    while trial(&ops, k, how(k)) {
        k += 1;
    }
    k
}

#[test]
fn workload_without_cut_matches_the_model() {
    let ops = workload(7, OPS);
    let (mut s, opened) = open(FakeDisk::new(SECTORS));
    assert_eq!(
        opened,
        Opened::Formatted {
            reason: FormatReason::Blank,
            pages: 4
        }
    );
    let mut m = Model::new();
    for op in &ops {
        apply(&mut s, &mut m, op).unwrap();
    }
    check_exact(&mut s, &m);
    let d = s.into_device();
    assert!(
        d.writes() > 200,
        "the workload should collect garbage often"
    );
    let (mut s, _) = open(d);
    check_exact(&mut s, &m);
}

#[test]
fn cut_at_every_write_keeps_acknowledged_writes() {
    let n = every_write(|_| Cut::Clean);
    eprintln!("power cut at each of {n} sector writes");
    assert!(n > 200);
}

/// Beyond the device contract (sectors are atomic): a torn sector. The
/// map's CRCs and repair still keep every acknowledged write.
#[test]
fn torn_sector_at_every_write_keeps_acknowledged_writes() {
    let n = every_write(|k| Cut::Torn([4, 12, 100, 256, 500][(k % 5) as usize]));
    eprintln!("torn power cut at each of {n} sector writes");
    assert!(n > 200);
}

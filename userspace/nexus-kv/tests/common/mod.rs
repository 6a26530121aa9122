//! Shared helpers of the host tests: a seeded generator and a workload.
#![allow(dead_code)]

use std::collections::BTreeMap;

use nexus_kv::fake::FakeDisk;
use nexus_kv::{BadImage, Namespace, Opened, Store, StoreError};

/// xorshift64*: deterministic, seeded.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Put(u64, Vec<u8>, Vec<u8>),
    Delete(u64, Vec<u8>),
}

/// A workload over two namespaces and 10 keys each, values 0..=300 bytes,
/// one op in eight a delete: enough churn for many garbage collections in
/// a small store.
pub fn workload(seed: u64, n: usize) -> Vec<Op> {
    let mut r = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let ns = 1 + r.below(2);
            let key = format!("key-{}", r.below(10)).into_bytes();
            if r.below(8) == 0 {
                Op::Delete(ns, key)
            } else {
                let len = r.below(301) as usize;
                let mut v = r.bytes(len);
                if let Some(b) = v.first_mut() {
                    *b = i as u8;
                }
                Op::Put(ns, key, v)
            }
        })
        .collect()
}

pub type Model = BTreeMap<(u64, Vec<u8>), Vec<u8>>;

/// Applies `op` to the store; on success also to the model.
pub fn apply(s: &mut Store<FakeDisk>, m: &mut Model, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Put(ns, k, v) => {
            s.put(Namespace(*ns), k, v)?;
            m.insert((*ns, k.clone()), v.clone());
        }
        Op::Delete(ns, k) => match s.delete(Namespace(*ns), k) {
            Ok(()) | Err(StoreError::NotFound) => {
                m.remove(&(*ns, k.clone()));
            }
            Err(e) => return Err(e),
        },
    }
    Ok(())
}

pub fn get(s: &mut Store<FakeDisk>, ns: u64, k: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0; nexus_kv::MAX_VALUE];
    match s.get(Namespace(ns), k, &mut out) {
        Ok(n) => Some(out[..n].to_vec()),
        Err(StoreError::NotFound) => None,
        Err(e) => panic!("get {ns}/{:?}: {e:?}", String::from_utf8_lossy(k)),
    }
}

/// Every key the workload can touch, in both namespaces.
pub fn all_keys() -> Vec<(u64, Vec<u8>)> {
    (1..=2)
        .flat_map(|ns| (0..10).map(move |k| (ns, format!("key-{k}").into_bytes())))
        .collect()
}

/// Checks the store holds exactly the model.
pub fn check_exact(s: &mut Store<FakeDisk>, m: &Model) {
    for (ns, k) in all_keys() {
        assert_eq!(
            get(s, ns, &k),
            m.get(&(ns, k.clone())).cloned(),
            "{ns}/{}",
            String::from_utf8_lossy(&k)
        );
    }
}

pub fn open(d: FakeDisk) -> (Store<FakeDisk>, Opened) {
    match Store::open(d, BadImage::Reformat) {
        Ok(x) => x,
        Err((_, e)) => panic!("open failed: {e:?}"),
    }
}

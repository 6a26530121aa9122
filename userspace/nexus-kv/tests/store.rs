//! Store semantics: bounds, no space, namespaces, listing.

mod common;

use common::*;
use nexus_kv::fake::FakeDisk;
use nexus_kv::{Namespace, StoreError, MAX_KEY, MAX_VALUE};

#[test]
fn bounds_are_enforced() {
    let (mut s, _) = open(FakeDisk::new(64));
    let ns = Namespace(1);
    assert_eq!(s.put(ns, b"", b"v"), Err(StoreError::BadKey));
    assert_eq!(
        s.put(ns, &[b'k'; MAX_KEY + 1], b"v"),
        Err(StoreError::BadKey)
    );
    assert_eq!(
        s.put(ns, b"k", &vec![0; MAX_VALUE + 1]),
        Err(StoreError::TooLarge)
    );
    s.put(ns, &[b'k'; MAX_KEY], &vec![7; MAX_VALUE]).unwrap();
    let mut small = [0u8; 10];
    assert_eq!(
        s.get(ns, &[b'k'; MAX_KEY], &mut small),
        Err(StoreError::TooLarge)
    );
    s.put(ns, b"empty", b"").unwrap();
    assert_eq!(get(&mut s, 1, b"empty"), Some(vec![]));
}

#[test]
fn a_full_store_answers_no_space_and_recovers() {
    let (mut s, _) = open(FakeDisk::new(40));
    let ns = Namespace(1);
    let mut n = 0;
    let err = loop {
        match s.put(ns, format!("k{n}").as_bytes(), &[n as u8; 500]) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1000);
    };
    assert_eq!(err, StoreError::NoSpace);
    assert!(n > 10, "only {n} values fit");
    for i in 0..n {
        assert_eq!(
            get(&mut s, 1, format!("k{i}").as_bytes()),
            Some(vec![i as u8; 500])
        );
    }
    // Still full for new data, still readable after a reopen.
    assert_eq!(s.put(ns, b"more", &[1; 500]), Err(StoreError::NoSpace));
    let (mut s, _) = open(s.into_device());
    for i in 0..3 {
        s.delete(ns, format!("k{i}").as_bytes()).unwrap();
    }
    s.put(ns, b"more", &[1; 500]).unwrap();
    assert_eq!(get(&mut s, 1, b"more"), Some(vec![1; 500]));
    assert_eq!(get(&mut s, 1, b"k5"), Some(vec![5; 500]));
}

#[test]
fn namespaces_do_not_see_each_other() {
    let (mut s, _) = open(FakeDisk::new(64));
    let (a, b) = (Namespace(0x60), Namespace(0x61));
    s.put(a, b"secret", b"A").unwrap();
    let mut out = [0; 16];
    assert_eq!(s.get(b, b"secret", &mut out), Err(StoreError::NotFound));
    assert_eq!(s.delete(b, b"secret"), Err(StoreError::NotFound));
    assert_eq!(s.list(b, b"", 10).unwrap(), (vec![], false));
    s.put(b, b"secret", b"B").unwrap();
    assert_eq!(get(&mut s, 0x60, b"secret"), Some(b"A".to_vec()));
    assert_eq!(get(&mut s, 0x61, b"secret"), Some(b"B".to_vec()));
    s.delete(b, b"secret").unwrap();
    assert_eq!(get(&mut s, 0x60, b"secret"), Some(b"A".to_vec()));
}

#[test]
fn list_pages_in_byte_order() {
    let (mut s, _) = open(FakeDisk::new(64));
    let ns = Namespace(1);
    for k in ["b", "a", "d", "c", "e"] {
        s.put(ns, k.as_bytes(), b"1").unwrap();
        s.put(ns, k.as_bytes(), b"2").unwrap();
    }
    s.put(Namespace(2), b"zz", b"x").unwrap();
    s.delete(ns, b"c").unwrap();
    let (p1, more) = s.list(ns, b"", 2).unwrap();
    assert_eq!((p1, more), (vec![b"a".to_vec(), b"b".to_vec()], true));
    let (p2, more) = s.list(ns, b"b", 2).unwrap();
    assert_eq!((p2, more), (vec![b"d".to_vec(), b"e".to_vec()], false));
}

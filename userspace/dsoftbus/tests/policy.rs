//! Proxy policy: deny by default, exact names only, bounded.

use dsoftbus::policy::MAX_POLICY_ENTRIES;
use dsoftbus::{PolicyError, ProxyPolicy};

#[test]
fn denies_everything_by_default() {
    let p = ProxyPolicy::deny_all();
    for name in ["samgrd", "bundlemgrd", "", "*", "statefsd"] {
        assert!(!p.allows(name), "{name}");
    }
    assert!(p.is_empty());
    assert_eq!(ProxyPolicy::default(), p);
}

#[test]
fn allows_exact_names_only() {
    let mut p = ProxyPolicy::allowing(&["samgrd", "bundlemgrd"]).unwrap();
    assert!(p.allows("samgrd") && p.allows("bundlemgrd"));
    for near_miss in [
        "Samgrd",
        "samgrd ",
        "samgr",
        "samgrd\0",
        "bundlemgrd/x",
        "statefsd",
    ] {
        assert!(!p.allows(near_miss), "{near_miss:?}");
    }
    p.allow("samgrd").unwrap();
    assert_eq!(p.len(), 2, "duplicates are no-ops");
    assert!(p.revoke("samgrd"));
    assert!(!p.revoke("samgrd"));
    assert!(!p.allows("samgrd"));
    assert_eq!(p.allowed().collect::<Vec<_>>(), vec!["bundlemgrd"]);
}

#[test]
fn is_bounded_and_validates_names() {
    let mut p = ProxyPolicy::deny_all();
    assert_eq!(p.allow(""), Err(PolicyError::InvalidName));
    assert_eq!(p.allow(&"x".repeat(65)), Err(PolicyError::InvalidName));
    for i in 0..MAX_POLICY_ENTRIES {
        p.allow(&format!("svc{i}")).unwrap();
    }
    assert_eq!(p.allow("one-too-many"), Err(PolicyError::Full));
    assert!(!p.allows("one-too-many"));
    assert_eq!(p.len(), MAX_POLICY_ENTRIES);
}

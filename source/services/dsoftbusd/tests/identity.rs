//! The persisted device identity: created once from entropy, loaded afterwards, damaged
//! records refused, store failures reported.

use std::collections::BTreeMap;

use dsoftbus::DeviceId;
use dsoftbusd::identity::{
    load_or_create, IdentityError, KeyValue, Origin, StoreError, IDENTITY_KEY, RECORD_LEN,
};

#[derive(Default)]
struct Mem {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    fail: bool,
    puts: usize,
}

impl KeyValue for Mem {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if self.fail {
            return Err(StoreError::Unavailable);
        }
        Ok(self.map.get(key).cloned())
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if self.fail {
            return Err(StoreError::Unavailable);
        }
        self.puts += 1;
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
}

#[test]
fn first_boot_creates_later_boots_load_the_same_id() {
    let mut store = Mem::default();
    let (me, origin) = load_or_create(&mut store, || Some([0x5a; 32]), "node-a").unwrap();
    assert_eq!(origin, Origin::Created);
    assert_eq!(me.name(), "node-a");
    assert_eq!(me.device_id(), DeviceId::of(&me.public_key()).as_str());
    assert_eq!(store.map[IDENTITY_KEY].len(), RECORD_LEN);
    // Later boots: same key, same id, nothing written, entropy not used.
    for _ in 0..3 {
        let (again, origin) =
            load_or_create(&mut store, || panic!("no entropy needed"), "x").unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(again.device_id(), me.device_id());
        assert_eq!(again.public_key(), me.public_key());
    }
    assert_eq!(store.puts, 1);
    // Another device (other entropy) gets another id.
    let (other, _) = load_or_create(&mut Mem::default(), || Some([0x11; 32]), "node-b").unwrap();
    assert_ne!(other.device_id(), me.device_id());
}

#[test]
fn no_entropy_no_identity() {
    let mut store = Mem::default();
    assert_eq!(
        load_or_create(&mut store, || None, "n").err(),
        Some(IdentityError::NoEntropy)
    );
    assert_eq!(
        load_or_create(&mut store, || Some([0; 32]), "n").err(),
        Some(IdentityError::NoEntropy)
    );
    assert!(store.map.is_empty());
}

#[test]
fn damaged_records_are_refused_not_replaced() {
    let mut store = Mem::default();
    load_or_create(&mut store, || Some([7; 32]), "n").unwrap();
    let good = store.map[IDENTITY_KEY].clone();
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        good[..RECORD_LEN - 1].to_vec(),
        [&good[..], &[0]].concat(),
    ];
    for i in [0, 4, 5, 5 + 31, 5 + 32, RECORD_LEN - 1] {
        let mut bad = good.clone();
        // (Bit 4: X25519 clamping ignores a secret's lowest three bits.)
        bad[i] ^= 0x10;
        cases.push(bad);
    }
    for bad in cases {
        store.map.insert(IDENTITY_KEY.to_vec(), bad.clone());
        assert_eq!(
            load_or_create(&mut store, || Some([9; 32]), "n").err(),
            Some(IdentityError::Damaged),
            "{bad:02x?}"
        );
        assert_eq!(
            store.map[IDENTITY_KEY], bad,
            "the damaged record was not overwritten"
        );
    }
}

#[test]
fn store_failures_are_reported() {
    let mut store = Mem {
        fail: true,
        ..Mem::default()
    };
    assert_eq!(
        load_or_create(&mut store, || Some([1; 32]), "n").err(),
        Some(IdentityError::Store(StoreError::Unavailable))
    );
}

/// Calls go straight to storaged's `kv` server (the real store on a fake disk) with a
/// fixed badge, as the kernel would stamp it; `dead` answers like a vanished storaged.
struct Direct<'a> {
    server: &'a mut storaged::KvServer<nexus_kv::fake::FakeDisk>,
    badge: u64,
    dead: bool,
}

impl nexus_idl::Transport for Direct<'_> {
    fn call(
        &mut self,
        req: &[u8],
        rep: &mut [u8],
        _: u64,
    ) -> Result<usize, nexus_idl::TransportError> {
        if self.dead {
            return Err(nexus_idl::TransportError::PeerDead);
        }
        let mut out = vec![0u8; nexus_interfaces::kv::REPLY_MAX];
        let n = nexus_interfaces::kv::dispatch(self.server, self.badge, req, &mut out);
        let dst = rep
            .get_mut(..n)
            .ok_or(nexus_idl::TransportError::TooLarge)?;
        dst.copy_from_slice(&out[..n]);
        Ok(n)
    }
}

#[test]
fn through_storaged_kv_client_created_then_loaded_per_namespace() {
    let disk = nexus_kv::fake::FakeDisk::new(128);
    let (store, _) = nexus_kv::Store::open(disk, nexus_kv::BadImage::Reformat)
        .unwrap_or_else(|(_, e)| panic!("open: {e:?}"));
    let mut server = storaged::KvServer { store };
    fn kv(
        server: &mut storaged::KvServer<nexus_kv::fake::FakeDisk>,
        badge: u64,
        dead: bool,
    ) -> nexus_interfaces::kv::Client<Direct<'_>> {
        nexus_interfaces::kv::Client::new(Direct {
            server,
            badge,
            dead,
        })
    }
    let (me, origin) = load_or_create(
        &mut kv(&mut server, 0x30, false),
        || Some([3; 32]),
        "node-a",
    )
    .unwrap();
    assert_eq!(origin, Origin::Created);
    let (again, origin) = load_or_create(
        &mut kv(&mut server, 0x30, false),
        || panic!("no entropy needed"),
        "node-a",
    )
    .unwrap();
    assert_eq!(
        (origin, again.device_id()),
        (Origin::Loaded, me.device_id())
    );
    // Another namespace (badge) does not see the record: it makes its own identity.
    let (other, origin) =
        load_or_create(&mut kv(&mut server, 0x31, false), || Some([4; 32]), "x").unwrap();
    assert_eq!(origin, Origin::Created);
    assert_ne!(other.device_id(), me.device_id());
    // A storaged that is gone is a store failure, never a fresh identity.
    assert_eq!(
        load_or_create(&mut kv(&mut server, 0x30, true), || Some([5; 32]), "n").err(),
        Some(IdentityError::Store(StoreError::Unavailable))
    );
}

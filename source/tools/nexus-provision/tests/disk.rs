//! A disk written by `nexus-provision` is what dsoftbusd loads: storaged's real `kv`
//! server opens the image (as on the device), and dsoftbusd's own loaders read back the
//! same identity and trust entries; bad input is refused with a reason.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use dsoftbus::{DeviceId, StaticKeypair, TrustOrigin};
use dsoftbusd::identity::{load_or_create, Origin};
use nexus_kv::fake::FakeDisk;
use nexus_provision::{
    client, parse_trust, read_key_file, show, write_disk, write_key_file, DiskPlan, Trusted,
};

/// A scratch directory of one test, removed when it is dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nexus-provision-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keys(b: u8) -> StaticKeypair {
    StaticKeypair::from_secret([b; 32])
}

#[test]
fn storaged_opens_the_image_and_dsoftbusd_loads_identity_and_trust() {
    let dir = Dir::new();
    let image = dir.path("node.img");
    let me = keys(1);
    let (b, c) = (keys(2), keys(3));
    let trusted = [
        Trusted {
            key: b.public_key(),
            services: vec!["nodeinfo".into(), "echo".into()],
        },
        Trusted {
            key: c.public_key(),
            services: vec![],
        },
    ];
    let id = write_disk(&DiskPlan {
        image: &image,
        size_kib: 64,
        identity: &me,
        trusted: &trusted,
        badge: 0x30,
    })
    .unwrap();
    assert_eq!(id, DeviceId::of(&me.public_key()).as_str());
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes.len(), 64 * 1024);
    assert!(!image.with_extension("img.tmp").exists());

    // storaged at boot: the store is an existing one, not a reformat.
    let (store, opened) =
        nexus_kv::Store::open(FakeDisk::from_image(bytes), nexus_kv::BadImage::Reformat)
            .unwrap_or_else(|(_, e)| panic!("open: {e:?}"));
    assert!(
        matches!(opened, nexus_kv::Opened::Existing { .. }),
        "{opened:?}"
    );
    let mut server = storaged::KvServer { store };

    // dsoftbusd at boot (badge 0x30): the identity is loaded, never created.
    let (loaded, origin) =
        load_or_create(&mut client(&mut server, 0x30), || panic!("no entropy"), "n").unwrap();
    assert_eq!(origin, Origin::Loaded);
    assert_eq!(loaded.device_id(), id);
    assert_eq!(loaded.public_key(), me.public_key());
    assert_eq!(
        dsoftbusd::trust::next_boot(&mut client(&mut server, 0x30)).unwrap(),
        1
    );
    let t = dsoftbusd::trust::load(&mut client(&mut server, 0x30)).unwrap();
    assert!(t.damaged.is_empty());
    assert_eq!(t.entries.len(), 2);
    for (want, svc) in [(&b, &["nodeinfo", "echo"][..]), (&c, &[][..])] {
        let e = t
            .entries
            .iter()
            .find(|e| e.key() == &want.public_key())
            .expect("entry");
        assert_eq!(e.device_id(), DeviceId::of(&want.public_key()).as_str());
        assert_eq!(e.services(), svc);
        assert_eq!(e.origin(), TrustOrigin::Provisioned);
        assert_eq!(e.added_boot(), 0);
    }
    // Another badge's namespace holds nothing of it.
    assert!(dsoftbusd::trust::load(&mut client(&mut server, 0x31))
        .unwrap()
        .entries
        .is_empty());

    // `show` reads the same, without writing the file.
    let before = std::fs::read(&image).unwrap();
    let s = show(&image, 0x30).unwrap();
    assert_eq!(s.identity.as_ref().unwrap().0, id);
    assert_eq!(s.trusted.len(), 2);
    assert_eq!(s.boot, None);
    assert_eq!(std::fs::read(&image).unwrap(), before);
    // The wrong badge: no identity there.
    assert!(show(&image, 0x31).unwrap().identity.is_err());
}

#[test]
fn key_files_round_trip_and_garbage_is_refused() {
    let dir = Dir::new();
    let path = dir.path("a.key");
    let k = keys(7);
    write_key_file(&path, &k).unwrap();
    assert_eq!(read_key_file(&path).unwrap().public_key(), k.public_key());
    // Never overwritten.
    let e = write_key_file(&path, &keys(8)).unwrap_err();
    assert!(e.0.contains("exists"), "{e}");
    assert_eq!(read_key_file(&path).unwrap().public_key(), k.public_key());

    let good = std::fs::read(&path).unwrap();
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "wrong length"),
        (good[..68].to_vec(), "wrong length"),
        ([&good[..], b"\n"].concat(), "wrong length"),
    ];
    let mut bad = good.clone();
    bad[0] = b'X';
    cases.push((bad, "wrong magic"));
    let mut bad = good.clone();
    bad[4] = 2;
    cases.push((bad, "unknown version"));
    let mut bad = good.clone();
    bad[68] ^= 1;
    cases.push((bad, "public key does not match the secret"));
    for (i, (bytes, why)) in cases.into_iter().enumerate() {
        let p = dir.path(&format!("bad{i}.key"));
        std::fs::write(&p, &bytes).unwrap();
        let e = read_key_file(&p).unwrap_err();
        assert!(e.0.contains(why) && e.0.contains("not a key file"), "{e}");
    }
}

#[test]
fn trust_arguments_parse_or_fail_clearly() {
    let dir = Dir::new();
    let k = keys(9);
    let hexkey: String = k.public_key().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        parse_trust(&format!("{hexkey}:nodeinfo,echo")).unwrap(),
        Trusted {
            key: k.public_key(),
            services: vec!["nodeinfo".into(), "echo".into()]
        }
    );
    assert!(parse_trust(&hexkey).unwrap().services.is_empty());
    // A key file and a public-key file name the same device.
    let kf = dir.path("k.key");
    write_key_file(&kf, &k).unwrap();
    let pf = dir.path("k.pub");
    std::fs::write(&pf, format!("{hexkey}\n")).unwrap();
    for f in [&kf, &pf] {
        let t = parse_trust(&format!("{}:nodeinfo", f.display())).unwrap();
        assert_eq!(t.key, k.public_key());
    }
    let garbage = dir.path("g.key");
    std::fs::write(&garbage, b"hello").unwrap();
    for (arg, why) in [
        (format!("{}z", &hexkey[..63]), "not 64 hex digits"),
        (hexkey[..62].to_string(), "neither a public key"),
        ("0".repeat(64), "all-zero key"),
        (format!("{hexkey}:nodeinfo,nodeinfo"), "services"),
        (format!("{hexkey}:{}", "x".repeat(65)), "services"),
        (format!("{hexkey}:a,b,c,d,e,f,g,h,i"), "services"),
        (garbage.display().to_string(), "not a key file"),
    ] {
        let e = parse_trust(&arg).unwrap_err();
        assert!(e.0.contains(why), "{arg}: {e}");
    }
}

#[test]
fn disk_refuses_self_duplicates_bad_badge_and_size() {
    let dir = Dir::new();
    let me = keys(1);
    let other = Trusted {
        key: keys(2).public_key(),
        services: vec![],
    };
    let image = dir.path("x.img");
    let plan = |trusted: &[Trusted], badge: u64, size_kib: u64| {
        write_disk(&DiskPlan {
            image: &image,
            size_kib,
            identity: &me,
            trusted,
            badge,
        })
    };
    let me_t = Trusted {
        key: me.public_key(),
        services: vec![],
    };
    for (r, why) in [
        (plan(&[me_t], 0x30, 64), "own identity"),
        (plan(&[other.clone(), other.clone()], 0x30, 64), "twice"),
        (plan(&[], 0, 64), "no namespace"),
        (plan(&[], 0x30, 4), "--size-kib"),
    ] {
        let e = r.unwrap_err();
        assert!(e.0.contains(why), "{e}");
        assert!(!image.exists(), "nothing written on failure");
    }
    let many: Vec<Trusted> = (10..=42)
        .map(|b| Trusted {
            key: keys(b).public_key(),
            services: vec![],
        })
        .collect();
    assert!(plan(&many, 0x30, 64).unwrap_err().0.contains("at most"));
    plan(&[other], 0x30, 64).unwrap();
    assert!(image.exists());
}

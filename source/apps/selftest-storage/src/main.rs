//! selftest-storage: storaged's proofs (test profile `storage`).
//!
//! Its start-up argument (`ModeArgs`) picks the role; both talk to storaged
//! through the generated `kv` client.
//!
//! * mode 0, the **writer**: reads back what earlier boots committed
//!   (`selftest-storage: readback …`), stores a per-boot secret, lets the
//!   intruder attack it, checks the secret and its key list are untouched
//!   (`SELFTEST: storage namespace isolation ok`), then commits numbered
//!   values forever, printing each (`selftest-storage: committed <i>`). The
//!   harness kills the VM at random points and reboots it on the same disk.
//! * mode 1, the **intruder**: another client (another badge, so another
//!   namespace). Once called by the writer it tries to read, list, delete
//!   and overwrite the writer's keys, and to smuggle a namespace into a
//!   request; it must only ever see its own keys
//!   (`SELFTEST: storage foreign key refused ok`).
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod app {
    use nexus_interfaces::args::ModeArgs;
    use nexus_interfaces::kv;
    use nexus_rt::ipc::Endpoint;
    use nexus_rt::{println, sys};
    use nexus_slots::selftest_storage as slot;
    use selftest_storage::{key, must_hold, value, VALUE_MAX};

    type Kv = kv::Client<Endpoint>;

    const SECRET_KEY: &[u8] = b"secret";
    const EVIL: &[u8] = b"evil-intruder";
    const INTRUDER_OWN: &[u8] = b"intruder-own";

    pub fn main(_: u64) -> i32 {
        let mode = match nexus_rt::ipc::fetch_args::<ModeArgs>(slot::INIT) {
            Ok(a) => a.mode,
            Err(e) => {
                println!("selftest-storage: no mode argument: {:?}", e);
                return 2;
            }
        };
        let kv = kv::Client::new(Endpoint(slot::KV));
        match mode {
            0 => writer(kv),
            1 => intruder(kv),
            _ => 2,
        }
    }

    fn fail(what: &str) -> i32 {
        println!("SELFTEST: FAIL storage {}", what);
        1
    }

    fn writer(mut kv: Kv) -> i32 {
        let mut want = [0u8; VALUE_MAX];
        let mut k = [0u8; 8];
        // 1. What earlier boots committed.
        let last = match kv.get(b"last") {
            Ok(v) => match <[u8; 8]>::try_from(&v[..]) {
                Ok(w) => Some(u64::from_le_bytes(w)),
                Err(_) => {
                    println!("selftest-storage: readback last has {} bytes", v.len());
                    return fail("readback");
                }
            },
            Err(kv::Error::NotFound) => None,
            Err(e) => {
                println!("selftest-storage: readback get last: {:?}", e);
                return fail("readback");
            }
        };
        let next = match last {
            None => {
                println!("selftest-storage: readback empty");
                0
            }
            Some(l) => {
                let (first, l) = must_hold(l);
                let mut bad = 0u64;
                for i in first..=l {
                    let kn = key(i, &mut k);
                    let wn = value(i, &mut want);
                    match kv.get(&k[..kn]) {
                        Ok(v) if v[..] == want[..wn] => {}
                        other => {
                            bad += 1;
                            if bad <= 4 {
                                println!(
                                    "selftest-storage: value {} wrong: {:?}",
                                    i,
                                    other.map(|v| v.len())
                                );
                            }
                        }
                    }
                }
                println!(
                    "selftest-storage: readback last={} checked={} bad={}",
                    l,
                    l - first + 1,
                    bad
                );
                if bad != 0 {
                    return fail("readback");
                }
                l + 1
            }
        };
        // 2. The isolation exchange, with a secret unique to this boot.
        let mut secret = [0u8; 24];
        secret[..7].copy_from_slice(b"secret-");
        secret[8..16].copy_from_slice(&next.to_le_bytes());
        secret[16..24].copy_from_slice(&sys::now_ns().to_le_bytes());
        if let Err(e) = kv.put(SECRET_KEY, &secret) {
            println!("selftest-storage: put secret: {:?}", e);
            return fail("isolation");
        }
        let mut r = [0u8; 8];
        match sys::ipc_call(slot::SYNC, b"go", &mut r, None, 0) {
            Ok((1, _)) if r[0] == 1 => {}
            other => {
                println!(
                    "selftest-storage: intruder answered {:?}",
                    other.map(|(n, _)| n)
                );
                return fail("isolation (intruder)");
            }
        }
        let intact = matches!(kv.get(SECRET_KEY), Ok(v) if v[..] == secret);
        let mut foreign = 0;
        let mut after = nexus_idl::heapless::Vec::<u8, 64>::new();
        loop {
            let page = match kv.list(&after) {
                Ok(p) => p,
                Err(e) => {
                    println!("selftest-storage: list: {:?}", e);
                    return fail("isolation (list)");
                }
            };
            for key in page.keys.0.iter() {
                let key = &key[..];
                if !(key == b"last" || key == SECRET_KEY || (key.len() == 4 && key[0] == b'v')) {
                    foreign += 1;
                }
            }
            match page.keys.0.last() {
                Some(k) if page.more => after = k.clone(),
                _ => break,
            }
        }
        if !intact || foreign != 0 {
            println!(
                "selftest-storage: secret intact={} foreign keys={}",
                intact, foreign
            );
            return fail("namespace isolation");
        }
        println!("SELFTEST: storage namespace isolation ok");
        // 3. Commit numbered values until the harness pulls the plug.
        let mut i = next;
        loop {
            let kn = key(i, &mut k);
            let wn = value(i, &mut want);
            if let Err(e) = kv.put(&k[..kn], &want[..wn]) {
                println!("selftest-storage: put {}: {:?}", i, e);
                return fail("commit");
            }
            if let Err(e) = kv.put(b"last", &i.to_le_bytes()) {
                println!("selftest-storage: put last {}: {:?}", i, e);
                return fail("commit");
            }
            println!("selftest-storage: committed {}", i);
            i += 1;
            // At most ~200 lines a second (about 7 KB/s): inside the
            // kernel's console budget for one task (8 KiB/s refill), so no
            // committed line is ever dropped.
            sys::sleep_ms(5);
        }
    }

    /// Each attack; true when it failed as it must.
    fn attacks(kv: &mut Kv) -> bool {
        let mut ok = true;
        let mut check = |what: &str, good: bool| {
            if !good {
                println!("selftest-storage: intruder: {} succeeded", what);
            }
            ok &= good;
        };
        // The writer's keys, by name: only ever the intruder's own values.
        let got = kv.get(SECRET_KEY);
        check(
            "read of the secret",
            matches!(got, Err(kv::Error::NotFound)) || matches!(&got, Ok(v) if v[..] == *EVIL),
        );
        check(
            "read of last",
            matches!(kv.get(b"last"), Err(kv::Error::NotFound)),
        );
        check(
            "read of v000",
            matches!(kv.get(b"v000"), Err(kv::Error::NotFound)),
        );
        check(
            "delete of last",
            matches!(kv.delete(b"last"), Err(kv::Error::NotFound)),
        );
        match kv.list(b"") {
            Ok(p) => {
                let only_own = p
                    .keys
                    .0
                    .iter()
                    .all(|k| k[..] == *SECRET_KEY || k[..] == *INTRUDER_OWN);
                check("list of foreign keys", only_own);
            }
            Err(_) => check("list", false),
        }
        // Overwrite "secret" and add a key: lands in its own namespace only.
        check("own put", kv.put(SECRET_KEY, EVIL).is_ok());
        check("own put", kv.put(INTRUDER_OWN, b"x").is_ok());
        // Smuggling: a get with a trailing namespace (the writer's badge,
        // 0x60 LE) is malformed; a key that embeds it is just another key.
        let mut raw = [0u8; kv::REQUEST_MAX];
        let n = kv::Request::Get { key: SECRET_KEY }
            .encode(&mut raw)
            .unwrap_or(0);
        raw[n..n + 8].copy_from_slice(&0x60u64.to_le_bytes());
        let mut rep = [0u8; kv::REPLY_MAX];
        let r = sys::ipc_call(slot::KV, &raw[..n + 8], &mut rep, None, 0);
        check(
            "namespace suffix",
            n != 0
                && matches!(r, Ok((m, _))
                    if kv::reply::decode_get(&rep[..m]) == Err(kv::Error::Malformed)),
        );
        let mut embedded = [0u8; 14];
        embedded[..8].copy_from_slice(&0x60u64.to_le_bytes());
        embedded[8..].copy_from_slice(SECRET_KEY);
        check(
            "namespace inside the key",
            matches!(kv.get(&embedded), Err(kv::Error::NotFound)),
        );
        ok
    }

    fn intruder(mut kv: Kv) -> i32 {
        let mut m = [0u8; 8];
        let Ok(call) = sys::ipc_recv(slot::SYNC, &mut m, 0) else {
            return fail("intruder (no call)");
        };
        let ok = attacks(&mut kv);
        let _ = sys::ipc_reply(call.token, &[ok as u8], None);
        if !ok {
            return fail("foreign key refused");
        }
        println!("SELFTEST: storage foreign key refused ok");
        0
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(app::main);

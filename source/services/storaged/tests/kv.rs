//! The generated `kv` interface served by `KvServer`: round trips, total
//! decoders (requests, replies, and dispatch over garbage), and the
//! namespace rule under attack.

use nexus_abi::KERNEL_BADGE;
use nexus_idl::{Transport, TransportError};
use nexus_interfaces::kv;
use nexus_kv::fake::{Cut, FakeDisk};
use nexus_kv::{BadImage, Store, MAX_KEY, MAX_VALUE};
use storaged::{KvServer, LIST_MAX};

/// xorshift64*: deterministic, seeded.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn server(sectors: usize) -> KvServer<FakeDisk> {
    match Store::open(FakeDisk::new(sectors), BadImage::Reformat) {
        Ok((store, _)) => KvServer { store },
        Err((_, e)) => panic!("open failed: {e:?}"),
    }
}

/// A client whose calls go straight to `kv::dispatch` with a fixed badge,
/// as the kernel would stamp it.
struct Direct<'a> {
    server: &'a mut KvServer<FakeDisk>,
    badge: u64,
}

impl Transport for Direct<'_> {
    fn call(&mut self, req: &[u8], rep: &mut [u8], _: u64) -> Result<usize, TransportError> {
        let mut out = vec![0u8; kv::REPLY_MAX];
        let n = kv::dispatch(self.server, self.badge, req, &mut out);
        let dst = rep.get_mut(..n).ok_or(TransportError::TooLarge)?;
        dst.copy_from_slice(&out[..n]);
        Ok(n)
    }
}

fn client(server: &mut KvServer<FakeDisk>, badge: u64) -> kv::Client<Direct<'_>> {
    kv::Client::new(Direct { server, badge })
}

/// The interface's bounds are the store's.
#[test]
fn bounds_match_the_store() {
    let mut buf = vec![0u8; kv::REQUEST_MAX];
    let key = [b'k'; MAX_KEY];
    let value = vec![7u8; MAX_VALUE];
    // The largest request fits exactly.
    let n = kv::Request::Put {
        key: &key,
        value: &value,
    }
    .encode(&mut buf)
    .unwrap();
    assert_eq!(n, kv::REQUEST_MAX);
    assert_eq!(
        kv::Request::decode(&buf[..n]),
        Ok(kv::Request::Put {
            key: &key,
            value: &value
        })
    );
    // One byte over either bound does not encode.
    let long_key = [b'k'; MAX_KEY + 1];
    assert!(kv::Request::Get { key: &long_key }
        .encode(&mut buf)
        .is_err());
    let long_value = vec![0u8; MAX_VALUE + 1];
    assert!(kv::Request::Put {
        key: b"k",
        value: &long_value
    }
    .encode(&mut vec![0u8; 2 * kv::REQUEST_MAX])
    .is_err());

    let mut s = server(64);
    let mut c = client(&mut s, 0x60);
    c.put(&key, &value).unwrap();
    assert_eq!(&c.get(&key).unwrap()[..], &value[..]);
    assert_eq!(c.get(&long_key), Err(kv::Error::TooLarge));
    assert_eq!(c.put(b"", b"v"), Err(kv::Error::BadKey));
    assert_eq!(c.get(b""), Err(kv::Error::BadKey));
    c.put(b"empty", b"").unwrap();
    assert!(c.get(b"empty").unwrap().is_empty());
    assert_eq!(c.delete(b"empty"), Ok(()));
    assert_eq!(c.delete(b"empty"), Err(kv::Error::NotFound));
}

/// Every decoder takes any bytes: a value or an error, never a panic; and
/// dispatch answers every message with a reply that decodes.
#[test]
fn decoders_and_dispatch_are_total() {
    let mut r = Rng(21);
    let mut buf = vec![0u8; kv::REQUEST_MAX];
    let n = kv::Request::Put {
        key: b"key",
        value: b"value",
    }
    .encode(&mut buf)
    .unwrap();
    // Every truncation and extension of a good request is refused.
    for cut in 0..n {
        assert!(kv::Request::decode(&buf[..cut]).is_err(), "cut {cut}");
    }
    assert!(kv::Request::decode(&buf[..n + 1]).is_err());

    let mut s = server(64);
    let mut rep = vec![0u8; kv::REPLY_MAX];
    for i in 0..100_000 {
        let len = r.below(100) as usize;
        let mut b = r.bytes(len);
        // Mostly valid op codes, so the argument decoders are reached.
        if b.len() >= 2 && i % 8 != 0 {
            b[0] = 1 + (b[0] % 4);
            b[1] = 0;
        }
        let _ = kv::Request::decode(&b);
        let _ = kv::reply::decode_get(&b);
        let _ = kv::reply::decode_put(&b);
        let _ = kv::reply::decode_delete(&b);
        if let Ok(p) = kv::reply::decode_list(&b) {
            assert!(p.keys.0.len() <= LIST_MAX);
        }
        // Dispatch: a bounded reply that is a status (then, for ok, a value
        // the matching reply decoder accepts).
        if i % 16 == 0 {
            let badge = 0x60 + r.below(2);
            let m = kv::dispatch(&mut s, badge, &b, &mut rep);
            assert!((2..=kv::REPLY_MAX).contains(&m));
            let ok = match kv::Request::decode(&b) {
                Err(_) => {
                    assert_eq!(kv::reply::decode_put(&rep[..m]), Err(kv::Error::Malformed));
                    continue;
                }
                Ok(kv::Request::Get { .. }) => kv::reply::decode_get(&rep[..m]).is_ok(),
                Ok(kv::Request::Put { .. }) => kv::reply::decode_put(&rep[..m]).is_ok(),
                Ok(kv::Request::Delete { .. }) => kv::reply::decode_delete(&rep[..m]).is_ok(),
                Ok(kv::Request::List { .. }) => kv::reply::decode_list(&rep[..m]).is_ok(),
                Ok(_) => unreachable!(),
            };
            // An error reply is just its status.
            assert!(ok || m == 2);
        }
    }
    // Replies: an unknown error code and trailing bytes are malformed.
    assert_eq!(kv::reply::decode_put(&[16, 0]), Err(kv::Error::NotFound));
    assert_eq!(kv::reply::decode_put(&[99, 0]), Err(kv::Error::Malformed));
    assert_eq!(kv::reply::decode_put(&[0, 0, 0]), Err(kv::Error::Malformed));
    // A list of 33 keys is over the bound.
    let mut over = vec![0, 0, 0, 33, 0];
    for _ in 0..33 {
        over.extend_from_slice(&[1, 0, b'k']);
    }
    assert_eq!(kv::reply::decode_list(&over), Err(kv::Error::Malformed));
}

/// The attack: a second client names the first one's keys, lists, deletes,
/// overwrites, and tries to smuggle a namespace into the request; badges
/// without a namespace (init's 0, the kernel's) are refused.
#[test]
fn another_client_cannot_reach_a_namespace() {
    let mut s = server(64);
    let mut owner = client(&mut s, 0x60);
    owner.put(b"secret", b"owner's").unwrap();
    owner.put(b"last", &7u64.to_le_bytes()).unwrap();

    let mut intruder = client(&mut s, 0x61);
    assert_eq!(intruder.get(b"secret"), Err(kv::Error::NotFound));
    assert_eq!(intruder.delete(b"last"), Err(kv::Error::NotFound));
    let page = intruder.list(b"").unwrap();
    assert!(page.keys.0.is_empty() && !page.more);
    intruder.put(b"secret", b"evil").unwrap();
    let mut key_with_ns = 0x60u64.to_le_bytes().to_vec();
    key_with_ns.extend_from_slice(b"secret");
    assert_eq!(intruder.get(&key_with_ns), Err(kv::Error::NotFound));
    // A trailing namespace field is not part of the interface.
    let mut raw = vec![0u8; kv::REQUEST_MAX];
    let n = kv::Request::Get { key: b"secret" }
        .encode(&mut raw)
        .unwrap();
    raw.truncate(n);
    raw.extend_from_slice(&0x60u64.to_le_bytes());
    let mut rep = vec![0u8; kv::REPLY_MAX];
    let m = intruder.transport.call(&raw, &mut rep, 0).unwrap();
    assert_eq!(kv::reply::decode_get(&rep[..m]), Err(kv::Error::Malformed));

    for badge in [0, KERNEL_BADGE] {
        let mut c = client(&mut s, badge);
        assert_eq!(c.get(b"secret"), Err(kv::Error::Denied));
        assert_eq!(c.put(b"secret", b"x"), Err(kv::Error::Denied));
        assert_eq!(c.delete(b"last"), Err(kv::Error::Denied));
        assert_eq!(c.list(b""), Err(kv::Error::Denied));
    }

    let mut owner = client(&mut s, 0x60);
    assert_eq!(&owner.get(b"secret").unwrap()[..], b"owner's");
    let keys: Vec<Vec<u8>> = owner
        .list(b"")
        .unwrap()
        .keys
        .0
        .iter()
        .map(|k| k.to_vec())
        .collect();
    assert_eq!(keys, vec![b"last".to_vec(), b"secret".to_vec()]);
}

/// A full page of the longest keys fits the reply; paging goes on from the
/// last key.
#[test]
fn list_replies_fit_and_page() {
    let mut s = server(200);
    let mut c = client(&mut s, 1);
    for i in 0..40 {
        c.put(format!("{i:0>64}").as_bytes(), b"v").unwrap();
    }
    let page = c.list(b"").unwrap();
    assert_eq!((page.keys.0.len(), page.more), (LIST_MAX, true));
    let last = page.keys.0.last().unwrap().clone();
    let page = c.list(&last).unwrap();
    assert_eq!((page.keys.0.len(), page.more), (8, false));
    assert_eq!(&page.keys.0[0][..], format!("{:0>64}", 32).as_bytes());
}

/// A disk that fails mid-operation is an `Io` answer, not a crash.
#[test]
fn a_failing_disk_is_an_error_reply() {
    let mut d = server(64).store.into_device();
    d.cut_at(0, Cut::Clean);
    let mut s = match Store::open(d, BadImage::Refuse) {
        Ok((store, _)) => KvServer { store },
        Err((_, e)) => panic!("reopen failed: {e:?}"),
    };
    let mut c = client(&mut s, 0x60);
    assert_eq!(c.put(b"k", b"v"), Err(kv::Error::Io));
}

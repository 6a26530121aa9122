//! The KV protocol: round trips, total decoders, and the server's
//! namespace rule under attack.

mod common;

use common::*;
use nexus_kv::fake::FakeDisk;
use nexus_kv::proto::client::{CallFailed, KvClient, Transport};
use nexus_kv::proto::{
    decode_get_reply, decode_list_reply, decode_unit_reply, KvError, Request, LIST_MAX, MSG_MAX,
};
use nexus_kv::server::dispatch;
use nexus_kv::{Namespace, Store, MAX_KEY, MAX_VALUE};

/// A client whose calls go straight to `dispatch` with a fixed badge.
struct Direct<'a> {
    store: &'a mut Store<FakeDisk>,
    ns: Namespace,
}

impl Transport for Direct<'_> {
    fn call(&mut self, req: &[u8], rep: &mut [u8]) -> Result<usize, CallFailed> {
        let mut out = Box::new([0u8; MSG_MAX]);
        let n = dispatch(self.store, self.ns, req, &mut out);
        rep[..n].copy_from_slice(&out[..n]);
        Ok(n)
    }
}

#[test]
fn requests_round_trip() {
    let mut buf = [0u8; MSG_MAX];
    let v = vec![9u8; MAX_VALUE];
    for r in [
        Request::Get { key: b"k" },
        Request::Put {
            key: &[b'x'; MAX_KEY],
            value: &v,
        },
        Request::Put {
            key: b"k",
            value: b"",
        },
        Request::Delete { key: b"k" },
        Request::List { after: b"" },
        Request::List { after: b"k" },
    ] {
        let n = r.encode(&mut buf).unwrap();
        assert_eq!(Request::decode(&buf[..n]), Ok(r));
    }
    assert_eq!(
        Request::Get { key: b"" }.encode(&mut buf),
        Err(KvError::BadKey)
    );
    assert_eq!(
        Request::Put {
            key: b"k",
            value: &vec![0; MAX_VALUE + 1]
        }
        .encode(&mut buf),
        Err(KvError::TooLarge)
    );
}

#[test]
fn decoders_are_total() {
    let mut r = Rng(21);
    let mut buf = [0u8; MSG_MAX];
    let n = Request::Put {
        key: b"key",
        value: b"value",
    }
    .encode(&mut buf)
    .unwrap();
    // Every truncation and extension of a good request is refused.
    for cut in 0..n {
        assert!(Request::decode(&buf[..cut]).is_err());
    }
    assert!(Request::decode(&buf[..n + 1]).is_err());
    for _ in 0..100_000 {
        let len = r.below(80) as usize;
        let mut b = r.bytes(len);
        if let Some(op) = b.first_mut() {
            *op = 1 + (*op % 5);
        }
        let _ = Request::decode(&b);
        let _ = decode_get_reply(&b);
        let _ = decode_unit_reply(&b);
        if let Ok(p) = decode_list_reply(&b) {
            assert!(p.len() <= LIST_MAX);
            assert_eq!(p.keys().count(), p.len());
        }
    }
    assert_eq!(decode_unit_reply(&[1, 2, 0]), Err(KvError::NotFound));
    assert_eq!(decode_unit_reply(&[1, 99, 0]), Err(KvError::Malformed));
    assert_eq!(
        decode_list_reply(&[0, 0, 2, 1, b'b', 1, b'a']),
        Err(KvError::Malformed)
    );
}

/// The attack: a second client names the first one's keys, lists, deletes,
/// overwrites, and tries to smuggle a namespace into the request.
#[test]
fn another_client_cannot_reach_a_namespace() {
    let (mut store, _) = open(FakeDisk::new(64));
    let mut owner = KvClient::new(Direct {
        store: &mut store,
        ns: Namespace(0x60),
    });
    owner.put(b"secret", b"owner's").unwrap();
    owner.put(b"last", &7u64.to_le_bytes()).unwrap();

    let mut intruder = KvClient::new(Direct {
        store: &mut store,
        ns: Namespace(0x61),
    });
    let mut out = [0u8; 64];
    assert_eq!(intruder.get(b"secret", &mut out), Err(KvError::NotFound));
    assert_eq!(intruder.delete(b"last"), Err(KvError::NotFound));
    assert!(intruder.list(b"").unwrap().is_empty());
    intruder.put(b"secret", b"evil").unwrap();
    let mut key_with_ns = 0x60u64.to_le_bytes().to_vec();
    key_with_ns.extend_from_slice(b"secret");
    assert_eq!(intruder.get(&key_with_ns, &mut out), Err(KvError::NotFound));
    // A trailing namespace field is not part of the protocol.
    let mut raw = vec![1, 6];
    raw.extend_from_slice(b"secret");
    raw.extend_from_slice(&0x60u64.to_le_bytes());
    let mut rep = [0u8; MSG_MAX];
    let n = intruder.transport_mut().call(&raw, &mut rep).unwrap();
    assert_eq!(decode_get_reply(&rep[..n]), Err(KvError::Malformed));

    let mut owner = KvClient::new(Direct {
        store: &mut store,
        ns: Namespace(0x60),
    });
    let n = owner.get(b"secret", &mut out).unwrap();
    assert_eq!(&out[..n], b"owner's");
    let keys: Vec<Vec<u8>> = owner
        .list(b"")
        .unwrap()
        .keys()
        .map(|k| k.to_vec())
        .collect();
    assert_eq!(keys, vec![b"last".to_vec(), b"secret".to_vec()]);
}

#[test]
fn list_replies_fit_and_page() {
    let (mut store, _) = open(FakeDisk::new(200));
    let mut c = KvClient::new(Direct {
        store: &mut store,
        ns: Namespace(1),
    });
    for i in 0..40 {
        c.put(format!("{i:0>64}").as_bytes(), b"v").unwrap();
    }
    let page = c.list(b"").unwrap();
    assert_eq!((page.len(), page.more), (LIST_MAX, true));
    let last = page.keys().last().unwrap().to_vec();
    let page = c.list(&last).unwrap();
    assert_eq!((page.len(), page.more), (8, false));
}

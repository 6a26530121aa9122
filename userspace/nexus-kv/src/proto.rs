//! The KV protocol between `storaged` and its clients.
//!
//! Shaped as the interface-definition mechanism expects: four operations
//! with typed arguments, each answering `Result<T, KvError>`, errors a
//! `#[repr(u16)]` enum starting at 1 with `1 = ServerRestarted`.
//!
//! | op | request | ok reply |
//! |---|---|---|
//! | `Get = 1` | `[1][klen u8][key]` | `[0][value]` |
//! | `Put = 2` | `[2][klen u8][key][vlen u16 LE][value]` | `[0]` |
//! | `Delete = 3` | `[3][klen u8][key]` | `[0]` |
//! | `List = 4` | `[4][klen u8][after]` (`klen` 0: from the start) | `[0][more u8][n u8]` then `n` × `[klen u8][key]` |
//!
//! An error reply is `[1][code u16 LE]`. Keys are 1..=[`MAX_KEY`] bytes,
//! values 0..=[`MAX_VALUE`]. Every length must match the message exactly.
//! Decoders are total: any bytes give a value or `Malformed`, never a panic,
//! and borrow from the input without allocating.

use crate::store::{StoreError, MAX_KEY, MAX_VALUE};

/// Most keys one `List` reply carries.
pub const LIST_MAX: usize = 32;
/// Largest request or reply, in bytes.
pub const MSG_MAX: usize = 4096;
const _: () = assert!(4 + MAX_KEY + MAX_VALUE <= MSG_MAX);
const _: () = assert!(3 + LIST_MAX * (1 + MAX_KEY) <= MSG_MAX);

/// Operation codes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Read a key's value.
    Get = 1,
    /// Store a value under a key.
    Put = 2,
    /// Remove a key.
    Delete = 3,
    /// List keys in byte order, a page at a time.
    List = 4,
}

/// Errors of the KV interface.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum KvError {
    /// The server ended and was restarted (or is gone) during the call; the
    /// call may or may not have taken effect.
    ServerRestarted = 1,
    /// No value under that key in the caller's namespace.
    NotFound = 2,
    /// The store is full.
    NoSpace = 3,
    /// The key is empty or longer than `MAX_KEY`.
    BadKey = 4,
    /// The value is longer than `MAX_VALUE`.
    TooLarge = 5,
    /// The request (or reply) is not a well-formed message.
    Malformed = 6,
    /// The store is damaged beyond repair.
    Corrupt = 7,
    /// The disk failed.
    Io = 8,
    /// The caller has no namespace (only profile-granted clients have one).
    NoNamespace = 9,
}

impl KvError {
    /// The error for a wire code, if it is one.
    pub fn from_code(c: u16) -> Option<Self> {
        Some(match c {
            1 => KvError::ServerRestarted,
            2 => KvError::NotFound,
            3 => KvError::NoSpace,
            4 => KvError::BadKey,
            5 => KvError::TooLarge,
            6 => KvError::Malformed,
            7 => KvError::Corrupt,
            8 => KvError::Io,
            9 => KvError::NoNamespace,
            _ => return None,
        })
    }
}

impl From<StoreError> for KvError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => KvError::NotFound,
            StoreError::NoSpace => KvError::NoSpace,
            StoreError::BadKey => KvError::BadKey,
            StoreError::TooLarge => KvError::TooLarge,
            StoreError::Corrupt => KvError::Corrupt,
            StoreError::Io => KvError::Io,
        }
    }
}

/// A decoded request, borrowing from the message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get(key) -> Result<value, KvError>`
    Get {
        /// Key.
        key: &'a [u8],
    },
    /// `put(key, value) -> Result<(), KvError>`
    Put {
        /// Key.
        key: &'a [u8],
        /// Value.
        value: &'a [u8],
    },
    /// `delete(key) -> Result<(), KvError>`
    Delete {
        /// Key.
        key: &'a [u8],
    },
    /// `list(after) -> Result<ListPage, KvError>`
    List {
        /// Start after this key (empty: from the first key).
        after: &'a [u8],
    },
}

fn valid_key(k: &[u8]) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY
}

/// Splits `[len u8][bytes]` off the front of `b`.
fn take_short(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&n, rest) = b.split_first()?;
    if rest.len() < n as usize {
        return None;
    }
    Some(rest.split_at(n as usize))
}

impl<'a> Request<'a> {
    /// Encodes into `out`; returns the length. Refuses arguments out of
    /// bounds (the client learns it without a round trip).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, KvError> {
        let (op, key, value) = match *self {
            Request::Get { key } => (Op::Get, key, None),
            Request::Put { key, value } => (Op::Put, key, Some(value)),
            Request::Delete { key } => (Op::Delete, key, None),
            Request::List { after } => (Op::List, after, None),
        };
        if op == Op::List {
            if after_too_long(key) {
                return Err(KvError::BadKey);
            }
        } else if !valid_key(key) {
            return Err(KvError::BadKey);
        }
        let vlen = value.map_or(0, |v| 2 + v.len());
        if value.is_some_and(|v| v.len() > MAX_VALUE) {
            return Err(KvError::TooLarge);
        }
        let n = 2 + key.len() + vlen;
        let out = out.get_mut(..n).ok_or(KvError::TooLarge)?;
        out[0] = op as u8;
        out[1] = key.len() as u8;
        out[2..2 + key.len()].copy_from_slice(key);
        if let Some(v) = value {
            let at = 2 + key.len();
            out[at..at + 2].copy_from_slice(&(v.len() as u16).to_le_bytes());
            out[at + 2..].copy_from_slice(v);
        }
        Ok(n)
    }

    /// Decodes a request (total).
    pub fn decode(b: &'a [u8]) -> Result<Self, KvError> {
        let (&op, rest) = b.split_first().ok_or(KvError::Malformed)?;
        let (key, rest) = take_short(rest).ok_or(KvError::Malformed)?;
        let req = match op {
            1 => Request::Get { key },
            3 => Request::Delete { key },
            4 => Request::List { after: key },
            2 => {
                let (len, value) = match rest {
                    [lo, hi, value @ ..] => (u16::from_le_bytes([*lo, *hi]) as usize, value),
                    _ => return Err(KvError::Malformed),
                };
                if len != value.len() {
                    return Err(KvError::Malformed);
                }
                if len > MAX_VALUE {
                    return Err(KvError::TooLarge);
                }
                if !valid_key(key) {
                    return Err(KvError::BadKey);
                }
                return Ok(Request::Put { key, value });
            }
            _ => return Err(KvError::Malformed),
        };
        if !rest.is_empty() {
            return Err(KvError::Malformed);
        }
        match req {
            Request::List { after } if after_too_long(after) => Err(KvError::BadKey),
            Request::List { .. } => Ok(req),
            Request::Get { key } | Request::Delete { key } if !valid_key(key) => {
                Err(KvError::BadKey)
            }
            _ => Ok(req),
        }
    }
}

fn after_too_long(k: &[u8]) -> bool {
    k.len() > MAX_KEY
}

/// Encodes an error reply; returns its length (3).
pub fn encode_err(e: KvError, out: &mut [u8; MSG_MAX]) -> usize {
    out[0] = 1;
    out[1..3].copy_from_slice(&(e as u16).to_le_bytes());
    3
}

/// Encodes the ok reply of `Put`/`Delete`; returns its length (1).
pub fn encode_ok_unit(out: &mut [u8; MSG_MAX]) -> usize {
    out[0] = 0;
    1
}

/// Decodes an error reply, or the ok payload after the status byte.
fn split_reply(b: &[u8]) -> Result<&[u8], KvError> {
    match b {
        [0, payload @ ..] => Ok(payload),
        [1, lo, hi] => {
            Err(KvError::from_code(u16::from_le_bytes([*lo, *hi])).unwrap_or(KvError::Malformed))
        }
        _ => Err(KvError::Malformed),
    }
}

/// Decodes the reply of `Get`: the value.
pub fn decode_get_reply(b: &[u8]) -> Result<&[u8], KvError> {
    let v = split_reply(b)?;
    if v.len() > MAX_VALUE {
        return Err(KvError::Malformed);
    }
    Ok(v)
}

/// Decodes the reply of `Put` or `Delete`.
pub fn decode_unit_reply(b: &[u8]) -> Result<(), KvError> {
    match split_reply(b)? {
        [] => Ok(()),
        _ => Err(KvError::Malformed),
    }
}

/// One page of `List`, validated, borrowing from the reply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ListPage<'a> {
    /// More keys follow the last one of this page.
    pub more: bool,
    count: usize,
    entries: &'a [u8],
}

impl<'a> ListPage<'a> {
    /// Number of keys in the page.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the page holds no key.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The keys, in byte order.
    pub fn keys(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = self.entries;
        core::iter::from_fn(move || {
            let (k, r) = take_short(rest)?;
            rest = r;
            Some(k)
        })
    }
}

/// Encodes the ok reply of `List` from keys in byte order (at most
/// [`LIST_MAX`], each a valid key); returns its length.
pub fn encode_list_reply<'k>(
    keys: impl IntoIterator<Item = &'k [u8]>,
    more: bool,
    out: &mut [u8; MSG_MAX],
) -> usize {
    out[0] = 0;
    out[1] = more as u8;
    let mut n = 0;
    let mut at = 3;
    for k in keys.into_iter().take(LIST_MAX) {
        out[at] = k.len() as u8;
        out[at + 1..at + 1 + k.len()].copy_from_slice(k);
        at += 1 + k.len();
        n += 1;
    }
    out[2] = n as u8;
    at
}

/// Decodes the reply of `List` (total; checks every length and the order).
pub fn decode_list_reply(b: &[u8]) -> Result<ListPage<'_>, KvError> {
    let p = split_reply(b)?;
    let (more, count, entries) = match p {
        [m @ (0 | 1), n, entries @ ..] if (*n as usize) <= LIST_MAX => {
            (*m == 1, *n as usize, entries)
        }
        _ => return Err(KvError::Malformed),
    };
    let mut rest = entries;
    let mut prev: Option<&[u8]> = None;
    for _ in 0..count {
        let (k, r) = take_short(rest).ok_or(KvError::Malformed)?;
        if !valid_key(k) || prev.is_some_and(|p| p >= k) {
            return Err(KvError::Malformed);
        }
        prev = Some(k);
        rest = r;
    }
    if !rest.is_empty() {
        return Err(KvError::Malformed);
    }
    Ok(ListPage {
        more,
        count,
        entries,
    })
}

/// The client side over any call transport: typed calls, checked replies.
pub mod client {
    use super::*;

    /// The call itself failed (the server is gone or was replaced).
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    pub struct CallFailed;

    /// A synchronous request/reply transport (IPC call in the OS).
    pub trait Transport {
        /// Sends `req` and receives the reply into `rep`; returns its length.
        fn call(&mut self, req: &[u8], rep: &mut [u8]) -> Result<usize, CallFailed>;
    }

    /// A KV client over a transport, with its own message buffers.
    pub struct KvClient<T> {
        t: T,
        req: [u8; MSG_MAX],
        rep: [u8; MSG_MAX],
    }

    impl<T: Transport> KvClient<T> {
        /// A client over `t`.
        pub fn new(t: T) -> Self {
            KvClient {
                t,
                req: [0; MSG_MAX],
                rep: [0; MSG_MAX],
            }
        }

        /// The transport.
        pub fn transport_mut(&mut self) -> &mut T {
            &mut self.t
        }

        fn call(&mut self, r: Request<'_>) -> Result<&[u8], KvError> {
            let n = r.encode(&mut self.req)?;
            let m = self
                .t
                .call(&self.req[..n], &mut self.rep)
                .map_err(|_| KvError::ServerRestarted)?;
            self.rep.get(..m).ok_or(KvError::Malformed)
        }

        /// Copies the value of `key` into `out`; returns its length.
        pub fn get(&mut self, key: &[u8], out: &mut [u8]) -> Result<usize, KvError> {
            let v = decode_get_reply(self.call(Request::Get { key })?)?;
            let dst = out.get_mut(..v.len()).ok_or(KvError::TooLarge)?;
            dst.copy_from_slice(v);
            Ok(v.len())
        }

        /// Stores `value` under `key`; `Ok` means it is on the disk.
        pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
            decode_unit_reply(self.call(Request::Put { key, value })?)
        }

        /// Removes `key`.
        pub fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
            decode_unit_reply(self.call(Request::Delete { key })?)
        }

        /// One page of keys after `after`.
        pub fn list(&mut self, after: &[u8]) -> Result<ListPage<'_>, KvError> {
            decode_list_reply(self.call(Request::List { after })?)
        }
    }
}

//! The server side: one request in, one reply out.
//!
//! The namespace is the caller's, fixed by the server from the IPC badge the
//! kernel delivered with the message; nothing in a request names one, so a
//! client can only ever reach its own keys.

use crate::block::BlockDevice;
use crate::proto::{
    encode_err, encode_list_reply, encode_ok_unit, KvError, Request, LIST_MAX, MSG_MAX,
};
use crate::store::{Namespace, Store, MAX_VALUE};

/// Serves one request of namespace `ns`; writes the reply into `out` and
/// returns its length. Never panics on any request bytes.
pub fn dispatch<D: BlockDevice>(
    store: &mut Store<D>,
    ns: Namespace,
    req: &[u8],
    out: &mut [u8; MSG_MAX],
) -> usize {
    let r = match Request::decode(req) {
        Ok(r) => r,
        Err(e) => return encode_err(e, out),
    };
    let res: Result<usize, KvError> = match r {
        Request::Get { key } => store
            .get(ns, key, &mut out[1..1 + MAX_VALUE])
            .map(|n| {
                out[0] = 0;
                1 + n
            })
            .map_err(Into::into),
        Request::Put { key, value } => store
            .put(ns, key, value)
            .map(|()| encode_ok_unit(out))
            .map_err(Into::into),
        Request::Delete { key } => store
            .delete(ns, key)
            .map(|()| encode_ok_unit(out))
            .map_err(Into::into),
        Request::List { after } => store
            .list(ns, after, LIST_MAX)
            .map(|(keys, more)| encode_list_reply(keys.iter().map(|k| &k[..]), more, out))
            .map_err(Into::into),
    };
    res.unwrap_or_else(|e| encode_err(e, out))
}

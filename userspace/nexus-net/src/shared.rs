//! Shared regions: bulk data without copies through IPC messages.
//!
//! A client that holds a kernel memory object (`docs/abi.md`, "Shared
//! memory") maps it, sends a read/write copy of its capability with an
//! `AttachShared` request, and from then on moves stream data with
//! `TcpWriteShared { offset, len }` / `TcpReadShared { offset, max }`: the
//! server copies between its own mapping of the region and the backend's
//! socket buffers, so the bytes cross no IPC message. One region per
//! client, at most [`MAX_SHARED_CLIENTS`] at once; `DetachShared` (or the
//! client's end, `drop_client`) unmaps it.
//!
//! The mapping itself is the daemon's business (kernel calls); this module
//! keeps the bounded table and the request handling around it, so the
//! rules are host-tested. The region's contents are untrusted and may
//! change under the server at any time (the client shares the pages): the
//! server only copies bytes out of or into them, within its bounds.

use crate::error::NetError;
use crate::server::Server;
use crate::types::ClientId;
use crate::wire::{decode_request, encode_error_reply, encode_reply, Reply, Request};
use crate::{FACADE_MSG_MAX, MAX_SHARED_CLIENTS, MAX_SHARED_REGION};

/// The attached regions: `R` is the daemon's record of a mapping.
#[derive(Clone, Debug)]
pub struct SharedRegions<R> {
    slots: [Option<(ClientId, R, u32)>; MAX_SHARED_CLIENTS],
}

impl<R: Copy> Default for SharedRegions<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Copy> SharedRegions<R> {
    /// No regions.
    pub const fn new() -> Self {
        SharedRegions {
            slots: [None; MAX_SHARED_CLIENTS],
        }
    }

    /// The region of `client` and its length in bytes.
    pub fn get(&self, client: ClientId) -> Option<(R, u32)> {
        self.slots
            .iter()
            .flatten()
            .find(|(c, _, _)| *c == client)
            .map(|&(_, r, len)| (r, len))
    }

    /// Forgets the region of `client` (the caller unmaps it).
    pub fn remove(&mut self, client: ClientId) -> Option<R> {
        let s = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Some((c, _, _)) if *c == client))?;
        s.take().map(|(_, r, _)| r)
    }

    /// Regions attached.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// True if no region is attached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&mut self, client: ClientId, r: R, len: u32) -> Result<(), NetError> {
        let s = self
            .slots
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(NetError::NoBufs)?;
        *s = Some((client, r, len));
        Ok(())
    }

    fn room_for(&self, client: ClientId) -> Result<(), NetError> {
        if self.get(client).is_some() {
            // One region per client: detach first.
            return Err(NetError::InvalidInput);
        }
        if self.len() >= MAX_SHARED_CLIENTS {
            return Err(NetError::NoBufs);
        }
        Ok(())
    }
}

/// Handles `AttachShared` / `DetachShared` for a daemon; `None` for any
/// other request (including one that does not decode: [`crate::dispatch`]
/// answers those).
///
/// `cap` says whether a capability came with the request (the daemon drops
/// it after this call whatever the outcome: a mapping keeps the object
/// alive). `map` maps it and returns the daemon's record and the region's
/// length; it is called only for a well-formed attach with a capability
/// from a client that has no region while the table has room. `unmap`
/// undoes a mapping (a detach, or a region of an unusable size).
#[allow(clippy::too_many_arguments)]
pub fn region_op<S: Copy, R: Copy>(
    server: &Server<S>,
    regions: &mut SharedRegions<R>,
    client: ClientId,
    request: &[u8],
    cap: bool,
    reply: &mut [u8; FACADE_MSG_MAX],
    map: impl FnOnce() -> Result<(R, u32), NetError>,
    unmap: impl FnOnce(R),
) -> Option<usize> {
    let (header, req) = decode_request(request).ok()?;
    if !matches!(req, Request::AttachShared | Request::DetachShared) {
        return None;
    }
    let instance = server.instance();
    let result = if header.instance != 0 && header.instance != instance {
        Err(NetError::ServerRestarted)
    } else if req == Request::AttachShared {
        attach(regions, client, cap, map, unmap)
    } else {
        match regions.remove(client) {
            Some(r) => {
                unmap(r);
                Ok(Reply::DetachShared)
            }
            None => Err(NetError::NotFound),
        }
    };
    let op = header.op;
    let corr = header.correlation;
    let n = match result {
        Ok(r) => encode_reply(&r, corr, instance, reply),
        Err(e) => encode_error_reply(op, e, corr, instance, reply),
    };
    // A header and a 4-byte body always fit in FACADE_MSG_MAX bytes.
    Some(n.unwrap_or(0))
}

fn attach<R: Copy>(
    regions: &mut SharedRegions<R>,
    client: ClientId,
    cap: bool,
    map: impl FnOnce() -> Result<(R, u32), NetError>,
    unmap: impl FnOnce(R),
) -> Result<Reply<'static>, NetError> {
    if !cap {
        return Err(NetError::InvalidInput);
    }
    regions.room_for(client)?;
    let (r, len) = map()?;
    if len == 0 || len as usize > MAX_SHARED_REGION {
        unmap(r);
        return Err(NetError::InvalidInput);
    }
    regions.insert(client, r, len)?;
    Ok(Reply::AttachShared { len })
}

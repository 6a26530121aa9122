//! Server-side handle table: bounded per-client handle allocation with generations.
//!
//! Design notes
//! ------------
//! * Fixed storage, no allocation: `MAX_CLIENTS` client slots, each with
//!   `MAX_HANDLES_PER_CLIENT` entries. A client slot is claimed on a client's
//!   first handle and released when its last handle is freed, so the client
//!   limit only counts clients that currently hold handles.
//! * Handle value = `generation << 8 | entry index`. The 24-bit generation
//!   of an entry is bumped every time the entry is freed (wrapping within
//!   `1..=0xFF_FFFF`, never 0), so a stale handle kept after `close` does not
//!   alias the entry's next occupant for 16 million reuses. Value 0 is never
//!   issued.
//! * Lookups are always made in the caller's own namespace: a handle issued
//!   to another client is simply unknown (`NotFound`) for this one, even if
//!   its numeric value happens to exist elsewhere.
//! * `S` is the backend's socket identity; the table stores it next to the
//!   handle kind so the dispatcher can reject kind mismatches.

use crate::error::NetError;
use crate::types::{ClientId, Handle};
use crate::{MAX_CLIENTS, MAX_HANDLES_PER_CLIENT};

const INDEX_BITS: u32 = 8;
const GEN_MAX: u32 = (1 << (32 - INDEX_BITS)) - 1;

/// What a handle refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandleKind {
    /// A listening TCP socket.
    TcpListener,
    /// A TCP connection.
    TcpStream,
    /// A bound UDP socket.
    UdpSocket,
}

#[derive(Clone, Copy)]
struct Entry<S> {
    generation: u32,
    used: Option<(HandleKind, S)>,
}

#[derive(Clone, Copy)]
struct ClientSlot<S> {
    owner: Option<ClientId>,
    count: usize,
    entries: [Entry<S>; MAX_HANDLES_PER_CLIENT],
}

/// Bounded per-client handle table mapping facade handles to backend sockets.
pub struct HandleTable<S> {
    clients: [ClientSlot<S>; MAX_CLIENTS],
}

/// Handles removed by [`HandleTable::drop_client`], to be closed in the backend.
pub struct Drained<S> {
    items: [Option<(Handle, HandleKind, S)>; MAX_HANDLES_PER_CLIENT],
    pos: usize,
}

impl<S: Copy> Iterator for Drained<S> {
    type Item = (Handle, HandleKind, S);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(slot) = self.items.get_mut(self.pos) {
            self.pos += 1;
            if let Some(item) = slot.take() {
                return Some(item);
            }
        }
        None
    }
}

impl<S: Copy> Default for HandleTable<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Copy> HandleTable<S> {
    /// An empty table.
    pub fn new() -> Self {
        let entry = Entry {
            generation: 1,
            used: None,
        };
        let slot = ClientSlot {
            owner: None,
            count: 0,
            entries: [entry; MAX_HANDLES_PER_CLIENT],
        };
        HandleTable {
            clients: [slot; MAX_CLIENTS],
        }
    }

    fn slot_of(&self, client: ClientId) -> Option<usize> {
        self.clients.iter().position(|c| c.owner == Some(client))
    }

    /// Whether `client` could get one more handle right now.
    pub fn has_room(&self, client: ClientId) -> bool {
        match self.slot_of(client) {
            Some(i) => self.clients[i].count < MAX_HANDLES_PER_CLIENT,
            None => self.clients.iter().any(|c| c.owner.is_none()),
        }
    }

    /// Allocates a handle for `client` referring to backend socket `sock`.
    ///
    /// `NoBufs` if the client already holds `MAX_HANDLES_PER_CLIENT` handles
    /// or `MAX_CLIENTS` other clients hold handles.
    pub fn insert(
        &mut self,
        client: ClientId,
        kind: HandleKind,
        sock: S,
    ) -> Result<Handle, NetError> {
        let ci = match self.slot_of(client) {
            Some(i) => i,
            None => {
                let i = self
                    .clients
                    .iter()
                    .position(|c| c.owner.is_none())
                    .ok_or(NetError::NoBufs)?;
                self.clients[i].owner = Some(client);
                i
            }
        };
        let slot = &mut self.clients[ci];
        let (idx, entry) = slot
            .entries
            .iter_mut()
            .enumerate()
            .find(|(_, e)| e.used.is_none())
            .ok_or(NetError::NoBufs)?;
        entry.used = Some((kind, sock));
        slot.count += 1;
        // idx < MAX_HANDLES_PER_CLIENT <= 255 (checked at compile time in lib.rs).
        Ok(Handle::from_raw(
            entry.generation << INDEX_BITS | idx as u32,
        ))
    }

    fn locate(&self, client: ClientId, handle: Handle) -> Result<(usize, usize), NetError> {
        let raw = handle.raw();
        let idx = (raw & ((1 << INDEX_BITS) - 1)) as usize;
        let generation = raw >> INDEX_BITS;
        let ci = self.slot_of(client).ok_or(NetError::NotFound)?;
        let entry = self.clients[ci]
            .entries
            .get(idx)
            .ok_or(NetError::NotFound)?;
        if generation == 0 || entry.generation != generation || entry.used.is_none() {
            return Err(NetError::NotFound);
        }
        Ok((ci, idx))
    }

    /// Looks up one of `client`'s handles: `NotFound` if unknown, closed,
    /// stale, or issued to another client.
    pub fn get(&self, client: ClientId, handle: Handle) -> Result<(HandleKind, S), NetError> {
        let (ci, idx) = self.locate(client, handle)?;
        self.clients[ci].entries[idx].used.ok_or(NetError::NotFound)
    }

    /// Like [`get`](Self::get) but also requires `kind` (`InvalidInput` if
    /// the handle is of another kind).
    pub fn get_kind(
        &self,
        client: ClientId,
        handle: Handle,
        kind: HandleKind,
    ) -> Result<S, NetError> {
        match self.get(client, handle)? {
            (k, s) if k == kind => Ok(s),
            _ => Err(NetError::InvalidInput),
        }
    }

    /// Frees one of `client`'s handles and returns what it referred to; the
    /// handle value becomes stale. Same errors as [`get`](Self::get).
    pub fn remove(
        &mut self,
        client: ClientId,
        handle: Handle,
    ) -> Result<(HandleKind, S), NetError> {
        let (ci, idx) = self.locate(client, handle)?;
        let slot = &mut self.clients[ci];
        let entry = &mut slot.entries[idx];
        let used = entry.used.take().ok_or(NetError::NotFound)?;
        entry.generation = if entry.generation >= GEN_MAX {
            1
        } else {
            entry.generation + 1
        };
        slot.count -= 1;
        if slot.count == 0 {
            slot.owner = None;
        }
        Ok(used)
    }

    /// Frees every handle of `client` (e.g. the client died) and returns
    /// them so the backend can close the underlying sockets.
    pub fn drop_client(&mut self, client: ClientId) -> Drained<S> {
        let mut out = Drained {
            items: [None; MAX_HANDLES_PER_CLIENT],
            pos: 0,
        };
        let Some(ci) = self.slot_of(client) else {
            return out;
        };
        let mut handles = [None; MAX_HANDLES_PER_CLIENT];
        for (idx, e) in self.clients[ci].entries.iter().enumerate() {
            if e.used.is_some() {
                handles[idx] = Some(Handle::from_raw(e.generation << INDEX_BITS | idx as u32));
            }
        }
        for (i, h) in handles.iter().enumerate() {
            if let Some(h) = *h {
                if let Ok((kind, s)) = self.remove(client, h) {
                    out.items[i] = Some((h, kind, s));
                }
            }
        }
        out
    }

    /// Number of handles `client` holds.
    pub fn count(&self, client: ClientId) -> usize {
        self.slot_of(client).map_or(0, |i| self.clients[i].count)
    }

    /// Number of clients holding at least one handle.
    pub fn clients(&self) -> usize {
        self.clients.iter().filter(|c| c.owner.is_some()).count()
    }

    /// Total number of open handles over all clients.
    pub fn total(&self) -> usize {
        self.clients.iter().map(|c| c.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_wraps_without_zero() {
        let mut t = HandleTable::<u8>::new();
        let c = ClientId(1);
        t.clients[0].owner = Some(c);
        t.clients[0].entries[0].generation = GEN_MAX;
        t.clients[0].owner = None;
        let h = t.insert(c, HandleKind::UdpSocket, 0).unwrap();
        assert_eq!(h.raw() >> INDEX_BITS, GEN_MAX);
        t.remove(c, h).unwrap();
        let h2 = t.insert(c, HandleKind::UdpSocket, 0).unwrap();
        assert_eq!(h2.raw() >> INDEX_BITS, 1);
        assert_ne!(h, h2);
    }

    #[test]
    fn zero_and_out_of_range_handles_are_not_found() {
        let mut t = HandleTable::<u8>::new();
        let c = ClientId(9);
        let h = t.insert(c, HandleKind::TcpStream, 3).unwrap();
        assert_ne!(h.raw(), 0);
        assert_eq!(t.get(c, Handle::from_raw(0)), Err(NetError::NotFound));
        assert_eq!(t.get(c, Handle::from_raw(0x1ff)), Err(NetError::NotFound));
        assert_eq!(t.get(c, h), Ok((HandleKind::TcpStream, 3)));
    }
}

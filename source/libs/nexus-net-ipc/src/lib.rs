//! The sockets facade over Neuron IPC: the client's
//! [`Transport`](nexus_net::Transport) and the server's table of parked
//! requests' reply tokens ([`ReplyTokens`]), shared by `netstackd` and
//! `netstackd-lite`.
//!
//! A service that holds a send capability for the stack's endpoint wraps
//! its slot in an [`IpcTransport`] and hands it to `nexus_net::NetClient`.
//! Each facade request is one `IpcCall`; the server may park it (`Wait`,
//! `Ping`) and answer later, so the call itself has no deadline: the
//! request's own absolute deadline bounds it, and the kernel ends the call
//! with `PeerDead` if netstackd goes away.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use nexus_abi::Error;
use nexus_net::{ClientId, NetError, MAX_PARKED};

/// Maps a kernel IPC error to the facade's error model.
pub fn map_ipc_error(e: Error) -> NetError {
    match e {
        // The server ended (or restarted): its handles are gone.
        Error::PeerDead => NetError::ServerRestarted,
        Error::TimedOut => NetError::TimedOut,
        Error::TooLarge => NetError::Malformed,
        Error::NoResources => NetError::NoBufs,
        // No capability, wrong kind, no rights: this task may not use the
        // network at all.
        _ => NetError::NotFound,
    }
}

/// A facade transport over the endpoint capability in `slot`.
#[derive(Copy, Clone, Debug)]
pub struct IpcTransport {
    slot: u32,
}

impl IpcTransport {
    /// Uses the send capability in `slot`.
    pub const fn new(slot: u32) -> Self {
        IpcTransport { slot }
    }

    /// The capability slot.
    pub const fn slot(&self) -> u32 {
        self.slot
    }
}

#[cfg(target_os = "none")]
impl nexus_net::Transport for IpcTransport {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        nexus_rt::sys::ipc_call(self.slot, request, reply, None, 0)
            .map(|(n, _)| n)
            .map_err(map_ipc_error)
    }

    fn call_with_cap(
        &mut self,
        request: &[u8],
        reply: &mut [u8],
        cap: u32,
    ) -> Result<usize, NetError> {
        match nexus_rt::sys::ipc_call(self.slot, request, reply, Some(cap), 0) {
            Ok((n, _)) => Ok(n),
            // The server offered no slot (it has no shared regions) or the
            // capability may not travel: the caller falls back to messages.
            Err(Error::NoSlots | Error::NoRights | Error::NoCapability) => {
                Err(NetError::Unsupported)
            }
            Err(e) => Err(map_ipc_error(e)),
        }
    }
}

/// Kernel reply tokens of parked requests, keyed by (client, correlation).
///
/// Bounded like the server's parking queue ([`MAX_PARKED`]). A client that
/// reuses a correlation id while one is parked still gets one reply per
/// request (which of its calls gets which is unspecified: its own fault).
#[derive(Debug)]
pub struct ReplyTokens {
    slots: [Option<(ClientId, u32, u64)>; MAX_PARKED],
}

impl Default for ReplyTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyTokens {
    /// An empty table.
    pub const fn new() -> Self {
        ReplyTokens {
            slots: [None; MAX_PARKED],
        }
    }

    /// Remembers `token` for (client, correlation). False if full (the
    /// server's parking queue has the same bound, so this does not happen
    /// unless the two disagree; the caller then answers at once).
    pub fn insert(&mut self, client: ClientId, correlation: u32, token: u64) -> bool {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(s) => {
                *s = Some((client, correlation, token));
                true
            }
            None => false,
        }
    }

    /// Takes the oldest token stored for (client, correlation).
    pub fn take(&mut self, client: ClientId, correlation: u32) -> Option<u64> {
        let s = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|(c, k, _)| c == client && k == correlation))?;
        s.take().map(|(_, _, t)| t)
    }

    /// Forgets every token of a client that has ended.
    pub fn drop_client(&mut self, client: ClientId) -> usize {
        let mut n = 0;
        for s in self.slots.iter_mut() {
            if s.is_some_and(|(c, _, _)| c == client) {
                *s = None;
                n += 1;
            }
        }
        n
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// True if none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_per_client_and_bounded() {
        let mut t = ReplyTokens::new();
        let (a, b) = (ClientId(1), ClientId(2));
        assert!(t.insert(a, 5, 100));
        assert!(t.insert(b, 5, 200));
        assert!(t.insert(a, 5, 101));
        assert_eq!(t.take(b, 5), Some(200));
        assert_eq!(t.take(b, 5), None);
        assert_eq!(t.take(a, 5), Some(100), "lowest slot first");
        assert_eq!(t.take(a, 6), None);
        assert_eq!(t.drop_client(a), 1);
        assert!(t.is_empty());
        for i in 0..MAX_PARKED as u32 {
            assert!(t.insert(a, i, u64::from(i)));
        }
        assert!(!t.insert(b, 0, 0), "bounded");
        assert_eq!(t.len(), MAX_PARKED);
    }

    #[test]
    fn kernel_errors_map_to_facade_errors() {
        assert_eq!(map_ipc_error(Error::PeerDead), NetError::ServerRestarted);
        assert_eq!(map_ipc_error(Error::TimedOut), NetError::TimedOut);
        assert_eq!(map_ipc_error(Error::NoCapability), NetError::NotFound);
        assert_eq!(map_ipc_error(Error::NoRights), NetError::NotFound);
    }
}

//! The sockets-facade [`Transport`](nexus_net::Transport) over Neuron IPC.
//!
//! A service that holds a send capability for `netstackd`'s endpoint wraps
//! its slot in an [`IpcTransport`] and hands it to `nexus_net::NetClient`.
//! Each facade request is one `IpcCall`; the server may park it (`Wait`,
//! `Ping`) and answer later, so the call itself has no deadline: the
//! request's own absolute deadline bounds it, and the kernel ends the call
//! with `PeerDead` if netstackd goes away.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use nexus_abi::Error;
use nexus_net::NetError;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_map_to_facade_errors() {
        assert_eq!(map_ipc_error(Error::PeerDead), NetError::ServerRestarted);
        assert_eq!(map_ipc_error(Error::TimedOut), NetError::TimedOut);
        assert_eq!(map_ipc_error(Error::NoCapability), NetError::NotFound);
        assert_eq!(map_ipc_error(Error::NoRights), NetError::NotFound);
    }
}

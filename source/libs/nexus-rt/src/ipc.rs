//! IPC helpers: a kernel endpoint as an interface [`Transport`], and a
//! service's start-up argument fetched from init.
use crate::sys;
use nexus_abi::Error;
use nexus_idl::{Reader, Transport, TransportError, Wire};
use nexus_interfaces::init;

/// A send capability used as the transport of a generated client stub.
#[derive(Copy, Clone, Debug)]
pub struct Endpoint(pub u32);

impl Transport for Endpoint {
    fn call(
        &mut self,
        req: &[u8],
        reply: &mut [u8],
        deadline_ns: u64,
    ) -> Result<usize, TransportError> {
        match sys::ipc_call(self.0, req, reply, None, deadline_ns) {
            Ok((n, _)) => Ok(n),
            Err(Error::PeerDead) => Err(TransportError::PeerDead),
            Err(Error::TimedOut) => Err(TransportError::TimedOut),
            Err(Error::TooLarge) => Err(TransportError::TooLarge),
            Err(_) => Err(TransportError::Denied),
        }
    }
}

/// A client of init's interface over the capability at `slot`.
pub fn init_client(slot: u32) -> init::Client<Endpoint> {
    init::Client::new(Endpoint(slot))
}

/// Fetches this service's start-up argument from init (over the init
/// capability at `init_slot`) and decodes it as `T`.
pub fn fetch_args<T: Wire>(init_slot: u32) -> Result<T, init::Error> {
    let raw = init_client(init_slot).args()?;
    let mut r = Reader::new(&raw);
    let v = T::decode(&mut r).map_err(|_| init::Error::Malformed)?;
    r.finish().map_err(|_| init::Error::Malformed)?;
    Ok(v)
}

//! `SimNet`: fake network + one facade server per node + in-process transports.
//!
//! Design notes
//! ------------
//! * Each node runs its own [`Server`] (as each device runs its own
//!   `netstackd`); a [`SimTransport`] plays the kernel IPC for one client id
//!   on one node and runs the real [`dispatch`] path, so host tests of
//!   client services (e.g. DSoftBus discovery and sessions between 2–3
//!   nodes) exercise the exact production codec and dispatcher.
//! * Single-threaded time model: when a call is parked (`wait`, `ping`), no
//!   other actor can run until it returns, so the transport fast-forwards
//!   the virtual clock to the next instant where something can change (the
//!   earliest parked deadline or fake-network event) and polls again. A
//!   `wait` is therefore satisfied only by what already happened (data
//!   already sent, connections already queued); otherwise it returns
//!   `TimedOut` with the clock at its deadline. Drive multi-node scenarios
//!   step by step with non-blocking calls, or waits whose deadline is `now`.
//! * Handles are shared through `Rc<RefCell<_>>`; the sim is not `Send`.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use super::{FakeNet, FakeSocket, NodeId};
use crate::client::{NetClient, Transport};
use crate::error::NetError;
use crate::server::{dispatch, Outcome, Server};
use crate::types::{ClientId, IfaceInfo, Ipv4Addr};
use crate::FACADE_MSG_MAX;

const MAX_FAST_FORWARDS: usize = 1 << 20;

struct Inner {
    net: FakeNet,
    servers: Vec<Server<FakeSocket>>,
    scratch: Box<[u8; FACADE_MSG_MAX]>,
    next_instance: u32,
}

impl Inner {
    fn new_server(&mut self) -> Server<FakeSocket> {
        let s = Server::new(self.next_instance);
        self.next_instance = self.next_instance.wrapping_add(1).max(1);
        s
    }
}

/// A fake network whose nodes each run a facade server. Cloning shares it.
#[derive(Clone)]
pub struct SimNet {
    inner: Rc<RefCell<Inner>>,
}

impl Default for SimNet {
    fn default() -> Self {
        Self::new()
    }
}

impl SimNet {
    /// An empty simulation at virtual time 0.
    pub fn new() -> Self {
        let scratch: Box<[u8; FACADE_MSG_MAX]> = vec![0u8; FACADE_MSG_MAX]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("length is FACADE_MSG_MAX"));
        SimNet {
            inner: Rc::new(RefCell::new(Inner {
                net: FakeNet::new(),
                servers: Vec::new(),
                scratch,
                next_instance: 1,
            })),
        }
    }

    /// Adds a node (`addr`/24) with its own server.
    pub fn add_node(&self, addr: Ipv4Addr) -> NodeId {
        let mut inner = self.inner.borrow_mut();
        let id = inner.net.add_node(addr);
        let server = inner.new_server();
        inner.servers.push(server);
        id
    }

    /// Adds a node with a full interface configuration and its own server.
    pub fn add_node_with(&self, iface: IfaceInfo) -> NodeId {
        let mut inner = self.inner.borrow_mut();
        let id = inner.net.add_node_with(iface);
        let server = inner.new_server();
        inner.servers.push(server);
        id
    }

    /// A transport for client `client_id` on `node`.
    pub fn transport(&self, node: NodeId, client_id: u64) -> SimTransport {
        SimTransport {
            inner: Rc::clone(&self.inner),
            node,
            client: ClientId(client_id),
        }
    }

    /// A typed client for client `client_id` on `node`.
    pub fn client(&self, node: NodeId, client_id: u64) -> NetClient<SimTransport> {
        NetClient::new(self.transport(node, client_id))
    }

    /// Current virtual time.
    pub fn now(&self) -> u64 {
        self.inner.borrow().net.now()
    }

    /// Moves virtual time forward.
    pub fn advance(&self, ns: u64) {
        self.inner.borrow_mut().net.advance(ns);
    }

    /// Runs `f` on the underlying fake network (configuration, links, stats).
    pub fn with_net<R>(&self, f: impl FnOnce(&mut FakeNet) -> R) -> R {
        f(&mut self.inner.borrow_mut().net)
    }

    /// Runs `f` on the server of `node` (panics if `node` is not from this sim).
    pub fn with_server<R>(&self, node: NodeId, f: impl FnOnce(&mut Server<FakeSocket>) -> R) -> R {
        f(&mut self.inner.borrow_mut().servers[node.index()])
    }

    /// Simulates the death of a client: its sockets on `node` are closed.
    pub fn drop_client(&self, node: NodeId, client_id: u64) -> usize {
        let mut inner = self.inner.borrow_mut();
        let Inner { net, servers, .. } = &mut *inner;
        servers[node.index()].drop_client(&mut net.node(node), ClientId(client_id))
    }

    /// Simulates a crash and restart of `node`'s `netstackd`: every socket of
    /// the node is reset and a server with a new instance id takes over, so
    /// existing clients get `ServerRestarted`.
    pub fn restart_node(&self, node: NodeId) {
        let mut inner = self.inner.borrow_mut();
        inner.net.crash_node_sockets(node);
        let server = inner.new_server();
        inner.servers[node.index()] = server;
    }
}

/// In-process [`Transport`] for one client id on one [`SimNet`] node.
pub struct SimTransport {
    inner: Rc<RefCell<Inner>>,
    node: NodeId,
    client: ClientId,
}

impl SimTransport {
    /// The node this transport talks to.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The client id the server sees.
    pub fn client_id(&self) -> ClientId {
        self.client
    }
}

fn copy_out(src: &[u8], dst: &mut [u8]) -> Result<usize, NetError> {
    let d = dst.get_mut(..src.len()).ok_or(NetError::NoBufs)?;
    d.copy_from_slice(src);
    Ok(src.len())
}

impl Transport for SimTransport {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        let mut guard = self.inner.borrow_mut();
        let Inner {
            net,
            servers,
            scratch,
            ..
        } = &mut *guard;
        let server = &mut servers[self.node.index()];
        let now = net.now();
        match dispatch(
            &mut net.node(self.node),
            server,
            self.client,
            request,
            scratch,
            now,
        ) {
            Outcome::Reply(n) => return copy_out(&scratch[..n], reply),
            Outcome::Parked => {}
        }
        // Parked requests decoded fine, so the correlation id is present.
        let corr = request
            .get(4..8)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(NetError::Malformed)?;
        for _ in 0..MAX_FAST_FORWARDS {
            let mut answer: Option<Result<usize, NetError>> = None;
            let now = net.now();
            let me = self.client;
            server.poll(&mut net.node(self.node), now, |client, c, bytes| {
                if client == me && c == corr {
                    answer = Some(copy_out(bytes, reply));
                }
            });
            if let Some(a) = answer {
                return a;
            }
            let next = match (server.next_deadline(), net.next_event()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).ok_or(NetError::TimedOut)?,
            };
            if next <= now {
                return Err(NetError::TimedOut);
            }
            net.set_now(next);
        }
        Err(NetError::TimedOut)
    }
}

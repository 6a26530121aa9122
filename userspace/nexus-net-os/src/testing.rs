//! Test driver (feature `testing`): stacks on a memlink behind real facade servers.
//!
//! Design notes
//! ------------
//! * [`TestNet`] holds one or two [`NetStack`]s on a [`memlink`] pair, one
//!   `nexus_net::Server` per stack, a virtual clock, and (for single-stack
//!   setups) the raw peer endpoint with an optional *responder* closure, so
//!   a test can play e.g. a DHCP server on the other side of the wire.
//! * [`TestTransport`] is the in-process `Transport` for `NetClient`: it
//!   runs the production path (`dispatch` on the node's server and stack,
//!   writing straight into the client's reply buffer), then pumps the
//!   network. When a request is parked (`Wait`, `Ping`) it keeps pumping
//!   and advancing the clock to the next instant anything is due (stack
//!   timers, parked deadlines) and runs `Server::poll` until that
//!   correlation's reply comes out.
//! * Pumping = polling every stack (and the responder) at the current time
//!   until nothing moves, then `Server::poll` on every node. Replies for
//!   parked requests that are not the current caller's go to a mailbox.
//! * Everything is deterministic: no real time, no sockets, no threads.
//!   Single-threaded (`Rc<RefCell<_>>`).

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use nexus_net::{
    dispatch, ClientId, NetClient, NetError, Outcome, Server, Transport, FACADE_MSG_MAX,
};

use crate::memlink::{self, LinkConfig, MemLink};
use crate::{AddrPolicy, Ipv4Addr, NetEvent, NetStack, SocketId, StackConfig};

/// Polling rounds per pump before giving up on reaching quiet.
const MAX_PUMP_ROUNDS: usize = 10_000;
/// Clock fast-forwards a parked call may take.
const MAX_FAST_FORWARDS: usize = 1 << 20;

/// Answer to a parked request that was not the current caller's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Late {
    /// Node whose server answered.
    pub node: usize,
    /// Client the reply is for.
    pub client: ClientId,
    /// Correlation id of the parked request.
    pub correlation: u32,
    /// Encoded reply.
    pub bytes: Vec<u8>,
}

/// Responder: runs on every pump with the raw peer endpoint and the time;
/// returns true if it did something (sent or consumed a frame).
pub type Responder = Box<dyn FnMut(&MemLink, u64) -> bool>;

/// One stack with its facade server and the events it reported.
pub struct Node {
    /// The stack.
    pub stack: NetStack<MemLink>,
    /// Its facade server.
    pub server: Server<SocketId>,
    /// Events reported by `poll`, oldest first.
    pub events: Vec<NetEvent>,
}

struct Inner {
    now_ns: u64,
    nodes: Vec<Node>,
    raw_peer: Option<MemLink>,
    responder: Option<Responder>,
    mailbox: Vec<Late>,
    scratch: Box<[u8; FACADE_MSG_MAX]>,
}

impl Inner {
    fn pump(&mut self) -> bool {
        let now = self.now_ns;
        let mut any = false;
        for _ in 0..MAX_PUMP_ROUNDS {
            let mut progress = false;
            for node in self.nodes.iter_mut() {
                let events = &mut node.events;
                progress |= node.stack.poll(now, &mut |e| events.push(e));
            }
            if let (Some(peer), Some(r)) = (self.raw_peer.as_ref(), self.responder.as_mut()) {
                progress |= r(peer, now);
            }
            if !progress {
                break;
            }
            any = true;
        }
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let mailbox = &mut self.mailbox;
            node.server
                .poll(&mut node.stack, now, |client, correlation, bytes| {
                    mailbox.push(Late {
                        node: i,
                        client,
                        correlation,
                        bytes: bytes.to_vec(),
                    });
                });
        }
        any
    }

    /// Earliest instant anything is due: stack timers and parked deadlines.
    fn next_due(&mut self) -> Option<u64> {
        let now = self.now_ns;
        let mut next: Option<u64> = None;
        for node in self.nodes.iter_mut() {
            for t in [node.stack.poll_at(now), node.server.next_deadline()]
                .into_iter()
                .flatten()
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// Pumps, then moves the clock to the next due instant (at most
    /// `limit`); returns false if nothing is scheduled before `limit`.
    fn step(&mut self, limit: u64) -> bool {
        let progress = self.pump();
        match self.next_due() {
            Some(t) if t > self.now_ns => {
                self.now_ns = t.min(limit).max(self.now_ns);
                true
            }
            // Work is due now: pump again (nudge the clock if stuck).
            Some(_) => {
                if !progress {
                    self.now_ns = self
                        .now_ns
                        .saturating_add(1_000)
                        .min(limit.max(self.now_ns));
                }
                true
            }
            None => {
                if self.now_ns < limit && limit != u64::MAX {
                    self.now_ns = limit;
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// Stacks on a memlink, each behind a facade server, with a virtual clock.
/// Cloning shares it.
#[derive(Clone)]
pub struct TestNet {
    inner: Rc<RefCell<Inner>>,
}

/// MAC address of test node `i` (locally administered).
pub fn test_mac(i: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, i.wrapping_add(1)]
}

/// Address of test node `i` in the default pair (`10.0.0.(i+1)/24`).
pub fn test_addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i.wrapping_add(1))
}

/// Static configuration of test node `i` with default sizes.
pub fn static_config(i: u8) -> StackConfig {
    StackConfig::new(
        test_mac(i),
        AddrPolicy::Static {
            addr: test_addr(i),
            prefix_len: 24,
            gateway: None,
        },
    )
}

fn boxed_msg() -> Box<[u8; FACADE_MSG_MAX]> {
    let v: Box<[u8]> = vec![0u8; FACADE_MSG_MAX].into_boxed_slice();
    match v.try_into() {
        Ok(b) => b,
        Err(_) => unreachable!("length is FACADE_MSG_MAX"),
    }
}

impl TestNet {
    /// Two stacks (`a` on side A, `b` on side B) joined by a memlink, at
    /// virtual time 0. Server instances are 1 and 2.
    pub fn pair(a: StackConfig, b: StackConfig, link: LinkConfig) -> Self {
        let (la, lb) = memlink::pair(link);
        let nodes = vec![
            Node {
                stack: NetStack::new(la, a, 0),
                server: Server::new(1),
                events: Vec::new(),
            },
            Node {
                stack: NetStack::new(lb, b, 0),
                server: Server::new(2),
                events: Vec::new(),
            },
        ];
        Self::from_parts(nodes, None)
    }

    /// The default pair: `10.0.0.1/24` and `10.0.0.2/24`, default sizes.
    pub fn pair_default() -> Self {
        Self::pair(static_config(0), static_config(1), LinkConfig::default())
    }

    /// One stack on side A; the raw side-B endpoint is driven by the
    /// optional responder (see [`set_responder`](Self::set_responder)).
    pub fn single(cfg: StackConfig, link: LinkConfig) -> Self {
        let (la, lb) = memlink::pair(link);
        let nodes = vec![Node {
            stack: NetStack::new(la, cfg, 0),
            server: Server::new(1),
            events: Vec::new(),
        }];
        Self::from_parts(nodes, Some(lb))
    }

    fn from_parts(nodes: Vec<Node>, raw_peer: Option<MemLink>) -> Self {
        TestNet {
            inner: Rc::new(RefCell::new(Inner {
                now_ns: 0,
                nodes,
                raw_peer,
                responder: None,
                mailbox: Vec::new(),
                scratch: boxed_msg(),
            })),
        }
    }

    /// Installs the responder for the raw peer of a [`single`](Self::single) net.
    pub fn set_responder(&self, r: Responder) {
        self.inner.borrow_mut().responder = Some(r);
    }

    /// Runs `f` on the raw peer endpoint (`None` for a pair).
    pub fn with_raw_peer<R>(&self, f: impl FnOnce(Option<&MemLink>) -> R) -> R {
        f(self.inner.borrow().raw_peer.as_ref())
    }

    /// Number of stacks.
    pub fn nodes(&self) -> usize {
        self.inner.borrow().nodes.len()
    }

    /// Current virtual time in ns.
    pub fn now(&self) -> u64 {
        self.inner.borrow().now_ns
    }

    /// Moves the clock forward by `ns` (without visiting intermediate
    /// timers) and pumps.
    pub fn advance(&self, ns: u64) {
        let mut inner = self.inner.borrow_mut();
        inner.now_ns = inner.now_ns.saturating_add(ns);
        inner.pump();
    }

    /// Polls every stack at the current time until quiet, then answers
    /// parked requests (into the mailbox). True if anything moved.
    pub fn pump(&self) -> bool {
        self.inner.borrow_mut().pump()
    }

    /// Runs the network for `ns` of virtual time, visiting every timer.
    pub fn run_for(&self, ns: u64) {
        let mut inner = self.inner.borrow_mut();
        let end = inner.now_ns.saturating_add(ns);
        for _ in 0..MAX_FAST_FORWARDS {
            if inner.now_ns >= end || !inner.step(end) {
                break;
            }
        }
        inner.pump();
    }

    /// Runs until `pred` holds (checked after every step) or `max_ns` of
    /// virtual time passed; returns whether `pred` held.
    pub fn run_until(&self, max_ns: u64, mut pred: impl FnMut(&TestNet) -> bool) -> bool {
        let end = self.now().saturating_add(max_ns);
        for _ in 0..MAX_FAST_FORWARDS {
            if pred(self) {
                return true;
            }
            let mut inner = self.inner.borrow_mut();
            if inner.now_ns >= end || !inner.step(end) {
                drop(inner);
                return pred(self);
            }
        }
        pred(self)
    }

    /// Runs `f` on node `i`'s stack (panics if `i` is out of range: test code).
    pub fn with_stack<R>(&self, i: usize, f: impl FnOnce(&mut NetStack<MemLink>) -> R) -> R {
        f(&mut self.inner.borrow_mut().nodes[i].stack)
    }

    /// Runs `f` on node `i` (stack, server, events).
    pub fn with_node<R>(&self, i: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        f(&mut self.inner.borrow_mut().nodes[i])
    }

    /// Takes the events node `i` reported so far.
    pub fn take_events(&self, i: usize) -> Vec<NetEvent> {
        core::mem::take(&mut self.inner.borrow_mut().nodes[i].events)
    }

    /// Takes the replies to parked requests that no transport was waiting for.
    pub fn take_mailbox(&self) -> Vec<Late> {
        core::mem::take(&mut self.inner.borrow_mut().mailbox)
    }

    /// Dispatches raw request bytes on node `i` as `client` at the current
    /// time and pumps; returns the outcome and the reply bytes (empty if
    /// parked).
    pub fn dispatch_raw(&self, i: usize, client: u64, request: &[u8]) -> (Outcome, Vec<u8>) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let now = inner.now_ns;
        let node = &mut inner.nodes[i];
        let out = dispatch(
            &mut node.stack,
            &mut node.server,
            ClientId(client),
            request,
            &mut inner.scratch,
            now,
        );
        let bytes = match out {
            Outcome::Reply(n) => inner
                .scratch
                .get(..n)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            Outcome::Parked => Vec::new(),
        };
        inner.pump();
        (out, bytes)
    }

    /// A dead client on node `i`: its sockets are closed (`Server::drop_client`).
    pub fn drop_client(&self, i: usize, client: u64) -> usize {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let node = &mut inner.nodes[i];
        let n = node.server.drop_client(&mut node.stack, ClientId(client));
        inner.pump();
        n
    }

    /// An in-process transport for `client` on node `i`.
    pub fn transport(&self, i: usize, client: u64) -> TestTransport {
        TestTransport {
            inner: Rc::clone(&self.inner),
            node: i,
            client: ClientId(client),
        }
    }

    /// A typed facade client for `client` on node `i`.
    pub fn client(&self, i: usize, client: u64) -> NetClient<TestTransport> {
        NetClient::new(self.transport(i, client))
    }
}

/// In-process [`Transport`]: `dispatch` on one node's server + stack.
pub struct TestTransport {
    inner: Rc<RefCell<Inner>>,
    node: usize,
    client: ClientId,
}

impl TestTransport {
    /// The node this transport talks to.
    pub fn node(&self) -> usize {
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

impl Transport for TestTransport {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, NetError> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let now = inner.now_ns;
        let node = inner
            .nodes
            .get_mut(self.node)
            .ok_or(NetError::ServerRestarted)?;
        // Zero-copy when the caller's buffer is exactly one message (NetClient's is).
        let out = match <&mut [u8; FACADE_MSG_MAX]>::try_from(&mut *reply) {
            Ok(buf) => dispatch(
                &mut node.stack,
                &mut node.server,
                self.client,
                request,
                buf,
                now,
            ),
            Err(_) => {
                let out = dispatch(
                    &mut node.stack,
                    &mut node.server,
                    self.client,
                    request,
                    &mut inner.scratch,
                    now,
                );
                if let Outcome::Reply(n) = out {
                    let src = inner.scratch.get(..n).ok_or(NetError::NoBufs)?;
                    copy_out(src, reply)?;
                }
                out
            }
        };
        if let Outcome::Reply(n) = out {
            inner.pump();
            return Ok(n);
        }
        // Parked: the request decoded, so its correlation id is present.
        let corr = request
            .get(4..8)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(NetError::Malformed)?;
        let (me, node_ix) = (self.client, self.node);
        for _ in 0..MAX_FAST_FORWARDS {
            inner.pump();
            if let Some(pos) = inner
                .mailbox
                .iter()
                .position(|l| l.node == node_ix && l.client == me && l.correlation == corr)
            {
                let late = inner.mailbox.remove(pos);
                return copy_out(&late.bytes, reply);
            }
            if !inner.step(u64::MAX) {
                return Err(NetError::TimedOut);
            }
        }
        Err(NetError::TimedOut)
    }
}

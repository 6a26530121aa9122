//! The "LN" v1 request dispatcher of `netstackd-lite`, with parking.
//!
//! [`Server::handle`] decodes one request and either answers at once (the
//! reply bytes are written to `out`) or, when the operation would block,
//! *parks* it with the caller's kernel reply token. [`Server::poll`] retries
//! every parked request after the stack made progress, answering those that
//! completed and those whose deadline passed (`TIMED_OUT`). At most
//! [`MAX_PARKED`] requests are parked (more get `NO_RESOURCES` at once), so a
//! client can hold at most that many of the server's resources, and the
//! server itself never blocks on a client.

use alloc::vec::Vec;

use crate::lnproto::{self as ln, Request, Status};
use crate::stack::{Owner, Stack};

/// Most requests parked at once (all clients).
pub const MAX_PARKED: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    UdpRecv { h: u32, max: u16 },
    Accept { h: u32 },
    Read { h: u32, max: u16 },
    Write { h: u32, data: Vec<u8> },
    Ping { id: u16 },
}

#[derive(Clone, Debug)]
struct Parked {
    token: u64,
    owner: Owner,
    corr: u32,
    op: Op,
    deadline: u64,
}

/// Parked requests. See the module docs.
#[derive(Debug, Default)]
pub struct Server {
    parked: Vec<Parked>,
}

fn code(op: &Op) -> u8 {
    match op {
        Op::UdpRecv { .. } => ln::OP_UDP_RECV,
        Op::Accept { .. } => ln::OP_ACCEPT,
        Op::Read { .. } => ln::OP_READ,
        Op::Write { .. } => ln::OP_WRITE,
        Op::Ping { .. } => ln::OP_PING,
    }
}

/// Tries a blocking op once: `Some(reply length)` if it completed (with
/// success or an error), `None` if it would still block.
fn attempt(stack: &mut Stack, owner: Owner, corr: u32, op: &Op, out: &mut [u8]) -> Option<usize> {
    let c = code(op);
    let err = |s: Status, out: &mut [u8]| Some(ln::encode_reply(c, corr, s, &[], out));
    match op {
        Op::UdpRecv { h, max } => match stack.udp_recv(owner, *h, usize::from(*max)) {
            Ok(Some((a, p, d))) => Some(ln::encode_reply(
                c,
                corr,
                Status::Ok,
                &[&a, &p.to_le_bytes(), &(d.len() as u16).to_le_bytes(), &d],
                out,
            )),
            Ok(None) => None,
            Err(s) => err(s, out),
        },
        Op::Accept { h } => match stack.accept(owner, *h) {
            Ok(Some((s, port))) => Some(ln::encode_reply(
                c,
                corr,
                Status::Ok,
                &[
                    &s.to_le_bytes(),
                    &crate::stack::LO_ADDR,
                    &port.to_le_bytes(),
                ],
                out,
            )),
            Ok(None) => None,
            Err(s) => err(s, out),
        },
        Op::Read { h, max } => match stack.read(owner, *h, usize::from(*max)) {
            Ok(Some(d)) => Some(ln::encode_reply(
                c,
                corr,
                Status::Ok,
                &[&(d.len() as u16).to_le_bytes(), &d],
                out,
            )),
            Ok(None) => None,
            Err(s) => err(s, out),
        },
        Op::Write { h, data } => match stack.write(owner, *h, data) {
            Ok(Some(n)) => Some(ln::encode_reply(
                c,
                corr,
                Status::Ok,
                &[&(n as u16).to_le_bytes()],
                out,
            )),
            Ok(None) => None,
            Err(s) => err(s, out),
        },
        Op::Ping { id } => stack
            .ping_poll(*id)
            .map(|rtt| ln::encode_reply(c, corr, Status::Ok, &[&rtt.to_le_bytes()], out)),
    }
}

fn expired(deadline: u64, now: u64) -> bool {
    deadline != 0 && deadline <= now
}

impl Server {
    /// No parked requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests parked.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// The earliest deadline of a parked request.
    pub fn next_deadline(&self) -> Option<u64> {
        self.parked
            .iter()
            .map(|p| p.deadline)
            .filter(|&d| d != 0)
            .min()
    }

    /// Handles one request from `owner` (its badge) carrying reply `token`.
    /// Returns `Some(len)` to reply now with `out[..len]`, or `None` if the
    /// request was parked (it will be answered through [`Server::poll`]).
    /// `out` should hold [`ln::MSG_MAX`] bytes.
    pub fn handle(
        &mut self,
        stack: &mut Stack,
        owner: Owner,
        token: u64,
        req: &[u8],
        now: u64,
        out: &mut [u8],
    ) -> Option<usize> {
        let (corr, r) = match ln::decode_request(req) {
            Ok(v) => v,
            Err(rej) => {
                return Some(ln::encode_reply(
                    rej.op,
                    rej.correlation,
                    rej.status,
                    &[],
                    out,
                ))
            }
        };
        let op = r.op();
        let reply = |st: Status, parts: &[&[u8]], out: &mut [u8]| {
            Some(ln::encode_reply(op, corr, st, parts, out))
        };
        let (blocking, deadline) = match r {
            Request::UdpBind { addr, port } => {
                return match stack.udp_bind(owner, addr, port) {
                    Ok(h) => reply(Status::Ok, &[&h.to_le_bytes()], out),
                    Err(s) => reply(s, &[], out),
                }
            }
            Request::UdpSend {
                handle,
                addr,
                port,
                data,
            } => {
                return match stack.udp_send(owner, handle, addr, port, data) {
                    Ok(n) => reply(Status::Ok, &[&(n as u16).to_le_bytes()], out),
                    Err(s) => reply(s, &[], out),
                }
            }
            Request::Listen {
                addr,
                port,
                backlog,
            } => {
                return match stack.listen(owner, addr, port, backlog) {
                    Ok(h) => reply(Status::Ok, &[&h.to_le_bytes()], out),
                    Err(s) => reply(s, &[], out),
                }
            }
            Request::Connect { addr, port } => {
                return match stack.connect(owner, addr, port) {
                    Ok((h, p)) => reply(Status::Ok, &[&h.to_le_bytes(), &p.to_le_bytes()], out),
                    Err(s) => reply(s, &[], out),
                }
            }
            Request::Close { handle } => {
                // Parked requests on this handle fail with BAD_HANDLE at the
                // next poll.
                return match stack.close(owner, handle) {
                    Ok(()) => reply(Status::Ok, &[], out),
                    Err(s) => reply(s, &[], out),
                };
            }
            Request::Iface { iface } => {
                return match stack.iface_info(iface) {
                    Some(i) => reply(Status::Ok, &[&i.encode()], out),
                    None => reply(Status::InvalidArg, &[], out),
                }
            }
            Request::UdpRecv {
                handle,
                deadline,
                max,
            } => (Op::UdpRecv { h: handle, max }, deadline),
            Request::Accept { handle, deadline } => (Op::Accept { h: handle }, deadline),
            Request::Read {
                handle,
                deadline,
                max,
            } => (Op::Read { h: handle, max }, deadline),
            Request::Write {
                handle,
                deadline,
                data,
            } => (
                Op::Write {
                    h: handle,
                    data: data.to_vec(),
                },
                deadline,
            ),
            Request::Ping { addr, deadline } => {
                if self.parked.len() >= MAX_PARKED {
                    return reply(Status::NoResources, &[], out);
                }
                match stack.ping_start(owner, addr, now) {
                    Ok(id) => (Op::Ping { id }, deadline),
                    Err(s) => return reply(s, &[], out),
                }
            }
        };
        if let Some(n) = attempt(stack, owner, corr, &blocking, out) {
            return Some(n);
        }
        if expired(deadline, now) || self.parked.len() >= MAX_PARKED {
            let st = if expired(deadline, now) {
                Status::TimedOut
            } else {
                Status::NoResources
            };
            if let Op::Ping { id } = blocking {
                stack.ping_cancel(id);
            }
            return reply(st, &[], out);
        }
        self.parked.push(Parked {
            token,
            owner,
            corr,
            op: blocking,
            deadline,
        });
        None
    }

    /// Retries parked requests; calls `reply(token, bytes)` for each one that
    /// completed or timed out, and forgets it. Oldest first.
    pub fn poll(
        &mut self,
        stack: &mut Stack,
        now: u64,
        out: &mut [u8],
        mut reply: impl FnMut(u64, &[u8]),
    ) {
        let mut i = 0;
        while i < self.parked.len() {
            let p = &self.parked[i];
            let n = attempt(stack, p.owner, p.corr, &p.op, out).or_else(|| {
                expired(p.deadline, now).then(|| {
                    if let Op::Ping { id } = p.op {
                        stack.ping_cancel(id);
                    }
                    ln::encode_reply(code(&p.op), p.corr, Status::TimedOut, &[], out)
                })
            });
            match n {
                Some(n) => {
                    let p = self.parked.remove(i);
                    reply(p.token, &out[..n]);
                }
                None => i += 1,
            }
        }
    }

    /// Forgets a client that ended: its parked requests (no reply: nobody
    /// waits) and everything it held in the stack.
    pub fn drop_owner(&mut self, stack: &mut Stack, owner: Owner) {
        self.parked.retain(|p| p.owner != owner);
        stack.drop_owner(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lnproto::Reader;
    use alloc::vec;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn req(corr: u32, r: Request<'_>) -> Vec<u8> {
        let mut b = vec![0u8; ln::MSG_MAX];
        let n = ln::encode_request(corr, &r, &mut b).unwrap();
        b.truncate(n);
        b
    }

    fn call(
        s: &mut Server,
        st: &mut Stack,
        owner: u64,
        token: u64,
        r: Request<'_>,
        now: u64,
    ) -> Option<(Status, Vec<u8>)> {
        let mut out = vec![0u8; ln::MSG_MAX];
        let op = r.op();
        let n = s.handle(st, owner, token, &req(token as u32, r), now, &mut out)?;
        let (status, body) = ln::decode_reply(&out[..n], op, token as u32).unwrap();
        Some((status, body.to_vec()))
    }

    #[test]
    fn malformed_requests_get_statuses_not_panics() {
        let mut s = Server::new();
        let mut st = Stack::new(MAC, 0, 1);
        let mut out = vec![0u8; ln::MSG_MAX];
        for junk in [
            &b""[..],
            b"LN",
            b"LN\x01\x63\0\0\0\0",
            b"XX\x01\x01\0\0\0\0",
        ] {
            let n = s.handle(&mut st, 1, 1, junk, 0, &mut out).unwrap();
            assert!(n >= ln::REP_HEADER);
            assert_ne!(out[8], 0);
        }
        let mut seed = 7u32;
        for len in 0..2000usize {
            let mut b: Vec<u8> = (0..len % 64)
                .map(|_| {
                    seed = seed.wrapping_mul(747_796_405).wrapping_add(1);
                    (seed >> 24) as u8
                })
                .collect();
            if b.len() >= 8 {
                b[0] = b'L';
                b[1] = b'N';
                b[2] = 1;
                b[3] = (b[3] % 12) + 1;
            }
            let _ = s.handle(&mut st, 2, len as u64, &b, 0, &mut out);
        }
        assert!(s.parked() <= MAX_PARKED);
    }

    #[test]
    fn recv_parks_until_a_datagram_and_times_out() {
        let mut s = Server::new();
        let mut st = Stack::new(MAC, 0, 1);
        st.poll(1); // fixed lease
        let (status, body) = call(
            &mut s,
            &mut st,
            7,
            1,
            Request::UdpBind {
                addr: [0; 4],
                port: 7,
            },
            1,
        )
        .unwrap();
        assert_eq!(status, Status::Ok);
        let h = Reader::new(&body).u32().unwrap();
        let recv = Request::UdpRecv {
            handle: h,
            deadline: 1000,
            max: 100,
        };
        assert_eq!(call(&mut s, &mut st, 7, 2, recv, 10), None, "parked");
        assert_eq!(s.next_deadline(), Some(1000));
        // Another client sends to it over lo.
        let cli = st.udp_bind(8, [127, 0, 0, 1], 0).unwrap();
        st.udp_send(8, cli, [127, 0, 0, 1], 7, b"dgram").unwrap();
        st.poll(20);
        let mut out = vec![0u8; ln::MSG_MAX];
        let mut got = Vec::new();
        s.poll(&mut st, 20, &mut out, |t, b| got.push((t, b.to_vec())));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 2);
        let (status, body) = ln::decode_reply(&got[0].1, ln::OP_UDP_RECV, 2).unwrap();
        assert_eq!(status, Status::Ok);
        let mut r = Reader::new(body);
        assert_eq!(r.arr::<4>(), Some([127, 0, 0, 1]));
        r.u16().unwrap();
        assert_eq!(r.u16(), Some(5));
        assert_eq!(r.rest(), b"dgram");
        // Timeout path.
        assert_eq!(call(&mut s, &mut st, 7, 3, recv, 500), None);
        got.clear();
        s.poll(&mut st, 999, &mut out, |t, b| got.push((t, b.to_vec())));
        assert!(got.is_empty());
        s.poll(&mut st, 1000, &mut out, |t, b| got.push((t, b.to_vec())));
        assert_eq!(
            ln::decode_reply(&got[0].1, ln::OP_UDP_RECV, 3),
            Some((Status::TimedOut, &[][..]))
        );
        // A past deadline tries once and answers at once.
        assert_eq!(
            call(&mut s, &mut st, 7, 4, recv, 2000).map(|r| r.0),
            Some(Status::TimedOut)
        );
        assert_eq!(s.parked(), 0);
    }

    #[test]
    fn ping_over_lo_completes_through_poll() {
        let mut s = Server::new();
        let mut st = Stack::new(MAC, 0, u64::MAX);
        let ping = Request::Ping {
            addr: [127, 0, 0, 1],
            deadline: 0,
        };
        assert_eq!(call(&mut s, &mut st, 3, 9, ping, 100), None);
        st.poll(150);
        let mut out = vec![0u8; ln::MSG_MAX];
        let mut got = Vec::new();
        s.poll(&mut st, 150, &mut out, |t, b| got.push((t, b.to_vec())));
        let (status, body) = ln::decode_reply(&got[0].1, ln::OP_PING, 9).unwrap();
        assert_eq!((status, Reader::new(body).u64()), (Status::Ok, Some(50)));
    }

    #[test]
    fn parking_is_bounded_and_dropped_clients_are_forgotten() {
        let mut s = Server::new();
        let mut st = Stack::new(MAC, 0, u64::MAX);
        let mut out = vec![0u8; ln::MSG_MAX];
        let n = s
            .handle(
                &mut st,
                5,
                1,
                &req(
                    1,
                    Request::Listen {
                        addr: [127, 0, 0, 1],
                        port: 80,
                        backlog: 1,
                    },
                ),
                0,
                &mut out,
            )
            .unwrap();
        let h = Reader::new(ln::decode_reply(&out[..n], ln::OP_LISTEN, 1).unwrap().1)
            .u32()
            .unwrap();
        for t in 0..MAX_PARKED as u64 {
            let r = Request::Accept {
                handle: h,
                deadline: 0,
            };
            assert_eq!(call(&mut s, &mut st, 5, 10 + t, r, 0), None);
        }
        let r = Request::Accept {
            handle: h,
            deadline: 0,
        };
        assert_eq!(
            call(&mut s, &mut st, 5, 99, r, 0).map(|x| x.0),
            Some(Status::NoResources)
        );
        s.drop_owner(&mut st, 5);
        assert_eq!(s.parked(), 0);
        assert_eq!(st.open_handles(), 0);
    }

    #[test]
    fn closing_a_handle_fails_its_parked_read() {
        let mut s = Server::new();
        let mut st = Stack::new(MAC, 0, u64::MAX);
        st.listen(1, [127, 0, 0, 1], 80, 1).unwrap();
        let (c, _) = st.connect(2, [127, 0, 0, 1], 80).unwrap();
        let r = Request::Read {
            handle: c,
            deadline: 0,
            max: 10,
        };
        assert_eq!(call(&mut s, &mut st, 2, 1, r, 0), None);
        assert_eq!(
            call(&mut s, &mut st, 2, 2, Request::Close { handle: c }, 0).map(|x| x.0),
            Some(Status::Ok)
        );
        let mut out = vec![0u8; ln::MSG_MAX];
        let mut got = Vec::new();
        s.poll(&mut st, 1, &mut out, |t, b| got.push((t, b.to_vec())));
        assert_eq!(
            ln::decode_reply(&got[0].1, ln::OP_READ, 1).map(|x| x.0),
            Some(Status::BadHandle)
        );
    }
}

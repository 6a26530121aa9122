//! Init's control protocol: ask init what became of a service.
//!
//! Request: `[op = 1][name: 1..=NAME_MAX bytes UTF-8]`; also [`OP_KILL`],
//! [`OP_LIST`] (every service, for the shell's `ps`) and [`OP_POWEROFF`].
//! Reply (24 bytes): `[state u8][0; 7][code u64 LE][addr u64 LE]`, where
//! `code`/`addr` are the exit code, or `scause`/`stval` of a fault.
//! Decoding is total: malformed input is an error, never a panic.
//!
//! Init also speaks to servers: when a task that held a *client* grant of a
//! server's endpoint ends, init calls that endpoint (with its own badge, 0)
//! with a [client-gone](encode_client_gone) message naming the client's badge,
//! so the server can free what the client held. Servers accept it only with
//! badge 0, which init never hands to a client (the profile tests check it).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use nexus_abi::NAME_MAX;

/// Request opcode: status of a named service.
pub const OP_STATUS: u8 = 1;
/// Request opcode: end a named service (`[2][name]`), allowed only to the
/// badges the boot profile names (supervision tests). Reply: one byte,
/// [`KILL_OK`], [`KILL_DENIED`] or [`KILL_UNKNOWN`].
pub const OP_KILL: u8 = 2;
/// Kill reply: the service was ended (init will restart it per its policy).
pub const KILL_OK: u8 = 0;
/// Kill reply: the caller may not kill services.
pub const KILL_DENIED: u8 = 1;
/// Kill reply: no running service of that name.
pub const KILL_UNKNOWN: u8 = 2;

/// Encodes a kill request into `out`; returns its length.
pub fn encode_kill(name: &str, out: &mut [u8; 1 + NAME_MAX]) -> Result<usize, ProtoError> {
    let n = encode_request(name, out)?;
    out[0] = OP_KILL;
    Ok(n)
}

/// Decodes a kill request: the service name.
pub fn decode_kill(b: &[u8]) -> Result<&str, ProtoError> {
    match b {
        [OP_KILL, name @ ..] if !name.is_empty() && name.len() <= NAME_MAX => {
            core::str::from_utf8(name).map_err(|_| ProtoError::Malformed)
        }
        _ => Err(ProtoError::Malformed),
    }
}
/// Encoded reply size.
pub const REPLY_SIZE: usize = 24;

/// Request opcode: list every service of the profile (`[3]`). Reply:
/// `[count u8][0; 7]` then `count` entries of [`ENTRY_SIZE`] bytes (see
/// [`Entry`]), at most [`LIST_MAX`].
pub const OP_LIST: u8 = 3;
/// Request opcode: power the machine off (`[4]`), allowed only to the badges
/// the boot profile names (the shell). Init stops every service and ends
/// itself; the kernel then halts through SBI. The caller gets no reply when
/// it is allowed (it is stopped too), else one byte, [`POWEROFF_DENIED`].
pub const OP_POWEROFF: u8 = 4;
/// Power-off reply: the caller may not power the machine off.
pub const POWEROFF_DENIED: u8 = 1;
/// Most entries in a list reply.
pub const LIST_MAX: usize = 16;
/// Size of one list entry.
pub const ENTRY_SIZE: usize = 48;
/// Size of the list reply's header.
pub const LIST_HEADER: usize = 8;
/// Largest list reply.
pub const LIST_REPLY_MAX: usize = LIST_HEADER + LIST_MAX * ENTRY_SIZE;

/// One service in a list reply. Layout: `name[24]` (UTF-8, zero padded),
/// `state u8` (as in the status reply), `restarts u8`, `[0; 2]`,
/// `loaded_pages u32 LE`, `code u64 LE`, `addr u64 LE`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Service name.
    pub name: [u8; NAME_MAX],
    /// Length of `name`.
    pub name_len: u8,
    /// What became of it.
    pub status: Status,
    /// Times init restarted it.
    pub restarts: u8,
    /// Pages the kernel mapped when it was (last) started: program
    /// segments (its static heap included) and its stack.
    pub loaded_pages: u32,
}

impl Entry {
    /// An entry for `name` (truncated to [`NAME_MAX`] bytes).
    pub fn new(name: &str, status: Status, restarts: u8, loaded_pages: u32) -> Self {
        let mut n = [0u8; NAME_MAX];
        let len = name.len().min(NAME_MAX);
        n[..len].copy_from_slice(&name.as_bytes()[..len]);
        Self {
            name: n,
            name_len: len as u8,
            status,
            restarts,
            loaded_pages,
        }
    }

    /// The name as text.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len as usize]).unwrap_or("?")
    }
}

/// Encodes a list reply into `out`; returns its length. Entries past
/// [`LIST_MAX`] are left out.
pub fn encode_list(entries: &[Entry], out: &mut [u8; LIST_REPLY_MAX]) -> usize {
    let n = entries.len().min(LIST_MAX);
    out[..LIST_HEADER].fill(0);
    out[0] = n as u8;
    for (i, e) in entries.iter().take(n).enumerate() {
        let b = &mut out[LIST_HEADER + i * ENTRY_SIZE..LIST_HEADER + (i + 1) * ENTRY_SIZE];
        b.fill(0);
        b[..NAME_MAX].copy_from_slice(&e.name);
        let st = encode_reply(e.status);
        b[24] = st[0];
        b[25] = e.restarts;
        b[28..32].copy_from_slice(&e.loaded_pages.to_le_bytes());
        b[32..48].copy_from_slice(&st[8..24]);
    }
    LIST_HEADER + n * ENTRY_SIZE
}

/// Decodes a list reply into `out`; returns the number of entries.
/// Total: any length or field inconsistency is `Malformed`.
pub fn decode_list(b: &[u8], out: &mut [Entry; LIST_MAX]) -> Result<usize, ProtoError> {
    let (head, body) = b
        .split_first_chunk::<LIST_HEADER>()
        .ok_or(ProtoError::Malformed)?;
    let n = head[0] as usize;
    if n > LIST_MAX || head[1..].iter().any(|&x| x != 0) || body.len() != n * ENTRY_SIZE {
        return Err(ProtoError::Malformed);
    }
    for (i, e) in body.chunks_exact(ENTRY_SIZE).enumerate() {
        let name_len = e[..NAME_MAX]
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(NAME_MAX);
        if name_len == 0
            || e[name_len..NAME_MAX].iter().any(|&c| c != 0)
            || core::str::from_utf8(&e[..name_len]).is_err()
            || e[26..28] != [0, 0]
        {
            return Err(ProtoError::Malformed);
        }
        let mut st = [0u8; REPLY_SIZE];
        st[0] = e[24];
        st[8..24].copy_from_slice(&e[32..48]);
        let mut name = [0u8; NAME_MAX];
        name.copy_from_slice(&e[..NAME_MAX]);
        out[i] = Entry {
            name,
            name_len: name_len as u8,
            status: decode_reply(&st)?,
            restarts: e[25],
            loaded_pages: u32::from_le_bytes([e[28], e[29], e[30], e[31]]),
        };
    }
    Ok(n)
}

/// What init knows of a service.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// No service of that name in the profile.
    Unknown,
    /// Started and not ended.
    Running,
    /// Called exit with this code.
    Exited(u64),
    /// Faulted with (`scause`, `stval`).
    Faulted(u64, u64),
}

/// Protocol errors.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// Wrong length, opcode or state, or a name that is not 1..=24 UTF-8 bytes.
    Malformed,
}

/// Encodes a status request into `out`; returns its length.
pub fn encode_request(name: &str, out: &mut [u8; 1 + NAME_MAX]) -> Result<usize, ProtoError> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(ProtoError::Malformed);
    }
    out[0] = OP_STATUS;
    out[1..1 + name.len()].copy_from_slice(name.as_bytes());
    Ok(1 + name.len())
}

/// Decodes a request: the service name.
pub fn decode_request(b: &[u8]) -> Result<&str, ProtoError> {
    match b {
        [OP_STATUS, name @ ..] if !name.is_empty() && name.len() <= NAME_MAX => {
            core::str::from_utf8(name).map_err(|_| ProtoError::Malformed)
        }
        _ => Err(ProtoError::Malformed),
    }
}

/// Encodes a reply.
pub fn encode_reply(s: Status) -> [u8; REPLY_SIZE] {
    let (state, code, addr) = match s {
        Status::Unknown => (0, 0, 0),
        Status::Running => (1, 0, 0),
        Status::Exited(c) => (2, c, 0),
        Status::Faulted(c, a) => (3, c, a),
    };
    let mut b = [0u8; REPLY_SIZE];
    b[0] = state;
    b[8..16].copy_from_slice(&code.to_le_bytes());
    b[16..24].copy_from_slice(&addr.to_le_bytes());
    b
}

/// Decodes a reply.
pub fn decode_reply(b: &[u8]) -> Result<Status, ProtoError> {
    if b.len() != REPLY_SIZE || b[1..8].iter().any(|&x| x != 0) {
        return Err(ProtoError::Malformed);
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    Ok(match b[0] {
        0 => Status::Unknown,
        1 => Status::Running,
        2 => Status::Exited(word(8)),
        3 => Status::Faulted(word(8), word(16)),
        _ => return Err(ProtoError::Malformed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_roundtrip_and_garbage() {
        let mut buf = [0u8; 1 + NAME_MAX];
        let n = encode_request("fault-store", &mut buf).unwrap();
        assert_eq!(decode_request(&buf[..n]), Ok("fault-store"));
        assert!(encode_request("", &mut buf).is_err());
        assert!(encode_request(&"x".repeat(NAME_MAX + 1), &mut buf).is_err());
        assert!(decode_request(&[]).is_err());
        assert!(decode_request(&[OP_STATUS]).is_err());
        assert!(decode_request(&[9, b'a']).is_err());
        assert!(decode_request(&[OP_STATUS, 0xff, 0xfe]).is_err());
        assert!(decode_request(&[OP_STATUS; 40]).is_err());
    }

    #[test]
    fn reply_roundtrip_and_garbage() {
        for s in [
            Status::Unknown,
            Status::Running,
            Status::Exited(7),
            Status::Faulted(15, 0xdead),
        ] {
            assert_eq!(decode_reply(&encode_reply(s)), Ok(s));
        }
        let mut b = encode_reply(Status::Running);
        b[0] = 4;
        assert!(decode_reply(&b).is_err());
        assert!(decode_reply(&b[..23]).is_err());
        let mut b = encode_reply(Status::Running);
        b[3] = 1;
        assert!(decode_reply(&b).is_err());
    }
}

/// Magic of init's client-gone message to a server.
pub const CLIENT_GONE_MAGIC: [u8; 4] = *b"NXGN";
/// Size of the client-gone message: magic + badge (u64 LE).
pub const CLIENT_GONE_SIZE: usize = 12;

/// Encodes "the client with `badge` has ended".
pub fn encode_client_gone(badge: u64) -> [u8; CLIENT_GONE_SIZE] {
    let mut b = [0u8; CLIENT_GONE_SIZE];
    b[..4].copy_from_slice(&CLIENT_GONE_MAGIC);
    b[4..].copy_from_slice(&badge.to_le_bytes());
    b
}

/// Decodes a client-gone message; `None` for anything else.
pub fn decode_client_gone(b: &[u8]) -> Option<u64> {
    let (magic, badge) = b.split_first_chunk::<4>()?;
    if *magic != CLIENT_GONE_MAGIC {
        return None;
    }
    let badge: [u8; 8] = badge.try_into().ok()?;
    Some(u64::from_le_bytes(badge))
}

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn list_roundtrips_and_rejects_garbage() {
        let entries = [
            Entry::new("netstackd", Status::Running, 0, 2300),
            Entry::new("shell", Status::Faulted(15, 0x10), 2, 300),
            Entry::new(&"x".repeat(NAME_MAX), Status::Exited(3), 255, 1),
        ];
        let mut buf = [0u8; LIST_REPLY_MAX];
        let n = encode_list(&entries, &mut buf);
        assert_eq!(n, LIST_HEADER + 3 * ENTRY_SIZE);
        let mut out = [Entry::new("-", Status::Unknown, 0, 0); LIST_MAX];
        assert_eq!(decode_list(&buf[..n], &mut out), Ok(3));
        assert_eq!(&out[..3], &entries);
        assert_eq!(out[1].name(), "shell");
        // Truncated, trailing bytes, bad count, padding, bad state, empty name.
        assert!(decode_list(&buf[..n - 1], &mut out).is_err());
        assert!(decode_list(&buf[..n + 1], &mut out).is_err());
        assert!(decode_list(&[], &mut out).is_err());
        let mut bad = buf;
        bad[0] = 17;
        assert!(decode_list(&bad, &mut out).is_err());
        let mut bad = buf;
        bad[3] = 1;
        assert!(decode_list(&bad[..n], &mut out).is_err());
        let mut bad = buf;
        bad[LIST_HEADER + 24] = 9;
        assert!(decode_list(&bad[..n], &mut out).is_err());
        let mut bad = buf;
        bad[LIST_HEADER] = 0;
        assert!(decode_list(&bad[..n], &mut out).is_err());
        let mut bad = buf;
        bad[LIST_HEADER + 2] = 0; // "ne\0stackd": bytes after the end
        assert!(decode_list(&bad[..n], &mut out).is_err());
        // Every prefix of a valid reply decodes or errors, never panics.
        for k in 0..=n {
            let _ = decode_list(&buf[..k], &mut out);
        }
        // More than LIST_MAX entries are left out.
        let many = [Entry::new("a", Status::Running, 0, 0); LIST_MAX + 2];
        let n = encode_list(&many, &mut buf);
        assert_eq!(decode_list(&buf[..n], &mut out), Ok(LIST_MAX));
    }
}

#[cfg(test)]
mod client_gone_tests {
    use super::*;

    #[test]
    fn client_gone_roundtrips_and_rejects_other_bytes() {
        let m = encode_client_gone(0x1234_5678_9abc);
        assert_eq!(decode_client_gone(&m), Some(0x1234_5678_9abc));
        assert_eq!(decode_client_gone(&m[..11]), None);
        let mut long = [0u8; 13];
        long[..12].copy_from_slice(&m);
        assert_eq!(decode_client_gone(&long), None);
        let mut bad = m;
        bad[0] = b'X';
        assert_eq!(decode_client_gone(&bad), None);
        assert_eq!(decode_client_gone(&[]), None);
    }
}

/// The address argument init passes to `netstackd` in `a0`.
///
/// `0` means "use DHCP". Otherwise bit 63 is set and the value carries a
/// static IPv4 configuration: bits 0..32 the address (`a.b.c.d` as the
/// big-endian `u32`), bits 32..40 the prefix length (1..=32), bits 40..48 the
/// host byte of the gateway inside the subnet (0 = no gateway).
pub mod netcfg {
    /// A static configuration.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    pub struct StaticAddr {
        /// Interface address.
        pub addr: [u8; 4],
        /// Prefix length, 1..=32.
        pub prefix_len: u8,
        /// Gateway, if any (same /24-or-smaller subnet, last byte given).
        pub gateway: Option<[u8; 4]>,
    }

    const STATIC: u64 = 1 << 63;

    /// Encodes a static address with an optional gateway host byte
    /// (gateway = first three bytes of `addr`, then `gw_host`; 0 = none).
    pub const fn encode_static(addr: [u8; 4], prefix_len: u8, gw_host: u8) -> u64 {
        STATIC
            | (u32::from_be_bytes(addr) as u64)
            | ((prefix_len as u64) << 32)
            | ((gw_host as u64) << 40)
    }

    /// Decodes the argument: `Ok(None)` = DHCP, `Ok(Some(_))` = static,
    /// `Err(())` for a value no init produces (unknown bits, bad prefix).
    #[allow(clippy::result_unit_err)]
    pub fn decode(arg: u64) -> Result<Option<StaticAddr>, ()> {
        if arg == 0 {
            return Ok(None);
        }
        if arg & STATIC == 0 || arg & !(STATIC | 0xffff_ffff_ffff) != 0 {
            return Err(());
        }
        let addr = (arg as u32).to_be_bytes();
        let prefix_len = (arg >> 32) as u8;
        let gw_host = (arg >> 40) as u8;
        if prefix_len == 0 || prefix_len > 32 {
            return Err(());
        }
        let gateway = (gw_host != 0).then_some([addr[0], addr[1], addr[2], gw_host]);
        Ok(Some(StaticAddr {
            addr,
            prefix_len,
            gateway,
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn static_config_roundtrips_and_garbage_is_refused() {
            assert_eq!(decode(0), Ok(None));
            let a = encode_static([10, 42, 0, 2], 24, 0);
            assert_eq!(
                decode(a),
                Ok(Some(StaticAddr {
                    addr: [10, 42, 0, 2],
                    prefix_len: 24,
                    gateway: None
                }))
            );
            let b = encode_static([10, 0, 2, 15], 24, 2);
            assert_eq!(decode(b).unwrap().unwrap().gateway, Some([10, 0, 2, 2]));
            assert_eq!(decode(1), Err(()), "static bit missing");
            assert_eq!(decode(encode_static([1, 2, 3, 4], 0, 0)), Err(()));
            assert_eq!(decode(encode_static([1, 2, 3, 4], 33, 0)), Err(()));
            assert_eq!(decode(a | 1 << 50), Err(()), "unknown bits");
        }
    }
}

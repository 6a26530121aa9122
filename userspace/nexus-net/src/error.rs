//! The facade's error model: one small `Copy` enum shared by wire, server and client.
//!
//! Design notes
//! ------------
//! Codes are `#[repr(u16)]` and start at 1 so that status `0` on the wire
//! means success. Codes are part of the wire contract: never renumber a
//! variant, only append. An unknown code received from a newer server decodes
//! as [`NetError::Malformed`] on an older client (see [`NetError::from_code`]).

use core::fmt;

/// Why a facade operation failed. Wire value = `self as u16`; `0` is success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum NetError {
    /// The operation cannot complete now; `wait` for readiness and retry.
    WouldBlock = 1,
    /// A `wait` or `ping` deadline passed before the handle became ready.
    TimedOut = 2,
    /// The remote refused the connection (nobody listens, or backlog full).
    ConnectionRefused = 3,
    /// The connection was reset (aborted) by the peer or by the stack.
    ConnectionReset = 4,
    /// The stream is not connected for this operation (e.g. still connecting).
    NotConnected = 5,
    /// The local port is already bound or listened on.
    AddrInUse = 6,
    /// A field is out of range (port 0, zero length, payload over a limit, bad flags).
    InvalidInput = 7,
    /// Out of resources: handle table, parking queue or an encode buffer is full.
    NoBufs = 8,
    /// Unknown handle for this client (never issued, closed, stale, or another client's).
    NotFound = 9,
    /// The direction is closed: local shutdown, or the peer closed the connection.
    Closed = 10,
    /// The operation or option is not supported by this server or backend.
    Unsupported = 11,
    /// The request's protocol version is not spoken by the server.
    BadVersion = 12,
    /// The message is structurally invalid (short, length lie, trailing bytes, bad magic).
    Malformed = 13,
    /// The server restarted since the client's handles were issued; reopen them.
    ServerRestarted = 14,
}

impl NetError {
    /// Every variant, in code order.
    pub const ALL: [NetError; 14] = [
        NetError::WouldBlock,
        NetError::TimedOut,
        NetError::ConnectionRefused,
        NetError::ConnectionReset,
        NetError::NotConnected,
        NetError::AddrInUse,
        NetError::InvalidInput,
        NetError::NoBufs,
        NetError::NotFound,
        NetError::Closed,
        NetError::Unsupported,
        NetError::BadVersion,
        NetError::Malformed,
        NetError::ServerRestarted,
    ];

    /// The wire code of this error (never 0).
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// Maps a wire code back to an error; `None` for 0 and unknown codes.
    pub fn from_code(code: u16) -> Option<NetError> {
        let idx = usize::from(code).checked_sub(1)?;
        NetError::ALL.get(idx).copied()
    }

    /// Short human-readable description.
    pub const fn as_str(self) -> &'static str {
        match self {
            NetError::WouldBlock => "operation would block",
            NetError::TimedOut => "timed out",
            NetError::ConnectionRefused => "connection refused",
            NetError::ConnectionReset => "connection reset",
            NetError::NotConnected => "not connected",
            NetError::AddrInUse => "address in use",
            NetError::InvalidInput => "invalid input",
            NetError::NoBufs => "no buffer space or handle slots",
            NetError::NotFound => "handle not found",
            NetError::Closed => "closed",
            NetError::Unsupported => "unsupported",
            NetError::BadVersion => "bad protocol version",
            NetError::Malformed => "malformed message",
            NetError::ServerRestarted => "server restarted",
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for NetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_from_one_and_round_trip() {
        for (i, e) in NetError::ALL.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i + 1);
            assert_eq!(NetError::from_code(e.code()), Some(*e));
        }
        assert_eq!(NetError::from_code(0), None);
        assert_eq!(NetError::from_code(15), None);
        assert_eq!(NetError::from_code(u16::MAX), None);
    }

    #[test]
    fn display_is_non_empty() {
        for e in NetError::ALL {
            assert!(!e.to_string().is_empty());
        }
    }
}

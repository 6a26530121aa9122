//! Remote proxy policy: which local services a remote peer may reach. Deny by default.
//!
//! Design notes:
//! - A [`ProxyPolicy`] is an allowlist of exact service names (byte-for-byte, case
//!   sensitive, no wildcards or prefixes). A new policy allows nothing.
//! - Bounded: at most [`MAX_POLICY_ENTRIES`] names, each a valid service name (1..=64
//!   bytes, as in announces). Adding a name that is already present is a no-op.
//! - The policy only answers "may a request for this service be forwarded"; it is
//!   consulted after a session is authenticated, so there is no unauthenticated path to it.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::announce::valid_service_name;

/// Most service names one policy may allow.
pub const MAX_POLICY_ENTRIES: usize = 32;

/// Why a name could not be added to a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyError {
    /// The policy already holds [`MAX_POLICY_ENTRIES`] names.
    Full,
    /// The name is empty or longer than 64 bytes.
    InvalidName,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyError::Full => "proxy policy is full",
            PolicyError::InvalidName => "invalid service name",
        })
    }
}

impl core::error::Error for PolicyError {}

/// Deny-by-default allowlist of service names a remote peer may use through the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyPolicy {
    allowed: Vec<String>,
}

impl ProxyPolicy {
    /// A policy that allows nothing.
    pub fn deny_all() -> Self {
        ProxyPolicy::default()
    }

    /// A policy allowing exactly `names`.
    pub fn allowing(names: &[&str]) -> Result<Self, PolicyError> {
        let mut policy = ProxyPolicy::deny_all();
        for name in names {
            policy.allow(name)?;
        }
        Ok(policy)
    }

    /// Adds `name` to the allowlist.
    pub fn allow(&mut self, name: &str) -> Result<(), PolicyError> {
        if !valid_service_name(name) {
            return Err(PolicyError::InvalidName);
        }
        if self.allows(name) {
            return Ok(());
        }
        if self.allowed.len() >= MAX_POLICY_ENTRIES {
            return Err(PolicyError::Full);
        }
        self.allowed.push(String::from(name));
        Ok(())
    }

    /// Removes `name`; false if it was not allowed.
    pub fn revoke(&mut self, name: &str) -> bool {
        let before = self.allowed.len();
        self.allowed.retain(|n| n != name);
        self.allowed.len() != before
    }

    /// True only if `name` was explicitly allowed (exact match).
    pub fn allows(&self, name: &str) -> bool {
        self.allowed.iter().any(|n| n == name)
    }

    /// Allowed names, in insertion order.
    pub fn allowed(&self) -> impl Iterator<Item = &str> {
        self.allowed.iter().map(String::as_str)
    }

    /// Number of allowed names.
    pub fn len(&self) -> usize {
        self.allowed.len()
    }

    /// True if nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }
}

//! Init's pure logic: boot profiles and command-line parsing (host-tested).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod profile;

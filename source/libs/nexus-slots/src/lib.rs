//! Capability slots of every image, generated from `profiles/*.toml`.
//!
//! A grant named `net` in a profile lands at `nexus_slots::<image>::NET`; the
//! slot of a grant name is fixed per image across every profile, so a
//! service reads the same constant whichever profile started it. Init's own
//! table (made by the kernel) is `nexus_abi::slots::init`.
#![no_std]
#![forbid(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/slots.rs"));

//! Init's pure logic: boot profiles and command-line parsing (host-tested).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(all(feature = "net-canonical", feature = "net-bringup-lite"))]
compile_error!(
    "features `net-canonical` and `net-bringup-lite` are mutually exclusive: an image has \
     exactly one network path (build the lite image with --no-default-features \
     --features net-bringup-lite)"
);
#[cfg(not(any(feature = "net-canonical", feature = "net-bringup-lite")))]
compile_error!(
    "no network path selected: enable exactly one of the features `net-canonical` \
     (default) or `net-bringup-lite`"
);

pub mod profile;

//! `build.rs` helper shared by every user program.
//!
//! Call [`user_program`] from a service's `build.rs`: for the riscv target it
//! links the binary with `nexus-rt/user.ld` (segments page-aligned inside the
//! user image window of `nexus_abi::layout`); for the host it does nothing.
#![forbid(unsafe_code)]

/// Emits the link arguments for a user program.
pub fn user_program() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../nexus-rt/user.ld");
    println!("cargo:rerun-if-changed={script}");
    if target.starts_with("riscv64") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
}

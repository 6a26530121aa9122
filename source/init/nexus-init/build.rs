//! Links the riscv binary and generates the boot-profile tables of this
//! image's network path from `profiles/*.toml` (see `nexus-manifest`).
use std::path::Path;

fn main() {
    nexus_build::user_program();
    let canonical = std::env::var_os("CARGO_FEATURE_NET_CANONICAL").is_some();
    let lite = std::env::var_os("CARGO_FEATURE_NET_BRINGUP_LITE").is_some();
    // Both or neither is refused with a message by `compile_error!` in the crate.
    let path = if lite && !canonical {
        nexus_manifest::NetPath::Lite
    } else {
        nexus_manifest::NetPath::Canonical
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let profiles = root.join("profiles");
    let args = root.join("source/libs/nexus-interfaces/idl/args.toml");
    println!("cargo:rerun-if-changed={}", profiles.display());
    println!("cargo:rerun-if-changed={}", args.display());
    let sys = nexus_manifest::load(&profiles, &args).unwrap_or_else(|e| panic!("profiles: {e}"));
    let dst = Path::new(&std::env::var("OUT_DIR").unwrap()).join("profiles.rs");
    std::fs::write(dst, nexus_manifest::init_tables(&sys, path)).expect("write profiles.rs");
}

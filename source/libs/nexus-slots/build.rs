//! Generates `nexus_slots::<image>::<GRANT>` from the boot-profile manifests.
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let profiles = root.join("profiles");
    let args = root.join("source/libs/nexus-interfaces/idl/args.toml");
    println!("cargo:rerun-if-changed={}", profiles.display());
    println!("cargo:rerun-if-changed={}", args.display());
    let sys = nexus_manifest::load(&profiles, &args).unwrap_or_else(|e| panic!("profiles: {e}"));
    let dst = Path::new(&std::env::var("OUT_DIR").unwrap()).join("slots.rs");
    std::fs::write(dst, nexus_manifest::slots_rs(&sys)).expect("write slots.rs");
}

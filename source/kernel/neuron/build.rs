//! Links the kernel at 0x8020_0000 and embeds the boot image named by
//! `NEXUS_BOOT_IMAGE` (built by `just build`).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let target = std::env::var("TARGET").unwrap();
    println!("cargo:rerun-if-changed=kernel.ld");
    println!("cargo:rerun-if-env-changed=NEXUS_BOOT_IMAGE");
    if target.starts_with("riscv64") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/kernel.ld");
        let img = std::env::var("NEXUS_BOOT_IMAGE").unwrap_or_else(|_| {
            panic!("NEXUS_BOOT_IMAGE is not set: build the kernel with `just build`, which packs the services first")
        });
        println!("cargo:rerun-if-changed={img}");
        println!("cargo:rustc-env=NEXUS_BOOT_IMAGE_PATH={img}");
    }
}

//! Links the riscv binary with the user image layout (`nexus-build`).
fn main() {
    nexus_build::user_program();
}

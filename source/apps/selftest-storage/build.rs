fn main() {
    nexus_build::user_program();
}

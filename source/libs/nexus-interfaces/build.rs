//! Generates one module per `idl/*.toml` (see `nexus-idlgen`).
fn main() {
    let dir = std::path::Path::new("idl");
    println!("cargo:rerun-if-changed=idl");
    let ifaces =
        nexus_idlgen::load_dir(dir).unwrap_or_else(|e| panic!("interface definition: {e}"));
    let mut out = String::new();
    for i in &ifaces {
        println!("cargo:rerun-if-changed=idl/{}.toml", i.name);
        out.push_str(&nexus_idlgen::generate(i));
    }
    let dst = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("interfaces.rs");
    std::fs::write(dst, out).expect("write interfaces.rs");
}

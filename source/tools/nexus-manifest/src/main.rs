//! `nexus-manifest`: checks `profiles/*.toml` and prints what scripts need.
//!
//! - `nexus-manifest check` — load and check every profile;
//! - `nexus-manifest programs <canonical|lite>` — the programs of that image;
//! - `nexus-manifest docs` — `docs/boot-profiles.md` on standard output;
//! - `nexus-manifest interfaces` — `docs/interfaces.md` (from the IDL files).
#![forbid(unsafe_code)]

use nexus_manifest::{boot_profiles_md, load, programs, NetPath};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let sys = match load(
        &root.join("profiles"),
        &root.join("source/libs/nexus-interfaces/idl/args.toml"),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nexus-manifest: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["check"] => println!("nexus-manifest: {} profiles ok", sys.profiles.len()),
        ["programs", path] => {
            let Some(path) = NetPath::parse(path) else {
                eprintln!("nexus-manifest: path is canonical or lite");
                return ExitCode::from(2);
            };
            println!("{}", programs(&sys, path).join(" "));
        }
        ["docs"] => print!("{}", boot_profiles_md(&sys)),
        ["interfaces"] => {
            let dir = root.join("source/libs/nexus-interfaces/idl");
            match nexus_idlgen::load_dir(&dir) {
                Ok(ifaces) => {
                    print!("{}", include_str!("interfaces-head.md"));
                    for i in &ifaces {
                        print!("\n{}", nexus_idlgen::markdown(i));
                    }
                }
                Err(e) => {
                    eprintln!("nexus-manifest: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        _ => {
            eprintln!(
                "usage: nexus-manifest check | programs <canonical|lite> | docs | interfaces"
            );
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

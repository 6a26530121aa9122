//! nexus-mkimage: packs service ELFs into a neuron boot image.
//!
//! Usage: `nexus-mkimage OUT NAME=PATH...`. Every ELF is checked with the
//! kernel's own loader validation (`neuron_core::elfload::plan`) so a bad
//! program fails the build, not the boot.

#![forbid(unsafe_code)]
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, entries)) = args.split_first() else {
        eprintln!("usage: nexus-mkimage OUT NAME=PATH...");
        return ExitCode::from(2);
    };
    let mut blobs = Vec::new();
    for e in entries {
        let Some((name, path)) = e.split_once('=') else {
            eprintln!("nexus-mkimage: expected NAME=PATH, got {e}");
            return ExitCode::from(2);
        };
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(err) => {
                eprintln!("nexus-mkimage: {path}: {err}");
                return ExitCode::from(1);
            }
        };
        if let Err(err) = neuron_core::elfload::plan(&data) {
            eprintln!("nexus-mkimage: {path}: not loadable by neuron: {err:?}");
            return ExitCode::from(1);
        }
        blobs.push((name.to_string(), data));
    }
    let refs: Vec<(&str, &[u8])> = blobs
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    match neuron_core::bootimg::build(&refs) {
        Ok(img) => {
            if let Err(err) = std::fs::write(out, &img) {
                eprintln!("nexus-mkimage: {out}: {err}");
                return ExitCode::from(1);
            }
            println!(
                "nexus-mkimage: {} programs, {} bytes -> {out}",
                refs.len(),
                img.len()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("nexus-mkimage: {err:?}");
            ExitCode::from(1)
        }
    }
}

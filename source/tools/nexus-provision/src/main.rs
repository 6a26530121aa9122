//! `nexus-provision`: key files and provisioned storaged disk images (docs/dsoftbus.md
//! §15.4).

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dsoftbus::{DeviceId, Escaped};
use nexus_provision::{
    hex, new_keys, parse_trust, read_key_file, show, write_disk, write_key_file, DiskPlan, Error,
};

#[derive(Parser)]
#[command(
    name = "nexus-provision",
    version,
    about = "Provision Neuron OS nodes: key files and storaged disk images holding dsoftbusd's identity and trust store"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

fn parse_badge(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s}: {e}"))
}

#[derive(Subcommand)]
enum Cmd {
    /// Make a new static key (X25519, from the OS RNG) in a new key file (0600); prints
    /// the device id and public key.
    Keygen {
        /// The key file to create (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a key file's device id and public key (never the secret).
    Pubkey {
        /// The key file.
        key: PathBuf,
    },
    /// Write a fresh storaged disk image holding dsoftbusd's identity and trust records.
    Disk {
        /// The image to write (replaced if it exists).
        #[arg(long)]
        image: PathBuf,
        /// Its size in KiB.
        #[arg(long, default_value_t = 64)]
        size_kib: u64,
        /// The node's key file (its identity).
        #[arg(long)]
        identity: PathBuf,
        /// A device to trust: `<pubkey-hex | keyfile>[:svc,svc...]` (repeat).
        #[arg(long, value_name = "KEY[:SERVICES]")]
        trust: Vec<String>,
        /// dsoftbusd's `kv` badge (its namespace in storaged; the profiles' is 0x30).
        #[arg(long, value_parser = parse_badge, default_value = "0x30")]
        badge: u64,
    },
    /// List what a disk image holds for dsoftbusd (ids and trust entries; no secrets).
    Show {
        /// The image.
        #[arg(long)]
        image: PathBuf,
        /// dsoftbusd's `kv` badge.
        #[arg(long, value_parser = parse_badge, default_value = "0x30")]
        badge: u64,
    },
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.cmd {
        Cmd::Keygen { out } => {
            let keys = new_keys()?;
            write_key_file(&out, &keys)?;
            let pk = keys.public_key();
            println!("id={} public={}", DeviceId::of(&pk), hex(&pk));
        }
        Cmd::Pubkey { key } => {
            let pk = read_key_file(&key)?.public_key();
            println!("id={} public={}", DeviceId::of(&pk), hex(&pk));
        }
        Cmd::Disk {
            image,
            size_kib,
            identity,
            trust,
            badge,
        } => {
            let keys = read_key_file(&identity)?;
            let trusted = trust
                .iter()
                .map(|t| parse_trust(t))
                .collect::<Result<Vec<_>, _>>()?;
            let id = write_disk(&DiskPlan {
                image: &image,
                size_kib,
                identity: &keys,
                trusted: &trusted,
                badge,
            })?;
            println!(
                "disk {} size_kib={} badge={:#x} id={} trusted={}",
                image.display(),
                size_kib,
                badge,
                id,
                trusted.len()
            );
        }
        Cmd::Show { image, badge } => {
            let s = show(&image, badge)?;
            println!(
                "image {} badge={:#x} store={:?}",
                image.display(),
                badge,
                s.opened
            );
            match &s.identity {
                Ok((id, pk)) => println!("identity id={} public={}", id, hex(pk)),
                Err(why) => println!("identity {why}"),
            }
            match s.boot {
                Some(b) => println!("boot counter {b}"),
                None => println!("boot counter none (never booted)"),
            }
            println!("trusted {}", s.trusted.len());
            for e in &s.trusted {
                println!(
                    "trust id={} public={} origin={:?} added_boot={} name=\"{}\" services={}",
                    e.device_id(),
                    hex(e.key()),
                    e.origin(),
                    e.added_boot(),
                    Escaped(e.name()),
                    e.services().join(",")
                );
            }
            for d in &s.damaged {
                println!("damaged trust record {}", Escaped(d));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nexus-provision: {e}");
            ExitCode::FAILURE
        }
    }
}

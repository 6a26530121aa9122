//! The shell's pure logic (host-tested): the line editor and the commands.
//!
//! The program (`main.rs`) is a thin loop: it reads console input with
//! `ConsoleRead`, feeds the bytes to [`editor::Editor`], parses each line
//! with [`command::parse`] and runs it as a normal client of init (`init`
//! interface) and netstackd (sockets facade). See `docs/shell.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod command;
pub mod editor;

/// The prompt.
pub const PROMPT: &str = "neuron> ";

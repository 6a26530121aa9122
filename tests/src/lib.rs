//! Cross-crate host integration tests live in `tests/tests/*.rs`; this
//! library is empty. `cargo test -p nexus-integration-tests` runs them (and
//! `just test-host` runs every workspace test).

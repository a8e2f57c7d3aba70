//! The `faasm` command line: one module per subcommand in [`commands`]. The binary in
//! `src/bin/faasm.rs` only parses arguments and dispatches here; all real work lives in the
//! capability crates under `crates/`.

pub mod commands;

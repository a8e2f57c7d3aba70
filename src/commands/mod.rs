//! One file per `faasm` subcommand. Client subcommands talk HTTP to a running server through
//! [`client::Endpoints`]; `serve`, `cc` and `bench` stand alone.

pub mod bench;
pub mod cc;
pub mod client;
pub mod file;
pub mod invoke;
pub mod python;
pub mod serve;
pub mod state;
pub mod status;
pub mod token;
pub mod upload;

//! One file per `faasm` subcommand. Client subcommands talk HTTP to a running server through
//! [`client::Endpoints`]; `serve`, `cc`, `bench`, `python-setup` and `completions` stand alone.

pub mod bench;
pub mod calls;
pub mod cc;
pub mod client;
pub mod completions;
pub mod file;
pub mod functions;
pub mod invoke;
pub mod logs;
pub mod output;
pub mod python;
pub mod serve;
pub mod state;
pub mod status;
pub mod token;
pub mod upload;

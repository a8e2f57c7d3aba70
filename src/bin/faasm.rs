use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use faasm::commands::{self, client::Endpoints};

/// faasm-rs: a stateful serverless runtime for WebAssembly, speaking Faasm's HTTP API.
#[derive(Parser)]
#[command(name = "faasm", version, about)]
struct Cli {
    /// Server host for client subcommands.
    #[arg(long, global = true, env = "FAASM_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Upload server port for client subcommands.
    #[arg(long, global = true, env = "FAASM_UPLOAD_PORT", default_value_t = 8002)]
    upload_port: u16,
    /// Invoke server port for client subcommands.
    #[arg(long, global = true, env = "FAASM_INVOKE_PORT", default_value_t = 8080)]
    invoke_port: u16,
    /// Client subcommands and bench: print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Token for client subcommands (SPEC §12; needed when the server runs with --auth).
    #[arg(long, global = true, env = "FAASM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the upload server, the invoke server and the executor in one process.
    // A flag given twice takes its last value, so scripts can override defaults they pass.
    #[command(args_override_self = true)]
    Serve(Box<commands::serve::ServeArgs>),
    /// Upload a function (.wasm) or a Python function (.py).
    Upload(commands::upload::UploadArgs),
    /// Invoke a function and print its output.
    Invoke(commands::invoke::InvokeArgs),
    /// Show (or wait for) the status of a call.
    Status(commands::status::StatusArgs),
    /// Print a finished call's stdout and output.
    Logs(commands::logs::LogsArgs),
    /// List recent calls, newest first.
    Calls(commands::calls::CallsArgs),
    /// List functions and Python functions (of one user, or all).
    Ls(commands::functions::LsArgs),
    /// Delete a function (or with --python a Python function).
    Rm(commands::functions::RmArgs),
    /// Read, write, delete or list state values in the global tier.
    #[command(subcommand)]
    State(commands::state::StateCommand),
    /// Store, fetch, delete or list shared files (visible to functions as faasm://PATH).
    #[command(subcommand)]
    File(commands::file::FileCommand),
    /// Manage user tokens (admin token only; the server runs with --auth).
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Compile C/C++ to a Faasm function with clang for wasm32-wasi.
    Cc(commands::cc::CcArgs),
    /// Load-test the HTTP invoke path against a trivial HTTP server.
    Bench(commands::bench::BenchArgs),
    /// Compile the Python interpreter into the machine's cache (else the first Python upload
    /// does).
    PythonSetup(commands::python::PythonSetupArgs),
    /// Print a shell completion script.
    Completions(commands::completions::CompletionsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let endpoints = Endpoints::new(&cli.host, cli.upload_port, cli.invoke_port);
    if let Some(token) = cli.token {
        commands::client::use_token(token);
    }
    let json = cli.json;
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(*args),
        Command::Upload(args) => commands::upload::run(&endpoints, json, args),
        Command::Invoke(args) => commands::invoke::run(&endpoints, json, args),
        Command::Status(args) => commands::status::run(&endpoints, json, args),
        Command::Logs(args) => commands::logs::run(&endpoints, json, args),
        Command::Calls(args) => commands::calls::run(&endpoints, json, args),
        Command::Ls(args) => commands::functions::ls(&endpoints, json, args),
        Command::Rm(args) => commands::functions::rm(&endpoints, json, args),
        Command::State(cmd) => commands::state::run(&endpoints, json, cmd),
        Command::File(cmd) => commands::file::run(&endpoints, json, cmd),
        Command::Token(cmd) => commands::token::run(&endpoints, cmd),
        Command::Cc(args) => commands::cc::run(args),
        Command::Bench(args) => commands::bench::run(json, args),
        Command::PythonSetup(args) => commands::python::run(args),
        Command::Completions(args) => commands::completions::run(args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("faasm: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own checks: no two arguments of a subcommand share a name (the global `--json`
    /// included), every default parses.
    #[test]
    fn the_cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}

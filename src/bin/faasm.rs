use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Read or write a state value in the global tier.
    #[command(subcommand)]
    State(commands::state::StateCommand),
    /// Store or fetch a shared file (visible to functions as faasm://PATH).
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let endpoints = Endpoints::new(&cli.host, cli.upload_port, cli.invoke_port);
    if let Some(token) = cli.token {
        commands::client::use_token(token);
    }
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(*args),
        Command::Upload(args) => commands::upload::run(&endpoints, args),
        Command::Invoke(args) => commands::invoke::run(&endpoints, args),
        Command::Status(args) => commands::status::run(&endpoints, args),
        Command::State(cmd) => commands::state::run(&endpoints, cmd),
        Command::File(cmd) => commands::file::run(&endpoints, cmd),
        Command::Token(cmd) => commands::token::run(&endpoints, cmd),
        Command::Cc(args) => commands::cc::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::PythonSetup(args) => commands::python::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("faasm: {err:#}");
            ExitCode::FAILURE
        }
    }
}

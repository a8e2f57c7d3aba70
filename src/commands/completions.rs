//! `faasm completions bash|zsh|fish`: a shell completion script on stdout.

use std::process::ExitCode;

#[derive(clap::Args)]
#[command(
    after_help = "e.g. `faasm completions bash > ~/.local/share/bash-completion/completions/faasm`"
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Writes the completion script of `cli` (the whole `faasm` command) for the shell.
pub fn run(args: CompletionsArgs, mut cli: clap::Command) -> anyhow::Result<ExitCode> {
    let name = cli.get_name().to_owned();
    clap_complete::generate(args.shell, &mut cli, name, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

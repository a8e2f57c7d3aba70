//! Why preparing a module fails, and engine errors as one line.

/// Why a module cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The bytes are not a module this runtime can run; the message is the engine's reason.
    #[error("{0}")]
    Invalid(String),
    /// The artefact cache failed.
    #[error("module cache: {0}")]
    Cache(#[from] std::io::Error),
    /// This host cannot run it (the Python interpreter is not installed, or failed to start).
    #[error("{0}")]
    Unavailable(String),
}

/// An engine error as one line: wasmtime's messages can span several (e.g. byte dumps).
pub(crate) fn one_line(err: &wasmtime::Error) -> String {
    format!("{err:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

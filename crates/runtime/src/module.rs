//! Turning uploaded bytes into a [`FunctionModule`]: validate, precompile once (the artefact
//! is cached on disk by content hash), check the entry point, and pre-link every import. A
//! module with a zygote is initialised here, once: what is compiled and cached is its
//! snapshot (see [`crate::zygote`]), still keyed by the uploaded bytes' hash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{ExternType, InstancePre, Module};

use crate::errors::{PrepareError, one_line};
use crate::executor::Executor;
use crate::parts::CallState;
use crate::{Runtime, zygote};

/// A module ready to be instantiated for a call: an uploaded wasm module, or the Python
/// interpreter with a Python function's snapshot.
pub struct FunctionModule {
    pub(crate) pre: InstancePre<CallState>,
    pub(crate) hash: String,
    /// How its calls run: chosen here, once.
    pub(crate) executor: Executor,
}

impl FunctionModule {
    /// Hex SHA-256 of the wasm bytes (for Python, of the interpreter and the source).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Whether this is a Python function.
    pub fn is_python(&self) -> bool {
        matches!(self.executor, Executor::Python(_))
    }
}

/// The name of an uploaded module in the artefact cache: the SHA-256 of its bytes, in hex.
pub fn module_hash(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

/// Calls run `_start`: a `() -> ()` export is required.
fn check_entry(module: &Module) -> Result<(), PrepareError> {
    match module.get_export("_start") {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => Ok(()),
        _ => Err(PrepareError::Invalid(
            "module does not export a `_start` function: build it as a wasm32-wasi \
             command (with a main), e.g. with `faasm cc`"
                .into(),
        )),
    }
}

impl Runtime {
    /// Validates and precompiles `wasm` (or loads its cached artefact) and links it; if it
    /// exports `_faasm_zygote`, runs that once and uses the initialised snapshot instead.
    /// CPU-heavy on a cache miss (and as slow as the zygote): call it from a blocking thread.
    pub fn prepare(&self, wasm: &[u8]) -> Result<FunctionModule, PrepareError> {
        let hash = module_hash(wasm);
        let path = self.artefact_path(&hash);
        // A cached artefact is what calls run: for a Proto-Faaslet, the snapshot, which no
        // longer exports the zygote (one that still does predates zygote support: redo it).
        let (mut module, cached) = match self.load_artefact(&path) {
            Some(module) if !zygote::exported(&module) => (module, true),
            _ => (
                Module::from_binary(&self.engine, wasm)
                    .map_err(|e| PrepareError::Invalid(one_line(&e)))?,
                false,
            ),
        };
        // Linking checks the upload itself, before any zygote runs.
        let mut pre = self.link(&module)?;
        if !cached && zygote::exported(&module) {
            let snapshot = self
                .snapshot_zygote(wasm)
                .map_err(|reason| PrepareError::Invalid(format!("zygote failed: {reason}")))?;
            module = Module::from_binary(&self.engine, &snapshot).map_err(|e| {
                PrepareError::Invalid(format!("zygote failed: snapshot: {}", one_line(&e)))
            })?;
            pre = self.link(&module)?;
        }
        // Only modules that passed every check are cached.
        if !cached {
            self.store_artefact(&module, &path)?;
        }
        Ok(FunctionModule {
            pre,
            hash,
            executor: Executor::Wasm,
        })
    }

    /// Imports a Python function's `source` (or finds the snapshot of an earlier import) and
    /// returns it ready to call. The first Python function of a process starts the interpreter
    /// (minutes, once per machine, if it was never compiled). Blocks: call it from a blocking
    /// thread.
    pub fn prepare_python(
        &self,
        user: &str,
        function: &str,
        source: &[u8],
    ) -> Result<FunctionModule, PrepareError> {
        let (pre, hash, function) = self.import_python(user, function, source)?;
        Ok(FunctionModule {
            pre,
            hash,
            executor: Executor::Python(std::sync::Arc::new(function)),
        })
    }

    /// Checks the entry point and resolves every import.
    fn link(&self, module: &Module) -> Result<InstancePre<CallState>, PrepareError> {
        check_entry(module)?;
        self.linker
            .instantiate_pre(module)
            .map_err(|e| PrepareError::Invalid(one_line(&e)))
    }

    /// Removes the compiled artefact of the module whose wasm hashes to `hash`, once no
    /// stored function is that module.
    pub fn remove_artefact(&self, hash: &str) {
        let path = self.artefact_path(hash);
        if let Err(err) = std::fs::remove_file(&path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(?path, "removing an artefact: {err}");
        }
    }

    /// Removes every artefact in the cache but those of `live` module hashes compiled by this
    /// engine (artefacts of other engines or versions are never loaded again); returns how
    /// many were removed.
    pub fn retain_artefacts(&self, live: &HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.config.cache_dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".cwasm") else {
                continue;
            };
            let keep = stem
                .strip_suffix(&format!("-{}", self.compatibility))
                .is_some_and(|hash| live.contains(hash));
            if !keep {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn artefact_path(&self, hash: &str) -> PathBuf {
        self.config
            .cache_dir
            .join(format!("{hash}-{}.cwasm", self.compatibility))
    }

    fn load_artefact(&self, path: &Path) -> Option<Module> {
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `store_artefact` below from a module this engine
        // configuration compiled; its name carries the engine compatibility hash, and wasmtime
        // checks the artefact header again. Nothing else writes this directory.
        match unsafe { Module::deserialize_file(&self.engine, path) } {
            Ok(module) => Some(module),
            Err(err) => {
                tracing::warn!(?path, "recompiling unusable artefact: {err:#}");
                None
            }
        }
    }

    fn store_artefact(&self, module: &Module, path: &Path) -> Result<(), PrepareError> {
        let artefact = module
            .serialize()
            .map_err(|e| PrepareError::Invalid(one_line(&e)))?;
        // Written under a unique temp name and renamed, so a concurrent reader never sees half.
        let mut temp = tempfile::NamedTempFile::new_in(&self.config.cache_dir)?;
        std::io::Write::write_all(&mut temp, &artefact)?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

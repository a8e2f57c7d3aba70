//! Uploaded functions, prepared: one [`FunctionModule`] per wasm or Python `user/function`
//! kept in memory and loaded from storage on first use (e.g. after a restart). An upload
//! replaces the entry before it answers, so the very next call runs the new code. When
//! several hosts share the storage, each is told of the others' uploads and deletes
//! ([`FunctionRegistry::invalidate`]) and loads the new code at its next call.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use faasm_api::ApiError;
use faasm_runtime::{FunctionModule, PrepareError, Runtime};
use faasm_storage::{Listing, Object, ObjectStore};

use crate::storage_error;
use parking_lot::{Mutex, RwLock};

use crate::telemetry::CallMetrics;

/// The two namespaces of functions: `/f` (WebAssembly) and `/p` (Python source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    Wasm,
    Python,
}

impl FunctionKind {
    fn object<'a>(self, user: &'a str, function: &'a str) -> Object<'a> {
        match self {
            Self::Wasm => Object::Function { user, function },
            Self::Python => Object::Python { user, function },
        }
    }

    fn not_found(self, user: &str, function: &str) -> ApiError {
        match self {
            Self::Wasm => ApiError::function_not_found(user, function),
            Self::Python => {
                ApiError::NotFound(format!("Python function {user}/{function} not found"))
            }
        }
    }

    fn prepare(
        self,
        runtime: &Runtime,
        user: &str,
        function: &str,
        bytes: &[u8],
    ) -> Result<FunctionModule, PrepareError> {
        match self {
            Self::Wasm => runtime.prepare(bytes),
            Self::Python => runtime.prepare_python(user, function, bytes),
        }
    }
}

type Modules = HashMap<String, HashMap<String, Arc<FunctionModule>>>;

pub struct FunctionRegistry {
    runtime: Arc<Runtime>,
    store: Arc<dyn ObjectStore>,
    wasm: RwLock<Modules>,
    python: RwLock<Modules>,
    artefacts: Mutex<Artefacts>,
    metrics: Arc<CallMetrics>,
    /// Bumped by every invalidation, so a module loaded from storage before one is not kept
    /// after it.
    generation: AtomicU64,
}

/// Which compiled artefact each stored wasm function uses, so an artefact is removed once no
/// function uses it (re-uploads and deletes would otherwise grow the cache forever).
#[derive(Default)]
struct Artefacts {
    of_function: HashMap<(String, String), String>,
    users: HashMap<String, usize>,
}

impl Artefacts {
    /// Records that `user/function` now uses `hash` (or nothing); returns the hash no
    /// function uses any more, if any.
    fn set(&mut self, user: &str, function: &str, hash: Option<String>) -> Option<String> {
        let name = (user.to_owned(), function.to_owned());
        if let Some(hash) = &hash {
            *self.users.entry(hash.clone()).or_default() += 1;
        }
        let old = match hash {
            Some(hash) => self.of_function.insert(name, hash),
            None => self.of_function.remove(&name),
        }?;
        let users = self.users.get_mut(&old)?;
        *users -= 1;
        (*users == 0).then(|| {
            self.users.remove(&old);
            old
        })
    }
}

impl FunctionRegistry {
    /// The registry of the functions in `store`. Reads every stored module once, to remove
    /// the compiled artefacts no stored function uses.
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        store: Arc<dyn ObjectStore>,
        metrics: Arc<CallMetrics>,
    ) -> Result<Self, ApiError> {
        let mut artefacts = Artefacts::default();
        for user in store.users(Listing::Functions).map_err(storage_error)? {
            for function in store
                .list(Listing::Functions, &user)
                .map_err(storage_error)?
            {
                // A module's hash is its sha256 (`faasm_runtime::module_hash`), which the store may know
                // without reading the module.
                if let Some(hash) = store
                    .digest(Object::Function {
                        user: &user,
                        function: &function,
                    })
                    .map_err(storage_error)?
                {
                    artefacts.set(&user, &function, Some(hash));
                }
            }
        }
        let live = artefacts.users.keys().cloned().collect();
        match runtime.retain_artefacts(&live) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed unused compiled artefacts"),
            Err(err) => tracing::warn!("collecting compiled artefacts: {err}"),
        }
        Ok(Self {
            runtime,
            store,
            wasm: RwLock::default(),
            python: RwLock::default(),
            artefacts: Mutex::new(artefacts),
            metrics,
            generation: AtomicU64::new(0),
        })
    }

    /// Records which artefact `user/function` uses now, removing one no function uses.
    fn track(&self, kind: FunctionKind, user: &str, function: &str, hash: Option<String>) {
        // Python functions' snapshots live in the machine's cache, shared by servers.
        if kind == FunctionKind::Wasm
            && let Some(unused) = self.artefacts.lock().set(user, function, hash)
        {
            self.runtime.remove_artefact(&unused);
        }
    }

    fn modules(&self, kind: FunctionKind) -> &RwLock<Modules> {
        match kind {
            FunctionKind::Wasm => &self.wasm,
            FunctionKind::Python => &self.python,
        }
    }

    /// The prepared module of `user/function`, loading it from storage if needed.
    pub async fn get(
        &self,
        kind: FunctionKind,
        user: &str,
        function: &str,
    ) -> Result<Arc<FunctionModule>, ApiError> {
        let modules = self.modules(kind);
        if let Some(module) = modules.read().get(user).and_then(|f| f.get(function)) {
            return Ok(module.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let (runtime, store) = (self.runtime.clone(), self.store.clone());
        let (owned_user, owned_function) = (user.to_owned(), function.to_owned());
        let series = self.metrics.function(user, function);
        let module = blocking(move || {
            let (user, function) = (owned_user.as_str(), owned_function.as_str());
            let loading = std::time::Instant::now();
            let bytes = store
                .get(kind.object(user, function))
                .map_err(storage_error)?
                .ok_or_else(|| kind.not_found(user, function))?;
            metrics::counter!("faasm_module_loads_total").increment(1);
            let prepared = kind.prepare(&runtime, user, function, &bytes);
            series.cold_start(loading.elapsed().as_secs_f64());
            prepared.map_err(|err| match err {
                PrepareError::Unavailable(reason) => ApiError::Unavailable(reason),
                err => ApiError::Internal(format!(
                    "stored function {user}/{function} cannot be loaded: {err}"
                )),
            })
        })
        .await?;
        // Storage may have changed under a host sharing it since this registry was made.
        self.track(kind, user, function, Some(module.hash().to_owned()));
        let mut modules = modules.write();
        if self.generation.load(Ordering::SeqCst) != generation {
            // Invalidated while loading: what was read may be older than what storage holds.
            return Ok(Arc::new(module));
        }
        // An upload that raced with this load wins: keep whatever is there already.
        let entry = modules
            .entry(user.to_owned())
            .or_default()
            .entry(function.to_owned())
            .or_insert_with(|| Arc::new(module));
        Ok(entry.clone())
    }

    /// Validates and prepares a module (for Python: imports the source and snapshots it), then
    /// stores it; the next call of `user/function` runs it.
    pub async fn upload(
        &self,
        kind: FunctionKind,
        user: &str,
        function: &str,
        bytes: Bytes,
    ) -> Result<(), ApiError> {
        let (runtime, store) = (self.runtime.clone(), self.store.clone());
        let (owned_user, owned_function) = (user.to_owned(), function.to_owned());
        let series = self.metrics.function(user, function);
        let module = blocking(move || {
            let (user, function) = (owned_user.as_str(), owned_function.as_str());
            let preparing = std::time::Instant::now();
            let prepared = kind.prepare(&runtime, user, function, &bytes);
            series.cold_start(preparing.elapsed().as_secs_f64());
            let module = prepared.map_err(|err| match (err, kind) {
                (PrepareError::Invalid(reason), FunctionKind::Wasm) => {
                    ApiError::bad_request(format!("Invalid wasm module: {reason}"))
                }
                (PrepareError::Invalid(reason), FunctionKind::Python) => {
                    ApiError::bad_request(reason)
                }
                (PrepareError::Unavailable(reason), _) => ApiError::Unavailable(reason),
                (PrepareError::Cache(err), _) => ApiError::Internal(err.to_string()),
            })?;
            store
                .put(kind.object(user, function), &bytes)
                .map_err(storage_error)?;
            Ok(module)
        })
        .await?;
        self.track(kind, user, function, Some(module.hash().to_owned()));
        self.modules(kind)
            .write()
            .entry(user.to_owned())
            .or_default()
            .insert(function.to_owned(), Arc::new(module));
        Ok(())
    }

    /// Forgets every prepared module, so each next call loads what storage holds.
    pub fn flush(&self) {
        let (mut wasm, mut python) = (self.wasm.write(), self.python.write());
        self.generation.fetch_add(1, Ordering::SeqCst);
        wasm.clear();
        python.clear();
    }

    /// Forgets the prepared module of `user/function` (another host changed or deleted it),
    /// so its next call loads what storage holds.
    pub fn invalidate(&self, kind: FunctionKind, user: &str, function: &str) {
        let mut modules = self.modules(kind).write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(functions) = modules.get_mut(user) {
            functions.remove(function);
        }
    }

    /// Removes a function; `false` if there was none.
    pub fn delete(&self, kind: FunctionKind, user: &str, function: &str) -> Result<bool, ApiError> {
        let deleted = self
            .store
            .delete(kind.object(user, function))
            .map_err(storage_error)?;
        self.track(kind, user, function, None);
        if let Some(functions) = self.modules(kind).write().get_mut(user) {
            functions.remove(function);
        }
        Ok(deleted)
    }
}

/// Runs storage and compilation work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::Internal(format!("worker thread failed: {err}")))?
}

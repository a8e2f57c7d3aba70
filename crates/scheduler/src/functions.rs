//! Uploaded functions, prepared: one [`FunctionModule`] per `user/function` kept in memory and
//! loaded from storage on first use (e.g. after a restart). An upload replaces the entry before
//! it answers, so the very next call runs the new code.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use faasm_api::ApiError;
use faasm_runtime::{FunctionModule, PrepareError, Runtime};
use faasm_storage::{Object, ObjectStore};
use parking_lot::RwLock;

type Modules = HashMap<String, HashMap<String, Arc<FunctionModule>>>;

pub struct FunctionRegistry {
    runtime: Arc<Runtime>,
    store: Arc<dyn ObjectStore>,
    modules: RwLock<Modules>,
}

impl FunctionRegistry {
    pub(crate) fn new(runtime: Arc<Runtime>, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            runtime,
            store,
            modules: RwLock::default(),
        }
    }

    /// The prepared module of `user/function`, loading it from storage if needed.
    pub async fn get(&self, user: &str, function: &str) -> Result<Arc<FunctionModule>, ApiError> {
        if let Some(module) = self.modules.read().get(user).and_then(|f| f.get(function)) {
            return Ok(module.clone());
        }
        let (runtime, store) = (self.runtime.clone(), self.store.clone());
        let (owned_user, owned_function) = (user.to_owned(), function.to_owned());
        let module = blocking(move || {
            let object = Object::Function {
                user: &owned_user,
                function: &owned_function,
            };
            let wasm = store
                .get(object)?
                .ok_or_else(|| ApiError::function_not_found(&owned_user, &owned_function))?;
            metrics::counter!("faasm_module_loads_total").increment(1);
            runtime.prepare(&wasm).map_err(|err| {
                ApiError::Internal(format!(
                    "stored function {owned_user}/{owned_function} cannot be loaded: {err}"
                ))
            })
        })
        .await?;
        // An upload that raced with this load wins: keep whatever is there already.
        let mut modules = self.modules.write();
        let entry = modules
            .entry(user.to_owned())
            .or_default()
            .entry(function.to_owned())
            .or_insert_with(|| Arc::new(module));
        Ok(entry.clone())
    }

    /// Validates, precompiles and stores a module; the next call of `user/function` runs it.
    pub async fn upload(&self, user: &str, function: &str, wasm: Bytes) -> Result<(), ApiError> {
        let (runtime, store) = (self.runtime.clone(), self.store.clone());
        let (owned_user, owned_function) = (user.to_owned(), function.to_owned());
        let module = blocking(move || {
            let module = runtime.prepare(&wasm).map_err(|err| match err {
                PrepareError::Invalid(reason) => {
                    ApiError::bad_request(format!("Invalid wasm module: {reason}"))
                }
                PrepareError::Cache(err) => ApiError::Internal(err.to_string()),
            })?;
            let object = Object::Function {
                user: &owned_user,
                function: &owned_function,
            };
            store.put(object, &wasm)?;
            Ok(module)
        })
        .await?;
        self.modules
            .write()
            .entry(user.to_owned())
            .or_default()
            .insert(function.to_owned(), Arc::new(module));
        Ok(())
    }

    /// Removes a function; `false` if there was none.
    pub fn delete(&self, user: &str, function: &str) -> Result<bool, ApiError> {
        let deleted = self.store.delete(Object::Function { user, function })?;
        if let Some(functions) = self.modules.write().get_mut(user) {
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

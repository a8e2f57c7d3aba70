//! Where tokens, per-user limit overrides and the stored-bytes ledger live: [`TokenStore`],
//! embedded in the data directory on one host, in Redis when hosts share one. Every request
//! reads its token from the store (no cache), so a revoke holds at once on every host.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use faasm_api::UserLimits;

use crate::token::StoredToken;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
#[error("token store: {0}")]
pub struct StoreError(pub String);

pub(crate) fn store_error(err: impl std::fmt::Display) -> StoreError {
    StoreError(err.to_string())
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub trait TokenStore: Send + Sync {
    /// Adds a token under its id; `false` (nothing written) if the id is taken.
    fn insert<'a>(&'a self, token: &'a StoredToken) -> BoxFuture<'a, Result<bool>>;
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<StoredToken>>>;
    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredToken>>>;
    /// Removes a token; `false` if there was none.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// The user's limit overrides (all `None` if none were set).
    fn limits<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<UserLimits>>;
    fn set_limits<'a>(&'a self, user: &'a str, limits: UserLimits) -> BoxFuture<'a, Result<()>>;

    /// Records, for `ttl`, whose call `id` is, so that a host that did not accept the call
    /// can tell its owner. The embedded store keeps none: one host's registry knows its calls.
    fn set_call_owner<'a>(
        &'a self,
        id: u64,
        user: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>>;
    fn call_owner(&self, id: u64) -> BoxFuture<'_, Result<Option<String>>>;

    /// The bytes of the user's objects in the ledger, together.
    fn stored_bytes<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<u64>>;
    /// The bytes of one object in the ledger (0 if none).
    fn object_bytes<'a>(&'a self, user: &'a str, object: &'a str) -> BoxFuture<'a, Result<u64>>;
    /// Records an object's size, or forgets the object (`None`).
    fn set_object_bytes<'a>(
        &'a self,
        user: &'a str,
        object: &'a str,
        bytes: Option<u64>,
    ) -> BoxFuture<'a, Result<()>>;
}

//! Durable storage of what users upload: function modules, Python sources, state values (until
//! the state tiers take them over) and shared files. [`ObjectStore`] is the interface the server
//! uses; [`DataDir`] keeps objects as files under one directory, written atomically (temp file +
//! rename), so an object is either wholly there or not at all and survives restarts.
//! This crate knows nothing about wasm or HTTP; it never builds a path from an unchecked name.

mod data_dir;

pub use data_dir::DataDir;

use bytes::Bytes;
use faasm_api::{FilePath, StateKey};
use sha2::Digest;

/// One stored object, named by already-validated parts.
#[derive(Debug, Clone, Copy)]
pub enum Object<'a> {
    /// A function's wasm module.
    Function { user: &'a str, function: &'a str },
    /// A Python function's source.
    Python { user: &'a str, function: &'a str },
    /// A state value of the global tier.
    State { user: &'a str, key: &'a StateKey },
    /// A shared file (`faasm://path`).
    File(&'a FilePath),
    /// A small record the deployment keeps about itself (e.g. the next call id).
    Meta(&'static str),
}

/// A family of objects that can be listed per user.
#[derive(Debug, Clone, Copy)]
pub enum Listing {
    Functions,
    Python,
}

/// Why storage failed. Callers decide what it means to their own callers (the scheduler maps
/// it to an HTTP status).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A shared file where a directory must go, or the other way round.
    #[error("FilePath {path:?} clashes with an existing file or directory")]
    Clash { path: String },
    /// The storage medium failed.
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Where uploaded objects live.
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `bytes` under `object`, replacing any earlier value atomically.
    fn put(&self, object: Object<'_>, bytes: &[u8]) -> Result<(), StorageError>;
    /// The stored bytes, or `None` if nothing is stored.
    fn get(&self, object: Object<'_>) -> Result<Option<Bytes>, StorageError>;
    /// Removes the object; `false` if there was none.
    fn delete(&self, object: Object<'_>) -> Result<bool, StorageError>;
    /// The names stored for `user`, sorted.
    fn list(&self, listing: Listing, user: &str) -> Result<Vec<String>, StorageError>;
    /// The users that have objects of `listing`, sorted.
    fn users(&self, listing: Listing) -> Result<Vec<String>, StorageError>;
    /// The sha256 (lowercase hex) of the stored bytes, or `None` if nothing is stored. A store
    /// that keeps objects by their hash answers without reading them.
    fn digest(&self, object: Object<'_>) -> Result<Option<String>, StorageError> {
        Ok(self
            .get(object)?
            .map(|bytes| hex::encode(sha2::Sha256::digest(&bytes))))
    }
}

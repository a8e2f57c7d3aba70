//! The Redis key layout of a cluster. The state tier names its keys `{user}/{key}...`
//! (crates/state); everything here starts with `faasm:`, which no state key can (users are
//! names without `:`), so the two never collide.

/// The prefix of every key of this crate.
pub const PREFIX: &str = "faasm:";

// The function store (crates/cluster/src/store.rs): content-addressed blobs and pointers.

/// The prefix of a blob's keys. The store's Lua script builds the same names from it
/// (`{BLOB}{sha256}:{index}`, `{BLOB}{sha256}:refs`) for the blobs a pointer used to name.
pub const BLOB: &str = "faasm:blob:";

/// One chunk of a blob (a string of at most the store's chunk size), by the blob's sha256.
pub fn blob_chunk(sha256: &str, index: usize) -> String {
    format!("{BLOB}{sha256}:{index}")
}

/// How many pointers name the blob (an integer); its chunks go when it drops to zero.
pub fn blob_refs(sha256: &str) -> String {
    format!("{BLOB}{sha256}:refs")
}

/// A user's wasm functions: a hash of function name -> `{sha256}:{length}`.
pub fn functions(user: &str) -> String {
    format!("{PREFIX}functions:{user}")
}

/// A user's Python functions: a hash of function name -> `{sha256}:{length}`.
pub fn python(user: &str) -> String {
    format!("{PREFIX}python:{user}")
}

/// The users with at least one wasm function (a set).
pub const FUNCTION_USERS: &str = "faasm:function-users";

/// The users with at least one Python function (a set).
pub const PYTHON_USERS: &str = "faasm:python-users";

/// Every shared file: a hash of path -> `{sha256}:{length}`.
pub const FILES: &str = "faasm:files";

/// The pub/sub channel on which a host announces a changed function, Python function or
/// shared file (a JSON message naming it), so other hosts drop what they cached.
pub const STORE_CHANGES: &str = "faasm:store-changes";

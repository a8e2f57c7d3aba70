//! The Redis key layout of a cluster. The state tier names its keys `{user}/{key}...`
//! (crates/state); everything here starts with `faasm:`, which no state key can (users are
//! names without `:`), so the two never collide.

use faasm_api::CallId;

/// The prefix of every key of this crate.
pub const PREFIX: &str = "faasm:";

// The call queue, ids, results and hosts (crates/cluster/src/calls.rs).

/// The queue of accepted calls: a stream whose entries carry one `call` field (a
/// postcard-encoded `QueuedCall`), read by the consumer group [`GROUP`].
pub const CALLS: &str = "faasm:calls";
/// The consumer group of every host; each host reads as a consumer named after itself.
pub const GROUP: &str = "hosts";
/// The field of a [`CALLS`] entry that holds the call.
pub const CALL_FIELD: &str = "call";
/// Runs of queued calls started after their first: hash of call id -> count.
pub const ATTEMPTS: &str = "faasm:attempts";
/// The next call id: ids are reserved in blocks with `INCRBY`.
pub const NEXT_CALL_ID: &str = "faasm:next-call-id";
/// Pub/sub channel: the id of every call whose result was just recorded.
pub const DONE: &str = "faasm:done";
/// Names of the hosts that have advertised themselves (some may be gone).
pub const HOSTS: &str = "faasm:hosts";

/// Ids of the retained results by finish time (a sorted set, scores in ms), for retention.
pub const RESULTS_BY_TIME: &str = "faasm:results";
/// Bytes of each retained result by id, and their `total`.
pub const RESULT_SIZES: &str = "faasm:result-sizes";

/// An accepted call's result, once it has one (postcard `StoredResult`; expires).
pub fn result(id: impl std::fmt::Display) -> String {
    format!("faasm:result:{id}")
}

/// Present while call `id` is accepted and not finished (it expires, so a call can never
/// stay RUNNING forever even if its record is lost).
pub fn running(id: CallId) -> String {
    format!("faasm:running:{id}")
}

/// A host's heartbeat: its `HostInfo` as JSON, expiring unless renewed.
pub fn host(name: &str) -> String {
    format!("faasm:host:{name}")
}

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

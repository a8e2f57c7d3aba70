//! Faasm's two-tier state (SPEC §8). The [`LocalTier`] owns this host's copy of every
//! `(user, key)` value that a call touched: one copy shared by all calls on the host, pulled
//! lazily (whole or by byte range), written locally with byte-exact dirty tracking, pushed on
//! request, and guarded by a per-key reader/writer lock that guests take. Behind it is a
//! [`GlobalTier`], the source of truth across hosts and restarts: [`EmbeddedTier`] (files in
//! the data directory, the default), [`RedisTier`] (several hosts; its write lock is a lease
//! exclusive across hosts) or [`MemoryTier`] (tests).
//!
//! This crate knows nothing of wasm or HTTP: the runtime maps guest calls onto it and the
//! upload server's `/s` routes call [`LocalTier::set_global`] and [`GlobalTier::get`].

mod bulk;
mod embedded;
mod global;
mod local;
mod memory;
mod ranges;
mod redis;

pub use embedded::EmbeddedTier;
pub use global::{BoxFuture, GlobalTier, Lease};
pub use local::{
    Access, KeyValue, LocalLimits, LocalTier, MAX_VALUE_BYTES, WriteLock, check_range,
};
pub use memory::MemoryTier;
pub use ranges::Ranges;
pub use redis::{DEFAULT_LEASE, RedisTier};

/// Why a state operation failed; the message is what a guest's trap or an HTTP 500 says.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An offset or length outside the value.
    #[error("{0}")]
    Bounds(String),
    /// The host's local copies are at their budget.
    #[error("{0}")]
    Budget(String),
    /// The global tier could not be reached or failed.
    #[error("global state tier: {0}")]
    Global(String),
}

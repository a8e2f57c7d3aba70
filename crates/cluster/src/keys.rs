//! The Redis key layout of a cluster. The state tier names its keys `{user}/{key}...`
//! (crates/state); everything here starts with `faasm:`, which no state key can (users are
//! names without `:`), so the two never collide.

/// The prefix of every key of this crate.
pub const PREFIX: &str = "faasm:";

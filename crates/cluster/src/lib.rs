//! Many hosts on one Redis (SPEC §11), with no planner and no host special: the Redis
//! implementations of what one host keeps to itself. Each host runs `faasm serve --redis URL`;
//! this crate gives it the shared call queue, call ids, results and host registry the scheduler
//! plugs in through its traits, and the shared store of uploads.
//!
//! Every Redis key this crate uses is named in [`keys`], so the layout is readable in one place.

mod calls;
pub mod keys;
pub mod store;

pub use calls::{ClusterConfig, RedisCalls};

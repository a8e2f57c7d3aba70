//! What a scheduler shares with the other hosts of a deployment (SPEC §11). One host needs
//! none of it; `faasm serve --redis` plugs in faasm-cluster's Redis implementation.
//!
//! The model: a call runs on the host that received it when that host has a free instance;
//! otherwise, and for every accepted async call, it goes on the deployment's queue, where any
//! host with room claims it. A claim is a lease its host renews while it holds the call; calls
//! whose lease runs out (their host died) are claimed again by another host and re-run, up to
//! the scheduler's `max_attempts`. The first result recorded for an id is the result.

use std::sync::Arc;
use std::time::Duration;

use faasm_api::{CallId, CallResult, CallStatus};
use faasm_runtime::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::durable::{JournalError, QueuedCall, StoredResult};

/// One live host, as it advertises itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Its invoke address (`ip:port`), which is also its name in the queue.
    pub name: String,
    /// Calls it may execute at once, and how many it is executing.
    pub slots: usize,
    pub used_slots: usize,
    /// Instances free now.
    pub free_instances: usize,
    /// Where other hosts connect for MPI worlds spread over hosts (`ip:port`).
    #[serde(default)]
    pub mpi: Option<String>,
    /// The most ranks of one world it admits.
    #[serde(default)]
    pub max_world: usize,
}

/// The deployment's queue, results and hosts.
pub trait Cluster: Send + Sync {
    /// Puts an accepted call on the queue: durable, and RUNNING on every host, once this
    /// resolves. With `take`, also claims for this host, in the same step, the call that has
    /// waited longest (usually this one).
    fn enqueue(
        &self,
        call: QueuedCall,
        take: bool,
    ) -> BoxFuture<'_, Result<Option<QueuedCall>, JournalError>>;
    /// Claims up to `max` queued calls for this host, waiting at most `wait` for one.
    fn take(
        &self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<QueuedCall>, JournalError>>;
    /// Gives back a call this host claimed, to the end of the queue.
    fn requeue(&self, call: QueuedCall) -> BoxFuture<'_, Result<(), JournalError>>;
    /// Claims calls whose host stopped renewing them; their `attempts` counts the run about
    /// to start.
    fn reclaim(&self) -> BoxFuture<'_, Result<Vec<QueuedCall>, JournalError>>;
    /// How long a claim lasts unless renewed.
    fn lease(&self) -> Duration;
    /// What the deployment knows of call `id`.
    fn status(&self, id: CallId) -> BoxFuture<'_, Result<CallStatus, JournalError>>;
    /// Resolves with the result of call `id` once it has finished on any host.
    fn wait(&self, id: CallId) -> BoxFuture<'_, Result<Arc<CallResult>, JournalError>>;
    /// Shares the result of a call that ran here without going through the queue.
    fn share(&self, result: StoredResult);
    /// Publishes this host's heartbeat now: what it advertises changed.
    fn advertise(&self);
    /// The hosts alive now.
    fn hosts(&self) -> BoxFuture<'_, Result<Vec<HostInfo>, JournalError>>;
}

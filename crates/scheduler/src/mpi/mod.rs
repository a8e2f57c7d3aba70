//! MPI worlds (SPEC §9, docs/mpi.md): rank 0 is the call that was invoked with `"mpi": true`;
//! its `MPI_Init` starts ranks 1..N-1 as calls of the same function, input and cmdline, in
//! rank 0's call tree, on the instances that were admitted with rank 0 (gang admission, see
//! [`crate::admission`]). The world's call ends when every rank has; any rank failing aborts
//! the tree, which stops every other rank at once.
//!
//! Messages go through a [`Transport`]. When every rank of a world lives on this host,
//! [`LocalTransport`] pushes into the destination's [`Mailbox`]; a world too large for this
//! host is spread over the deployment's hosts ([`spread`]) and reaches ranks elsewhere over
//! direct connections between hosts ([`peers`]), without the ranks noticing.

mod peers;
mod spread;
mod wire;

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use faasm_api::{CallId, CallRequest};
use faasm_runtime::{BoxFuture, FunctionModule, Mailbox, Message, MpiHost, MpiWorld};
use parking_lot::Mutex;

pub(crate) use peers::Peers;
pub(crate) use spread::{Placement, Spread, place};

use crate::admission::InstancePermit;
use crate::tree::CallTree;
use crate::{RankLaunch, Scheduler, SchedulerConfig};

/// How messages reach a world's ranks.
pub(crate) trait Transport: Send + Sync + 'static {
    /// See [`MpiWorld::eager_limit`].
    fn eager_limit(&self) -> usize;
    fn deliver(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>>;
}

/// Queues `message` in `mailbox`, unless the world's messages not yet received would pass
/// `limit` bytes.
fn deliver_within(mailbox: &Mailbox, message: Message, limit: usize) -> Result<(), String> {
    mailbox.deliver(message, limit).map_err(|len| {
        format!(
            "a message of {len} bytes would take the world's messages not yet received \
             past {limit} bytes (--mpi-buffer-limit)"
        )
    })
}

/// Every rank on this host: a mailbox each, and together they hold at most `limit` bytes of
/// messages sent and not yet received.
struct LocalTransport {
    mailboxes: Vec<Arc<Mailbox>>,
    limit: usize,
    eager_limit: usize,
}

impl LocalTransport {
    fn new(size: i32, config: &SchedulerConfig) -> Self {
        let buffered = Arc::new(AtomicUsize::new(0));
        Self {
            mailboxes: (0..size)
                .map(|_| Arc::new(Mailbox::counted_in(buffered.clone())))
                .collect(),
            limit: config.mpi_buffer_bytes,
            eager_limit: config.mpi_eager_bytes,
        }
    }
}

impl Transport for LocalTransport {
    fn eager_limit(&self) -> usize {
        self.eager_limit
    }

    fn deliver(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>> {
        let delivered = match self.mailboxes.get(dest as usize) {
            Some(mailbox) => deliver_within(mailbox, message, self.limit),
            None => Err(format!("rank {dest} is not in the world")),
        };
        Box::pin(std::future::ready(delivered))
    }
}

/// One rank's view of its world.
struct Rank {
    rank: i32,
    size: i32,
    /// Its incoming messages, on this host.
    mailbox: Arc<Mailbox>,
    transport: Arc<dyn Transport>,
    /// The world's ranks host by host ([`MpiWorld::hosts`]).
    hosts: Arc<[Range<i32>]>,
}

impl MpiWorld for Rank {
    fn rank(&self) -> i32 {
        self.rank
    }

    fn size(&self) -> i32 {
        self.size
    }

    fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    fn eager_limit(&self) -> usize {
        self.transport.eager_limit()
    }

    fn send(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>> {
        self.transport.deliver(dest, message)
    }

    fn hosts(&self) -> &[Range<i32>] {
        &self.hosts
    }
}

/// What rank 0 holds of its world: what every rank runs, the instances admitted here for
/// the other ranks until `MPI_Init` starts them, the world's spread over other hosts if it
/// has one, and the calls of the ranks started here.
pub(crate) struct WorldRoot {
    size: i32,
    call: CallRequest,
    module: Arc<FunctionModule>,
    tree: Arc<CallTree>,
    scheduler: Arc<Scheduler>,
    instances: Mutex<Option<Vec<InstancePermit>>>,
    spread: Option<Spread>,
    ranks: Mutex<Vec<CallId>>,
}

impl WorldRoot {
    /// `instances` are those of ranks 1.. that run here: all of them, unless `spread`.
    pub fn new(
        scheduler: Arc<Scheduler>,
        tree: Arc<CallTree>,
        call: CallRequest,
        module: Arc<FunctionModule>,
        instances: Vec<InstancePermit>,
        spread: Option<Spread>,
    ) -> Arc<Self> {
        let size = match &spread {
            Some(spread) => spread.world.size,
            None => instances.len() as i32 + 1,
        };
        Arc::new(Self {
            size,
            call,
            module,
            tree,
            scheduler,
            instances: Mutex::new(Some(instances)),
            spread,
            ranks: Mutex::new(Vec::new()),
        })
    }

    /// Resolves once every rank started has ended, here and on other hosts.
    pub async fn ended(&self) {
        let ranks = self.ranks.lock().clone();
        for id in ranks {
            self.scheduler.results.wait(id).await;
        }
        if let Some(spread) = &self.spread {
            spread.ended().await;
        }
    }

    /// Starts ranks 1..N-1: those here on the instances admitted for them, the others on
    /// their hosts. Returns rank 0's membership.
    fn start(&self, instances: Vec<InstancePermit>) -> Result<Rank, String> {
        let size = self.size;
        let local = match &self.spread {
            Some(_) => None,
            None => Some(Arc::new(LocalTransport::new(size, &self.scheduler.config))),
        };
        let one_host: Arc<[Range<i32>]> = std::iter::once(0..size).collect();
        let rank_here = |rank: i32| match (&local, &self.spread) {
            (Some(local), _) => Rank {
                rank,
                size,
                mailbox: local.mailboxes[rank as usize].clone(),
                transport: local.clone(),
                hosts: one_host.clone(),
            },
            (None, Some(spread)) => spread.rank(rank),
            (None, None) => unreachable!("a world is local or spread"),
        };
        let mut instances = instances.into_iter();
        let mut ids = vec![self.tree.root];
        for rank in 1..size {
            let here = self.spread.as_ref().is_none_or(|s| s.is_here(rank));
            let instance = if here { instances.next() } else { None };
            let id = match (here, instance) {
                (true, Some(instance)) => {
                    let launch = RankLaunch {
                        rank,
                        instance,
                        world: Arc::new(Member(Arc::new(rank_here(rank)))),
                    };
                    let id = self.scheduler.start_rank(
                        &self.tree,
                        self.module.clone(),
                        self.call.clone(),
                        launch,
                    )?;
                    self.ranks.lock().push(id);
                    id
                }
                (true, None) => return Err(format!("rank {rank} has no instance")),
                (false, _) => self.scheduler.ids.next().map_err(|e| e.to_string())?,
            };
            ids.push(id);
        }
        self.scheduler
            .results
            .record_world(self.tree.root, ids.clone());
        if let Some(spread) = &self.spread {
            spread.start_elsewhere(&self.call, ids);
        }
        Ok(rank_here(0))
    }
}

impl MpiHost for WorldRoot {
    fn join(&self) -> BoxFuture<'_, Result<Arc<dyn MpiWorld>, String>> {
        let started = match self.instances.lock().take() {
            Some(instances) => self.start(instances),
            None => Err("the world has started already".into()),
        };
        Box::pin(std::future::ready(
            started.map(|rank| Arc::new(rank) as Arc<dyn MpiWorld>),
        ))
    }
}

/// Ranks 1..N-1 join the world rank 0 made for them.
pub(crate) struct Member(Arc<Rank>);

impl MpiHost for Member {
    fn join(&self) -> BoxFuture<'_, Result<Arc<dyn MpiWorld>, String>> {
        let world: Arc<dyn MpiWorld> = self.0.clone();
        Box::pin(std::future::ready(Ok(world)))
    }
}

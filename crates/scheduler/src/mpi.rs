//! MPI worlds (SPEC §9, docs/mpi.md): rank 0 is the call that was invoked with `"mpi": true`;
//! its `MPI_Init` starts ranks 1..N-1 as calls of the same function, input and cmdline, in
//! rank 0's call tree, on the instances that were admitted with rank 0 (gang admission, see
//! [`crate::admission`]). The world's call ends when every rank has; any rank failing aborts
//! the tree, which stops every other rank at once.
//!
//! Messages go through a [`Transport`]. Today every rank of a world lives on this host and
//! [`LocalTransport`] pushes into the destination's [`Mailbox`]; a rank on another host will
//! be reached by another transport without the ranks noticing.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use faasm_api::{CallId, CallRequest};
use faasm_runtime::{BoxFuture, FunctionModule, Mailbox, Message, MpiHost, MpiWorld};
use parking_lot::Mutex;

use crate::admission::InstancePermit;
use crate::tree::CallTree;
use crate::{RankLaunch, Scheduler};

/// How messages reach a world's ranks.
pub(crate) trait Transport: Send + Sync + 'static {
    fn deliver(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>>;
    /// The mailbox of a rank on this host.
    fn mailbox(&self, rank: i32) -> &Mailbox;
}

/// Every rank on this host: a mailbox each, and together they hold at most `limit` bytes of
/// messages sent and not yet received.
struct LocalTransport {
    mailboxes: Vec<Mailbox>,
    limit: usize,
}

impl LocalTransport {
    fn new(size: i32, limit: usize) -> Self {
        let buffered = Arc::new(AtomicUsize::new(0));
        Self {
            mailboxes: (0..size)
                .map(|_| Mailbox::counted_in(buffered.clone()))
                .collect(),
            limit,
        }
    }
}

impl Transport for LocalTransport {
    fn deliver(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>> {
        let delivered = match self.mailboxes.get(dest as usize) {
            Some(mailbox) => mailbox.deliver(message, self.limit).map_err(|len| {
                format!(
                    "a message of {len} bytes would take the world's messages not yet \
                     received past {} bytes (--mpi-buffer-limit)",
                    self.limit
                )
            }),
            None => Err(format!("rank {dest} is not in the world")),
        };
        Box::pin(std::future::ready(delivered))
    }

    fn mailbox(&self, rank: i32) -> &Mailbox {
        &self.mailboxes[rank as usize]
    }
}

/// One rank's view of its world.
struct Rank {
    rank: i32,
    size: i32,
    transport: Arc<dyn Transport>,
}

impl MpiWorld for Rank {
    fn rank(&self) -> i32 {
        self.rank
    }

    fn size(&self) -> i32 {
        self.size
    }

    fn mailbox(&self) -> &Mailbox {
        self.transport.mailbox(self.rank)
    }

    fn send(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>> {
        self.transport.deliver(dest, message)
    }
}

/// What rank 0 holds of its world: what every rank runs, the instances admitted for the other
/// ranks until `MPI_Init` starts them, and then their call ids.
pub(crate) struct WorldRoot {
    size: u32,
    call: CallRequest,
    module: Arc<FunctionModule>,
    tree: Arc<CallTree>,
    scheduler: Arc<Scheduler>,
    instances: Mutex<Vec<InstancePermit>>,
    ranks: Mutex<Vec<CallId>>,
}

impl WorldRoot {
    pub fn new(
        scheduler: Arc<Scheduler>,
        tree: Arc<CallTree>,
        call: CallRequest,
        module: Arc<FunctionModule>,
        instances: Vec<InstancePermit>,
    ) -> Arc<Self> {
        Arc::new(Self {
            size: instances.len() as u32 + 1,
            call,
            module,
            tree,
            scheduler,
            instances: Mutex::new(instances),
            ranks: Mutex::new(Vec::new()),
        })
    }

    /// The calls of ranks 1..N-1 started so far.
    pub fn ranks(&self) -> Vec<CallId> {
        self.ranks.lock().clone()
    }
}

impl MpiHost for WorldRoot {
    fn join(&self) -> BoxFuture<'_, Result<Arc<dyn MpiWorld>, String>> {
        Box::pin(async move {
            let instances = std::mem::take(&mut *self.instances.lock());
            if instances.len() + 1 != self.size as usize {
                return Err("the world has started already".into());
            }
            let size = self.size as i32;
            let limit = self.scheduler.config.mpi_buffer_bytes;
            let transport: Arc<dyn Transport> = Arc::new(LocalTransport::new(size, limit));
            for (rank, instance) in (1..size).zip(instances) {
                let member = Arc::new(Member(Arc::new(Rank {
                    rank,
                    size,
                    transport: transport.clone(),
                })));
                let launch = RankLaunch {
                    rank,
                    instance,
                    world: member,
                };
                let id = self.scheduler.start_rank(
                    &self.tree,
                    self.module.clone(),
                    self.call.clone(),
                    launch,
                )?;
                self.ranks.lock().push(id);
            }
            Ok(Arc::new(Rank {
                rank: 0,
                size,
                transport,
            }) as Arc<dyn MpiWorld>)
        })
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

//! MPI worlds spread over the hosts of a deployment (docs/mpi.md, "Across hosts").
//!
//! Rank 0's host places the world: all of it here if this host can admit it now; otherwise
//! as many ranks as fit here, and the rest on other hosts by their advertised free instances.
//! A member host holds instances for its ranks the moment it is asked (never waiting while
//! holding them), or answers with fewer; when the world cannot be placed whole, everything
//! is given back and placement is tried again a little later. So a world is still admitted
//! whole or not at all, and two worlds never each hold part of what the other needs.
//!
//! Every host keeps its part of a world in a [`SpreadWorld`]: the mailboxes of its ranks and
//! where the others run. Messages for a rank elsewhere go straight to its host over
//! [`Peers`]. Any rank failing, or a host of the world going away, fails the whole world.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use faasm_api::{CallId, CallRequest};
use faasm_runtime::{BoxFuture, Mailbox, Message};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::peers::Peers;
use super::wire::{Control, Frame, WorldId};
use super::{Rank, Transport, deliver_within};
use crate::admission::InstancePermit;
use crate::cluster::Cluster;
use crate::tree::{CallTree, ROOT};
use crate::{RankLaunch, Scheduler, SchedulerConfig};

/// How long a host asked to hold instances for a world may take to answer.
const RESERVE_TIMEOUT: Duration = Duration::from_secs(5);

/// One host's part of a world that spans hosts.
pub(crate) struct SpreadWorld {
    pub id: WorldId,
    pub size: i32,
    /// The peer address of rank 0's host.
    root_host: String,
    /// Whether this is rank 0's host.
    is_root: bool,
    pub user: String,
    /// Each rank's host: known when placed on rank 0's host, at `Start` on the others.
    hosts: OnceLock<Vec<String>>,
    /// The mailboxes of this host's ranks, made when the first of their messages or the rank
    /// itself arrives (a message can overtake the `Start` of its rank).
    mailboxes: Mutex<HashMap<i32, Arc<Mailbox>>>,
    /// Bytes waiting in this host's mailboxes of the world, against `limit`.
    buffered: Arc<AtomicUsize>,
    limit: usize,
    eager_limit: usize,
    /// A member's instances for its ranks, held from `Reserve` until `Start`.
    reserved: Mutex<Vec<InstancePermit>>,
    /// The call trees of the world on this host (rank 0's on its host, else one per rank),
    /// and once it failed, why.
    trees: Mutex<Trees>,
    /// Ranks that have not ended: on rank 0's host those elsewhere, on a member its own.
    running: Mutex<HashSet<i32>>,
    changed: Notify,
    /// Rank 0's host: signalled once the world has ended.
    finished: Notify,
}

impl SpreadWorld {
    fn new(
        id: WorldId,
        size: i32,
        root_host: String,
        is_root: bool,
        user: String,
        config: &SchedulerConfig,
    ) -> Self {
        Self {
            id,
            size,
            root_host,
            is_root,
            user,
            hosts: OnceLock::new(),
            mailboxes: Mutex::default(),
            buffered: Arc::default(),
            limit: config.mpi_buffer_bytes,
            eager_limit: config.mpi_eager_bytes,
            reserved: Mutex::default(),
            trees: Mutex::default(),
            running: Mutex::default(),
            changed: Notify::new(),
            finished: Notify::new(),
        }
    }

    /// The mailbox of rank `rank` here.
    fn mailbox(&self, rank: i32) -> Arc<Mailbox> {
        let mut mailboxes = self.mailboxes.lock();
        let mailbox = mailboxes
            .entry(rank)
            .or_insert_with(|| Arc::new(Mailbox::counted_in(self.buffered.clone())));
        mailbox.clone()
    }

    /// Queues a message that arrived for rank `dest` of this host.
    pub fn deliver_here(&self, dest: i32, message: Message) -> Result<(), String> {
        if !(0..self.size).contains(&dest) {
            return Err(format!("rank {dest} is not in the world"));
        }
        deliver_within(&self.mailbox(dest), message, self.limit)
    }

    /// The world's ranks host by host: each run of consecutive ranks on one host (placement
    /// numbers ranks host by host, so that is one range per host).
    fn host_ranges(&self) -> Arc<[Range<i32>]> {
        let hosts = self.hosts.get().map_or(&[][..], Vec::as_slice);
        let mut ranges: Vec<Range<i32>> = Vec::new();
        for (rank, host) in (0..).zip(hosts) {
            match ranges.last_mut() {
                Some(last) if hosts[last.start as usize] == *host => last.end = rank + 1,
                _ => ranges.push(rank..rank + 1),
            }
        }
        ranges.into()
    }

    fn host_of(&self, rank: i32) -> Option<&str> {
        let hosts = self.hosts.get()?;
        hosts.get(usize::try_from(rank).ok()?).map(String::as_str)
    }

    /// Whether `host` has a part in this world.
    pub fn involves(&self, host: &str) -> bool {
        self.root_host == host
            || self
                .hosts
                .get()
                .is_some_and(|h| h.iter().any(|h| h == host))
    }

    /// Fails the world: stops its ranks here, and (from a member) has rank 0's host fail it
    /// everywhere.
    pub fn fail(&self, peers: &Arc<Peers>, reason: &str) {
        {
            let mut trees = self.trees.lock();
            trees.failure.get_or_insert_with(|| reason.to_owned());
            for tree in &trees.running {
                tree.abort(reason.to_owned());
            }
        }
        self.reserved.lock().clear();
        if !self.is_root {
            let abort = Control::Abort {
                world: self.id,
                reason: reason.to_owned(),
            };
            peers.post(&self.root_host, Frame::Control(abort));
        }
    }

    /// `host` went away: the world fails, and its ranks there count as ended.
    pub fn lost(&self, peers: &Arc<Peers>, host: &str, reason: &str) {
        if self.is_root {
            let gone: Vec<i32> = (0..self.size)
                .filter(|&r| self.host_of(r) == Some(host))
                .collect();
            gone.into_iter().for_each(|r| self.rank_ended(r));
        }
        self.fail(peers, reason);
        if !self.is_root && self.running.lock().is_empty() {
            peers.unregister(self.id);
        }
    }

    /// Counts `tree` in the world, to be aborted if it fails; or why it failed already.
    fn adopt(&self, tree: Arc<CallTree>) -> Result<(), String> {
        let mut trees = self.trees.lock();
        match &trees.failure {
            Some(reason) => Err(reason.clone()),
            None => {
                trees.running.push(tree);
                Ok(())
            }
        }
    }

    /// A member: tells rank 0's host that rank `rank` here ended, failed if `error`.
    fn report(&self, peers: &Arc<Peers>, rank: i32, error: Option<String>) {
        let done = Control::RankDone {
            world: self.id,
            rank,
            error,
        };
        peers.post(&self.root_host, Frame::Control(done));
    }

    /// Rank 0's host: rank `rank` elsewhere ended, failed if `error`.
    pub fn rank_done(&self, peers: &Arc<Peers>, rank: i32, error: Option<String>) {
        if let Some(error) = error {
            self.fail(peers, &error);
        }
        self.rank_ended(rank);
    }

    /// A member: rank 0's host let go of the world; what is still held for it goes.
    pub fn release_here(&self, peers: &Peers) {
        self.reserved.lock().clear();
        if self.running.lock().is_empty() {
            peers.unregister(self.id);
        }
    }

    /// Rank `rank`, counted in `running`, ended.
    pub fn rank_ended(&self, rank: i32) {
        self.running.lock().remove(&rank);
        self.changed.notify_waiters();
    }

    /// Resolves once every rank counted in `running` has ended.
    async fn all_ended(&self) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if self.running.lock().is_empty() {
                return;
            }
            changed.await;
        }
    }
}

#[derive(Default)]
struct Trees {
    running: Vec<Arc<CallTree>>,
    failure: Option<String>,
}

/// Messages of a spread world: to the mailbox of a rank here, or over the wire to its host.
pub(crate) struct SpreadTransport {
    world: Arc<SpreadWorld>,
    peers: Arc<Peers>,
}

impl Transport for SpreadTransport {
    fn eager_limit(&self) -> usize {
        self.world.eager_limit
    }

    fn deliver(&self, dest: i32, message: Message) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.world.host_of(dest) {
                Some(host) if host == self.peers.this => self.world.deliver_here(dest, message),
                Some(host) => {
                    // A lent message is copied here, and so returned to its sender at once.
                    let data = message.data.into_bytes().map_err(|e| e.to_string())?;
                    let frame = Frame::Message {
                        world: self.world.id,
                        dest,
                        envelope: message.envelope,
                        data,
                    };
                    self.peers.send(host, frame).await
                }
                None => Err(format!("rank {dest} is not in the world")),
            }
        })
    }
}

/// Rank 0's hold on a world it spreads: its part here, the connections to the others, and
/// the hosts asked to take part.
pub(crate) struct Spread {
    pub world: Arc<SpreadWorld>,
    peers: Arc<Peers>,
    members: HashSet<String>,
}

impl Spread {
    /// Rank `rank`'s membership, on this host.
    pub(super) fn rank(&self, rank: i32) -> Rank {
        Rank {
            rank,
            size: self.world.size,
            mailbox: self.world.mailbox(rank),
            transport: Arc::new(SpreadTransport {
                world: self.world.clone(),
                peers: self.peers.clone(),
            }),
            hosts: self.world.host_ranges(),
        }
    }

    /// Whether rank `rank` runs on this host.
    pub(super) fn is_here(&self, rank: i32) -> bool {
        self.world.host_of(rank) == Some(self.peers.this.as_str())
    }

    /// Starts the ranks on other hosts, as calls `ids[r]` of `call`; rank 0's host waits for
    /// them to end in [`Spread::ended`].
    pub fn start_elsewhere(&self, call: &CallRequest, ids: Vec<CallId>) {
        let world = &self.world;
        let hosts = world.hosts.get().expect("placed").clone();
        world
            .running
            .lock()
            .extend((0..world.size).filter(|&r| !self.is_here(r)));
        for host in &self.members {
            let start = Control::Start {
                world: world.id,
                call: call.clone(),
                hosts: hosts.clone(),
                ids: ids.clone(),
            };
            self.peers.post(host, Frame::Control(start));
        }
    }

    /// Resolves once the ranks elsewhere have ended.
    pub async fn ended(&self) {
        self.world.all_ended().await;
    }
}

impl Drop for Spread {
    /// The world is over for rank 0's host: the others drop what they still hold for it.
    fn drop(&mut self) {
        let world = &self.world;
        world.finished.notify_one();
        for host in &self.members {
            let release = Control::Release { world: world.id };
            self.peers.post(host, Frame::Control(release));
        }
        self.peers.unregister(world.id);
    }
}

/// What rank 0's host got for a world: instances for rank 0 and the other ranks it runs, and
/// the world's spread when some ranks run elsewhere.
pub(crate) struct Placement {
    pub instances: Vec<InstancePermit>,
    pub spread: Option<Spread>,
}

impl Placement {
    /// Every rank on this host.
    pub fn here(instances: Vec<InstancePermit>) -> Self {
        Self {
            instances,
            spread: None,
        }
    }
}

/// Places a world of `size` ranks whose rank 0 is the root of `tree`: tries until it fits
/// whole, the tree is aborted, or `timeout` passes.
pub(crate) async fn place(
    scheduler: &Arc<Scheduler>,
    peers: &Arc<Peers>,
    cluster: &Arc<dyn Cluster>,
    tree: &Arc<CallTree>,
    size: usize,
    timeout: Duration,
) -> Result<Placement, String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(placement) = try_place(scheduler, peers, cluster, tree, size).await {
            return Ok(placement);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "Call failed: the MPI world of {size} ranks found no room in the deployment \
                 within {} s",
                timeout.as_secs()
            ));
        }
        // Worlds that collided try again at different times.
        let jitter = Duration::from_millis(tree.root % 7);
        tokio::select! {
            reason = tree.aborted() => return Err(reason.to_string()),
            () = tokio::time::sleep(pause + jitter) => {}
        }
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

async fn try_place(
    scheduler: &Arc<Scheduler>,
    peers: &Arc<Peers>,
    cluster: &Arc<dyn Cluster>,
    tree: &Arc<CallTree>,
    size: usize,
) -> Option<Placement> {
    let here = scheduler.admission.try_instances(&tree.user, size);
    if here.len() == size {
        return Some(Placement::here(here));
    }
    if here.is_empty() {
        return None;
    }
    let mut others: Vec<(String, usize)> = match cluster.hosts().await {
        Ok(hosts) => hosts
            .into_iter()
            .filter_map(|h| Some((h.mpi?, h.free_instances)))
            .filter(|(mpi, free)| *mpi != peers.this && *free > 0)
            .collect(),
        Err(err) => {
            tracing::warn!("listing hosts to place an MPI world: {err}");
            return None;
        }
    };
    others.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let world = Arc::new(SpreadWorld::new(
        tree.root,
        size as i32,
        peers.this.clone(),
        true,
        tree.user.to_string(),
        &scheduler.config,
    ));
    let mut hosts = vec![peers.this.clone(); here.len()];
    // Until the world is placed whole, dropping this (the world did not fit, or the call
    // gave up waiting) gives back what other hosts hold for it.
    let mut placing = Spread {
        world,
        peers: peers.clone(),
        members: HashSet::new(),
    };
    peers.register(placing.world.clone());
    for (host, _) in others {
        let wanted = size - hosts.len();
        if wanted == 0 {
            break;
        }
        let granted = peers
            .reserve(&host, &placing.world, wanted, RESERVE_TIMEOUT)
            .await
            .min(wanted);
        placing.members.insert(host.clone());
        hosts.extend(std::iter::repeat_n(host, granted));
    }
    if hosts.len() < size {
        return None;
    }
    let _ = placing.world.hosts.set(hosts);
    placing.world.adopt(tree.clone()).ok()?;
    placing.abort_elsewhere_on_failure(tree.clone());
    Some(Placement {
        instances: here,
        spread: Some(placing),
    })
}

impl Spread {
    /// When rank 0's tree is aborted (any rank failed, or its timeout), the ranks elsewhere
    /// are stopped at once.
    fn abort_elsewhere_on_failure(&self, tree: Arc<CallTree>) {
        let (world, peers) = (self.world.clone(), self.peers.clone());
        let members = self.members.clone();
        self.peers.spawn(async move {
            let reason = tokio::select! {
                reason = tree.aborted() => reason,
                () = world.finished.notified() => return,
            };
            for host in members {
                let abort = Control::Abort {
                    world: world.id,
                    reason: reason.to_string(),
                };
                peers.post(&host, Frame::Control(abort));
            }
        });
    }
}

/// A member asked to hold instances for up to `count` ranks of a world: holds as many as it
/// can admit now, and answers how many.
pub(crate) fn reserve_here(
    scheduler: &Arc<Scheduler>,
    peers: &Arc<Peers>,
    from: &str,
    world: WorldId,
    user: String,
    size: i32,
    count: usize,
) -> usize {
    let user_name: Arc<str> = Arc::from(user.as_str());
    let permits = scheduler.admission.try_instances(&user_name, count);
    let granted = permits.len();
    if granted > 0 {
        let part = Arc::new(SpreadWorld::new(
            world,
            size,
            from.to_owned(),
            false,
            user,
            &scheduler.config,
        ));
        *part.reserved.lock() = permits;
        peers.register(part);
    }
    granted
}

/// A member told to start its ranks of a world it holds instances for. Every one of its
/// ranks is reported to rank 0's host as done, whether it ran or could not start.
pub(crate) async fn start_here(
    scheduler: &Arc<Scheduler>,
    peers: &Arc<Peers>,
    world: Arc<SpreadWorld>,
    call: CallRequest,
    hosts: Vec<String>,
    ids: Vec<CallId>,
) {
    let mine: Vec<i32> = (0..world.size)
        .filter(|&r| hosts.get(r as usize) == Some(&peers.this))
        .collect();
    let mut permits = std::mem::take(&mut *world.reserved.lock());
    let this = &peers.this;
    let module = async {
        let fits = hosts.len() == world.size as usize
            && ids.len() == hosts.len()
            && permits.len() >= mine.len()
            && world.hosts.set(hosts).is_ok();
        if !fits {
            return Err(format!(
                "Call failed: MPI world failed: host {this} was asked to start ranks it holds \
                 no instances for"
            ));
        }
        scheduler.module(&call).await.map_err(|err| {
            format!("Call failed: MPI world failed: host {this} cannot load the function: {err}")
        })
    };
    let module = match module.await {
        Ok(module) => module,
        Err(reason) => {
            world.fail(peers, &reason);
            for rank in mine {
                world.report(peers, rank, Some(reason.clone()));
            }
            peers.unregister(world.id);
            return;
        }
    };
    permits.truncate(mine.len());
    let transport: Arc<dyn Transport> = Arc::new(SpreadTransport {
        world: world.clone(),
        peers: peers.clone(),
    });
    let host_ranges = world.host_ranges();
    for (rank, instance) in mine.into_iter().zip(permits) {
        let id = ids[rank as usize];
        let tree = CallTree::new(Arc::from(world.user.as_str()), id, scheduler.config.tree);
        if let Err(reason) = world.adopt(tree.clone()) {
            world.report(peers, rank, Some(reason));
            continue;
        }
        world.running.lock().insert(rank);
        let member = Rank {
            rank,
            size: world.size,
            mailbox: world.mailbox(rank),
            transport: transport.clone(),
            hosts: host_ranges.clone(),
        };
        let launch = RankLaunch {
            rank,
            instance,
            world: Arc::new(super::Member(Arc::new(member))),
        };
        scheduler.spawn_rank(tree, ROOT, id, module.clone(), call.clone(), launch);
        let (scheduler, world, watcher) = (scheduler.clone(), world.clone(), peers.clone());
        peers.spawn(async move {
            let peers = watcher;
            let error = match scheduler.results.wait(id).await {
                Some(result) => result.error.clone(),
                None => Some(format!("Call failed: rank {rank}'s result was lost")),
            };
            if let Some(error) = &error {
                world.fail(&peers, error);
            }
            world.report(&peers, rank, error);
            world.rank_ended(rank);
            if world.running.lock().is_empty() {
                peers.unregister(world.id);
            }
        });
    }
    if world.running.lock().is_empty() {
        peers.unregister(world.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_grouped_host_by_host() {
        let config = SchedulerConfig::new(4, 1);
        let world = SpreadWorld::new(1, 8, "a".into(), true, "u".into(), &config);
        assert!(world.host_ranges().is_empty());
        let hosts = ["a", "a", "a", "b", "b", "b", "b", "b"];
        world.hosts.set(hosts.map(String::from).to_vec()).unwrap();
        assert_eq!(&*world.host_ranges(), &[0..3, 3..8]);
    }
}

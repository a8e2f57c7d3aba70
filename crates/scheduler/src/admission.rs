//! Admission (SPEC §5, §7): one model for the two things a call needs. An *instance* (a pool
//! slot, i.e. memory) for its whole life, waiting included, and a *worker* (a turn on a guest
//! thread) only while it runs. Both are counted here, host-wide, and handed out by these rules:
//!
//! - Users take turns (round-robin over the users that have someone waiting), so one user's
//!   fan-out cannot starve another's calls.
//! - Within a user, older call trees go first ([`Turn`] orders by root id, then arrival), so the
//!   children of an admitted tree run before new roots of the same user.
//! - A new root is admitted only while `child_reserve` instances stay free for children, both
//!   host-wide and within the user's share (`user_instances`); children may take any free slot
//!   of the user's share. A user never holds more than its share, so other users always find
//!   room.
//! - An MPI world is admitted whole: its root asks for the instances of all its ranks at once
//!   and gets them only when all fit (same rules as a root, for `count` instances), so two
//!   worlds never each hold part of what the other needs.
//! - If, despite that, every instance a user holds belongs to a call awaiting a call that cannot
//!   be admitted (a tree wider or deeper than the host), the newest such tree is aborted with a
//!   clear reason instead of waiting forever. Nothing else can free those instances, so this is
//!   the only way out of a true deadlock, and it is detected exactly (awaits are counted as
//!   they begin and as the awaited call ends, not when the waiter wakes).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use faasm_api::CallId;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::tree::CallTree;

/// Sizes of the two pools and the shares within them.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionConfig {
    /// Instances (pool slots) on the host.
    pub instances: usize,
    /// Calls executing at once.
    pub workers: usize,
    /// Instances one user may hold at most.
    pub user_instances: usize,
    /// Instances new roots leave free for the children of admitted trees.
    pub child_reserve: usize,
}

impl AdmissionConfig {
    /// The defaults for a host of `instances` slots and `workers` workers: an eighth of the
    /// slots (at least one) reserved for children, three quarters (at least two reserves) per
    /// user.
    pub fn new(instances: usize, workers: usize) -> Self {
        let instances = instances.max(2);
        let child_reserve = (instances / 8).max(1);
        Self {
            instances,
            workers: workers.max(1),
            user_instances: (instances * 3 / 4).max(2 * child_reserve).min(instances),
            child_reserve,
        }
    }
}

/// A call's place in line: older trees first, then first come first served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Turn {
    pub tree: CallId,
    pub seq: u64,
}

pub(crate) struct Admission {
    config: AdmissionConfig,
    state: Mutex<State>,
    /// Signalled whenever an instance is given back.
    released: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    free_instances: usize,
    free_workers: usize,
    /// Instances held host-wide, and how many of them belong to calls awaiting a call.
    held: usize,
    awaiting: usize,
    users: HashMap<Arc<str>, User>,
    /// Users with instance (worker) requests waiting, in the order they get their next turn.
    instance_turns: VecDeque<Arc<str>>,
    worker_turns: VecDeque<Arc<str>>,
    next_seq: u64,
}

#[derive(Default)]
struct User {
    held: usize,
    awaiting: usize,
    instances: BTreeMap<Turn, InstanceRequest>,
    workers: BTreeMap<Turn, oneshot::Sender<()>>,
}

struct InstanceRequest {
    root: bool,
    /// Instances granted together (an MPI world's ranks are admitted as a whole).
    count: usize,
    tree: Arc<CallTree>,
    grant: oneshot::Sender<()>,
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free_instances: config.instances,
                free_workers: config.workers,
                ..State::default()
            }),
            released: tokio::sync::Notify::new(),
            config,
        })
    }

    /// A new place in line for a call of `tree`.
    pub fn turn(&self, tree: CallId) -> Turn {
        let mut state = self.state.lock();
        state.next_seq += 1;
        Turn {
            tree,
            seq: state.next_seq,
        }
    }

    /// Waits for `count` instances for a call of `tree` (its root if `root`), granted at once:
    /// more than one for a gang, a root and the calls it will start (an MPI world's ranks).
    /// Cancel-safe: dropping the future gives back instances granted in the meantime.
    pub async fn instances(
        self: &Arc<Self>,
        user: &Arc<str>,
        turn: Turn,
        root: bool,
        tree: &Arc<CallTree>,
        count: usize,
    ) -> Vec<InstancePermit> {
        let (grant, granted) = oneshot::channel();
        {
            let mut state = self.state.lock();
            let request = InstanceRequest {
                root,
                count,
                tree: tree.clone(),
                grant,
            };
            state.user(user).instances.insert(turn, request);
            state.queue_instance_turn(user);
            state.dispatch(&self.config);
            if !root {
                state.break_deadlock(&self.config);
            }
        }
        let mut waiting = Waiting {
            granted: Some(granted),
            on_drop: || (0..count).for_each(|_| self.release_instance(user)),
        };
        waiting.wait().await;
        (0..count)
            .map(|_| InstancePermit {
                admission: self.clone(),
                user: user.clone(),
            })
            .collect()
    }

    /// As many instances as a root of `user` could be granted now, up to `count`, without
    /// queueing (the rules of [`Admission::instances`], and none while the user's calls wait
    /// in line). An MPI world spread over hosts takes its ranks this way, so that no host holds
    /// part of a world while waiting for more.
    pub fn try_instances(self: &Arc<Self>, user: &Arc<str>, count: usize) -> Vec<InstancePermit> {
        let mut state = self.state.lock();
        let (held, waiting) = state
            .users
            .get(user)
            .map_or((0, 0), |u| (u.held, u.instances.len()));
        let reserve = self.config.child_reserve;
        let room = state
            .free_instances
            .saturating_sub(reserve)
            .min(self.config.user_instances.saturating_sub(held + reserve));
        let granted = if waiting > 0 { 0 } else { room.min(count) };
        if granted == 0 {
            return Vec::new();
        }
        debug_assert!(admissible(
            &self.config,
            state.free_instances,
            held,
            true,
            granted
        ));
        state.user(user).held += granted;
        state.held += granted;
        state.free_instances -= granted;
        drop(state);
        let permit = || InstancePermit {
            admission: self.clone(),
            user: user.clone(),
        };
        (0..granted).map(|_| permit()).collect()
    }

    /// The most instances one root may be granted at once: a user's share, less the reserve
    /// its root calls leave for children.
    pub fn max_gang(&self) -> usize {
        self.config.user_instances - self.config.child_reserve
    }

    /// Waits for a worker. Cancel-safe like [`Admission::instances`].
    pub async fn worker(self: &Arc<Self>, user: &Arc<str>, turn: Turn) -> WorkerPermit {
        let granted = {
            let mut state = self.state.lock();
            if state.free_workers > 0 && state.worker_turns.is_empty() {
                // Nobody waits: the worker is this call's at once (MPI ranks take one back
                // after every wait for a message, so this path is hot).
                state.free_workers -= 1;
                return WorkerPermit {
                    admission: self.clone(),
                };
            }
            let (grant, granted) = oneshot::channel();
            state.user(user).workers.insert(turn, grant);
            if !state.worker_turns.contains(user) {
                state.worker_turns.push_back(user.clone());
            }
            state.dispatch(&self.config);
            granted
        };
        let mut waiting = Waiting {
            granted: Some(granted),
            on_drop: || self.release_worker(),
        };
        waiting.wait().await;
        WorkerPermit {
            admission: self.clone(),
        }
    }

    /// Counts an instance of `user` as awaiting a call until the ticket is settled (when the
    /// awaited call ends, or when the returned guard goes because the waiter gave up), and
    /// aborts a deadlocked tree.
    pub fn begin_await(self: &Arc<Self>, user: &Arc<str>) -> AwaitGuard {
        let mut state = self.state.lock();
        state.awaiting += 1;
        state.user(user).awaiting += 1;
        state.break_deadlock(&self.config);
        AwaitGuard(Arc::new(AwaitTicket {
            admission: self.clone(),
            user: user.clone(),
            settled: AtomicBool::new(false),
        }))
    }

    fn end_await(&self, user: &Arc<str>) {
        let mut state = self.state.lock();
        state.awaiting -= 1;
        state.user(user).awaiting -= 1;
    }

    fn release_instance(&self, user: &Arc<str>) {
        let mut state = self.state.lock();
        state.free_instances += 1;
        state.held -= 1;
        state.user(user).held -= 1;
        state.dispatch(&self.config);
        drop(state);
        self.released.notify_waiters();
    }

    fn release_worker(&self) {
        let mut state = self.state.lock();
        state.free_workers += 1;
        state.dispatch(&self.config);
    }

    /// Whether a call of `user` (a root if `root`, needing `count` instances) would get
    /// them at once.
    pub fn admits_now(&self, user: &str, root: bool, count: usize) -> bool {
        let state = self.state.lock();
        let (held, waiting) = state
            .users
            .get(user)
            .map_or((0, 0), |u| (u.held, u.instances.len()));
        waiting == 0 && admissible(&self.config, state.free_instances, held, root, count)
    }

    /// Instances nobody holds or waits for now.
    pub fn free_instances(&self) -> usize {
        self.state.lock().free_instances
    }

    /// Resolves the next time an instance is given back.
    pub async fn instance_released(&self) {
        self.released.notified().await
    }

    /// Instances held and workers busy, for metrics.
    pub fn in_use(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.held, self.config.workers - state.free_workers)
    }
}

/// Whether a call (a root if `root`, with `count` instances for a whole MPI world) of a user
/// holding `held` instances may take them from `free`: roots leave the child reserve free and
/// their user room for a child.
fn admissible(
    config: &AdmissionConfig,
    free: usize,
    held: usize,
    root: bool,
    count: usize,
) -> bool {
    if root {
        free >= count + config.child_reserve
            && held + count + config.child_reserve <= config.user_instances
    } else {
        free > 0 && held < config.user_instances
    }
}

impl State {
    fn user(&mut self, user: &Arc<str>) -> &mut User {
        self.users.entry(user.clone()).or_default()
    }

    fn queue_instance_turn(&mut self, user: &Arc<str>) {
        if !self.instance_turns.contains(user) {
            self.instance_turns.push_back(user.clone());
        }
    }

    /// Hands out whatever can be handed out, user by user in turn.
    fn dispatch(&mut self, config: &AdmissionConfig) {
        self.dispatch_instances(config);
        self.dispatch_workers();
        self.forget_idle_users();
    }

    fn dispatch_instances(&mut self, config: &AdmissionConfig) {
        // A full round of users without a grant ends it.
        let mut passes = 0;
        while self.free_instances > 0 && passes < self.instance_turns.len() {
            let Some(name) = self.instance_turns.pop_front() else {
                break;
            };
            let (free, config) = (self.free_instances, *config);
            let user = self.users.get_mut(&name).expect("queued users are known");
            let Some(entry) = user.instances.first_entry() else {
                continue;
            };
            let count = entry.get().count;
            if !admissible(&config, free, user.held, entry.get().root, count) {
                self.instance_turns.push_back(name);
                passes += 1;
                continue;
            }
            let request = entry.remove();
            let more = !user.instances.is_empty();
            if request.grant.send(()).is_ok() {
                user.held += count;
                self.held += count;
                self.free_instances -= count;
                passes = 0;
            }
            if more {
                self.instance_turns.push_back(name);
            }
        }
    }

    fn dispatch_workers(&mut self) {
        while self.free_workers > 0 {
            let Some(name) = self.worker_turns.pop_front() else {
                break;
            };
            let user = self.users.get_mut(&name).expect("queued users are known");
            let Some((_, grant)) = user.workers.pop_first() else {
                continue;
            };
            if !user.workers.is_empty() {
                self.worker_turns.push_back(name);
            }
            if grant.send(()).is_ok() {
                self.free_workers -= 1;
            }
        }
    }

    /// Drops the bookkeeping of users with nothing held or waiting.
    fn forget_idle_users(&mut self) {
        if self.users.len() > 64 {
            self.users.retain(|_, u| {
                u.held > 0 || u.awaiting > 0 || !u.instances.is_empty() || !u.workers.is_empty()
            });
        }
    }

    /// Aborts the newest tree that waits for an instance only its own awaiting calls could
    /// free (see the module docs).
    fn break_deadlock(&mut self, config: &AdmissionConfig) {
        let host_stuck = self.free_instances == 0 && self.held == self.awaiting;
        let victim = self
            .users
            .values()
            .filter(|u| u.held > 0 && u.held == u.awaiting)
            .filter(|u| host_stuck || u.held >= config.user_instances)
            .filter_map(|u| {
                u.instances
                    .iter()
                    .rev()
                    .find(|(_, request)| !request.root && !request.tree.is_aborted())
            })
            .max_by_key(|(turn, _)| **turn)
            .map(|(_, request)| request.tree.clone());
        if let Some(tree) = victim {
            tree.abort(format!(
                "Call failed: call tree aborted: its calls await calls that cannot start, with \
                 every instance they may use taken by awaiting calls (--max-instances {}, \
                 {} per user)",
                config.instances, config.user_instances
            ));
        }
    }
}

/// Waiting for a grant; if dropped after the grant was sent, gives it back.
struct Waiting<F: FnMut()> {
    granted: Option<oneshot::Receiver<()>>,
    on_drop: F,
}

impl<F: FnMut()> Waiting<F> {
    async fn wait(&mut self) {
        let granted = self.granted.as_mut().expect("waited once");
        // The sender is only dropped unsent when its request is given up by this waiter.
        let _ = granted.await;
        self.granted = None;
    }
}

impl<F: FnMut()> Drop for Waiting<F> {
    fn drop(&mut self) {
        if let Some(mut granted) = self.granted.take() {
            granted.close();
            if granted.try_recv().is_ok() {
                (self.on_drop)();
            }
        }
    }
}

/// An instance held; given back on drop.
pub(crate) struct InstancePermit {
    admission: Arc<Admission>,
    user: Arc<str>,
}

impl Drop for InstancePermit {
    fn drop(&mut self) {
        self.admission.release_instance(&self.user);
    }
}

/// A worker held; given back on drop.
pub(crate) struct WorkerPermit {
    admission: Arc<Admission>,
}

impl Drop for WorkerPermit {
    fn drop(&mut self) {
        self.admission.release_worker();
    }
}

/// One call awaiting another, counted until settled (by whichever comes first: the awaited
/// call ending, or the waiter giving up).
pub(crate) struct AwaitTicket {
    admission: Arc<Admission>,
    user: Arc<str>,
    settled: AtomicBool,
}

/// Settles its ticket when dropped.
pub(crate) struct AwaitGuard(pub Arc<AwaitTicket>);

impl Drop for AwaitGuard {
    fn drop(&mut self) {
        self.0.settle();
    }
}

impl AwaitTicket {
    pub fn settle(&self) {
        if !self.settled.swap(true, Ordering::AcqRel) {
            self.admission.end_await(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trying_for_instances_takes_what_fits_now_and_gives_it_back_on_drop() {
        // 8 instances: 1 reserved for children, a user's share is 6.
        let admission = Admission::new(AdmissionConfig::new(8, 2));
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        // A root leaves the reserve within its user's share: 5 of the 10 asked.
        let held = admission.try_instances(&a, 10);
        assert_eq!(held.len(), 5);
        assert!(admission.try_instances(&a, 1).is_empty());
        // Host-wide, the reserve stays free: 3 free, 2 for another user.
        let other = admission.try_instances(&b, 10);
        assert_eq!(other.len(), 2);
        assert_eq!(admission.free_instances(), 1);
        drop(held);
        assert_eq!(admission.free_instances(), 6);
        assert!(admission.try_instances(&a, 0).is_empty());
        assert_eq!(admission.try_instances(&a, 3).len(), 3);
    }
}

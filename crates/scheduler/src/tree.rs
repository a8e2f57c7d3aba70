//! Call trees (SPEC §5): a root call and everything it chains, directly or not. The tree
//! enforces the per-tree budget (calls and depth), names its calls to guests by small
//! *handles* (the call's index in the tree, never a global id, so a guest can neither reach
//! another tree's calls nor overflow its 32-bit ids), decides which calls a call may await (its
//! own descendants), and can be aborted as a whole.

use std::sync::Arc;

use faasm_api::CallId;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::admission::AwaitTicket;

/// What a guest holds for a call of its tree.
pub type CallHandle = u32;

/// The handle of a tree's root.
pub(crate) const ROOT: CallHandle = 0;

/// Budgets of one tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeLimits {
    /// Calls in one tree, the root included.
    pub max_calls: usize,
    /// Nesting of chained calls below the root.
    pub max_depth: u32,
}

pub(crate) struct CallTree {
    pub user: Arc<str>,
    pub root: CallId,
    limits: TreeLimits,
    nodes: Mutex<Vec<Node>>,
    aborted: watch::Sender<Option<Arc<str>>>,
}

struct Node {
    id: CallId,
    parent: CallHandle,
    depth: u32,
    finished: bool,
    /// Calls awaiting this one, settled when it ends.
    awaiters: Vec<Arc<AwaitTicket>>,
}

/// Why a call may not be chained or awaited.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("chain depth limit of {0} exceeded")]
    TooDeep(u32),
    #[error("call tree budget of {0} calls exceeded")]
    TooManyCalls(usize),
    #[error("call handle {0} was not chained by this call or its chained calls")]
    NotDescendant(CallHandle),
    #[error("a call cannot await itself")]
    Itself,
}

impl CallTree {
    pub fn new(user: Arc<str>, root: CallId, limits: TreeLimits) -> Arc<Self> {
        Arc::new(Self {
            user,
            root,
            limits,
            nodes: Mutex::new(vec![Node {
                id: root,
                parent: ROOT,
                depth: 0,
                finished: false,
                awaiters: Vec::new(),
            }]),
            aborted: watch::channel(None).0,
        })
    }

    /// Checks the budget for a new child `id` of `parent` and records it.
    pub fn add_child(&self, parent: CallHandle, id: CallId) -> Result<CallHandle, TreeError> {
        let mut nodes = self.nodes.lock();
        let depth = nodes[parent as usize].depth + 1;
        if depth > self.limits.max_depth {
            return Err(TreeError::TooDeep(self.limits.max_depth));
        }
        if nodes.len() >= self.limits.max_calls {
            drop(nodes);
            let error = TreeError::TooManyCalls(self.limits.max_calls);
            self.abort(format!("Call failed: {error}"));
            return Err(error);
        }
        let handle = nodes.len() as CallHandle;
        nodes.push(Node {
            id,
            parent,
            depth,
            finished: false,
            awaiters: Vec::new(),
        });
        Ok(handle)
    }

    /// The id of `target` if `caller` may await or read it: `target` descends from `caller`.
    pub fn descendant(&self, caller: CallHandle, target: CallHandle) -> Result<CallId, TreeError> {
        if caller == target {
            return Err(TreeError::Itself);
        }
        let nodes = self.nodes.lock();
        let node = nodes
            .get(target as usize)
            .filter(|_| target != ROOT)
            .ok_or(TreeError::NotDescendant(target))?;
        let mut parent = node.parent;
        while parent != caller {
            if parent == ROOT {
                return Err(TreeError::NotDescendant(target));
            }
            parent = nodes[parent as usize].parent;
        }
        Ok(node.id)
    }

    /// Registers an await of `target`; `false` (and the ticket settled) if it has finished.
    pub fn register_await(&self, target: CallHandle, ticket: &Arc<AwaitTicket>) -> bool {
        let mut nodes = self.nodes.lock();
        let node = &mut nodes[target as usize];
        if node.finished {
            drop(nodes);
            ticket.settle();
            return false;
        }
        node.awaiters.push(ticket.clone());
        true
    }

    /// Marks `handle` finished, settling its awaiters (before its instance is given back, so
    /// admission never sees them as awaiting a call that has ended).
    pub fn finished(&self, handle: CallHandle) {
        let awaiters = {
            let mut nodes = self.nodes.lock();
            let node = &mut nodes[handle as usize];
            node.finished = true;
            std::mem::take(&mut node.awaiters)
        };
        for ticket in awaiters {
            ticket.settle();
        }
    }

    /// Ends every call of the tree with `reason` (the first reason wins).
    pub fn abort(&self, reason: String) {
        self.aborted.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(Arc::from(reason));
            true
        });
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.borrow().is_some()
    }

    /// Why the tree was aborted, if it was.
    pub fn abort_reason(&self) -> Option<Arc<str>> {
        self.aborted.borrow().clone()
    }

    /// Resolves with the reason once the tree is aborted.
    pub async fn aborted(&self) -> Arc<str> {
        let mut rx = self.aborted.subscribe();
        let reason = rx
            .wait_for(Option::is_some)
            .await
            .expect("the tree owns the sender");
        reason.clone().expect("waited for Some")
    }
}

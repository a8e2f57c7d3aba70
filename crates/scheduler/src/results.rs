//! Retained call results: every poll of a finished call answers the same until the result
//! expires: by age, because too many newer ones are kept, or because the retained bytes pass
//! their budget (oldest first in each case). Results of durable (async) calls are also written
//! to the [`ResultStore`], so they survive a restart. When count or bytes are over, results
//! of other calls (sync calls, whose callers had them in the response) go first, so a burst of
//! sync traffic never pushes out an async result its client has not polled yet.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faasm_api::{CallId, CallResult, CallStatus};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::durable::{JournalError, ResultStore, StoredResult, now_ms};

/// How long, how many and how many bytes of results are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub ttl: Duration,
    pub max_results: usize,
    /// Output, stdout and error bytes of the retained results together.
    pub max_bytes: usize,
}

pub(crate) struct ResultsRegistry {
    inner: Mutex<Inner>,
    retention: Retention,
    store: Arc<dyn ResultStore>,
}

/// A call as the registry knows it.
enum Entry {
    /// Queued or running; notified when it finishes.
    Running(Arc<Notify>, CallName),
    Finished(Arc<CallResult>, CallName),
}

impl Entry {
    fn name(&self) -> &CallName {
        match self {
            Entry::Running(_, name) | Entry::Finished(_, name) => name,
        }
    }
}

/// Whose call it is. Results restored after a restart do not know (the result store keeps
/// results only): their user and function are empty.
#[derive(Debug, Clone, Default)]
pub struct CallName {
    pub user: Arc<str>,
    pub function: Arc<str>,
}

/// Which calls [`ResultsRegistry::list`] lists.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub user: Option<String>,
    pub function: Option<String>,
    pub status: Option<RecordStatus>,
    /// Only calls with a smaller id (the next page).
    pub before: Option<CallId>,
    pub limit: usize,
}

/// The status a call record is filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    Running,
    Success,
    Failed,
}

impl RecordStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "running" => Some(RecordStatus::Running),
            "success" => Some(RecordStatus::Success),
            "failed" => Some(RecordStatus::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Running => "RUNNING",
            RecordStatus::Success => "SUCCESS",
            RecordStatus::Failed => "FAILED",
        }
    }
}

/// A call the registry knows: running (no result yet) or finished.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub id: CallId,
    pub name: CallName,
    pub result: Option<Arc<CallResult>>,
}

impl CallRecord {
    pub fn status(&self) -> RecordStatus {
        match &self.result {
            None => RecordStatus::Running,
            Some(result) if result.succeeded() => RecordStatus::Success,
            Some(_) => RecordStatus::Failed,
        }
    }
}

struct Finished {
    at: Instant,
    id: CallId,
    bytes: usize,
    durable: bool,
    user: Arc<str>,
}

#[derive(Default)]
struct Inner {
    calls: HashMap<CallId, Entry>,
    /// Finished calls, oldest first, for expiry: other calls', then durable calls'.
    finished: [VecDeque<Finished>; 2],
    bytes: usize,
    /// Retained bytes by user, and the users' own caps (from their limits).
    user_bytes: HashMap<Arc<str>, usize>,
    user_caps: HashMap<Arc<str>, usize>,
    /// The calls of every rank of an MPI world, by its rank 0's call, kept as long as rank
    /// 0's result is.
    worlds: HashMap<CallId, Arc<[CallId]>>,
}

impl Inner {
    fn retained(&self) -> usize {
        self.finished[0].len() + self.finished[1].len()
    }

    fn push(&mut self, finished: Finished) {
        self.bytes += finished.bytes;
        *self.user_bytes.entry(finished.user.clone()).or_default() += finished.bytes;
        self.finished[usize::from(finished.durable)].push_back(finished);
    }

    /// Forgets a result taken out of its queue; a durable one's id goes to `forgotten`.
    fn forget(&mut self, finished: Finished, forgotten: &mut Vec<CallId>) {
        self.bytes -= finished.bytes;
        if let Some(bytes) = self.user_bytes.get_mut(&finished.user) {
            *bytes -= finished.bytes;
            if *bytes == 0 {
                self.user_bytes.remove(&finished.user);
            }
        }
        self.calls.remove(&finished.id);
        self.worlds.remove(&finished.id);
        if finished.durable {
            forgotten.push(finished.id);
        }
    }

    /// Forgets `user`'s oldest results (other calls' first) while they pass the user's cap.
    fn keep_to_user_cap(&mut self, user: &Arc<str>, forgotten: &mut Vec<CallId>) {
        let Some(&cap) = self.user_caps.get(user) else {
            return;
        };
        for queue in 0..2 {
            while self.user_bytes.get(user).is_some_and(|&bytes| bytes > cap) {
                let oldest = self.finished[queue].iter().position(|f| f.user == *user);
                let Some(finished) = oldest.and_then(|i| self.finished[queue].remove(i)) else {
                    break;
                };
                self.forget(finished, forgotten);
            }
        }
    }
}

fn size(result: &CallResult) -> usize {
    result.output.len() + result.stdout.len() + result.error.as_ref().map_or(0, String::len)
}

impl ResultsRegistry {
    pub fn new(retention: Retention, store: Arc<dyn ResultStore>) -> Self {
        Self {
            inner: Mutex::default(),
            retention,
            store,
        }
    }

    /// Brings back the results an earlier run of the host retained.
    pub fn restore(&self) -> Result<(), JournalError> {
        let mut stored = self.store.retained()?;
        // Expiry takes the oldest first, so they go back in the order they finished.
        stored.sort_by_key(|stored| stored.finished_ms);
        let (now, now_ms) = (Instant::now(), now_ms());
        let mut inner = self.inner.lock();
        for StoredResult {
            result,
            finished_ms,
        } in stored
        {
            let age = Duration::from_millis(now_ms.saturating_sub(finished_ms));
            let at = now.checked_sub(age).unwrap_or(now);
            let (id, bytes) = (result.id, size(&result));
            let name = CallName::default();
            let user = name.user.clone();
            inner
                .calls
                .insert(id, Entry::Finished(Arc::new(result), name));
            inner.push(Finished {
                at,
                id,
                bytes,
                durable: true,
                user,
            });
        }
        self.expire(&mut inner, now);
        Ok(())
    }

    /// Records that `id`, a call of `name`, is queued or running.
    pub fn start(&self, id: CallId, name: CallName) {
        let entry = Entry::Running(Arc::default(), name);
        self.inner.lock().calls.insert(id, entry);
    }

    /// Records a result; a `durable` one goes to the result store too.
    pub fn finish(&self, result: Arc<CallResult>, durable: bool) {
        let (id, bytes) = (result.id, size(&result));
        if durable {
            self.store.put(StoredResult {
                result: CallResult::clone(&result),
                finished_ms: now_ms(),
            });
        }
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let name = inner.calls.get(&id).map(Entry::name).cloned();
        let name = name.unwrap_or_default();
        let user = name.user.clone();
        let entry = Entry::Finished(result, name);
        if let Some(Entry::Running(done, _)) = inner.calls.insert(id, entry) {
            done.notify_waiters();
        }
        inner.push(Finished {
            at: now,
            id,
            bytes,
            durable,
            user: user.clone(),
        });
        let mut forgotten = Vec::new();
        inner.keep_to_user_cap(&user, &mut forgotten);
        self.store.remove(forgotten);
        self.expire(&mut inner, now);
    }

    /// Caps the bytes of `user`'s retained results (`None`: only the host's budget applies).
    pub fn limit_user(&self, user: &str, cap: Option<usize>) {
        let mut inner = self.inner.lock();
        match cap {
            Some(cap) => inner.user_caps.insert(Arc::from(user), cap),
            None => inner.user_caps.remove(user),
        };
    }

    pub fn status(&self, id: CallId) -> CallStatus {
        let mut inner = self.inner.lock();
        self.expire(&mut inner, Instant::now());
        match inner.calls.get(&id) {
            None => CallStatus::NotFound,
            Some(Entry::Running(..)) => CallStatus::Running,
            Some(Entry::Finished(result, _)) => CallStatus::Finished(result.clone()),
        }
    }

    /// Records the calls of the ranks of the MPI world whose rank 0 is call `root`, in rank
    /// order.
    pub fn record_world(&self, root: CallId, ranks: Vec<CallId>) {
        self.inner.lock().worlds.insert(root, ranks.into());
    }

    /// The calls of the ranks of the world whose rank 0 is `root`, if it ran here.
    pub fn world(&self, root: CallId) -> Option<Arc<[CallId]>> {
        self.inner.lock().worlds.get(&root).cloned()
    }

    /// The user of call `id`, if known (results restored after a restart do not know it).
    pub fn user(&self, id: CallId) -> Option<Arc<str>> {
        let inner = self.inner.lock();
        let user = &inner.calls.get(&id)?.name().user;
        (!user.is_empty()).then(|| user.clone())
    }

    /// The calls `filter` matches, newest (highest id) first, at most `filter.limit`.
    pub fn list(&self, filter: &CallFilter) -> Vec<CallRecord> {
        let matches = |id: &CallId, entry: &Entry| {
            let name = entry.name();
            let status = match entry {
                Entry::Running(..) => RecordStatus::Running,
                Entry::Finished(result, _) if result.succeeded() => RecordStatus::Success,
                Entry::Finished(..) => RecordStatus::Failed,
            };
            filter.before.is_none_or(|before| *id < before)
                && filter.user.as_deref().is_none_or(|u| *name.user == *u)
                && filter
                    .function
                    .as_deref()
                    .is_none_or(|f| *name.function == *f)
                && filter.status.is_none_or(|s| s == status)
        };
        let mut records: Vec<CallRecord> = {
            let mut inner = self.inner.lock();
            self.expire(&mut inner, Instant::now());
            inner
                .calls
                .iter()
                .filter(|(id, entry)| matches(id, entry))
                .map(|(&id, entry)| CallRecord {
                    id,
                    name: entry.name().clone(),
                    result: match entry {
                        Entry::Running(..) => None,
                        Entry::Finished(result, _) => Some(result.clone()),
                    },
                })
                .collect()
        };
        let limit = filter.limit.min(records.len());
        if limit < records.len() {
            records.select_nth_unstable_by_key(limit, |r| std::cmp::Reverse(r.id));
            records.truncate(limit);
        }
        records.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
        records
    }

    /// Bytes of the results retained now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Waits for call `id` to finish; `None` if the id is unknown (or its result expired).
    pub async fn wait(&self, id: CallId) -> Option<Arc<CallResult>> {
        loop {
            let done = match self.status_entry(id)? {
                Ok(result) => return Some(result),
                Err(done) => done,
            };
            let notified = done.notified();
            tokio::pin!(notified);
            // Registered before the re-check, so a finish in between is not missed.
            notified.as_mut().enable();
            if let Ok(result) = self.status_entry(id)? {
                return Some(result);
            }
            notified.await;
        }
    }

    fn status_entry(&self, id: CallId) -> Option<Result<Arc<CallResult>, Arc<Notify>>> {
        match self.inner.lock().calls.get(&id)? {
            Entry::Running(done, _) => Some(Err(done.clone())),
            Entry::Finished(result, _) => Some(Ok(result.clone())),
        }
    }

    fn expire(&self, inner: &mut Inner, now: Instant) {
        let mut forgotten = Vec::new();
        loop {
            let too_old = |queue: &VecDeque<Finished>| {
                queue
                    .front()
                    .is_some_and(|oldest| now.duration_since(oldest.at) > self.retention.ttl)
            };
            let over = inner.retained() > self.retention.max_results
                || inner.bytes > self.retention.max_bytes;
            let queue = if too_old(&inner.finished[0]) {
                0
            } else if too_old(&inner.finished[1]) {
                1
            } else if over {
                usize::from(inner.finished[0].is_empty())
            } else {
                break;
            };
            let Some(oldest) = inner.finished[queue].pop_front() else {
                break;
            };
            inner.forget(oldest, &mut forgotten);
        }
        self.store.remove(forgotten);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result store that keeps nothing.
    struct Nowhere;

    impl ResultStore for Nowhere {
        fn put(&self, _: StoredResult) {}
        fn remove(&self, _: Vec<CallId>) {}
        fn retained(&self) -> Result<Vec<StoredResult>, JournalError> {
            Ok(Vec::new())
        }
    }

    fn registry(ttl: Duration, max_results: usize, max_bytes: usize) -> Arc<ResultsRegistry> {
        let retention = Retention {
            ttl,
            max_results,
            max_bytes,
        };
        Arc::new(ResultsRegistry::new(retention, Arc::new(Nowhere)))
    }

    #[tokio::test]
    async fn waiters_wake_when_the_call_finishes() {
        let registry = registry(Duration::from_secs(60), 10, 1 << 20);
        assert!(registry.wait(1).await.is_none(), "unknown id");
        registry.start(1, CallName::default());
        let waiter = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait(1).await }
        });
        tokio::task::yield_now().await;
        registry.finish(result(1, 0), false);
        assert_eq!(waiter.await.unwrap().unwrap().id, 1);
        assert_eq!(registry.wait(1).await.unwrap().id, 1, "already finished");
    }

    fn result(id: CallId, output_bytes: usize) -> Arc<CallResult> {
        Arc::new(CallResult {
            id,
            return_value: 0,
            output: vec![b'x'; output_bytes].into(),
            stdout: Default::default(),
            error: None,
            timings: Default::default(),
        })
    }

    #[test]
    fn polls_do_not_consume_and_old_results_expire() {
        let registry = registry(Duration::from_secs(3600), 2, 1 << 20);
        assert!(matches!(registry.status(1), CallStatus::NotFound));
        registry.start(1, CallName::default());
        assert!(matches!(registry.status(1), CallStatus::Running));
        registry.finish(result(1, 0), false);
        for _ in 0..3 {
            assert!(matches!(registry.status(1), CallStatus::Finished(_)));
        }
        for id in 2..=3 {
            registry.start(id, CallName::default());
            registry.finish(result(id, 0), false);
        }
        assert!(matches!(registry.status(1), CallStatus::NotFound));
        assert!(matches!(registry.status(3), CallStatus::Finished(_)));

        let short = self::registry(Duration::ZERO, 10, 1 << 20);
        assert!(matches!(short.status(4), CallStatus::NotFound));
        short.start(5, CallName::default());
        short.finish(result(5, 0), false);
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(short.status(5), CallStatus::NotFound));
    }

    #[test]
    fn lists_newest_first_filtered_and_paged() {
        let registry = registry(Duration::from_secs(3600), 100, 1 << 20);
        let name = |user: &str, function: &str| CallName {
            user: user.into(),
            function: function.into(),
        };
        for id in 1..=10 {
            let function = if id % 2 == 0 { "even" } else { "odd" };
            registry.start(id, name("u", function));
            if id <= 8 {
                registry.finish(result(id, 0), false);
            }
        }
        let ids = |filter: CallFilter| -> Vec<CallId> {
            registry.list(&filter).iter().map(|r| r.id).collect()
        };
        let all = CallFilter {
            limit: 100,
            ..CallFilter::default()
        };
        assert_eq!(ids(all.clone()), (1..=10).rev().collect::<Vec<_>>());
        let page = CallFilter {
            limit: 3,
            before: Some(9),
            ..all.clone()
        };
        assert_eq!(ids(page), vec![8, 7, 6]);
        let even = CallFilter {
            function: Some("even".into()),
            status: Some(RecordStatus::Success),
            ..all.clone()
        };
        assert_eq!(ids(even), vec![8, 6, 4, 2]);
        let running = CallFilter {
            status: Some(RecordStatus::Running),
            ..all.clone()
        };
        assert_eq!(ids(running), vec![10, 9]);
        let other = CallFilter {
            user: Some("v".into()),
            ..all
        };
        assert!(ids(other).is_empty());
        assert_eq!(
            &*registry.list(&CallFilter {
                limit: 1,
                ..CallFilter::default()
            })[0]
                .name
                .function,
            "even"
        );
    }

    #[test]
    fn retained_bytes_stay_within_the_budget() {
        let registry = registry(Duration::from_secs(3600), 1000, 1000);
        for id in 1..=10 {
            registry.start(id, CallName::default());
            registry.finish(result(id, 300), false);
            assert!(registry.bytes() <= 1000, "{}", registry.bytes());
        }
        assert!(matches!(registry.status(7), CallStatus::NotFound));
        for id in 8..=10 {
            assert!(matches!(registry.status(id), CallStatus::Finished(_)));
        }
    }

    #[test]
    fn a_users_results_keep_to_its_own_cap() {
        let registry = registry(Duration::from_secs(3600), 1000, 1 << 20);
        registry.limit_user("hog", Some(1000));
        let name = |user: &str| CallName {
            user: Arc::from(user),
            function: Arc::from("f"),
        };
        registry.start(1, name("other"));
        registry.finish(result(1, 300), true);
        for id in 2..=11 {
            registry.start(id, name("hog"));
            registry.finish(result(id, 300), true);
        }
        // The hog keeps its newest 3 x 300 bytes; the other user's result is untouched.
        assert!(matches!(registry.status(1), CallStatus::Finished(_)));
        for id in 2..=8 {
            assert!(matches!(registry.status(id), CallStatus::NotFound), "{id}");
        }
        for id in 9..=11 {
            assert!(
                matches!(registry.status(id), CallStatus::Finished(_)),
                "{id}"
            );
        }
        assert_eq!(registry.bytes(), 4 * 300);
        // A sync result (its caller has it) goes before the user's unpolled async ones.
        registry.start(12, name("hog"));
        registry.finish(result(12, 300), false);
        assert!(matches!(registry.status(12), CallStatus::NotFound));
        assert!(matches!(registry.status(9), CallStatus::Finished(_)));
    }

    #[test]
    fn sync_results_go_before_unpolled_async_ones() {
        let registry = registry(Duration::from_secs(3600), 3, 1 << 20);
        registry.start(1, CallName::default());
        registry.finish(result(1, 0), true);
        for id in 2..=100 {
            registry.start(id, CallName::default());
            registry.finish(result(id, 0), false);
        }
        assert!(matches!(registry.status(1), CallStatus::Finished(_)));
        assert!(matches!(registry.status(100), CallStatus::Finished(_)));
        assert!(matches!(registry.status(98), CallStatus::NotFound));
        // Durable results alone still keep to the count, oldest first.
        for id in 101..=103 {
            registry.start(id, CallName::default());
            registry.finish(result(id, 0), true);
        }
        assert!(matches!(registry.status(1), CallStatus::NotFound));
        assert!(matches!(registry.status(103), CallStatus::Finished(_)));
    }
}

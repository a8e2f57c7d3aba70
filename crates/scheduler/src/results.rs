//! Retained call results: every poll of a finished call answers the same until the result
//! expires (by age or because too many newer ones are kept).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faasm_api::{CallId, CallResult, CallStatus};
use parking_lot::Mutex;
use tokio::sync::Notify;

pub(crate) struct ResultsRegistry {
    inner: Mutex<Inner>,
    ttl: Duration,
    max_results: usize,
}

/// A call as the registry knows it.
enum Entry {
    /// Queued or running; notified when it finishes.
    Running(Arc<Notify>),
    Finished(Arc<CallResult>),
}

#[derive(Default)]
struct Inner {
    calls: HashMap<CallId, Entry>,
    /// Finished calls, oldest first, for expiry.
    finished: VecDeque<(Instant, CallId)>,
}

impl ResultsRegistry {
    pub fn new(ttl: Duration, max_results: usize) -> Self {
        Self {
            inner: Mutex::default(),
            ttl,
            max_results,
        }
    }

    /// Records that `id` is queued or running.
    pub fn start(&self, id: CallId) {
        let entry = Entry::Running(Arc::default());
        self.inner.lock().calls.insert(id, entry);
    }

    pub fn finish(&self, id: CallId, result: Arc<CallResult>) {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if let Some(Entry::Running(done)) = inner.calls.insert(id, Entry::Finished(result)) {
            done.notify_waiters();
        }
        inner.finished.push_back((now, id));
        self.expire(&mut inner, now);
    }

    pub fn status(&self, id: CallId) -> CallStatus {
        let mut inner = self.inner.lock();
        self.expire(&mut inner, Instant::now());
        match inner.calls.get(&id) {
            None => CallStatus::NotFound,
            Some(Entry::Running(_)) => CallStatus::Running,
            Some(Entry::Finished(result)) => CallStatus::Finished(result.clone()),
        }
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
            Entry::Running(done) => Some(Err(done.clone())),
            Entry::Finished(result) => Some(Ok(result.clone())),
        }
    }

    fn expire(&self, inner: &mut Inner, now: Instant) {
        while let Some(&(finished_at, id)) = inner.finished.front() {
            let too_old = now.duration_since(finished_at) > self.ttl;
            if !too_old && inner.finished.len() <= self.max_results {
                break;
            }
            inner.finished.pop_front();
            inner.calls.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_when_the_call_finishes() {
        let registry = Arc::new(ResultsRegistry::new(Duration::from_secs(60), 10));
        assert!(registry.wait(1).await.is_none(), "unknown id");
        registry.start(1);
        let waiter = tokio::spawn({
            let registry = registry.clone();
            async move { registry.wait(1).await }
        });
        tokio::task::yield_now().await;
        registry.finish(1, result(1));
        assert_eq!(waiter.await.unwrap().unwrap().id, 1);
        assert_eq!(registry.wait(1).await.unwrap().id, 1, "already finished");
    }

    fn result(id: CallId) -> Arc<CallResult> {
        Arc::new(CallResult {
            id,
            return_value: 0,
            output: Default::default(),
            stdout: Default::default(),
            error: None,
            timings: Default::default(),
        })
    }

    #[test]
    fn polls_do_not_consume_and_old_results_expire() {
        let registry = ResultsRegistry::new(Duration::from_secs(3600), 2);
        assert!(matches!(registry.status(1), CallStatus::NotFound));
        registry.start(1);
        assert!(matches!(registry.status(1), CallStatus::Running));
        registry.finish(1, result(1));
        for _ in 0..3 {
            assert!(matches!(registry.status(1), CallStatus::Finished(_)));
        }
        for id in 2..=3 {
            registry.start(id);
            registry.finish(id, result(id));
        }
        assert!(matches!(registry.status(1), CallStatus::NotFound));
        assert!(matches!(registry.status(3), CallStatus::Finished(_)));

        let short = ResultsRegistry::new(Duration::ZERO, 10);
        assert!(matches!(short.status(4), CallStatus::NotFound));
        short.start(5);
        short.finish(5, result(5));
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(short.status(5), CallStatus::NotFound));
    }
}

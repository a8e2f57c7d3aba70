//! Call metrics (Prometheus through the `metrics` facade): latency histograms and outcome
//! counters per user and function. Labels are bounded: the first `label_pairs` user/function
//! pairs seen get their own series, every later pair shares the `other`/`other` series, so a
//! client inventing function names cannot grow the exposition without bound. The handles of a
//! pair are registered once and kept, so a call's metrics cost a read lock, two hash lookups
//! and a few atomic appends.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use faasm_api::CallResult;
use metrics::{Counter, Histogram};
use parking_lot::RwLock;

/// How a call ended, as the `outcome` label of `faasm_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed,
    Timeout,
    Memory,
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Success,
        Outcome::Failed,
        Outcome::Timeout,
        Outcome::Memory,
        Outcome::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed => "failed",
            Outcome::Timeout => "timeout",
            Outcome::Memory => "memory",
            Outcome::Rejected => "rejected",
        }
    }

    /// The outcome of a finished call, from its failure reason (the runtime's reasons for a
    /// timeout and a memory limit or budget have fixed forms).
    pub fn of(result: &CallResult) -> Outcome {
        match &result.error {
            None => Outcome::Success,
            Some(reason) if reason.starts_with("Call failed: timed out") => Outcome::Timeout,
            Some(reason)
                if reason.contains("memory limit of") || reason.contains("memory budget of") =>
            {
                Outcome::Memory
            }
            Some(_) => Outcome::Failed,
        }
    }
}

/// The series of one user/function pair.
pub struct FunctionMetrics {
    exec: Histogram,
    queued: Histogram,
    latency: Histogram,
    cold_start: Histogram,
    outcomes: [Counter; 5],
}

impl FunctionMetrics {
    fn register(user: &str, function: &str) -> Self {
        let labels = [("user", user.to_owned()), ("function", function.to_owned())];
        let outcome = |o: Outcome| {
            let mut labels = labels.to_vec();
            labels.push(("outcome", o.as_str().to_owned()));
            metrics::counter!("faasm_calls_total", &labels)
        };
        Self {
            exec: metrics::histogram!("faasm_call_exec_seconds", &labels),
            queued: metrics::histogram!("faasm_call_queued_seconds", &labels),
            latency: metrics::histogram!("faasm_call_latency_seconds", &labels),
            cold_start: metrics::histogram!("faasm_cold_start_seconds", &labels),
            outcomes: Outcome::ALL.map(outcome),
        }
    }

    pub fn count(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].increment(1);
    }

    /// A finished call: its outcome, queueing and execution time, and its latency from
    /// acceptance to result (`latency_us`).
    pub fn finished(&self, result: &CallResult, latency_us: u64) -> Outcome {
        let outcome = Outcome::of(result);
        self.count(outcome);
        self.exec.record(result.timings.exec_us as f64 / 1e6);
        self.queued.record(result.timings.queued_us as f64 / 1e6);
        self.latency.record(latency_us as f64 / 1e6);
        outcome
    }

    /// A module prepared: compiled (or fetched from the compile cache) at its upload, or
    /// loaded for a call when it is not in memory (the first call after a start).
    pub fn cold_start(&self, seconds: f64) {
        self.cold_start.record(seconds);
    }
}

/// The label sets handed out so far, and the shared `other` set past the cap.
pub struct CallMetrics {
    label_pairs: usize,
    pairs: RwLock<Pairs>,
    /// Registered at first use, so with the recorder the process installed by then.
    other: OnceLock<Arc<FunctionMetrics>>,
}

#[derive(Default)]
struct Pairs {
    count: usize,
    by_user: HashMap<String, HashMap<String, Arc<FunctionMetrics>>>,
}

/// The label value of every pair past the cap.
pub const OTHER: &str = "other";

impl CallMetrics {
    pub fn new(label_pairs: usize) -> Self {
        Self {
            label_pairs,
            pairs: RwLock::default(),
            other: OnceLock::new(),
        }
    }

    /// The series of `user/function`, or the `other` series once the cap is reached.
    pub fn function(&self, user: &str, function: &str) -> Arc<FunctionMetrics> {
        if let Some(found) = self
            .pairs
            .read()
            .by_user
            .get(user)
            .and_then(|f| f.get(function))
        {
            return found.clone();
        }
        let mut pairs = self.pairs.write();
        if let Some(found) = pairs.by_user.get(user).and_then(|f| f.get(function)) {
            return found.clone();
        }
        if pairs.count >= self.label_pairs {
            drop(pairs);
            return self.other().clone();
        }
        pairs.count += 1;
        let series = Arc::new(FunctionMetrics::register(user, function));
        pairs
            .by_user
            .entry(user.to_owned())
            .or_default()
            .insert(function.to_owned(), series.clone());
        series
    }

    fn other(&self) -> &Arc<FunctionMetrics> {
        self.other
            .get_or_init(|| Arc::new(FunctionMetrics::register(OTHER, OTHER)))
    }
}

/// The upper bounds of the buckets of every `_seconds` histogram: 100 µs to two minutes.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_past_the_cap_share_other() {
        let metrics = CallMetrics::new(2);
        let a = metrics.function("u", "a");
        assert!(Arc::ptr_eq(&a, &metrics.function("u", "a")));
        let b = metrics.function("u", "b");
        assert!(!Arc::ptr_eq(&a, &b));
        let c = metrics.function("v", "c");
        assert!(Arc::ptr_eq(&c, metrics.other()));
        assert!(Arc::ptr_eq(&metrics.function("u", "b"), &b));
    }

    #[test]
    fn outcomes_from_reasons() {
        let mut result = CallResult {
            id: 1,
            return_value: 0,
            output: Default::default(),
            stdout: Default::default(),
            error: None,
            timings: Default::default(),
        };
        assert_eq!(Outcome::of(&result), Outcome::Success);
        for (reason, outcome) in [
            ("Call failed: timed out after 1s", Outcome::Timeout),
            (
                "Call failed: memory limit of 1 bytes exceeded (1 bytes)",
                Outcome::Memory,
            ),
            (
                "Call failed: host memory budget of 1 bytes for guests exhausted",
                Outcome::Memory,
            ),
            ("Call failed (return value=3)", Outcome::Failed),
        ] {
            result.error = Some(reason.into());
            assert_eq!(Outcome::of(&result), outcome, "{reason}");
        }
    }
}

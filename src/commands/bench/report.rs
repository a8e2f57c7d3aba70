//! Reporting: a table or one JSON object, with the ratio of faasm to the baseline.

use serde_json::json;

use super::load::Stats;
use super::{BenchArgs, Timing};

pub(super) struct Run {
    pub(super) connections: usize,
    pub(super) baseline: Stats,
    pub(super) faasm: Stats,
}

impl Run {
    fn throughput_ratio(&self, timing: &Timing) -> f64 {
        let baseline = requests_per_second(&self.baseline, timing);
        if baseline > 0.0 {
            requests_per_second(&self.faasm, timing) / baseline
        } else {
            0.0
        }
    }
}

fn requests_per_second(stats: &Stats, timing: &Timing) -> f64 {
    stats.requests as f64 / timing.duration.as_secs_f64()
}

fn percentile_us(stats: &Stats, percentile: f64) -> u64 {
    stats.latency_us.value_at_quantile(percentile / 100.0)
}

fn format_latency(micros: u64) -> String {
    if micros < 1000 {
        format!("{micros} µs")
    } else {
        format!("{:.2} ms", micros as f64 / 1000.0)
    }
}

pub(super) fn print_table(timing: &Timing, runs: &[Run]) {
    println!(
        "{:>11}  {:<8}  {:>9}  {:>6}  {:>9}  {:>9}  {:>9}",
        "connections", "target", "requests", "errors", "req/s", "p50", "p99"
    );
    for run in runs {
        for (name, stats) in [("baseline", &run.baseline), ("faasm", &run.faasm)] {
            println!(
                "{:>11}  {name:<8}  {:>9}  {:>6}  {:>9.0}  {:>9}  {:>9}",
                run.connections,
                stats.requests,
                stats.errors,
                requests_per_second(stats, timing),
                format_latency(percentile_us(stats, 50.0)),
                format_latency(percentile_us(stats, 99.0)),
            );
        }
    }
    println!();
    for run in runs {
        println!(
            "{} connection(s): faasm/baseline throughput {:.2}, faasm p99 {}",
            run.connections,
            run.throughput_ratio(timing),
            format_latency(percentile_us(&run.faasm, 99.0)),
        );
    }
}

pub(super) fn results_json(args: &BenchArgs, timing: &Timing, runs: &[Run]) -> serde_json::Value {
    let target_json = |stats: &Stats| {
        json!({
            "requests": stats.requests,
            "errors": stats.errors,
            "requests_per_second": requests_per_second(stats, timing),
            "p50_us": percentile_us(stats, 50.0),
            "p99_us": percentile_us(stats, 99.0),
            "max_us": stats.latency_us.max(),
        })
    };
    let runs: Vec<_> = runs
        .iter()
        .map(|run| {
            json!({
                "connections": run.connections,
                "baseline": target_json(&run.baseline),
                "faasm": target_json(&run.faasm),
                "throughput_ratio": run.throughput_ratio(timing),
            })
        })
        .collect();
    json!({
        "duration_s": timing.duration.as_secs_f64(),
        "warmup_s": timing.warmup.as_secs_f64(),
        "client_threads": args.client_threads,
        "runs": runs,
    })
}

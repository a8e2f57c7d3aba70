//! Chained-call round trip: a parent chains a child by name and awaits it, `ROUNDS` times in
//! one call, on the real scheduler (ids, queue, worker permits, results registry) and runtime.
//! The reported time per iteration is one chain + await; `echo_call` is the baseline of a
//! plain call through the same scheduler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use faasm_api::CallRequest;
use faasm_runtime::{CallLimits, Runtime, RuntimeConfig};
use faasm_scheduler::{Durability, EmbeddedJournal, FunctionKind, Scheduler, SchedulerConfig};
use faasm_storage::DataDir;
use guests::ECHO;

#[allow(dead_code)]
#[path = "../../runtime/tests/guests/mod.rs"]
mod guests;

const ROUNDS: u32 = 100;

/// Chains `echo` ROUNDS times, awaiting each before the next.
const PARENT: &str = r#"
(module
  (import "env" "__faasm_chain_name" (func $chain (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_await_call" (func $await (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "echo\00")
  (data (i32.const 32) "hi")
  (func (export "_start")
    (local $i i32)
    (loop $again
      (drop (call $await (call $chain (i32.const 16) (i32.const 32) (i32.const 2))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 100))))))
"#;

fn scheduler(dir: &std::path::Path, executor: tokio::runtime::Handle) -> Arc<Scheduler> {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 64,
        ..guests::runtime_config(&dir.join("cache"), CallLimits::default())
    })
    .unwrap();
    let store = Arc::new(DataDir::open(dir).unwrap());
    let journal = EmbeddedJournal::open(&dir.join("calls.redb")).unwrap();
    Scheduler::new(
        Arc::new(runtime),
        store.clone(),
        Durability::embedded(Arc::new(journal), store),
        SchedulerConfig::new(64, 2),
        executor,
    )
    .unwrap()
}

fn call(function: &str) -> CallRequest {
    CallRequest {
        user: "bench".into(),
        function: function.into(),
        input: "hi".into(),
        ..Default::default()
    }
}

fn chain_round_trip(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let scheduler = scheduler(dir.path(), tokio.handle().clone());
    tokio.block_on(async {
        let functions = scheduler.functions();
        functions
            .upload(
                FunctionKind::Wasm,
                "bench",
                "echo",
                wat::parse_str(ECHO).unwrap().into(),
            )
            .await
            .unwrap();
        functions
            .upload(
                FunctionKind::Wasm,
                "bench",
                "parent",
                wat::parse_str(PARENT).unwrap().into(),
            )
            .await
            .unwrap();
        let result = scheduler.invoke(call("parent")).await.unwrap();
        assert!(result.succeeded(), "{:?}", result.error);
    });
    let mut group = c.benchmark_group("scheduler");
    group.bench_function("echo_call", |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    scheduler.invoke(call("echo")).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("chain_and_await", |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let start = Instant::now();
                    scheduler.invoke(call("parent")).await.unwrap();
                    total += start.elapsed();
                    done += u64::from(ROUNDS);
                }
                // Per chain + await, scaled to the iterations asked for.
                total.mul_f64(iters as f64 / done as f64)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, chain_round_trip);
criterion_main!(benches);

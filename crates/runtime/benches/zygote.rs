//! Proto-Faaslets (issue 4, item 6): the per-call time of a function whose initialisation
//! costs about 100 ms, with the initialisation in every call's `main` and in the zygote (run
//! once, in `Runtime::prepare`), against the echo. Goal: the zygote version costs what an
//! echo costs.
//!
//! `cargo bench -p faasm-runtime --bench zygote`
//!
//! - `zygote_slow/init_in_main`: every call computes the table, then outputs two entries.
//! - `zygote/init_in_zygote`: the same module with the computation exported as
//!   `_faasm_zygote`: calls start from the snapshot (a copy-on-write image) and only output
//!   the two entries.
//! - `zygote/init_in_zygote_read_all`: as above, but the call sums the whole 256 KiB table,
//!   so every page of it is faulted in from the image (the cost of using a big snapshot).
//! - `zygote/echo_call`: one call of the WAT echo with input "hello", for comparison.
//!
//! Like the invoke bench, a batch of iterations runs inside one `block_on` of a
//! current-thread tokio runtime.

#[allow(dead_code)]
#[path = "../tests/guests/mod.rs"]
mod guests;

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use faasm_runtime::{CallInput, CallLimits, FunctionModule, Runtime};

/// Entries of the table (i32s: 256 KiB).
const ENTRIES: u32 = 65536;

/// Passes over the table: about 100 ms of initialisation on a current x86-64 core.
const ROUNDS: u32 = 1200;

/// `$init` fills a 64 Ki-entry table with ROUNDS passes of a mixing recurrence and sets
/// `$ready`; `_start` runs it unless `$ready` is already set (by the zygote), then outputs
/// entries 1 and 65535 (8 bytes) or, with input, the sum of all entries (4 bytes).
fn table_module(zygote: bool) -> String {
    let zygote_export = if zygote {
        r#"(func (export "_faasm_zygote") (result i32) (call $init) (i32.const 0))"#
    } else {
        ""
    };
    let bytes = ENTRIES * 4;
    format!(
        r#"
(module
  (import "env" "__faasm_read_input" (func $read_input (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 5)
  (global $ready (mut i32) (i32.const 0))
  (func $init
    (local $round i32) (local $at i32) (local $x i32)
    (loop $rounds
      (local.set $at (i32.const 4))
      (loop $entries
        (local.set $x
          (i32.xor
            (i32.add (i32.mul (i32.load (local.get $at)) (i32.const 31)) (local.get $at))
            (i32.shr_u (i32.load (i32.sub (local.get $at) (i32.const 4))) (i32.const 3))))
        (i32.store (local.get $at) (i32.add (local.get $x) (local.get $round)))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br_if $entries (i32.lt_u (local.get $at) (i32.const {bytes}))))
      (local.set $round (i32.add (local.get $round) (i32.const 1)))
      (br_if $rounds (i32.lt_u (local.get $round) (i32.const {ROUNDS}))))
    (global.set $ready (i32.const 1)))
  {zygote_export}
  (func (export "_start")
    (local $at i32) (local $sum i32)
    (if (i32.eqz (global.get $ready)) (then (call $init)))
    (if (i32.eqz (call $read_input (i32.const 0) (i32.const 0)))
      (then
        (i32.store (i32.const {bytes}) (i32.load (i32.const 4)))
        (i32.store (i32.const {bytes_4}) (i32.load (i32.const {last})))
        (call $write_output (i32.const {bytes}) (i32.const 8)))
      (else
        (loop $entries
          (local.set $sum (i32.add (local.get $sum) (i32.load (local.get $at))))
          (local.set $at (i32.add (local.get $at) (i32.const 4)))
          (br_if $entries (i32.lt_u (local.get $at) (i32.const {bytes}))))
        (i32.store (i32.const {bytes}) (local.get $sum))
        (call $write_output (i32.const {bytes}) (i32.const 4))))))
"#,
        bytes_4 = bytes + 4,
        last = bytes - 4,
    )
}

use guests::ECHO;

struct Bench {
    runtime: Runtime,
    tokio: tokio::runtime::Runtime,
    _cache: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let cache = tempfile::tempdir().expect("temp dir");
        let runtime = guests::runtime_in(cache.path(), CallLimits::default());
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Bench {
            runtime,
            tokio,
            _cache: cache,
        }
    }

    fn prepare(&self, wat: &str) -> FunctionModule {
        let wasm = wat::parse_str(wat).expect("valid WAT");
        self.runtime.prepare(&wasm).expect("prepare")
    }

    fn call(&self, module: &FunctionModule, input: &Bytes) -> Bytes {
        let outcome = self
            .tokio
            .block_on(self.runtime.run(module, input_of(input)));
        assert_eq!(outcome.error, None, "call failed");
        outcome.output
    }

    /// Times `iters` calls inside one `block_on`.
    fn time(&self, module: &FunctionModule, input: &Bytes, iters: u64) -> Duration {
        self.tokio.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(self.runtime.run(module, input_of(input)).await);
            }
            start.elapsed()
        })
    }
}

fn input_of(input: &Bytes) -> CallInput {
    CallInput {
        input: input.clone(),
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    let bench = Bench::new();
    let none = Bytes::new();
    let all = Bytes::from_static(b"all");

    let in_main = bench.prepare(&table_module(false));
    let started = Instant::now();
    let in_zygote = bench.prepare(&table_module(true));
    let prepare_with_zygote = started.elapsed();
    let echo = bench.prepare(ECHO);

    // Both compute the same table; the zygote's survives into every call.
    let expected = bench.call(&in_main, &none);
    assert_eq!(bench.call(&in_zygote, &none), expected);
    assert_eq!(bench.call(&in_zygote, &all), bench.call(&in_main, &all));
    let hello = Bytes::from_static(b"hello");
    assert_eq!(bench.call(&echo, &hello), hello);
    let started = Instant::now();
    bench.call(&in_main, &none);
    eprintln!(
        "initialisation in main: {:?} per call; prepare with the zygote: {prepare_with_zygote:?}",
        started.elapsed()
    );

    // Ten samples of the 100 ms calls are enough (criterion's 100 would take minutes).
    let mut slow = c.benchmark_group("zygote_slow");
    slow.sample_size(10);
    slow.bench_function("init_in_main", |b| {
        b.iter_custom(|iters| bench.time(&in_main, &none, iters))
    });
    slow.finish();

    let mut fast = c.benchmark_group("zygote");
    fast.bench_function("init_in_zygote", |b| {
        b.iter_custom(|iters| bench.time(&in_zygote, &none, iters))
    });
    fast.bench_function("init_in_zygote_read_all", |b| {
        b.iter_custom(|iters| bench.time(&in_zygote, &all, iters))
    });
    fast.bench_function("echo_call", |b| {
        b.iter_custom(|iters| bench.time(&echo, &hello, iters))
    });
    fast.finish();
}

criterion_group!(zygote, benches);
criterion_main!(zygote);

//! Local-tier reads from a guest (SPEC §8), values already on this host (global tier in memory).
//! Each call runs a guest loop of 100 reads of a 1 KiB or 1 MiB value:
//!
//! - `state_ptr_call`: 100 × `read_state_ptr` (the copying version: each call writes back what
//!   the guest changed in its mapping and refreshes the mapping from the local copy).
//! - `state_read_copy`: 100 × `read_state` into a guest buffer.
//! - `state_ptr_walk`: one `read_state_ptr`, then 100 passes reading the whole value through the
//!   pointer (8 bytes a load): reads through a pointer are plain memory loads.
//!
//! `cargo bench -p faasm-runtime --bench state`; divide the time by 100 for one read.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use faasm_api::StateKey;
use faasm_runtime::{CallInput, CallLimits, FunctionModule, LocalTier, Runtime, RuntimeConfig};

#[allow(dead_code)]
#[path = "../tests/guests/mod.rs"]
mod guests;

/// Input: byte 0 is the mode (`p`tr call, `r`ead copy, `w`alk), byte 1 the key (`s` 1 KiB,
/// `l` 1 MiB).
const READER: &str = r#"
(module
  (import "env" "__faasm_read_input" (func $input (param i32 i32) (result i32)))
  (import "env" "__faasm_read_state_ptr" (func $ptr (param i32 i32) (result i32)))
  (import "env" "__faasm_read_state" (func $read (param i32 i32 i32) (result i32)))
  (memory (export "memory") 18)
  (global $sink (mut i64) (i64.const 0))
  (data (i32.const 16) "small\00")
  (data (i32.const 32) "large\00")
  (func (export "_start")
    (local $mode i32) (local $key i32) (local $size i32) (local $i i32) (local $p i32)
    (local $j i32) (local $acc i64)
    (drop (call $input (i32.const 0) (i32.const 2)))
    (local.set $mode (i32.load8_u (i32.const 0)))
    (if (i32.eq (i32.load8_u (i32.const 1)) (i32.const 115))
      (then (local.set $key (i32.const 16)) (local.set $size (i32.const 1024)))
      (else (local.set $key (i32.const 32)) (local.set $size (i32.const 1048576))))
    (if (i32.eq (local.get $mode) (i32.const 119))
      (then (local.set $p (call $ptr (local.get $key) (local.get $size)))))
    (loop $l
      (if (i32.eq (local.get $mode) (i32.const 112))
        (then (local.set $p (call $ptr (local.get $key) (local.get $size)))))
      (if (i32.eq (local.get $mode) (i32.const 114))
        (then
          (drop (call $read (local.get $key) (i32.const 65536) (local.get $size)))
          (local.set $p (i32.const 65536))))
      (if (i32.eq (local.get $mode) (i32.const 119))
        (then
          (local.set $j (i32.const 0))
          (loop $walk
            (local.set $acc
              (i64.add (local.get $acc) (i64.load (i32.add (local.get $p) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br_if $walk (i32.lt_u (local.get $j) (local.get $size)))))
        (else
          (local.set $acc (i64.add (local.get $acc)
            (i64.load8_u (i32.add (local.get $p) (i32.sub (local.get $size) (i32.const 1))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
    (global.set $sink (local.get $acc)))
)
"#;

struct Bench {
    runtime: Runtime,
    tokio: tokio::runtime::Runtime,
    reader: FunctionModule,
    _cache: tempfile::TempDir,
}

fn setup() -> Bench {
    let cache = tempfile::tempdir().expect("temp dir");
    let state = LocalTier::in_memory();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio.block_on(async {
        for (key, size) in [("small", 1 << 10), ("large", 1 << 20)] {
            let key = StateKey::new(key).unwrap();
            let value = vec![7u8; size];
            state.global().set("bench", &key, &value).await.unwrap();
        }
    });
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 4,
        state,
        ..guests::runtime_config(cache.path(), CallLimits::default())
    })
    .expect("runtime");
    let reader = runtime
        .prepare(&wat::parse_str(READER).expect("valid WAT"))
        .expect("prepare");
    Bench {
        runtime,
        tokio,
        reader,
        _cache: cache,
    }
}

impl Bench {
    fn time(&self, input: &'static [u8], iters: u64) -> Duration {
        self.tokio.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let outcome = self
                    .runtime
                    .run(
                        &self.reader,
                        CallInput {
                            user: "bench".into(),
                            input: Bytes::from_static(input),
                            ..Default::default()
                        },
                    )
                    .await;
                assert_eq!(outcome.error, None);
                black_box(outcome);
            }
            start.elapsed()
        })
    }
}

fn benches(c: &mut Criterion) {
    let bench = setup();
    let mut group = c.benchmark_group("state");
    group.throughput(Throughput::Elements(100));
    for (name, mode) in [("ptr_call", b'p'), ("read_copy", b'r'), ("ptr_walk", b'w')] {
        for (size, key) in [("1KiB", b's'), ("1MiB", b'l')] {
            let input: &'static [u8] = Box::leak(Box::new([mode, key]));
            bench.time(input, 1); // pulls the value into the local tier
            group.bench_function(format!("{name}/{size}"), |b| {
                b.iter_custom(|iters| bench.time(input, iters))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = state;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(state);

//! The in-process path of a call, without HTTP or the scheduler: a fresh instance from the
//! module's `InstancePre`, input in through `__faasm_read_input`, output back through
//! `__faasm_write_output` (issue 2, item 10: target ≤ 10 µs p50 for the echo).
//!
//! `cargo bench -p faasm-runtime --bench invoke`
//!
//! - `echo_call`: one call of the WAT echo with input "hello".
//! - `echo_call_1mib`: the same with 1 MiB of input (memory grows to hold it, output copied).
//! - `prepare_cached`: `Runtime::prepare` of a module whose artefact is already in the cache
//!   directory (hash, artefact deserialisation, linking).
//! - `files_call_{mount,read_shared,write_tmp}`: a call that uses its filesystem (SPEC §6):
//!   only asks for the preopens (which sets the filesystem up, as wasi-libc does at start in
//!   programs that use files), also reads a shared file through `faasm:`, or also writes
//!   `/tmp/out` (then its scratch directory must be deleted rather than reused).
//!
//! Calls run on a current-thread tokio runtime; like criterion's `to_async`, a whole batch of
//! iterations runs inside one `block_on`, so the executor's entry cost is not counted per call.

#[allow(dead_code)]
#[path = "../tests/guests/mod.rs"]
mod guests;

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use faasm_runtime::{CallInput, CallLimits, FunctionModule, Runtime};

use guests::ECHO;

struct Bench {
    runtime: Runtime,
    tokio: tokio::runtime::Runtime,
    wasm: Vec<u8>,
    echo: FunctionModule,
    _cache: tempfile::TempDir,
}

fn setup() -> Bench {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = guests::runtime_in(cache.path(), CallLimits::default());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let wasm = wat::parse_str(ECHO).expect("valid WAT");
    let echo = runtime.prepare(&wasm).expect("prepare echo");
    Bench {
        runtime,
        tokio,
        wasm,
        echo,
        _cache: cache,
    }
}

impl Bench {
    /// Checks the echo once, then times `iters` calls with `input` inside one `block_on`.
    fn time_echo(&self, input: &Bytes, iters: u64) -> Duration {
        self.tokio.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let outcome = self
                    .runtime
                    .run(
                        &self.echo,
                        CallInput {
                            input: input.clone(),
                            cmdline: Vec::new(),
                            ..Default::default()
                        },
                    )
                    .await;
                black_box(outcome);
            }
            start.elapsed()
        })
    }

    fn check_echo(&self, input: &Bytes) {
        let outcome = self.tokio.block_on(self.runtime.run(
            &self.echo,
            CallInput {
                input: input.clone(),
                cmdline: Vec::new(),
                ..Default::default()
            },
        ));
        assert_eq!(outcome.error, None, "echo failed");
        assert_eq!(outcome.output, *input, "echo returned other bytes");
    }
}

fn benches(c: &mut Criterion) {
    let bench = setup();

    let hello = Bytes::from_static(b"hello");
    bench.check_echo(&hello);
    files_benches(c, &bench);
    c.bench_function("echo_call", |b| {
        b.iter_custom(|iters| bench.time_echo(&hello, iters))
    });

    let mib: Bytes = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    bench.check_echo(&mib);
    c.bench_function("echo_call_1mib", |b| {
        b.iter_custom(|iters| bench.time_echo(&mib, iters))
    });

    // The artefact is already on disk (written by `setup`'s prepare): this is the cached path.
    c.bench_function("prepare_cached", |b| {
        b.iter_batched(
            || (),
            |()| {
                bench
                    .runtime
                    .prepare(black_box(&bench.wasm))
                    .expect("prepare")
            },
            // Dropping a module unregisters its code; keep that out of the measurement.
            BatchSize::SmallInput,
        )
    });
}

/// Input "m": `fd_prestat_get(3)` only; "r": also reads `in.txt` through the `faasm:` preopen;
/// "w": also creates `/tmp/out` with the input. The output is the input (or the file read).
const FILES: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "env" "__faasm_read_input" (func $read_input (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "tmp/out")
  (data (i32.const 80) "in.txt")
  (func (export "_start")
    (local $size i32) (local $mode i32)
    (if (call $prestat (i32.const 3) (i32.const 0)) (then unreachable))
    (local.set $size (call $read_input (i32.const 1024) (i32.const 4096)))
    (local.set $mode (i32.load8_u (i32.const 1024)))
    ;; iovec at 32: the buffer at 1024
    (i32.store (i32.const 32) (i32.const 1024))
    (i32.store (i32.const 36) (local.get $size))
    (if (i32.eq (local.get $mode) (i32.const 114)) ;; 'r'
      (then
        (if (call $open (i32.const 4) (i32.const 0) (i32.const 80) (i32.const 6) (i32.const 0)
              (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16))
          (then unreachable))
        (i32.store (i32.const 36) (i32.const 4096))
        (if (call $read (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 40))
          (then unreachable))
        (local.set $size (i32.load (i32.const 40)))
        (drop (call $close (i32.load (i32.const 16))))))
    (if (i32.eq (local.get $mode) (i32.const 119)) ;; 'w': O_CREAT|O_TRUNC, FD_WRITE
      (then
        (if (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 7) (i32.const 9)
              (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16))
          (then unreachable))
        (if (call $write (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 40))
          (then unreachable))
        (drop (call $close (i32.load (i32.const 16))))))
    (call $write_output (i32.const 1024) (local.get $size))))
"#;

fn files_benches(c: &mut Criterion, bench: &Bench) {
    let shared = bench._cache.path().join("files");
    std::fs::create_dir_all(&shared).expect("shared files directory");
    std::fs::write(shared.join("in.txt"), b"shared file").expect("shared file");
    let wasm = wat::parse_str(FILES).expect("valid WAT");
    let module = bench.runtime.prepare(&wasm).expect("prepare files");
    for (name, input, expected) in [
        ("files_call_mount", "m", "m"),
        ("files_call_read_shared", "r", "shared file"),
        ("files_call_write_tmp", "w", "w"),
    ] {
        let input = Bytes::from_static(input.as_bytes());
        let outcome = bench.tokio.block_on(bench.runtime.run(
            &module,
            CallInput {
                input: input.clone(),
                ..Default::default()
            },
        ));
        assert_eq!(outcome.error, None, "{name} failed");
        assert_eq!(outcome.output, expected.as_bytes(), "{name}");
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                bench.tokio.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let call = CallInput {
                            input: input.clone(),
                            ..Default::default()
                        };
                        black_box(bench.runtime.run(&module, call).await);
                    }
                    start.elapsed()
                })
            })
        });
    }
}

criterion_group!(invoke, benches);
criterion_main!(invoke);

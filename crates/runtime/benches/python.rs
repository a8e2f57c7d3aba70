//! Python calls in process, without HTTP or the scheduler (issue 5, item 6). Needs the
//! interpreter of `scripts/install-python`; its compiled form is taken from (or made in) the
//! user cache, as `faasm serve` does.
//!
//! `cargo bench -p faasm-runtime --bench python`
//!
//! - `call_noop`: one call of examples/python/noop.py: a fresh instance with the function's
//!   snapshot mapped in, `faasm_main()`, the result reported.
//! - `call_numpy_solve`: examples/python/solve.py (numpy imported and one solve done at
//!   upload), solving a 3x3 system per call.
//! - `call_numpy_solve_unwarmed`: the same solve in a module that only imports numpy, so every
//!   call pays for what numpy initialises on first use.
//! - `upload_noop`: `prepare_python` of a new source: import it in a copy of the base snapshot
//!   and write the function's snapshot.
//! - `cold_start_noop`: what a call would cost with no snapshot at all: a runtime with an empty
//!   cache (but the compiled interpreter) starts the interpreter from its data segments
//!   (`_initialize`, importing `pyfaasm`), imports the function, and runs one call. It also
//!   writes the two snapshots, so it slightly overstates a snapshot-free start.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use faasm_runtime::{CallInput, CallLimits, FunctionModule, PythonConfig, Runtime, RuntimeConfig};

const NOOP: &str = include_str!("../../../examples/python/noop.py");
const SOLVE: &str = include_str!("../../../examples/python/solve.py");
const SOLVE_UNWARMED: &str = "import numpy as np\n\
    A = np.array([[3.0, 2.0, -1.0], [2.0, -2.0, 4.0], [-1.0, 0.5, -1.0]])\n\
    def faasm_main():\n    np.linalg.solve(A, np.array([1.0, -2.0, 0.0]))\n";

fn runtime(cache: &Path, python: PythonConfig) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: cache.to_path_buf(),
        limits: CallLimits::default(),
        max_instances: 16,
        memory_budget: 16 << 30,
        shared_files_dir: cache.join("files"),
        state: faasm_runtime::LocalTier::in_memory(),
        python: Some(python),
    })
    .expect("runtime")
}

fn prepare(runtime: &Runtime, function: &str, source: &str) -> FunctionModule {
    runtime
        .prepare_python("bench", function, source.as_bytes())
        .unwrap_or_else(|e| panic!("preparing {function}: {e}"))
}

/// Times `iters` calls, checking the first.
fn time_calls(
    tokio: &tokio::runtime::Runtime,
    runtime: &Runtime,
    module: &FunctionModule,
    iters: u64,
) -> Duration {
    tokio.block_on(async {
        let outcome = runtime.run(module, CallInput::default()).await;
        assert_eq!(outcome.error, None, "{outcome:?}");
        let started = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(runtime.run(module, CallInput::default()).await);
        }
        started.elapsed()
    })
}

fn python(c: &mut Criterion) {
    let cache = tempfile::tempdir().expect("temp dir");
    let shared = PythonConfig::in_user_cache();
    let rt = runtime(cache.path(), shared.clone());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let noop = prepare(&rt, "noop", NOOP);
    let solve = prepare(&rt, "solve", SOLVE);
    let unwarmed = prepare(&rt, "unwarmed", SOLVE_UNWARMED);

    let mut group = c.benchmark_group("python");
    group.bench_function("call_noop", |b| {
        b.iter_custom(|iters| time_calls(&tokio, &rt, &noop, iters))
    });
    group.bench_function("call_numpy_solve", |b| {
        b.iter_custom(|iters| time_calls(&tokio, &rt, &solve, iters))
    });
    group.bench_function("call_numpy_solve_unwarmed", |b| {
        b.iter_custom(|iters| time_calls(&tokio, &rt, &unwarmed, iters))
    });
    group.sample_size(10);
    let mut version = 0u64;
    group.bench_function("upload_noop", |b| {
        b.iter(|| {
            version += 1;
            prepare(&rt, "noop", &format!("{NOOP}\nVERSION = {version}\n"))
        })
    });
    group.bench_function("cold_start_noop", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fresh = tempfile::tempdir().expect("temp dir");
                let python = PythonConfig {
                    cache_dir: fresh.path().join("python"),
                    ..shared.clone()
                };
                link_compiled_interpreter(&shared.cache_dir, &python.cache_dir);
                let started = Instant::now();
                let cold = runtime(fresh.path(), python);
                let module = prepare(&cold, "noop", NOOP);
                let outcome = tokio.block_on(cold.run(&module, CallInput::default()));
                total += started.elapsed();
                assert_eq!(outcome.error, None);
            }
            total
        })
    });
    group.finish();
}

/// Hard-links the compiled interpreter (made by the `prepare` above) into `to`, so a cold start
/// does not include the one-off compilation.
fn link_compiled_interpreter(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("cache dir");
    for entry in std::fs::read_dir(from).expect("user cache").flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".cwasm") {
            std::fs::hard_link(entry.path(), to.join(&name)).expect("link the interpreter");
        }
    }
}

criterion_group!(benches, python);
criterion_main!(benches);

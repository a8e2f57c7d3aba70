//! In-process calls of the functions users run, compiled by `faasm cc -O2` from the examples,
//! beside the hand-written WAT echo (the floor: no libc). No HTTP and no scheduler: a fresh
//! instance per call from the module's `InstancePre`, as `faasm serve` runs it.
//!
//! `cargo bench --bench functions`
//!
//! - `wat_echo`: the floor.
//! - `c_echo`: examples/c/echo.c (wasi-libc start-up and exit, malloc, input, output).
//! - `c_hello`: examples/c/hello.c (printf to the captured stdout).
//! - `cpp_words`: examples/cpp/containers.cpp (C++ standard library, constructors).
//! - `zygote_echo`: examples/c/zygote_echo.c (starts from its zygote's snapshot).

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use faasm_runtime::{CallInput, CallLimits, FunctionModule};

#[allow(dead_code)]
#[path = "../crates/runtime/tests/guests/mod.rs"]
mod guests;

/// `faasm cc -O2` of a source in the repository, as a user compiles it.
fn compile(source: &str, out_dir: &Path) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = out_dir.join("function.wasm");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_faasm"))
        .args(["cc", "-O2", "-o"])
        .arg(&out)
        .arg(root.join(source))
        .status()
        .expect("run faasm cc");
    assert!(status.success(), "faasm cc {source}");
    std::fs::read(out).expect("compiled module")
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = guests::runtime_in(&dir.path().join("cache"), CallLimits::default());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let functions: [(&str, Vec<u8>, &[u8]); 5] = [
        ("wat_echo", wat::parse_str(guests::ECHO).unwrap(), b"hello"),
        ("c_echo", compile("examples/c/echo.c", dir.path()), b"hello"),
        ("c_hello", compile("examples/c/hello.c", dir.path()), b""),
        (
            "cpp_words",
            compile("examples/cpp/containers.cpp", dir.path()),
            b"words=1 unique=1 top=hello:1",
        ),
        (
            "zygote_echo",
            compile("examples/c/zygote_echo.c", dir.path()),
            b"hello",
        ),
    ];
    let input = Bytes::from_static(b"hello");
    let call = || CallInput {
        input: input.clone(),
        ..Default::default()
    };
    for (name, wasm, expected) in functions {
        let module: FunctionModule = runtime.prepare(&wasm).expect("prepare");
        let outcome = tokio.block_on(runtime.run(&module, call()));
        assert_eq!(outcome.error, None, "{name} failed");
        assert_eq!(&outcome.output[..], expected, "{name}");
        c.bench_function(name, |b| {
            b.iter_custom(|iters| -> Duration {
                tokio.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(runtime.run(&module, call()).await);
                    }
                    start.elapsed()
                })
            })
        });
    }
}

criterion_group!(functions, benches);
criterion_main!(functions);

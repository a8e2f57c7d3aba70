//! Proto-Faaslets (SPEC §7) in-process: a module exporting `_faasm_zygote` has it run once in
//! `Runtime::prepare`; every call starts from the state it left and no call sees another's
//! changes; a zygote that traps, fails or overruns a limit fails `prepare` with a reason; the
//! snapshot is what the artefact cache keeps, so preparing the same bytes again (after a
//! restart) does not run the zygote again.

#[allow(dead_code)]
#[path = "guests/mod.rs"]
mod guests;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use faasm_runtime::{CallInput, CallLimits, CallOutcome, FunctionModule, PrepareError, Runtime};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Guests

/// The zygote writes "abcd" at 0, sets a global to "efgh", grows memory by a page and writes
/// "ijkl" at its start. `_start` outputs the three (12 bytes) and the memory size in pages
/// (one byte), then scribbles over all of them.
const INITIALISED: &str = r#"
(module
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "_faasm_zygote") (result i32)
    (i32.store (i32.const 0) (i32.const 0x64636261))   ;; "abcd"
    (global.set $g (i32.const 0x68676665))             ;; "efgh"
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 65536) (i32.const 0x6c6b6a69)) ;; "ijkl"
    (i32.const 0))
  (func (export "_start")
    (i32.store (i32.const 4) (global.get $g))
    (i32.store (i32.const 8) (i32.load (i32.const 65536)))
    (i32.store8 (i32.const 12) (i32.add (memory.size) (i32.const 0x30)))
    (call $write_output (i32.const 0) (i32.const 13))
    (i32.store (i32.const 0) (i32.const 0x5a5a5a5a))
    (global.set $g (i32.const 0x5a5a5a5a))
    (i32.store (i32.const 65536) (i32.const 0x5a5a5a5a))
    (drop (memory.grow (i32.const 3)))))
"#;

/// What every call of [`INITIALISED`] outputs: the zygote's values and two pages.
const INITIALISED_OUTPUT: &[u8] = b"abcdefghijkl2";

/// A zygote whose body is `$body` and a `_start` that outputs the byte at 0.
fn zygote_with(imports: &str, body: &str, result: &str) -> String {
    format!(
        r#"
(module
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  {imports}
  (memory (export "memory") 1)
  (func (export "_faasm_zygote") {result}
    {body})
  (func (export "_start")
    (call $write_output (i32.const 0) (i32.const 1))))
"#
    )
}

/// The zygote stores the WASI realtime clock (8 bytes at 0): each run of it differs.
const CLOCK: &str = r#"
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_faasm_zygote") (result i32)
    (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 0)))
  (func (export "_start")
    (call $write_output (i32.const 0) (i32.const 8))))
"#;

/// The zygote and `_start` each print a line on stdout.
const PRINTS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "from the zygote\n")
  (data (i32.const 200) "from the call\n")
  (func $print (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_faasm_zygote") (result i32)
    (call $print (i32.const 100) (i32.const 16))
    (i32.const 0))
  (func (export "_start")
    (call $print (i32.const 200) (i32.const 14))))
"#;

// ---------------------------------------------------------------------------------------------
// Harness

fn limits() -> CallLimits {
    CallLimits {
        timeout: Duration::from_secs(10),
        memory_bytes: 64 << 20,
        output_bytes: 4 << 20,
        stdout_bytes: 64 << 10,
        scratch_bytes: 16 << 20,
    }
}

use guests::runtime_in;

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid WAT")
}

async fn call(runtime: &Runtime, module: &FunctionModule) -> CallOutcome {
    let outcome = runtime.run(module, CallInput::default()).await;
    assert_eq!(outcome.error, None, "{outcome:?}");
    outcome
}

/// The reason `prepare` refuses `wat`, which must be a zygote failure.
fn zygote_failure(runtime: &Runtime, wat: &str) -> String {
    match runtime.prepare(&wasm(wat)) {
        Err(PrepareError::Invalid(reason)) => {
            assert!(reason.starts_with("zygote failed: "), "{reason}");
            reason
        }
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("prepare accepted a failing zygote"),
    }
}

fn artefacts(cache: &TempDir) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(cache.path())
        .expect("read cache dir")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// Every call starts from the zygote's state

#[tokio::test]
async fn every_call_sees_the_zygote_state_and_none_sees_another_call() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let module = runtime.prepare(&wasm(INITIALISED)).expect("prepare");
    for _ in 0..5 {
        let outcome = call(&runtime, &module).await;
        assert_eq!(outcome.output, Bytes::from_static(INITIALISED_OUTPUT));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_all_see_the_zygote_state() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Arc::new(runtime_in(cache.path(), limits()));
    let module = Arc::new(runtime.prepare(&wasm(INITIALISED)).expect("prepare"));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (runtime, module) = (runtime.clone(), module.clone());
        calls.spawn(async move { call(&runtime, &module).await });
    }
    while let Some(outcome) = calls.join_next().await {
        assert_eq!(
            outcome.unwrap().output,
            Bytes::from_static(INITIALISED_OUTPUT)
        );
    }
}

#[tokio::test]
async fn a_void_zygote_is_accepted() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let void = zygote_with("", "(i32.store8 (i32.const 0) (i32.const 0x41))", "");
    let module = runtime.prepare(&wasm(&void)).expect("void zygote");
    assert_eq!(
        call(&runtime, &module).await.output,
        Bytes::from_static(b"A")
    );
}

/// wasm-ld's shape of a C command: both exports wrapped in `ctors; f; dtors`. Bytes 0-3
/// count the runs of ctors, the zygote, main and dtors; main outputs them (before its dtors).
fn wrapped(zygote_ctors: &str) -> String {
    format!(
        r#"
(module
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (func $bump (param $at i32)
    (i32.store8 (local.get $at) (i32.add (i32.load8_u (local.get $at)) (i32.const 1))))
  (func $ctors (call $bump (i32.const 0)))
  (func $other_ctors (call $bump (i32.const 0)))
  (func $zygote (result i32) (call $bump (i32.const 1)) (i32.const 0))
  (func $main (call $bump (i32.const 2)) (call $write_output (i32.const 0) (i32.const 4)))
  (func $dtors (call $bump (i32.const 3)))
  (func (export "_faasm_zygote") (result i32) (call ${zygote_ctors}) (call $zygote) (call $dtors))
  (func (export "_start") (call $ctors) (call $main) (call $dtors)))
"#
    )
}

#[tokio::test]
async fn constructors_run_once_before_the_zygote_and_exit_handlers_once_per_call() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let module = runtime.prepare(&wasm(&wrapped("ctors"))).expect("prepare");
    for _ in 0..3 {
        // ctors 1 (in the zygote), zygote 1, main 1, dtors 0 (not in the zygote).
        assert_eq!(
            call(&runtime, &module).await.output,
            Bytes::from_static(&[1, 1, 1, 0])
        );
    }

    // Wrappers that do not share their constructors are not wasm-ld's: run as built.
    let module = runtime
        .prepare(&wasm(&wrapped("other_ctors")))
        .expect("prepare");
    assert_eq!(
        call(&runtime, &module).await.output,
        Bytes::from_static(&[2, 1, 1, 1])
    );
}

/// The zygote outputs the names of preopens 3 to 6 and the errno of `fd_prestat_get(7)`.
const PREOPENS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (global $end (mut i32) (i32.const 1024))
  (func $name (param $fd i32)
    (local $len i32)
    (if (call $prestat_get (local.get $fd) (i32.const 0)) (then unreachable))
    (local.set $len (i32.load (i32.const 4)))
    (if (call $prestat_dir_name (local.get $fd) (global.get $end) (local.get $len))
      (then unreachable))
    (global.set $end (i32.add (global.get $end) (local.get $len)))
    (i32.store8 (global.get $end) (i32.const 0x20))
    (global.set $end (i32.add (global.get $end) (i32.const 1))))
  (func (export "_faasm_zygote")
    (call $name (i32.const 3))
    (call $name (i32.const 4))
    (call $name (i32.const 5))
    (call $name (i32.const 6))
    (i32.store8 (global.get $end)
      (i32.add (i32.const 0x30) (call $prestat_get (i32.const 7) (i32.const 0))))
    (global.set $end (i32.add (global.get $end) (i32.const 1))))
  (func (export "_start")
    (call $write_output (i32.const 1024) (i32.sub (global.get $end) (i32.const 1024)))))
"#;

#[tokio::test]
async fn the_zygote_sees_a_calls_preopens_in_the_same_order() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let module = runtime.prepare(&wasm(PREOPENS)).expect("prepare");
    // errno 8 is EBADF: no fifth preopen (a call's hidden one is not reported).
    assert_eq!(
        call(&runtime, &module).await.output,
        Bytes::from_static(b"/ faasm: /dev /etc 8")
    );
}

#[tokio::test]
async fn the_zygote_may_use_wasi_and_its_stdout_is_not_a_calls() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let module = runtime.prepare(&wasm(PRINTS)).expect("prepare");
    let outcome = call(&runtime, &module).await;
    assert_eq!(outcome.stdout, Bytes::from_static(b"from the call\n"));
}

// ---------------------------------------------------------------------------------------------
// The snapshot is cached under the upload's hash

#[tokio::test]
async fn the_snapshot_is_cached_and_the_zygote_never_runs_again() {
    let cache = tempfile::tempdir().unwrap();
    let bytes = wasm(CLOCK);
    let first = runtime_in(cache.path(), limits());
    let module = first.prepare(&bytes).expect("prepare");
    let stamp = call(&first, &module).await.output;
    assert_eq!(stamp.len(), 8);
    assert_ne!(stamp, Bytes::from_static(&[0; 8]), "the zygote ran");
    let files = artefacts(&cache);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(module.hash()),
        "keyed by the upload's hash"
    );

    // Preparing the same bytes again, in this runtime or after a restart, loads the
    // snapshot: a rerun of the zygote would store a different time.
    std::thread::sleep(Duration::from_millis(5));
    let again = first.prepare(&bytes).expect("prepare again");
    assert_eq!(call(&first, &again).await.output, stamp);
    let restarted = runtime_in(cache.path(), limits());
    let after_restart = restarted.prepare(&bytes).expect("prepare after restart");
    assert_eq!(after_restart.hash(), module.hash());
    assert_eq!(call(&restarted, &after_restart).await.output, stamp);
    assert_eq!(artefacts(&cache), files, "no new artefact");
}

// ---------------------------------------------------------------------------------------------
// A failing zygote fails the upload

#[test]
fn a_trapping_zygote_fails_prepare_with_the_trap() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let reason = zygote_failure(&runtime, &zygote_with("", "unreachable", ""));
    assert!(reason.contains("unreachable"), "{reason}");
    assert!(
        artefacts(&cache).is_empty(),
        "a failed upload is not cached"
    );
}

#[test]
fn a_failing_zygote_s_last_line_of_stdout_is_quoted() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let wat = PRINTS.replace(
        "(call $print (i32.const 100) (i32.const 16))\n    (i32.const 0))",
        "(call $print (i32.const 100) (i32.const 16))\n    (i32.const 5))",
    );
    assert_ne!(wat, PRINTS);
    assert_eq!(
        zygote_failure(&runtime, &wat),
        "zygote failed: returned 5 (stdout: from the zygote)"
    );
}

#[test]
fn a_zygote_returning_non_zero_or_exiting_non_zero_fails_prepare() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let reason = zygote_failure(&runtime, &zygote_with("", "(i32.const 3)", "(result i32)"));
    assert_eq!(reason, "zygote failed: returned 3");
    // Exiting runs the exit handlers, which belong to each call: even `exit(0)` fails.
    for code in [7, 0] {
        let exits = zygote_with(
            r#"(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"#,
            &format!("(call $exit (i32.const {code}))"),
            "",
        );
        assert_eq!(
            zygote_failure(&runtime, &exits),
            format!("zygote failed: exited with code {code} (a zygote must return, not exit)")
        );
    }
}

#[test]
fn a_spinning_zygote_times_out() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(
        cache.path(),
        CallLimits {
            timeout: Duration::from_millis(300),
            ..limits()
        },
    );
    let started = std::time::Instant::now();
    let reason = zygote_failure(&runtime, &zygote_with("", "(loop $l (br $l))", ""));
    assert_eq!(reason, "zygote failed: timed out after 300ms");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_zygote_past_the_memory_cap_fails() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(
        cache.path(),
        CallLimits {
            memory_bytes: 2 << 20,
            ..limits()
        },
    );
    let reason = zygote_failure(
        &runtime,
        &zygote_with("", "(drop (memory.grow (i32.const 100)))", ""),
    );
    assert!(reason.contains("memory limit"), "{reason}");
}

#[test]
fn faasm_host_calls_trap_in_the_zygote() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let reads = zygote_with(
        r#"(import "env" "__faasm_read_input" (func $read (param i32 i32) (result i32)))"#,
        "(drop (call $read (i32.const 0) (i32.const 0)))",
        "",
    );
    let reason = zygote_failure(&runtime, &reads);
    assert!(reason.contains("env.__faasm_read_input"), "{reason}");
    assert!(reason.contains("not available in the zygote"), "{reason}");
}

#[test]
fn a_mistyped_zygote_is_refused() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    let wat = r#"
(module
  (memory (export "memory") 1)
  (func (export "_faasm_zygote") (param i32))
  (func (export "_start")))
"#;
    let reason = zygote_failure(&runtime, wat);
    assert!(reason.contains("_faasm_zygote"), "{reason}");
}

#[test]
fn a_zygote_module_is_still_checked_like_any_upload() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = runtime_in(cache.path(), limits());
    // No `_start`: refused before the zygote runs.
    let wat = r#"
(module
  (memory (export "memory") 1)
  (func (export "_faasm_zygote") unreachable))
"#;
    match runtime.prepare(&wasm(wat)) {
        Err(PrepareError::Invalid(reason)) => assert!(reason.contains("_start"), "{reason}"),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("accepted a module without `_start`"),
    }
}

//! The runtime in-process, on real wasmtime: guests written in WAT exercise the Faasm host
//! interface of SPEC §4, WASI stdout and argv, exit codes and traps, and every per-call limit
//! of SPEC §7, plus preparing modules (validation errors, the on-disk artefact cache) and the
//! isolation of one call from the next.

#[allow(dead_code)]
#[path = "guests/mod.rs"]
mod guests;

use std::time::{Duration, Instant};

use bytes::Bytes;
use faasm_runtime::{CallInput, CallLimits, CallOutcome, PrepareError, Runtime, RuntimeConfig};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Guests

use guests::ECHO;

/// Output: input size (u32 LE, from `read_input(_, 0)`), the count `read_input(buf, LEN)`
/// returned (u32 LE), then the bytes it copied.
fn read_input_with_len(len: u32) -> String {
    format!(
        r#"
(module
  (import "env" "__faasm_read_input" (func $read_input (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $n i32)
    (i32.store (i32.const 0) (call $read_input (i32.const 0) (i32.const 0)))
    (local.set $n (call $read_input (i32.const 8) (i32.const {len})))
    (i32.store (i32.const 4) (local.get $n))
    (call $write_output (i32.const 0) (i32.add (i32.const 8) (local.get $n)))))
"#
    )
}

/// Writes `text` to stdout (fd 1) with one `fd_write` and sets output "done".
fn hello_stdout(text: &[u8]) -> String {
    let escaped: String = text.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "done")
  (data (i32.const 64) "{escaped}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len}))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable))
    (call $write_output (i32.const 16) (i32.const 4))))
"#,
        len = text.len()
    )
}

/// Prints 32-byte lines to stdout forever.
const PRINT_FOREVER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "all work and no play makes jack\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 32))
    (loop $forever
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $forever))))
"#;

/// Calls `proc_exit(CODE)` after setting output "bye".
fn exit_with(code: i32) -> String {
    format!(
        r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bye")
  (func (export "_start")
    (call $write_output (i32.const 0) (i32.const 3))
    (call $proc_exit (i32.const {code}))
    unreachable))
"#
    )
}

const UNREACHABLE: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "_start") unreachable))
"#;

const SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $spin (br $spin))))
"#;

/// Grows memory by `PAGES` 64 KiB pages (trapping if `memory.grow` reports failure) and outputs
/// the new size in pages (u32 LE).
fn grow_by(pages: u32) -> String {
    format!(
        r#"
(module
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const {pages})) (i32.const -1)) (then unreachable))
    (i32.store (i32.const 0) (memory.size))
    (call $write_output (i32.const 0) (i32.const 4))))
"#
    )
}

/// `read_input(PTR, LEN)` against a one-page memory.
fn read_input_at(ptr: u32, len: u32) -> String {
    format!(
        r#"
(module
  (import "env" "__faasm_read_input" (func $read_input (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $read_input (i32.const {ptr}) (i32.const {len})))))
"#
    )
}

/// `write_output(PTR, LEN)` against a one-page memory.
fn write_output_at(ptr: u32, len: u32) -> String {
    format!(
        r#"
(module
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $write_output (i32.const {ptr}) (i32.const {len}))))
"#
    )
}

/// Outputs `conf_flag` of "ALWAYS_ON", "ALWAYS_OFF" and "SOMETHING_ELSE", one byte each.
const CONF_FLAGS: &str = r#"
(module
  (import "env" "__faasm_conf_flag" (func $conf_flag (param i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ALWAYS_ON\00")
  (data (i32.const 32) "ALWAYS_OFF\00")
  (data (i32.const 48) "SOMETHING_ELSE\00")
  (func (export "_start")
    (i32.store8 (i32.const 0) (call $conf_flag (i32.const 16)))
    (i32.store8 (i32.const 1) (call $conf_flag (i32.const 32)))
    (i32.store8 (i32.const 2) (call $conf_flag (i32.const 48)))
    (call $write_output (i32.const 0) (i32.const 3))))
"#;

/// `conf_flag` on a string that runs off the end of memory without a NUL.
const CONF_FLAG_UNTERMINATED: &str = r#"
(module
  (import "env" "__faasm_conf_flag" (func $conf_flag (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 65530) "ABCDEF")
  (func (export "_start") (drop (call $conf_flag (i32.const 65530)))))
"#;

const CHAIN_PY: &str = r#"
(module
  (import "env" "__faasm_chain_py" (func $chain (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "entry\00")
  (func (export "_start") (drop (call $chain (i32.const 0) (i32.const 0) (i32.const 0)))))
"#;

/// Imports every pending host call of SPEC §4 without calling any: it must load and run.
const IMPORTS_EVERYTHING: &str = r#"
(module
  (import "env" "__faasm_chain_ptr" (func (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_await_call" (func (param i32) (result i32)))
  (import "env" "__faasm_read_call_output" (func (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_read_state" (func (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_read_state_ptr" (func (param i32 i32) (result i32)))
  (import "env" "__faasm_read_state_offset" (func (param i32 i32 i32 i32 i32)))
  (import "env" "__faasm_read_state_offset_ptr" (func (param i32 i32 i32 i32) (result i32)))
  (import "env" "__faasm_write_state" (func (param i32 i32 i32)))
  (import "env" "__faasm_write_state_offset" (func (param i32 i32 i32 i32 i32)))
  (import "env" "__faasm_write_state_from_file" (func (param i32 i32) (result i32)))
  (import "env" "__faasm_flag_state_dirty" (func (param i32 i32)))
  (import "env" "__faasm_flag_state_offset_dirty" (func (param i32 i32 i32 i32)))
  (import "env" "__faasm_push_state" (func (param i32)))
  (import "env" "__faasm_push_state_partial" (func (param i32)))
  (import "env" "__faasm_push_state_partial_mask" (func (param i32 i32)))
  (import "env" "__faasm_pull_state" (func (param i32 i32)))
  (import "env" "__faasm_append_state" (func (param i32 i32 i32)))
  (import "env" "__faasm_read_appended_state" (func (param i32 i32 i32 i32)))
  (import "env" "__faasm_clear_appended_state" (func (param i32)))
  (import "env" "__faasm_lock_state_read" (func (param i32)))
  (import "env" "__faasm_unlock_state_read" (func (param i32)))
  (import "env" "__faasm_lock_state_write" (func (param i32)))
  (import "env" "__faasm_unlock_state_write" (func (param i32)))
  (import "env" "__faasm_get_py_user" (func (param i32 i32)))
  (import "env" "__faasm_get_py_func" (func (param i32 i32)))
  (import "env" "__faasm_get_py_entry" (func (param i32 i32)))
  (import "env" "__faasm_chain_py" (func (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_chain_name" (func (param i32 i32 i32) (result i32)))
  (import "env" "__faasm_conf_flag" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
"#;

/// Output: argc (u32 LE) followed by the NUL-separated argv buffer.
const ARGS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (if (call $args_sizes_get (i32.const 0) (i32.const 4)) (then unreachable))
    (if (call $args_get (i32.const 16) (i32.const 260)) (then unreachable))
    ;; argv[0] must point at the start of the buffer
    (if (i32.ne (i32.load (i32.const 16)) (i32.const 260)) (then unreachable))
    (i32.store (i32.const 256) (i32.load (i32.const 0)))
    (call $write_output (i32.const 256) (i32.add (i32.const 4) (i32.load (i32.const 4))))))
"#;

/// Increments a mutable global, a counter in a data segment (initially 5), a counter in the
/// first page and one in a grown page; outputs all four (u32 LE each).
const COUNTERS: &str = r#"
(module
  (import "env" "__faasm_write_output" (func $write_output (param i32 i32)))
  (memory (export "memory") 2)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 64) "\05\00\00\00")
  (func (export "_start")
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
    (i32.store (i32.const 128) (i32.add (i32.load (i32.const 128)) (i32.const 1)))
    (if (i32.lt_u (memory.size) (i32.const 3))
      (then (drop (memory.grow (i32.const 1)))))
    (i32.store (i32.const 140000) (i32.add (i32.load (i32.const 140000)) (i32.const 1)))
    (i32.store (i32.const 0) (global.get $calls))
    (i32.store (i32.const 4) (i32.load (i32.const 64)))
    (i32.store (i32.const 8) (i32.load (i32.const 128)))
    (i32.store (i32.const 12) (i32.load (i32.const 140000)))
    (call $write_output (i32.const 0) (i32.const 16))))
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

struct Fixture {
    runtime: Runtime,
    cache: TempDir,
}

fn runtime_with(limits: CallLimits) -> Fixture {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = guests::runtime_in(cache.path(), limits);
    Fixture { runtime, cache }
}

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid WAT")
}

impl Fixture {
    async fn call(&self, wat: &str, input: &[u8], cmdline: &[&str]) -> CallOutcome {
        let module = self.runtime.prepare(&wasm(wat)).expect("prepare");
        self.runtime
            .run(
                &module,
                CallInput {
                    input: Bytes::copy_from_slice(input),
                    cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                },
            )
            .await
    }

    fn artefacts(&self) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(self.cache.path())
            .expect("read cache dir")
            .map(|entry| entry.expect("dir entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "cwasm"))
            .collect();
        files.sort();
        files
    }
}

#[track_caller]
fn assert_success(outcome: &CallOutcome) {
    assert_eq!(outcome.error, None, "call failed: {outcome:?}");
    assert_eq!(outcome.return_value, 0, "{outcome:?}");
}

#[track_caller]
fn error_of(outcome: &CallOutcome) -> &str {
    assert_ne!(
        outcome.return_value, 0,
        "call should have failed: {outcome:?}"
    );
    outcome
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("failed call without an error: {outcome:?}"))
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Input and output

#[tokio::test]
async fn echo_through_read_input_and_write_output() {
    let f = runtime_with(limits());
    let outcome = f.call(ECHO, b"hello", &[]).await;
    assert_success(&outcome);
    assert_eq!(&outcome.output[..], b"hello");
    assert!(outcome.stdout.is_empty());
}

#[tokio::test]
async fn echo_of_empty_input_is_empty_output() {
    let f = runtime_with(limits());
    let outcome = f.call(ECHO, b"", &[]).await;
    assert_success(&outcome);
    assert!(outcome.output.is_empty());
}

#[tokio::test]
async fn echo_of_binary_input_spanning_several_pages() {
    let f = runtime_with(limits());
    let input: Vec<u8> = (0..(1 << 20) + 12345)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let outcome = f.call(ECHO, &input, &[]).await;
    assert_success(&outcome);
    assert_eq!(outcome.output.len(), input.len());
    assert!(outcome.output[..] == input[..], "echoed bytes differ");
}

#[tokio::test]
async fn read_input_with_len_zero_returns_the_size() {
    let f = runtime_with(limits());
    let outcome = f.call(&read_input_with_len(0), b"hello world", &[]).await;
    assert_success(&outcome);
    // Both calls had len 0: both return the size and neither copies anything.
    assert_eq!(u32s(&outcome.output[..8]), [11, 11]);
    assert_eq!(&outcome.output[8..], [0; 11]);

    let empty = f.call(&read_input_with_len(0), b"", &[]).await;
    assert_success(&empty);
    assert_eq!(&empty.output[..], [0; 8]);
}

#[tokio::test]
async fn read_input_into_a_short_buffer_copies_min_of_len_and_size() {
    let f = runtime_with(limits());
    let short = f.call(&read_input_with_len(3), b"hello world", &[]).await;
    assert_success(&short);
    assert_eq!(u32s(&short.output[..8]), [11, 3]);
    assert_eq!(&short.output[8..], b"hel");

    let long = f.call(&read_input_with_len(100), b"hello world", &[]).await;
    assert_success(&long);
    assert_eq!(u32s(&long.output[..8]), [11, 11]);
    assert_eq!(&long.output[8..], b"hello world");
}

#[tokio::test]
async fn write_output_over_the_output_limit_fails_the_call() {
    let f = runtime_with(CallLimits {
        output_bytes: 8,
        ..limits()
    });
    let at_limit = f.call(ECHO, b"12345678", &[]).await;
    assert_success(&at_limit);
    assert_eq!(&at_limit.output[..], b"12345678");

    let over = f.call(ECHO, b"123456789", &[]).await;
    let error = error_of(&over);
    assert!(error.starts_with("Call failed: "), "{error}");
    assert!(
        error.contains("output of 9 bytes exceeds the limit of 8 bytes"),
        "{error}"
    );
    assert!(over.output.is_empty(), "{over:?}");
}

#[tokio::test]
async fn out_of_bounds_pointers_trap_with_a_clear_message() {
    let f = runtime_with(limits());
    for (what, wat) in [
        ("read_input past the end", read_input_at(65536 - 4, 10)),
        ("read_input far away", read_input_at(0xffff_fff0, 10)),
        ("write_output past the end", write_output_at(65530, 10)),
        ("write_output far away", write_output_at(0x8000_0000, 1)),
        ("write_output wrapping", write_output_at(0xffff_ffff, 2)),
    ] {
        let outcome = f.call(&wat, b"0123456789", &[]).await;
        let error = error_of(&outcome);
        assert_eq!(outcome.return_value, 1, "{what}: {outcome:?}");
        assert!(error.starts_with("Call failed: "), "{what}: {error}");
        assert!(error.contains("out of bounds"), "{what}: {error}");
    }
}

#[tokio::test]
async fn conf_flag_knows_always_on_and_always_off() {
    let f = runtime_with(limits());
    let outcome = f.call(CONF_FLAGS, b"", &[]).await;
    assert_success(&outcome);
    assert_eq!(&outcome.output[..], [1, 0, 0]);
}

#[tokio::test]
async fn conf_flag_on_an_unterminated_string_traps() {
    let f = runtime_with(limits());
    let outcome = f.call(CONF_FLAG_UNTERMINATED, b"", &[]).await;
    let error = error_of(&outcome);
    assert!(error.contains("not NUL-terminated"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// WASI: stdout, exit codes, argv

#[tokio::test]
async fn stdout_is_captured_through_fd_write() {
    let f = runtime_with(limits());
    let outcome = f.call(&hello_stdout(b"hello stdout\n"), b"", &[]).await;
    assert_success(&outcome);
    assert_eq!(&outcome.stdout[..], b"hello stdout\n");
    assert_eq!(&outcome.output[..], b"done");
}

#[tokio::test]
async fn stdout_over_its_cap_is_truncated_with_a_marker() {
    let f = runtime_with(CallLimits {
        stdout_bytes: 16,
        ..limits()
    });
    let outcome = f
        .call(&hello_stdout(b"0123456789abcdefOVERFLOW"), b"", &[])
        .await;
    assert_success(&outcome);
    assert_eq!(
        &outcome.stdout[..],
        b"0123456789abcdef\n[stdout truncated after 16 bytes]\n"
    );
    assert_eq!(&outcome.output[..], b"done");
}

#[tokio::test]
async fn printing_forever_hits_the_timeout_with_truncated_stdout() {
    let f = runtime_with(CallLimits {
        timeout: Duration::from_millis(200),
        stdout_bytes: 1000,
        ..limits()
    });
    let outcome = f.call(PRINT_FOREVER, b"", &[]).await;
    assert_eq!(
        error_of(&outcome),
        "Call failed: timed out after 200ms",
        "{outcome:?}"
    );
    assert_eq!(outcome.return_value, 1);
    let marker = b"\n[stdout truncated after 1000 bytes]\n";
    assert_eq!(outcome.stdout.len(), 1000 + marker.len());
    assert!(outcome.stdout.ends_with(marker), "{:?}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .starts_with(b"all work and no play makes jack\n")
    );
}

#[tokio::test]
async fn proc_exit_nonzero_is_the_return_value() {
    let f = runtime_with(limits());
    let outcome = f.call(&exit_with(3), b"", &[]).await;
    assert_eq!(outcome.return_value, 3);
    assert_eq!(
        outcome.error.as_deref(),
        Some("Call failed (return value=3)")
    );
    // What the guest set before exiting is kept.
    assert_eq!(&outcome.output[..], b"bye");
}

#[tokio::test]
async fn proc_exit_zero_is_success() {
    let f = runtime_with(limits());
    let outcome = f.call(&exit_with(0), b"", &[]).await;
    assert_success(&outcome);
    assert_eq!(&outcome.output[..], b"bye");
}

#[tokio::test]
async fn argv_is_function_wasm_then_the_cmdline() {
    let f = runtime_with(limits());
    let outcome = f.call(ARGS, b"", &["alpha", "b c", ""]).await;
    assert_success(&outcome);
    assert_eq!(u32s(&outcome.output[..4]), [4]);
    assert_eq!(&outcome.output[4..], b"function.wasm\0alpha\0b c\0\0");

    let bare = f.call(ARGS, b"", &[]).await;
    assert_success(&bare);
    assert_eq!(u32s(&bare.output[..4]), [1]);
    assert_eq!(&bare.output[4..], b"function.wasm\0");
}

// ---------------------------------------------------------------------------------------------
// Traps, timeouts and the memory cap

#[tokio::test]
async fn unreachable_is_a_trap() {
    let f = runtime_with(limits());
    let outcome = f.call(UNREACHABLE, b"", &[]).await;
    let error = error_of(&outcome);
    assert_eq!(outcome.return_value, 1);
    assert!(error.starts_with("Call failed: trap:"), "{error}");
    assert!(error.contains("unreachable"), "{error}");
    assert!(!error.contains('\n'), "one line: {error:?}");
}

#[tokio::test]
async fn an_infinite_loop_times_out_and_the_runtime_keeps_working() {
    let f = runtime_with(CallLimits {
        timeout: Duration::from_millis(200),
        ..limits()
    });
    let started = Instant::now();
    let outcome = f.call(SPIN, b"", &[]).await;
    let elapsed = started.elapsed();
    assert_eq!(
        error_of(&outcome),
        "Call failed: timed out after 200ms",
        "{outcome:?}"
    );
    assert_eq!(outcome.return_value, 1);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    let echo = f.call(ECHO, b"still here", &[]).await;
    assert_success(&echo);
    assert_eq!(&echo.output[..], b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_does_not_starve_other_calls() {
    let f = runtime_with(CallLimits {
        timeout: Duration::from_millis(1500),
        ..limits()
    });
    let spin = f.runtime.prepare(&wasm(SPIN)).unwrap();
    let echo = f.runtime.prepare(&wasm(ECHO)).unwrap();
    let spinning = async {
        f.runtime
            .run(
                &spin,
                CallInput {
                    input: Bytes::new(),
                    cmdline: vec![],
                    ..Default::default()
                },
            )
            .await
    };
    let echoes = async {
        let started = Instant::now();
        for i in 0..20 {
            let input = Bytes::from(format!("call {i}"));
            let outcome = f
                .runtime
                .run(
                    &echo,
                    CallInput {
                        input: input.clone(),
                        cmdline: vec![],
                        ..Default::default()
                    },
                )
                .await;
            assert_success(&outcome);
            assert_eq!(outcome.output, input);
        }
        started.elapsed()
    };
    let (spun, echo_time) = tokio::join!(spinning, echoes);
    assert_eq!(error_of(&spun), "Call failed: timed out after 1500ms");
    assert!(echo_time < Duration::from_millis(1000), "{echo_time:?}");
}

#[tokio::test]
async fn timeout_in_whole_seconds_is_reported_in_seconds() {
    let f = runtime_with(CallLimits {
        timeout: Duration::from_secs(1),
        ..limits()
    });
    let outcome = f.call(SPIN, b"", &[]).await;
    assert_eq!(error_of(&outcome), "Call failed: timed out after 1s");
}

#[tokio::test]
async fn memory_grow_past_the_cap_fails_the_call() {
    let f = runtime_with(CallLimits {
        memory_bytes: 2 << 20,
        ..limits()
    });
    // 1 + 31 pages = 2 MiB: exactly at the cap.
    let within = f.call(&grow_by(31), b"", &[]).await;
    assert_success(&within);
    assert_eq!(u32s(&within.output), [32]);

    let over = f.call(&grow_by(32), b"", &[]).await;
    let error = error_of(&over);
    assert_eq!(over.return_value, 1);
    assert!(error.starts_with("Call failed: "), "{error}");
    assert!(error.contains("memory limit"), "{error}");
    assert!(error.contains("2 MiB"), "{error}");

    // The runtime is fine afterwards.
    let echo = f.call(ECHO, b"after", &[]).await;
    assert_success(&echo);
    assert_eq!(&echo.output[..], b"after");
}

#[tokio::test]
async fn an_initial_memory_over_the_cap_fails_the_call_not_the_runtime() {
    let f = runtime_with(CallLimits {
        memory_bytes: 2 << 20,
        ..limits()
    });
    let wat = r#"(module (memory (export "memory") 64) (func (export "_start")))"#;
    let outcome = match f.runtime.prepare(&wasm(wat)) {
        // Either refusing it up front or failing each call is acceptable; a panic is not.
        Err(PrepareError::Invalid(_)) => return,
        Err(other) => panic!("unexpected prepare error: {other}"),
        Ok(module) => f.runtime.run(&module, CallInput::default()).await,
    };
    let error = error_of(&outcome);
    assert!(error.starts_with("Call failed: "), "{error}");
}

#[tokio::test]
async fn faasm_python_runner_imports_trap_with_their_name() {
    let f = runtime_with(limits());
    let outcome = f.call(CHAIN_PY, b"", &[]).await;
    assert_eq!(outcome.return_value, 1);
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "Call failed: __faasm_chain_py belongs to Faasm's C Python runner, which faasm-rs \
             does not use: upload Python source to /p/{user}/{function} and call pyfaasm from \
             it instead"
        )
    );
}

#[tokio::test]
async fn a_module_importing_every_faasm_call_loads_and_runs() {
    let f = runtime_with(limits());
    let outcome = f.call(IMPORTS_EVERYTHING, b"", &[]).await;
    assert_success(&outcome);
}

// ---------------------------------------------------------------------------------------------
// prepare()

#[test]
fn garbage_bytes_are_invalid_with_the_parse_error() {
    let f = runtime_with(limits());
    match f.runtime.prepare(b"this is not a wasm module") {
        Err(PrepareError::Invalid(msg)) => {
            assert!(msg.contains("magic header not detected"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg:?}");
        }
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("garbage accepted"),
    }
    assert!(f.artefacts().is_empty(), "nothing cached for garbage");
}

#[test]
fn truncated_wasm_is_invalid() {
    let f = runtime_with(limits());
    let bytes = wasm(ECHO);
    match f.runtime.prepare(&bytes[..bytes.len() - 3]) {
        Err(PrepareError::Invalid(msg)) => assert!(!msg.is_empty()),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("truncated module accepted"),
    }
}

#[test]
fn a_module_without_start_is_invalid() {
    let f = runtime_with(limits());
    let no_start = r#"(module (memory (export "memory") 1) (func (export "main")))"#;
    match f.runtime.prepare(&wasm(no_start)) {
        Err(PrepareError::Invalid(msg)) => assert!(msg.contains("_start"), "{msg}"),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("module without _start accepted"),
    }
    let wrong_type = r#"(module (func (export "_start") (param i32)))"#;
    match f.runtime.prepare(&wasm(wrong_type)) {
        Err(PrepareError::Invalid(msg)) => assert!(msg.contains("_start"), "{msg}"),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("_start with parameters accepted"),
    }
}

#[test]
fn an_unknown_import_is_invalid() {
    let f = runtime_with(limits());
    let wat = r#"
(module
  (import "env" "nope" (func))
  (func (export "_start") (call 0)))
"#;
    match f.runtime.prepare(&wasm(wat)) {
        Err(PrepareError::Invalid(msg)) => {
            assert!(msg.contains("nope"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg:?}");
        }
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("unknown import accepted"),
    }
}

#[test]
fn a_faasm_import_with_the_wrong_signature_is_invalid() {
    let f = runtime_with(limits());
    let wat = r#"
(module
  (import "env" "__faasm_read_input" (func (param i32) (result i32)))
  (func (export "_start")))
"#;
    match f.runtime.prepare(&wasm(wat)) {
        Err(PrepareError::Invalid(msg)) => assert!(msg.contains("__faasm_read_input"), "{msg}"),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("mistyped import accepted"),
    }
}

#[tokio::test]
async fn the_artefact_is_cached_and_reused_by_a_second_runtime() {
    let f = runtime_with(limits());
    let bytes = wasm(ECHO);
    let module = f.runtime.prepare(&bytes).unwrap();
    let artefacts = f.artefacts();
    assert_eq!(artefacts.len(), 1, "{artefacts:?}");
    let name = artefacts[0].file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with(module.hash()), "{name}");
    assert_eq!(module.hash().len(), 64);
    let written = std::fs::metadata(&artefacts[0])
        .unwrap()
        .modified()
        .unwrap();

    // A second runtime over the same directory loads the artefact instead of recompiling.
    let second = Runtime::new(RuntimeConfig {
        cache_dir: f.cache.path().to_path_buf(),
        limits: limits(),
        max_instances: 16,
        memory_budget: 16 << 30,
        shared_files_dir: f.cache.path().join("files"),
        state: faasm_runtime::LocalTier::in_memory(),
        python: None,
    })
    .unwrap();
    let again = second.prepare(&bytes).unwrap();
    assert_eq!(again.hash(), module.hash());
    assert_eq!(f.artefacts(), artefacts, "no new artefact");
    let modified = std::fs::metadata(&artefacts[0])
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(modified, written, "the artefact was not rewritten");
    let outcome = second
        .run(
            &again,
            CallInput {
                input: Bytes::from_static(b"from the cache"),
                cmdline: vec![],
                ..Default::default()
            },
        )
        .await;
    assert_success(&outcome);
    assert_eq!(&outcome.output[..], b"from the cache");

    // Different bytes, different artefact.
    f.runtime.prepare(&wasm(UNREACHABLE)).unwrap();
    assert_eq!(f.artefacts().len(), 2);
}

#[tokio::test]
async fn an_unusable_artefact_is_recompiled() {
    let f = runtime_with(limits());
    let bytes = wasm(ECHO);
    f.runtime.prepare(&bytes).unwrap();
    let artefacts = f.artefacts();
    assert_eq!(artefacts.len(), 1);
    std::fs::write(&artefacts[0], b"corrupted artefact").unwrap();

    let module = f.runtime.prepare(&bytes).unwrap();
    assert!(std::fs::metadata(&artefacts[0]).unwrap().len() > 100);
    let outcome = f
        .runtime
        .run(
            &module,
            CallInput {
                input: Bytes::from_static(b"recompiled"),
                cmdline: vec![],
                ..Default::default()
            },
        )
        .await;
    assert_success(&outcome);
    assert_eq!(&outcome.output[..], b"recompiled");
}

// ---------------------------------------------------------------------------------------------
// Isolation

#[tokio::test]
async fn every_call_starts_from_a_fresh_instance() {
    let f = runtime_with(limits());
    let module = f.runtime.prepare(&wasm(COUNTERS)).unwrap();
    // More calls than pool slots, so slots are reused.
    for _ in 0..40 {
        let outcome = f.runtime.run(&module, CallInput::default()).await;
        assert_success(&outcome);
        assert_eq!(u32s(&outcome.output), [1, 6, 1, 1]);
    }
}

#[tokio::test]
async fn a_failed_call_leaves_nothing_behind() {
    let f = runtime_with(CallLimits {
        timeout: Duration::from_millis(100),
        ..limits()
    });
    // The counter module after a trap and after a timeout on the same runtime.
    let counters = f.runtime.prepare(&wasm(COUNTERS)).unwrap();
    for wat in [UNREACHABLE, SPIN] {
        let outcome = f.call(wat, b"", &[]).await;
        error_of(&outcome);
        let outcome = f.runtime.run(&counters, CallInput::default()).await;
        assert_success(&outcome);
        assert_eq!(u32s(&outcome.output), [1, 6, 1, 1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_see_their_own_input() {
    let f = std::sync::Arc::new(runtime_with(limits()));
    let module = std::sync::Arc::new(f.runtime.prepare(&wasm(ECHO)).unwrap());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (f, module) = (f.clone(), module.clone());
        tasks.push(tokio::spawn(async move {
            for j in 0..20 {
                let input = Bytes::from(format!("task {i} call {j}").repeat(i + 1));
                let outcome = f
                    .runtime
                    .run(
                        &module,
                        CallInput {
                            input: input.clone(),
                            cmdline: vec![],
                            ..Default::default()
                        },
                    )
                    .await;
                assert_success(&outcome);
                assert_eq!(outcome.output, input);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Sleeps 300 ms in `poll_oneoff` (a relative monotonic-clock subscription), holding its
/// instance while it waits, but neither a thread nor its worker.
const SLEEP_300MS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; subscription at 0: userdata, tag 0 = clock, clock id 1 = monotonic, timeout in ns
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 300000000))
    (if (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))
      (then unreachable))))
"#;

/// Runs `n` sleepers at once on a 16-slot runtime; returns the outcomes and the wall time.
async fn sleepers(n: usize) -> (Vec<CallOutcome>, Duration) {
    let f = std::sync::Arc::new(runtime_with(limits()));
    let module = std::sync::Arc::new(f.runtime.prepare(&wasm(SLEEP_300MS)).unwrap());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (f, module) = (f.clone(), module.clone());
        tasks.spawn(async move { f.runtime.run(&module, CallInput::default()).await });
    }
    let outcomes = tasks.join_all().await;
    (outcomes, started.elapsed())
}

#[tokio::test]
async fn waiting_guests_share_a_thread_up_to_max_instances() {
    let (outcomes, elapsed) = sleepers(16).await;
    for outcome in &outcomes {
        assert_success(outcome);
    }
    // All 16 slept at once on one thread: one after the other would take 4.8 s.
    assert!(elapsed < Duration::from_millis(2400), "{elapsed:?}");
}

/// A scheduler stand-in that only counts how often a call handed its worker back and took one
/// again.
#[derive(Default)]
struct CountingHost {
    pauses: std::sync::atomic::AtomicUsize,
    resumes: std::sync::atomic::AtomicUsize,
}

fn no_chaining() -> faasm_runtime::ChainError {
    faasm_runtime::ChainError::Refused("no chaining here".to_owned())
}

impl faasm_runtime::CallHost for CountingHost {
    fn chain<'a>(
        &'a self,
        _target: faasm_runtime::ChainTarget<'a>,
        _input: Bytes,
    ) -> faasm_runtime::BoxFuture<'a, Result<faasm_runtime::CallHandle, faasm_runtime::ChainError>>
    {
        Box::pin(async { Err(no_chaining()) })
    }

    fn await_call(
        &self,
        _handle: faasm_runtime::CallHandle,
    ) -> faasm_runtime::BoxFuture<
        '_,
        Result<std::sync::Arc<faasm_api::CallResult>, faasm_runtime::ChainError>,
    > {
        Box::pin(async { Err(no_chaining()) })
    }

    fn finished_call(
        &self,
        _handle: faasm_runtime::CallHandle,
    ) -> Result<std::sync::Arc<faasm_api::CallResult>, faasm_runtime::ChainError> {
        Err(no_chaining())
    }

    fn cancelled(&self) -> faasm_runtime::BoxFuture<'_, String> {
        Box::pin(std::future::pending())
    }

    fn pause(&self) {
        self.pauses
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn resume(&self) -> faasm_runtime::BoxFuture<'_, ()> {
        self.resumes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async {})
    }
}

#[tokio::test]
async fn a_clock_sleep_hands_the_worker_back_until_it_ends() {
    let f = runtime_with(limits());
    let module = f.runtime.prepare(&wasm(SLEEP_300MS)).unwrap();
    let host = std::sync::Arc::new(CountingHost::default());
    let started = Instant::now();
    let outcome = f
        .runtime
        .run(
            &module,
            CallInput {
                host: Some(host.clone()),
                ..Default::default()
            },
        )
        .await;
    assert_success(&outcome);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let count = |n: &std::sync::atomic::AtomicUsize| n.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((count(&host.pauses), count(&host.resumes)), (1, 1));
}

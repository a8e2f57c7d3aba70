//! Property test of the host interface against hostile guests: generated WAT modules call the
//! host imports (every `env.__faasm_*` call of the SDK's `host_interface.h` and the WASI calls
//! that take pointers) with random, edge and out-of-range pointers, lengths, descriptors and
//! flags. Whatever they pass, the call must end cleanly: success, or a one-line `Call failed`
//! reason; a host panic fails the test (the runtime resumes a guest thread's panic here).
//!
//! Cases: `PROPTEST_CASES` (default 48, kept small so the suite stays fast).

#[allow(dead_code)]
#[path = "guests/mod.rs"]
mod guests;
#[allow(dead_code)]
#[path = "../../api/tests/hostile/mod.rs"]
mod hostile;

use std::cell::Cell;
use std::fmt::Write;
use std::time::Duration;

use bytes::Bytes;
use faasm_runtime::{CallInput, CallLimits, Runtime};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Ty {
    I32,
    I64,
}
use Ty::{I32, I64};

/// An import: module, name, parameters, and whether it returns an `i32`.
type Import = (&'static str, &'static str, &'static [Ty], bool);

const ENV: &str = "env";
const WASI: &str = "wasi_snapshot_preview1";

/// The Faasm host interface (sdk/c/include/faasm/host_interface.h) and the WASI calls with
/// pointers or descriptors.
const IMPORTS: &[Import] = &[
    (ENV, "__faasm_read_input", &[I32, I32], true),
    (ENV, "__faasm_write_output", &[I32, I32], false),
    (ENV, "__faasm_conf_flag", &[I32], true),
    (ENV, "__faasm_chain_name", &[I32, I32, I32], true),
    (ENV, "__faasm_chain_ptr", &[I32, I32, I32], true),
    (ENV, "__faasm_await_call", &[I32], true),
    (ENV, "__faasm_read_call_output", &[I32, I32, I32], true),
    (ENV, "__faasm_read_state", &[I32, I32, I32], true),
    (ENV, "__faasm_read_state_ptr", &[I32, I32], true),
    (
        ENV,
        "__faasm_read_state_offset",
        &[I32, I32, I32, I32, I32],
        false,
    ),
    (
        ENV,
        "__faasm_read_state_offset_ptr",
        &[I32, I32, I32, I32],
        true,
    ),
    (ENV, "__faasm_write_state", &[I32, I32, I32], false),
    (
        ENV,
        "__faasm_write_state_offset",
        &[I32, I32, I32, I32, I32],
        false,
    ),
    (ENV, "__faasm_write_state_from_file", &[I32, I32], true),
    (ENV, "__faasm_flag_state_dirty", &[I32, I32], false),
    (
        ENV,
        "__faasm_flag_state_offset_dirty",
        &[I32, I32, I32, I32],
        false,
    ),
    (ENV, "__faasm_push_state", &[I32], false),
    (ENV, "__faasm_push_state_partial", &[I32], false),
    (ENV, "__faasm_push_state_partial_mask", &[I32, I32], false),
    (ENV, "__faasm_pull_state", &[I32, I32], false),
    (ENV, "__faasm_append_state", &[I32, I32, I32], false),
    (
        ENV,
        "__faasm_read_appended_state",
        &[I32, I32, I32, I32],
        false,
    ),
    (ENV, "__faasm_clear_appended_state", &[I32], false),
    (ENV, "__faasm_lock_state_read", &[I32], false),
    (ENV, "__faasm_unlock_state_read", &[I32], false),
    (ENV, "__faasm_lock_state_write", &[I32], false),
    (ENV, "__faasm_unlock_state_write", &[I32], false),
    (ENV, "__faasm_get_py_user", &[I32, I32], false),
    (ENV, "__faasm_get_py_func", &[I32, I32], false),
    (ENV, "__faasm_get_py_entry", &[I32, I32], false),
    (ENV, "__faasm_backtrace", &[I32], false),
    (ENV, "__faasm_host_interface_test", &[I32], false),
    (ENV, "__faasm_chain_py", &[I32, I32, I32], true),
    (WASI, "args_get", &[I32, I32], true),
    (WASI, "args_sizes_get", &[I32, I32], true),
    (WASI, "environ_get", &[I32, I32], true),
    (WASI, "environ_sizes_get", &[I32, I32], true),
    (WASI, "clock_time_get", &[I32, I64, I32], true),
    (WASI, "random_get", &[I32, I32], true),
    (WASI, "poll_oneoff", &[I32, I32, I32, I32], true),
    (WASI, "fd_write", &[I32, I32, I32, I32], true),
    (WASI, "fd_read", &[I32, I32, I32, I32], true),
    (WASI, "fd_pread", &[I32, I32, I32, I64, I32], true),
    (WASI, "fd_pwrite", &[I32, I32, I32, I64, I32], true),
    (WASI, "fd_seek", &[I32, I64, I32, I32], true),
    (WASI, "fd_close", &[I32], true),
    (WASI, "fd_renumber", &[I32, I32], true),
    (WASI, "fd_fdstat_get", &[I32, I32], true),
    (WASI, "fd_filestat_get", &[I32, I32], true),
    (WASI, "fd_filestat_set_size", &[I32, I64], true),
    (WASI, "fd_prestat_get", &[I32, I32], true),
    (WASI, "fd_prestat_dir_name", &[I32, I32, I32], true),
    (WASI, "fd_readdir", &[I32, I32, I32, I64, I32], true),
    (
        WASI,
        "path_open",
        &[I32, I32, I32, I32, I32, I64, I64, I32, I32],
        true,
    ),
    (WASI, "path_filestat_get", &[I32, I32, I32, I32, I32], true),
    (WASI, "path_create_directory", &[I32, I32, I32], true),
    (WASI, "path_unlink_file", &[I32, I32, I32], true),
    (WASI, "path_remove_directory", &[I32, I32, I32], true),
    (WASI, "path_readlink", &[I32, I32, I32, I32, I32, I32], true),
    (WASI, "path_rename", &[I32, I32, I32, I32, I32, I32], true),
];

/// The guest's memory: one page (64 KiB), so pointers past 65,536 are out of bounds.
const PAGE: u32 = 65_536;

/// 32-bit arguments: small numbers (descriptors, flags, call handles), pointers into the
/// data (a key, paths), anywhere in memory, straddling its end, far out, and anything.
fn arg32() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..16,
        Just(0u32),
        Just(8u32),
        0u32..PAGE,
        (PAGE - 64)..(PAGE + 64),
        (u32::MAX - 64)..=u32::MAX,
        any::<u32>(),
    ]
}

fn arg64() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..4096, Just(u64::MAX), any::<u64>()]
}

/// One call: which import, and a value for each of its parameters.
fn call() -> impl Strategy<Value = (usize, Vec<(u32, u64)>)> {
    (
        0..IMPORTS.len(),
        prop::collection::vec((arg32(), arg64()), 9),
    )
}

/// A module calling the imports in order with the given arguments.
fn module(calls: &[(usize, Vec<(u32, u64)>)]) -> String {
    let mut wat = String::from("(module\n");
    for (i, (module, name, params, result)) in IMPORTS.iter().enumerate() {
        let params: String = params
            .iter()
            .map(|ty| match ty {
                I32 => " i32",
                I64 => " i64",
            })
            .collect();
        let result = if *result { " (result i32)" } else { "" };
        writeln!(
            wat,
            "  (import \"{module}\" \"{name}\" (func $f{i} (param{params}){result}))"
        )
        .unwrap();
    }
    // A key, paths and an iovec at the start of memory for pointers that land on them.
    wat.push_str(
        "  (memory (export \"memory\") 1)\n  \
         (data (i32.const 0) \"key\\00faasm://f\\00/tmp/x\\00\\00\\00\")\n  \
         (data (i32.const 32) \"\\00\\00\\00\\00\\10\\00\\00\\00\")\n  \
         (func (export \"_start\")\n",
    );
    for (import, args) in calls {
        let (_, _, params, result) = IMPORTS[*import];
        wat.push_str("    (call $f");
        wat.push_str(&import.to_string());
        for (ty, (a32, a64)) in params.iter().zip(args) {
            match ty {
                I32 => write!(wat, " (i32.const {})", *a32 as i32).unwrap(),
                I64 => write!(wat, " (i64.const {})", *a64 as i64).unwrap(),
            }
        }
        wat.push(')');
        if result {
            wat.push_str(" drop");
        }
        wat.push('\n');
    }
    wat.push_str("    (call $f1 (i32.const 0) (i32.const 3))))\n");
    wat
}

fn runtime() -> (Runtime, tempfile::TempDir, tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let limits = CallLimits {
        timeout: Duration::from_secs(2),
        memory_bytes: 16 << 20,
        ..CallLimits::default()
    };
    let runtime = guests::runtime_in(dir.path(), limits);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    (runtime, dir, tokio)
}

#[test]
fn host_imports_survive_hostile_arguments() {
    let (runtime, _dir, tokio) = runtime();
    let config = hostile::config(48);
    let (succeeded, failed) = (Cell::new(0), Cell::new(0));
    proptest!(config, |(calls in prop::collection::vec(call(), 1..5))| {
        let wat = module(&calls);
        let wasm = wat::parse_str(&wat).expect("the generated WAT is valid");
        let module = runtime.prepare(&wasm).unwrap_or_else(|e| panic!("prepare: {e}\n{wat}"));
        let outcome = tokio.block_on(runtime.run(&module, CallInput {
            user: "demo".into(),
            input: Bytes::from_static(b"some input"),
            ..CallInput::default()
        }));
        match &outcome.error {
            None => {
                succeeded.set(succeeded.get() + 1);
                // The last call sets 3 bytes of output (earlier ones may have changed them).
                prop_assert_eq!(outcome.output.len(), 3);
            }
            Some(reason) => {
                failed.set(failed.get() + 1);
                prop_assert!(reason.starts_with("Call failed"), "{}", reason);
                prop_assert!(!reason.contains('\n'), "one line: {}", reason);
                prop_assert!(!reason.contains("panic"), "{}", reason);
                prop_assert_ne!(outcome.return_value, 0);
            }
        }
    });
    eprintln!(
        "{} calls succeeded, {} failed cleanly",
        succeeded.get(),
        failed.get()
    );
    assert!(failed.get() > 0, "hostile arguments never failed a call");
    // The runtime is still whole: an ordinary call works after all of that.
    let echo = runtime
        .prepare(&wat::parse_str(guests::ECHO).unwrap())
        .unwrap();
    let outcome = tokio.block_on(runtime.run(
        &echo,
        CallInput {
            input: Bytes::from_static(b"still here"),
            ..CallInput::default()
        },
    ));
    assert_eq!(outcome.error, None);
    assert_eq!(&outcome.output[..], b"still here");
}

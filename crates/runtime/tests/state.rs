//! State host calls at the runtime level (SPEC §8): a value mapped into guest memory meets the
//! host's writes, pointer writes reach the local tier when the call ends, and a guest waiting
//! for a state lock gives its thread back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use faasm_api::StateKey;
use faasm_runtime::{CallInput, CallLimits, FunctionModule, LocalTier, Runtime, RuntimeConfig};

const GUEST: &str = r#"
(module
  (import "env" "__faasm_read_input" (func $input (param i32 i32) (result i32)))
  (import "env" "__faasm_write_output" (func $output (param i32 i32)))
  (import "env" "__faasm_read_state_ptr" (func $ptr (param i32 i32) (result i32)))
  (import "env" "__faasm_write_state_offset" (func $write_at (param i32 i32 i32 i32 i32)))
  (import "env" "__faasm_flag_state_offset_dirty" (func $flag (param i32 i32 i32 i32)))
  (import "env" "__faasm_push_state_partial" (func $push (param i32)))
  (import "env" "__faasm_lock_state_write" (func $lock (param i32)))
  (import "env" "__faasm_unlock_state_write" (func $unlock (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "k\00")
  (data (i32.const 24) "Y")
  (func (export "_start")
    (local $p i32)
    (drop (call $input (i32.const 0) (i32.const 1)))
    ;; "m": map, write X unflagged, host-write Y at 2, map again, flag byte 0, push, output.
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 109))
      (then
        (local.set $p (call $ptr (i32.const 16) (i32.const 4)))
        (i32.store8 (local.get $p) (i32.const 88))
        (call $write_at (i32.const 16) (i32.const 4) (i32.const 2) (i32.const 24) (i32.const 1))
        (if (i32.ne (call $ptr (i32.const 16) (i32.const 4)) (local.get $p)) (then unreachable))
        (call $flag (i32.const 16) (i32.const 4) (i32.const 0) (i32.const 1))
        (call $push (i32.const 16))
        (call $output (local.get $p) (i32.const 4))))
    ;; "e": write Z through the pointer and return without flagging.
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 101))
      (then
        (local.set $p (call $ptr (i32.const 16) (i32.const 4)))
        (i32.store8 (i32.add (local.get $p) (i32.const 3)) (i32.const 90))))
    ;; "l": take and release the write lock.
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 108))
      (then (call $lock (i32.const 16)) (call $unlock (i32.const 16)))))
)
"#;

fn setup() -> (Runtime, Arc<LocalTier>, FunctionModule, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let state = LocalTier::in_memory();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: cache.path().to_path_buf(),
        limits: CallLimits::default(),
        max_instances: 4,
        memory_budget: 16 << 30,
        shared_files_dir: cache.path().join("files"),
        state: state.clone(),
        python: None,
    })
    .unwrap();
    let module = runtime.prepare(&wat::parse_str(GUEST).unwrap()).unwrap();
    (runtime, state, module, cache)
}

fn input(op: &'static str) -> CallInput {
    CallInput {
        user: "u".into(),
        input: Bytes::from_static(op.as_bytes()),
        ..Default::default()
    }
}

fn k() -> StateKey {
    StateKey::new("k").unwrap()
}

#[tokio::test]
async fn a_mapping_meets_host_writes_and_flags() {
    let (runtime, state, module, _cache) = setup();
    state.global().set("u", &k(), b"abcd").await.unwrap();
    let outcome = runtime.run(&module, input("m")).await;
    assert_eq!(outcome.error, None);
    // The guest's X survived the host write of Y, and the mapping shows both.
    assert_eq!(outcome.output, "XbYd");
    // Pushed: Y (written by the host) and X (flagged).
    let global = state.global().get("u", &k()).await.unwrap().unwrap();
    assert_eq!(global, "XbYd");
}

#[tokio::test]
async fn pointer_writes_reach_the_local_tier_when_the_call_ends() {
    let (runtime, state, module, _cache) = setup();
    state.global().set("u", &k(), b"abcd").await.unwrap();
    let outcome = runtime.run(&module, input("e")).await;
    assert_eq!(outcome.error, None);
    let value = state.value("u", &k());
    let local = value.access().await;
    assert_eq!(local.bytes(), b"abcZ", "written back locally");
    assert!(local.is_clean_and_whole(), "but not dirty (never flagged)");
    let global = state.global().get("u", &k()).await.unwrap().unwrap();
    assert_eq!(global, "abcd");
}

#[tokio::test(flavor = "current_thread")]
async fn a_guest_waiting_for_a_lock_yields_its_thread() {
    let (runtime, state, module, _cache) = setup();
    let value = state.value("u", &k());
    let held = value.lock_write().await.unwrap();
    // One thread: the guest's wait must let this task run to release the lock.
    let release = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        held.release().await;
    };
    let call = tokio::time::timeout(Duration::from_secs(10), runtime.run(&module, input("l")));
    let (outcome, ()) = tokio::join!(call, release);
    assert_eq!(outcome.expect("the call finished").error, None);
}

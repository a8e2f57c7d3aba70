//! What the property tests of hostile input share (included by path by
//! `crates/runtime/tests/hostile_guests.rs` and `tests/all/properties.rs`): the case count and
//! the message fields hostile JSON is built from.

use proptest::test_runner::Config;

/// `PROPTEST_CASES` cases (for longer local runs), else `default`, kept small for the suite.
pub fn config(default: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Field names the invoke message and the planner's payloads read, and one they don't.
pub const FIELDS: &[&str] = &[
    "user",
    "function",
    "input_data",
    "input_b64",
    "async",
    "status",
    "id",
    "python",
    "py_user",
    "py_func",
    "mpi",
    "mpi_world_size",
    "cmdline",
    "http_type",
    "payload",
    "appId",
    "messages",
    "type",
    "x",
];

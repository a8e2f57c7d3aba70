//! A sound core under hostile or careless load (SPEC §5, §7, §11): fan-outs never deadlock, a
//! chain bomb fails fast without starving other users, guests cannot reach other calls,
//! results stay within their byte budget, accepted async calls survive a crash, and the
//! control plane answers while guests spin.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, compile, wait_for};

fn async_call(server: &Server, user: &str, function: &str, input: &str) -> u64 {
    let reply = server.post(json!({
        "user": user, "function": function, "input_data": input, "async": true,
    }));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text().parse().unwrap()
}

#[test]
fn parents_awaiting_children_never_deadlock_the_instance_pool() {
    // 40 parents that each chain an echo and await it, on 16 instances: parents alone could
    // take every instance and wait for children forever.
    let server = Server::start(&["--max-instances", "16", "--call-timeout", "20"]);
    server.upload("demo", "named", &compile("tests/functions/chain_named.c"));
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    let started = Instant::now();
    let ids: Vec<u64> = (0..40)
        .map(|_| async_call(&server, "demo", "named", "echo"))
        .collect();
    for id in ids {
        assert_eq!(
            wait_for(&server, id).text(),
            "SUCCESS: parent stdout\n0|ping"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "no call waited for a timeout"
    );
}

#[test]
fn trees_deeper_than_the_host_fail_clearly_instead_of_hanging() {
    // Chains of 6 levels, 12 at once, on 8 instances: more than the host can hold at once
    // for some trees. Every call ends, by success or with the deadlock's reason, long before
    // the timeout.
    let server = Server::start(&["--max-instances", "8", "--call-timeout", "60"]);
    server.upload("demo", "levels", &compile("tests/functions/chain_levels.c"));
    let started = Instant::now();
    let ids: Vec<u64> = (0..12)
        .map(|_| async_call(&server, "demo", "levels", "5"))
        .collect();
    for id in ids {
        let text = wait_for(&server, id).text();
        let clear = text == "SUCCESS: 5:4:3:2:1:0:" || text.contains("call tree aborted");
        assert!(clear, "{text}");
    }
    // A tree that fits the user's share runs once it has the host to itself.
    assert_eq!(server.call("demo", "levels", "5").text(), "5:4:3:2:1:0:");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "nothing waited for a timeout"
    );
}

#[test]
fn a_chain_bomb_fails_fast_and_others_keep_answering() {
    let server = Server::start(&["--max-tree-calls", "3000", "--call-timeout", "60"]);
    server.upload("mallory", "bomb", &compile("tests/functions/chain_bomb.c"));
    server.upload("alice", "echo", &compile("examples/c/echo.c"));
    let started = Instant::now();
    let bomb = async_call(&server, "mallory", "bomb", "");
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let call = Instant::now();
        let reply = server.call("alice", "echo", &format!("hello {i}"));
        slowest = slowest.max(call.elapsed());
        assert_eq!(reply.text(), format!("hello {i}"));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(slowest < Duration::from_secs(2), "alice waited {slowest:?}");
    let reply = wait_for(&server, bomb);
    let text = reply.text();
    assert!(text.starts_with("FAILED: Call failed: call tree"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(server.call("alice", "echo", "after").text(), "after");
}

#[test]
fn guests_cannot_await_calls_they_did_not_chain() {
    let server = Server::start(&[]);
    server.upload("bob", "echo", &compile("examples/c/echo.c"));
    server.upload("alice", "snoop", &compile("tests/functions/await_id.c"));
    let reply = server.call("bob", "echo", "bob's secret");
    let bobs: u64 = reply.header("x-faasm-call-id").unwrap().parse().unwrap();
    for target in [bobs, 0, 1, 2, 1 << 20] {
        let reply = server.call("alice", "snoop", &target.to_string());
        assert_eq!(reply.status, 500);
        let text = reply.text();
        assert!(!text.contains("secret"), "{text}");
        assert!(
            text.contains("was not chained by this call") || text.contains("cannot await itself"),
            "{text}"
        );
    }
}

#[test]
fn chaining_works_beyond_two_to_the_31_call_ids() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("meta")).unwrap();
    std::fs::write(data.path().join("meta/next-call-id"), "4294967290").unwrap();
    let server = Server::start_in(data.path(), &[]);
    server.upload("demo", "named", &compile("tests/functions/chain_named.c"));
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    for _ in 0..3 {
        let reply = server.call("demo", "named", "echo");
        assert_eq!(reply.text(), "parent stdout\n0|ping");
        let id: u64 = reply.header("x-faasm-call-id").unwrap().parse().unwrap();
        assert!(id >= 4294967290, "{id}");
    }
    // A refused chain starts nothing: the child that is missing never runs.
    let reply = server.call("demo", "named", "missing");
    assert!(reply.text().contains("not found"), "{}", reply.text());
}

#[test]
fn retained_results_stay_within_their_byte_budget() {
    let server = Server::start(&["--max-result-bytes", "1MiB"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    let big = "x".repeat(300 << 10);
    // One after another, so they finish (and are retained) in id order.
    let ids: Vec<u64> = (0..8)
        .map(|_| {
            let id = async_call(&server, "demo", "echo", &big);
            wait_for(&server, id);
            id
        })
        .collect();
    let mut found = 0;
    for &id in &ids {
        let reply = wait_for(&server, id);
        if reply.status == 200 {
            found += 1;
        }
    }
    assert!(
        found <= 3,
        "at most 1 MiB of 300 KiB results is kept, found {found}"
    );
    let newest = wait_for(&server, *ids.last().unwrap());
    assert_eq!(newest.status, 200, "the newest result is kept");
    assert_eq!(newest.body.len(), "SUCCESS: ".len() + big.len());
    let oldest = server.post(json!({"id": ids[0], "status": true}));
    assert_eq!(oldest.status, 404, "{}", oldest.text());
}

#[test]
fn accepted_async_calls_survive_kill_and_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path(), &["--workers", "1"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "napper", &compile("tests/functions/napper.c"));
    let done = async_call(&server, "demo", "echo", "finished before the crash");
    assert_eq!(
        wait_for(&server, done).text(),
        "SUCCESS: finished before the crash"
    );
    let pending: Vec<u64> = (0..30)
        .map(|_| async_call(&server, "demo", "napper", ""))
        .collect();
    server.stop();

    let server = Server::start_in(data.path(), &["--workers", "1"]);
    assert_eq!(
        wait_for(&server, done).text(),
        "SUCCESS: finished before the crash",
        "finished results survive"
    );
    for id in pending {
        let reply = wait_for(&server, id);
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (200, "SUCCESS: "),
            "call {id}"
        );
    }
}

#[test]
fn calls_out_of_attempts_fail_with_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--max-attempts", "1", "--call-timeout", "30"];
    let server = Server::start_in(data.path(), &args);
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    let id = async_call(&server, "demo", "spin", "");
    std::thread::sleep(Duration::from_millis(200));
    server.stop();
    let server = Server::start_in(data.path(), &args);
    let reply = wait_for(&server, id);
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.text(),
        "FAILED: Call failed: the host restarted during the call (1 attempts)"
    );
}

#[test]
fn sigterm_drains_then_leaves_the_rest_for_the_next_start() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--drain-timeout", "1", "--call-timeout", "30"];
    let server = Server::start_in(data.path(), &args);
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    let spinning = async_call(&server, "demo", "spin", "");
    let stopping = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "{:?}",
        stopping.elapsed()
    );
    // The spinner could not finish: it runs again at the next start (and times out there).
    let server = Server::start_in(data.path(), &["--call-timeout", "1"]);
    let reply = wait_for(&server, spinning);
    assert_eq!(reply.text(), "FAILED: Call failed: timed out after 1s");
}

#[test]
fn the_control_plane_answers_while_guests_spin() {
    let server = Server::start(&["--workers", "2", "--call-timeout", "10"]);
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    let spinners: Vec<u64> = (0..2)
        .map(|_| async_call(&server, "demo", "spin", ""))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut pings: Vec<Duration> = (0..40)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(server.get_invoke("/ping").text(), "PONG");
            server.post(json!({"id": spinners[0], "status": true}));
            started.elapsed()
        })
        .collect();
    pings.sort();
    let median = pings[pings.len() / 2];
    assert!(
        median < Duration::from_millis(30),
        "median ping + poll {median:?}"
    );
}

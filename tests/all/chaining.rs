//! Chaining (SPEC §5): functions that call functions, through HTTP, without deadlock.

use serde_json::json;

use crate::harness::{Server, compile, wait_for};

fn chaining_server(args: &[&str]) -> Server {
    let server = Server::start(args);
    server.upload("demo", "fanout", &compile("tests/functions/chain_fanout.c"));
    server.upload("demo", "levels", &compile("tests/functions/chain_levels.c"));
    server.upload("demo", "named", &compile("tests/functions/chain_named.c"));
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "fail", &compile("examples/c/fail.c"));
    server
}

/// 1² + 2² + ... + n²
fn sum_of_squares(n: u64) -> String {
    (n * (n + 1) * (2 * n + 1) / 6).to_string()
}

#[test]
fn fan_out_of_fifty_on_a_single_worker() {
    let server = chaining_server(&["--workers", "1", "--call-timeout", "30"]);
    let reply = server.call("demo", "fanout", "50");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        format!("parent of 50\n{}", sum_of_squares(50))
    );
}

#[test]
fn three_level_chain_on_a_single_worker() {
    let server = chaining_server(&["--workers", "1", "--call-timeout", "30"]);
    let reply = server.call("demo", "levels", "3");
    assert_eq!((reply.status, reply.text().as_str()), (200, "3:2:1:0:"));
}

#[test]
fn many_concurrent_chaining_parents() {
    let server = chaining_server(&["--workers", "2", "--call-timeout", "60"]);
    std::thread::scope(|scope| {
        let parents: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| server.call("demo", "fanout", "10")))
            .collect();
        for parent in parents {
            let reply = parent.join().unwrap();
            assert_eq!(
                reply.text(),
                format!("parent of 10\n{}", sum_of_squares(10))
            );
        }
    });
}

#[test]
fn chained_calls_are_ordinary_calls() {
    let server = chaining_server(&[]);
    let reply = server.call("demo", "named", "echo");
    assert_eq!(reply.text(), "parent stdout\n0|ping", "own stdout only");
    let parent: u64 = reply.header("x-faasm-call-id").unwrap().parse().unwrap();
    // The child got the next id and can be polled like any call.
    let child = wait_for(&server, parent + 1);
    assert_eq!(child.text(), "SUCCESS: ping");
}

#[test]
fn awaiting_a_failed_child_returns_non_zero() {
    let server = chaining_server(&[]);
    let reply = server.call("demo", "named", "fail");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "parent stdout\n3|");
}

#[test]
fn awaiting_a_timed_out_child_returns_one() {
    let server = chaining_server(&["--call-timeout", "2"]);
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    let reply = server.call("demo", "named", "spin");
    // The parent has the same timeout as the child, so it may time out too; if it finishes,
    // the await must have said 1.
    if reply.status == 200 {
        assert_eq!(reply.text(), "parent stdout\n1|");
    } else {
        assert!(
            reply.text().ends_with("timed out after 2s"),
            "{}",
            reply.text()
        );
    }
}

#[test]
fn limits_fail_the_chain_cleanly() {
    let server = chaining_server(&["--max-chain-depth", "4"]);
    let reply = server.call("demo", "levels", "3");
    assert_eq!(reply.text(), "3:2:1:0:", "within the limit");
    let reply = server.call("demo", "levels", "10");
    assert_eq!(reply.status, 500);
    assert!(
        reply.text().contains("Call failed (return value=1)"),
        "{}",
        reply.text()
    );
    // The innermost allowed level failed with the limit's message.
    let failures = (1..=20u64).filter(|&id| {
        let reply = server.post(json!({"id": id, "status": true}));
        reply.text().contains("chain depth limit of 4 exceeded")
    });
    assert_eq!(failures.count(), 1);

    let server = chaining_server(&["--max-chained-calls", "5"]);
    let reply = server.call("demo", "fanout", "6");
    assert_eq!(reply.status, 500);
    assert!(
        reply
            .text()
            .contains("limit of 5 chained calls per call exceeded"),
        "{}",
        reply.text()
    );
    assert_eq!(
        server.call("demo", "fanout", "5").text(),
        format!("parent of 5\n{}", sum_of_squares(5))
    );
}

#[test]
fn chaining_a_missing_function_fails_the_parent() {
    let server = chaining_server(&[]);
    let reply = server.call("demo", "named", "nobody");
    assert_eq!(reply.status, 500);
    assert!(
        reply.text().contains("Function demo/nobody not found"),
        "{}",
        reply.text()
    );
    let reply = server.call("demo", "named", "../x");
    assert!(
        reply.text().contains("Invalid function"),
        "{}",
        reply.text()
    );
}

#[test]
fn monte_carlo_pi_example() {
    let server = Server::start(&[]);
    server.upload("demo", "pi", &compile("examples/c/pi.c"));
    let reply = server.call("demo", "pi", "8");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let estimate: f64 = reply
        .text()
        .strip_prefix("Pi estimate: ")
        .expect("the example's output")
        .parse()
        .unwrap();
    assert!((3.12..3.16).contains(&estimate), "{estimate}");
    // The workers' hit counts are in the appended state, not left in main's memory.
    assert_eq!(
        server.call("demo", "pi", "0").status,
        500,
        "0 workers is refused"
    );
}

#[test]
fn waiting_for_a_state_lock_does_not_hold_the_only_worker() {
    // A holds a lock and awaits a child that sleeps on the only worker; B queues for the
    // worker, gets it when the child ends, and then waits for A's lock. A must be able to
    // take the worker back from B to finish and release the lock.
    let server = Server::start(&["--workers", "1", "--call-timeout", "8"]);
    server.upload("demo", "holder", &compile("tests/functions/lock_holder.c"));
    server.upload("demo", "napper", &compile("tests/functions/napper.c"));
    let a = server
        .post(json!({"user": "demo", "function": "holder", "input_data": "chain", "async": true}));
    let a: u64 = a.text().parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let b = server.call("demo", "holder", "just-lock");
    assert_eq!((b.status, b.text().as_str()), (200, "just-lock"));
    assert_eq!(wait_for(&server, a).text(), "SUCCESS: chain");
}

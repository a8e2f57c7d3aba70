//! Guests sleeping on a WASI clock (`nanosleep`, `usleep`, `sleep`) hand their worker back
//! while they sleep (SPEC §7), and still wake on time and within their call's timeout.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, compile, wait_for};

fn server(args: &[&str]) -> Server {
    let server = Server::start(args);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "sleeper", &compile("tests/functions/sleeper.c"));
    server
}

/// Starts a call that sleeps `ms` milliseconds; returns its id.
fn sleep_async(server: &Server, ms: u64) -> u64 {
    let reply = server.post(json!({
        "user": "demo", "function": "sleeper", "input_data": ms.to_string(), "async": true
    }));
    reply.text().parse().unwrap()
}

/// How long a finished sleeper slept by its own clock, in milliseconds.
fn slept_ms(server: &Server, id: u64) -> u64 {
    let reply = wait_for(server, id);
    let text = reply.text();
    let slept = text
        .strip_prefix("SUCCESS: ")
        .unwrap_or_else(|| panic!("{text}"));
    slept.parse().unwrap()
}

#[test]
fn sleeping_guests_do_not_hold_the_workers() {
    let server = server(&["--workers", "2"]);
    let started = Instant::now();
    let sleepers = [sleep_async(&server, 3000), sleep_async(&server, 3000)];
    // Let both sleepers take a worker and fall asleep.
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let reply = server.call("demo", "echo", "awake");
    assert_eq!((reply.status, reply.text().as_str()), (200, "awake"));
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    for id in sleepers {
        assert!(slept_ms(&server, id) >= 3000);
    }
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[test]
fn sleepers_share_a_single_worker() {
    let server = server(&["--workers", "1"]);
    let started = Instant::now();
    let sleepers: Vec<u64> = (0..5).map(|_| sleep_async(&server, 2000)).collect();
    for id in sleepers {
        assert!(slept_ms(&server, id) >= 2000);
    }
    // One after the other would take 10 s.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
}

#[test]
fn a_sleep_past_the_call_timeout_times_out() {
    let server = server(&["--call-timeout", "1"]);
    let started = Instant::now();
    let reply = server.call("demo", "sleeper", "5000");
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "Call failed: timed out after 1s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.call("demo", "sleeper", "50").status, 200);
}

//! Guests that misbehave fail their own call only (SPEC §7); the server keeps serving.

use serde_json::json;

use crate::harness::{Server, compile, wait_for};

fn still_serving(server: &Server) {
    let reply = server.call("demo", "echo", "still here");
    assert_eq!((reply.status, reply.text().as_str()), (200, "still here"));
}

#[test]
fn runaway_loop_times_out() {
    let server = Server::start(&["--call-timeout", "1"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    let started = std::time::Instant::now();
    let reply = server.call("demo", "spin", "");
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "Call failed: timed out after 1s");
    assert!(started.elapsed().as_secs_f64() < 10.0);
    assert_eq!(reply.header("x-faasm-return-value").as_deref(), Some("1"));
    still_serving(&server);
}

#[test]
fn spinning_guests_do_not_starve_others() {
    let server = Server::start(&["--call-timeout", "3", "--workers", "4"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    let ids: Vec<u64> = (0..3)
        .map(|_| {
            let reply = server.post(json!({"user": "demo", "function": "spin", "async": true}));
            reply.text().parse().unwrap()
        })
        .collect();
    still_serving(&server);
    for id in ids {
        assert!(wait_for(&server, id).text().ends_with("timed out after 3s"));
    }
}

#[test]
fn memory_bomb_hits_the_cap() {
    let server = Server::start(&["--memory-limit", "64MiB"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "bomb", &compile("tests/functions/membomb.c"));
    let reply = server.call("demo", "bomb", "");
    assert_eq!(reply.status, 500);
    assert!(
        reply
            .text()
            .starts_with("Call failed: memory limit of 67108864 bytes exceeded"),
        "{}",
        reply.text()
    );
    still_serving(&server);
}

#[test]
fn endless_printing_is_truncated() {
    let server = Server::start(&["--call-timeout", "1", "--stdout-limit", "4KiB"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "chatty", &compile("tests/functions/chatty.c"));
    let reply = server.call("demo", "chatty", "");
    assert_eq!(reply.status, 500);
    let text = reply.text();
    assert!(text.starts_with("all work and no play"), "{}", &text[..80]);
    assert!(text.contains("[stdout truncated after 4096 bytes]"));
    assert!(text.ends_with("Call failed: timed out after 1s"));
    assert!(text.len() < 4096 + 200, "{}", text.len());
    still_serving(&server);
}

#[test]
fn traps_fail_the_call_with_a_clear_reason() {
    let server = Server::start(&[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "crash", &compile("tests/functions/crash.c"));
    let cases = [
        ("trap", "Call failed: trap: "),
        (
            "python",
            "Call failed: __faasm_chain_py belongs to Faasm's C Python runner",
        ),
        ("oob", "Call failed: pointer out of bounds"),
    ];
    for (mode, expected) in cases {
        let reply = server.call("demo", "crash", mode);
        assert_eq!(reply.status, 500, "{mode}");
        assert!(
            reply.text().starts_with(expected),
            "{mode}: {}",
            reply.text()
        );
    }
    assert_eq!(server.call("demo", "crash", "fine").status, 200);
    still_serving(&server);
}

#[test]
fn oversized_output_fails_the_call() {
    let server = Server::start(&["--output-limit", "1KiB"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    let reply = server.call("demo", "echo", &"o".repeat(2048));
    assert_eq!(reply.status, 500);
    assert!(
        reply.text().contains("exceeds the limit of 1024 bytes"),
        "{}",
        reply.text()
    );
    assert_eq!(server.call("demo", "echo", "small").text(), "small");
}

#[test]
fn a_full_queue_answers_503() {
    let server = Server::start(&["--workers", "1", "--queue-size", "1", "--call-timeout", "2"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    let spin = || server.post(json!({"user": "demo", "function": "spin", "async": true}));
    let running: u64 = spin().text().parse().unwrap();
    // Let the first call take the only worker, so the next one queues.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let queued: u64 = spin().text().parse().unwrap();
    let refused = spin();
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("queue is full"));
    for id in [running, queued] {
        assert!(wait_for(&server, id).text().ends_with("timed out after 2s"));
    }
    still_serving(&server);
}

#[test]
fn slow_clients_are_cut_off_and_cannot_crowd_out_others() {
    use std::io::{Read, Write};
    let args = [
        "--idle-timeout",
        "1",
        "--body-timeout",
        "1",
        "--max-connections",
        "40",
    ];
    let server = Server::start(&args);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    let address = server.invoke.trim_start_matches("http://").to_owned();
    // 80 clients that trickle a request's headers and never finish them: twice the cap.
    let mut tricklers: Vec<std::net::TcpStream> = (0..80)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            stream.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
            stream
        })
        .collect();
    // A real client still gets its answer once the tricklers' time is up.
    let started = std::time::Instant::now();
    still_serving(&server);
    assert!(
        started.elapsed().as_secs_f64() < 10.0,
        "{:?}",
        started.elapsed()
    );
    // Every trickler was closed by the server (EOF or a reset, never a hang).
    for stream in &mut tricklers {
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0; 256];
        let read = stream.read(&mut buf);
        assert!(
            !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a trickler is still open"
        );
    }
    // A body that stops arriving gets 408.
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"user\":")
        .unwrap();
    let mut reply = String::new();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let _ = stream.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");

    // The server raised its own open-files limit to the hard limit.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "{files}");
}

#[test]
fn guests_together_stay_within_the_host_memory_budget() {
    let server = Server::start(&["--memory-budget", "48MiB", "--memory-limit", "1GiB"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "membomb", &compile("tests/functions/membomb.c"));
    // The call's own cap (1 GiB) is far away: the host's budget stops it.
    let reply = server.call("demo", "membomb", "");
    assert_eq!(reply.status, 500);
    let text = reply.text();
    assert!(
        text.contains("host memory budget of 50331648 bytes for guests exhausted"),
        "{text}"
    );
    // What it held is given back: the next calls run.
    still_serving(&server);
    assert!(
        server
            .call("demo", "membomb", "")
            .text()
            .contains("host memory budget")
    );
}

#[test]
fn state_copies_stay_within_the_local_budget() {
    let server = Server::start(&["--state-budget", "4MiB", "--max-state-value", "2MiB"]);
    server.upload("demo", "ops", &compile("tests/functions/state_ops.c"));
    let op = |input: &str| server.call("demo", "ops", input);
    // A ranged read of a huge new key is refused by the value cap, not allocated.
    let text = op("read_offset huge 1073741823 1073741822 1").text();
    assert!(
        text.contains("exceeds the limit of 2097152 bytes"),
        "{text}"
    );
    // Unpushed (dirty) copies hold the user's share (3/4 of the budget); clean ones would be
    // evicted.
    for key in ["a", "b", "c"] {
        let reply = op(&format!("write_offset {key} 1048576 0 x none"));
        assert_eq!(reply.text(), "ok", "{key}");
    }
    let text = op("write_offset d 1048576 0 x none").text();
    assert!(
        text.contains("local state tier's budget of 4194304 bytes"),
        "{text}"
    );
    // Pushing makes them clean: now a new copy evicts the oldest instead of failing.
    assert_eq!(op("push a").text(), "ok");
    assert_eq!(op("write_offset d 1048576 0 x full").text(), "ok");
    // (Only the written byte is pushed: the rest of the copy was never pulled.)
    assert_eq!(server.get("/s/demo/d").body, b"x");
}

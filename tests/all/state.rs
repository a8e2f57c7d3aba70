//! State (SPEC §4, §8) end to end: every state call through a real function, on the embedded
//! global tier and on Redis; the shared counter on one host and on two hosts sharing one Redis;
//! partial pushes checked byte by byte in Redis; `/s` against what functions see; restarts;
//! and bad keys, offsets and pointers failing the call.

use std::collections::BTreeSet;

use crate::harness::{Server, compile};
use crate::redis::Redis;

const OPS: &str = "tests/functions/state_ops.c";
const COUNTER: &str = "tests/functions/state_counter.c";

fn with_functions(server: Server) -> Server {
    server.upload("demo", "ops", &compile(OPS));
    server.upload("demo", "counter", &compile(COUNTER));
    server
}

/// Runs `state_ops` with `input` and returns its output, asserting it succeeded.
fn op(server: &Server, input: &str) -> String {
    let reply = server.call("demo", "ops", input);
    assert_eq!(reply.status, 200, "{input}: {}", reply.text());
    reply.text()
}

/// Runs `state_ops` with `input`, which must fail; returns the error text.
fn failing_op(server: &Server, input: &str) -> String {
    let reply = server.call("demo", "ops", input);
    let text = reply.text();
    assert!(text.contains("Call failed"), "{input} should fail: {text}");
    text
}

fn global(server: &Server, key: &str) -> Vec<u8> {
    let reply = server.get(&format!("/s/demo/{key}"));
    assert_eq!(reply.status, 200, "GET /s/demo/{key}: {}", reply.text());
    reply.body
}

fn put(server: &Server, key: &str, value: &[u8]) {
    let reply = server.put(&format!("/s/demo/{key}"), value.to_vec());
    assert_eq!(reply.text(), "State upload complete\n");
}

fn each_state_call(server: &Server) {
    assert_eq!(op(server, "size k"), "0", "an absent key is empty");
    assert_eq!(server.get("/s/demo/k").status, 404);

    // write + push, then every way of reading.
    assert_eq!(op(server, "write k hello"), "ok");
    assert_eq!(global(server, "k"), b"hello");
    assert_eq!(op(server, "size k"), "5");
    assert_eq!(op(server, "read k"), "hello");
    assert_eq!(op(server, "read_offset k 5 1 3"), "ell");
    assert_eq!(op(server, "read_ptr k 5"), "hello");
    assert_eq!(op(server, "read_offset_ptr k 5 1 3"), "ell");

    // Pointer writes: flagged ones are pushed, unflagged ones only reach the local copy when
    // the call ends.
    op(server, "ptr_write k 5 0 J flag push");
    assert_eq!(global(server, "k"), b"Jello");
    op(server, "ptr_write k 5 1 E noflag push");
    assert_eq!(global(server, "k"), b"Jello", "unflagged write not pushed");
    assert_eq!(op(server, "read k"), "JEllo", "but written back locally");
    op(server, "ptr_write k 5 4 O flag_all push");
    assert_eq!(global(server, "k"), b"JEllO");

    // Offset writes stay local until pushed; a partial push sends the dirty bytes.
    op(server, "write_offset k 5 2 LL none");
    assert_eq!(global(server, "k"), b"JEllO");
    assert_eq!(op(server, "read k"), "JELLO");
    op(server, "write_offset k 5 0 j partial");
    assert_eq!(global(server, "k"), b"jELLO");

    // An offset pointer into a value nobody set: the bytes before it are zero.
    op(server, "offset_ptr_write k2 8 4 WXYZ");
    assert_eq!(global(server, "k2"), b"\0\0\0\0WXYZ");

    // write without push: local only.
    op(server, "write k3 local nopush");
    assert_eq!(op(server, "read k3"), "local");
    assert_eq!(server.get("/s/demo/k3").status, 404);

    // push_partial_mask sends only the masked bytes.
    put(server, "m", b"abcdef");
    assert_eq!(op(server, "read m"), "abcdef");
    op(server, "mask_push m mk 6 2 XY");
    assert_eq!(global(server, "m"), b"abXdef");
    assert_eq!(op(server, "read m"), "abXYef");

    // A PUT drops this host's copy; pull refreshes it.
    put(server, "m", b"fresh");
    assert_eq!(op(server, "read m"), "fresh");
    assert_eq!(op(server, "pull m 5"), "fresh");

    // Appended state.
    op(server, "append l a bb ccc");
    assert_eq!(op(server, "read_appended l 3 2"), "abb");
    assert_eq!(op(server, "read_appended l 6 3"), "abbccc");
    let text = failing_op(server, "read_appended l 10 4");
    assert!(
        text.contains("has 3 appended elements, 4 were asked for"),
        "{text}"
    );
    let text = failing_op(server, "read_appended l 2 3");
    assert!(text.contains("take 6 bytes, the buffer has 2"), "{text}");
    op(server, "clear_appended l");
    failing_op(server, "read_appended l 1 1");
    op(server, "append l again");
    assert_eq!(op(server, "read_appended l 5 1"), "again");

    // Locks nest for readers; a lock left held is released when the call ends.
    assert_eq!(op(server, "locks lk"), "ok");
    assert_eq!(op(server, "hold_write lk"), "ok");
    assert_eq!(op(server, "locks lk"), "ok");

    // DELETE /s.
    let url = format!("{}/s/demo/k", server.upload);
    let reply = server.request(reqwest::Method::DELETE, &url, &[], Vec::new());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(server.get("/s/demo/k").status, 404);
    assert_eq!(op(server, "size k"), "0");
}

#[test]
fn each_state_call_embedded() {
    each_state_call(&with_functions(Server::start(&[])));
}

#[test]
fn each_state_call_redis() {
    let redis = Redis::start();
    let server = with_functions(Server::start(&["--redis", &redis.url()]));
    each_state_call(&server);
    // Values are Redis strings named user/key, appended state a list.
    assert_eq!(redis.get("demo/m").unwrap(), b"fresh");
    assert_eq!(
        redis.command(&[b"LRANGE", b"demo/l/appended", b"0", b"-1"]),
        crate::redis::Resp::Array(vec![crate::redis::Resp::Bulk(Some(b"again".to_vec()))])
    );
}

#[test]
fn partial_push_sends_only_dirty_ranges() {
    let redis = Redis::start();
    let server = with_functions(Server::start(&["--redis", &redis.url()]));
    put(&server, "p", b"aaaaaaaaaa");
    assert_eq!(op(&server, "read p"), "aaaaaaaaaa");
    // Another host changes the value behind this host's copy.
    redis.set("demo/p", b"bbbbbbbbbb");
    assert_eq!(
        op(&server, "read p"),
        "aaaaaaaaaa",
        "reads stay local until pulled"
    );
    op(&server, "write_offset p 10 4 XY partial");
    assert_eq!(redis.get("demo/p").unwrap(), b"bbbbXYbbbb");
    op(&server, "write_offset p 10 8 Q partial");
    assert_eq!(redis.get("demo/p").unwrap(), b"bbbbXYbbQb");
    // A full push sends the whole local copy.
    op(&server, "write_offset p 10 0 Z full");
    assert_eq!(redis.get("demo/p").unwrap(), b"ZaaaXYaaQa");
    // Nothing dirty: a push sends nothing.
    redis.set("demo/p", b"cccccccccc");
    op(&server, "push p");
    assert_eq!(redis.get("demo/p").unwrap(), b"cccccccccc");
    op(&server, "write_offset p 10 0 Z none");
    op(&server, "write_offset p 10 9 Z partial");
    assert_eq!(redis.get("demo/p").unwrap(), b"ZccccccccZ");
    // pull replaces the local copy.
    assert_eq!(op(&server, "read p"), "ZaaaXYaaQZ");
    assert_eq!(op(&server, "pull p 10"), "ZccccccccZ");
    // A ranged read of a value never read here pulls only that range.
    redis.set("demo/q", b"0123456789");
    assert_eq!(op(&server, "read_offset q 10 3 2"), "34");
    redis.set("demo/q", b"abcdefghij");
    assert_eq!(
        op(&server, "read_offset q 10 2 3"),
        "c34",
        "only byte 2 was missing"
    );
}

/// Runs the counter `calls` times at once, spread over `servers`; checks that every call saw a
/// different value and the global value ends at `calls`.
fn count_concurrently(servers: &[&Server], calls: usize) {
    let outputs: BTreeSet<u32> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..calls)
            .map(|i| {
                let server = servers[i % servers.len()];
                scope.spawn(move || {
                    let reply = server.call("demo", "counter", "");
                    assert_eq!(reply.status, 200, "{}", reply.text());
                    reply.text().parse::<u32>().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        outputs,
        (1..=calls as u32).collect(),
        "each call saw its own value"
    );
    for server in servers {
        assert_eq!(global(server, "counter"), (calls as i32).to_le_bytes());
    }
}

#[test]
fn counter_one_host_embedded() {
    let server = with_functions(Server::start(&[]));
    count_concurrently(&[&server], 100);
}

#[test]
fn counter_one_host_redis() {
    let redis = Redis::start();
    let server = with_functions(Server::start(&["--redis", &redis.url()]));
    count_concurrently(&[&server], 100);
}

#[test]
fn counter_two_hosts_sharing_redis() {
    let redis = Redis::start();
    let a = with_functions(Server::start(&["--redis", &redis.url()]));
    let b = with_functions(Server::start(&["--redis", &redis.url()]));
    count_concurrently(&[&a, &b], 100);
    assert_eq!(redis.get("demo/counter").unwrap(), 100i32.to_le_bytes());
    // The lease is released: nobody holds the lock.
    assert_eq!(redis.get("demo/counter/lock"), None);
}

#[test]
fn http_and_functions_see_each_other() {
    let server = with_functions(Server::start(&[]));
    put(&server, "greeting", b"set over http");
    assert_eq!(op(&server, "read greeting"), "set over http");
    op(&server, "write greeting pushed-by-a-function");
    assert_eq!(global(&server, "greeting"), b"pushed-by-a-function");
    // The CLI goes through the same routes.
    let output = server.cli(&["state", "set", "demo", "greeting", "from the cli"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(op(&server, "read greeting"), "from the cli");
    let output = server.cli(&["state", "get", "demo", "greeting"]);
    assert_eq!(output.stdout, b"from the cli");
}

#[test]
fn restart_keeps_embedded_state() {
    let data = tempfile::tempdir().unwrap();
    let server = with_functions(Server::start_in(data.path(), &[]));
    op(&server, "write kept survives");
    op(&server, "append kept-list one two");
    server.stop();

    let server = Server::start_in(data.path(), &[]);
    assert_eq!(global(&server, "kept"), b"survives");
    assert_eq!(op(&server, "read kept"), "survives");
    assert_eq!(op(&server, "read_appended kept-list 6 2"), "onetwo");
}

#[test]
fn bad_keys_offsets_and_pointers_fail_the_call() {
    let server = with_functions(Server::start(&[]));
    op(&server, "write k hello");
    for (input, message) in [
        (
            "bad_key k",
            "Invalid state key: NUL and '/' are not allowed",
        ),
        (
            "empty_key k",
            "Invalid state key: expected 1-256 bytes, got 0",
        ),
        (
            "not_nul_terminated k",
            "is not NUL-terminated inside linear memory",
        ),
        ("bad_pointer k", "pointer out of bounds"),
        (
            "read_offset k 5 4 3",
            "3 bytes at offset 4 lie outside the state value of 5 bytes",
        ),
        (
            "write_offset k 5 5 X none",
            "1 bytes at offset 5 lie outside the state value",
        ),
        (
            "read_offset_ptr k 4 3 3",
            "3 bytes at offset 3 lie outside the state value of 5",
        ),
        (
            "read_offset k 2000000000 0 1",
            "exceeds the limit of 1073741824 bytes",
        ),
        (
            "unlock_unheld k",
            "this call holds no write lock of state key \"k\"",
        ),
    ] {
        let text = failing_op(&server, input);
        assert!(text.contains(message), "{input}: {text}");
    }
    // The server is fine and the value untouched.
    assert_eq!(op(&server, "read k"), "hello");
    // As in Faasm, the total only sizes a new key: an existing value keeps its size, so a
    // range past the total named but inside the value is read (and written).
    assert_eq!(op(&server, "read_offset k 3 2 3"), "llo");
    assert_eq!(op(&server, "read_offset_ptr k 2 3 2"), "lo");
    assert_eq!(op(&server, "write_offset k 1 4 O full"), "ok");
    assert_eq!(global(&server, "k"), b"hellO");
}

#[test]
fn calls_succeed_as_soon_as_redis_is_back() {
    let mut redis = Redis::start();
    let server = with_functions(Server::start(&["--redis", &redis.url()]));
    assert_eq!(op(&server, "write k before"), "ok");
    redis.restart();
    // Redis lost everything (no persistence), but the very first requests after its return
    // reconnect instead of failing with the dead connections' error.
    assert_eq!(server.get("/s/demo/k").status, 404);
    assert_eq!(op(&server, "write k after"), "ok");
    assert_eq!(global(&server, "k"), b"after");
    assert_eq!(redis.get("demo/k").as_deref(), Some(&b"after"[..]));
}

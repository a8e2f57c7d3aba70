//! A call's filesystem (SPEC §6): a private `/` with `/tmp`, shared files read at `faasm://`
//! with local-only writes, `/dev/null` and `/dev/urandom`, and no way out.

use std::collections::BTreeMap;

use reqwest::Method;

use crate::harness::{Server, check, compile, name_values};

/// A server with `tests/functions/files.c` uploaded as demo/files and three shared files.
fn server() -> Server {
    let server = Server::start(&[]);
    server.upload("demo", "files", &compile("tests/functions/files.c"));
    put_file(&server, "data/in.txt", b"hello shared world");
    put_file(&server, "data/other.txt", b"other content");
    put_file(&server, "data/sub/nested.txt", b"nested");
    server
}

fn put_file(server: &Server, path: &str, bytes: &[u8]) {
    let url = format!("{}/file", server.upload);
    let reply = server.request(Method::PUT, &url, &[("FilePath", path)], bytes.to_vec());
    assert_eq!(reply.status, 200, "{}", reply.text());
}

fn get_file(server: &Server, path: &str) -> (u16, Vec<u8>) {
    let url = format!("{}/file", server.upload);
    let reply = server.request(Method::GET, &url, &[("FilePath", path)], Vec::new());
    (reply.status, reply.body)
}

/// Runs a scenario of files.c and parses its `name=value` lines.
fn run(server: &Server, scenario: &str) -> BTreeMap<String, String> {
    let reply = server.call("demo", "files", scenario);
    assert_eq!(reply.status, 200, "{scenario}: {}", reply.text());
    name_values(&reply.text())
}

#[test]
fn each_call_has_a_private_scratch_root() {
    let server = server();
    let first = run(&server, "scratch");
    check(
        &first,
        &[
            ("tmp_write", "0"),
            ("tmp_read", "scratch data"),
            ("relative_write", "0"),
            ("root_read", "relative"),
            ("mkdir", "0"),
            ("nested_write", "0"),
            ("append", "0"),
            ("appended", "scratch data+more"),
            ("root_listing", "rel.txt,tmp"),
            ("tmp_listing", "note.txt,sub"),
            ("cwd", "/"),
        ],
    );
    // The next call (same function, same worker) starts from an empty root again, also
    // when it gets directories an earlier call used (they are emptied and reused).
    for _ in 0..12 {
        check(
            &run(&server, "fresh"),
            &[("tmp_note", "no"), ("rel", "no"), ("tmp_listing", "")],
        );
        check(&run(&server, "scratch"), &[("root_listing", "rel.txt,tmp")]);
    }
}

#[test]
fn concurrent_calls_do_not_share_scratch() {
    let server = server();
    std::thread::scope(|scope| {
        let calls: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| run(&server, "scratch")))
            .collect();
        for call in calls {
            let results = call.join().unwrap();
            check(
                &results,
                &[
                    ("appended", "scratch data+more"),
                    ("root_listing", "rel.txt,tmp"),
                ],
            );
        }
    });
}

#[test]
fn shared_files_are_readable_with_stdio_and_wasi_calls() {
    let server = server();
    let results = run(&server, "shared");
    check(
        &results,
        &[
            ("ftell", "18"),
            ("from6", "shared world"),
            ("stat", "0"),
            ("stat_size", "18"),
            ("stat_dir", "1"),
            ("listing", "in.txt,other.txt,sub"),
            ("top_listing", "data"),
            ("one_slash", "hello shared world"),
            ("nested", "nested"),
            ("pread", "4"),
            ("head", "hell"),
            ("lseek", "18"),
            ("missing", "ERR:No such file or directory"),
        ],
    );
    // A re-upload is seen by the next call.
    put_file(&server, "data/in.txt", b"v2");
    check(
        &run(&server, "shared"),
        &[("ftell", "2"), ("stat_size", "2")],
    );
}

#[test]
fn writes_to_shared_files_stay_private_to_the_call() {
    let server = server();
    let results = run(&server, "shared_write");
    check(
        &results,
        &[
            ("overwrite", "0"),
            ("own_copy", "changed"),
            ("own_size", "7"),
            ("rdwr_read", "other content"),
            ("rdwr_write", "5"),
            ("rdwr_result", "OTHER content"),
            ("append", "0"),
            ("appended", "nested+tail"),
            ("create", "0"),
            ("created", "brand new"),
            ("mkdir", "0"),
            ("in_new_dir", "0"),
            ("new_dir_file", "result"),
            ("excl", "1"),
            ("missing_dir", "-44"),
            ("unlink_own", "0"),
            ("after_unlink", "no"),
            ("unlink_shared", "Operation not permitted"),
            ("link_shared", "Operation not permitted"),
            ("utimens_shared", "Operation not permitted"),
            // wasi-libc opens it without the write right (the directory lacks it): EBADF.
            ("openat_write", "Bad file descriptor"),
            ("unlink_copy", "0"),
            ("after_unlink_copy", "hello shared world"),
        ],
    );
    // The shared copies are unchanged, and nothing new appeared.
    assert_eq!(
        get_file(&server, "data/in.txt"),
        (200, b"hello shared world".to_vec())
    );
    assert_eq!(
        get_file(&server, "data/other.txt"),
        (200, b"other content".to_vec())
    );
    assert_eq!(
        get_file(&server, "data/sub/nested.txt"),
        (200, b"nested".to_vec())
    );
    assert_eq!(get_file(&server, "data/new.txt").0, 404);
    assert_eq!(get_file(&server, "out/result.txt").0, 404);
    // Nor does the next call see the first one's private copies.
    check(
        &run(&server, "shared"),
        &[
            ("from6", "shared world"),
            ("listing", "in.txt,other.txt,sub"),
        ],
    );
}

#[test]
fn no_path_reaches_outside() {
    let server = server();
    let results = run(&server, "escapes");
    check(
        &results,
        &[
            ("inside", "YES"),
            ("inside_symlink", "inside"),
            ("dotdot", "no"),
            ("absolute", "no"),
            ("etc_dotdot", "no"),
            ("tmp_dotdot", "no"),
            ("faasm_dotdot", "no"),
            ("faasm_deep_dotdot", "no"),
            ("dev_dotdot", "no"),
            ("proc", "no"),
            ("abs_symlink", "no"),
            ("rel_symlink", "no"),
            ("faasm_write_escape", "0"),
            ("dev_create", "0"),
            ("etc_create", "0"),
            // wasmtime-wasi's answers: EPERM for escapes, no links to absolute paths.
            ("dotdot_errno", "ERR:Operation not permitted"),
            ("abs_symlink_made", "Operation not permitted"),
            ("rel_symlink_made", "0"),
            ("rel_symlink_errno", "ERR:Operation not permitted"),
            ("shared_rename", "Operation not permitted"),
            // errno 63: EPERM, 76: ENOTCAPABLE, 8: EBADF
            ("raw_derived_write", "63"),
            ("raw_derived_trunc", "63"),
            ("raw_derived_create", "63"),
            ("raw_faasm_escape", "63"),
            ("raw_dev_escape", "63"),
            ("raw_etc_escape", "63"),
            ("raw_etc_write", "63"),
            ("hidden_prestat", "8"),
        ],
    );
}

#[test]
fn dev_null_and_dev_urandom_work() {
    let server = server();
    let results = run(&server, "devices");
    check(
        &results,
        &[
            ("null_open", "1"),
            ("null_fwrite", "10000"),
            ("null_close", "0"),
            ("null_write", "3"),
            ("null_read", "0"),
            ("urandom_open", "1"),
            ("urandom_read", "32,32"),
            ("urandom_differs", "1"),
            ("urandom_not_zero", "1"),
            ("random_big", "100000"),
            ("random_kinds", "1"),
            ("zero_read", "32"),
            ("zero_is_zero", "1"),
            ("dev_listing", "null,random,urandom,zero"),
        ],
    );
    // Another call gets other random bytes (they are not a fixed file's).
    let again = run(&server, "devices");
    assert_eq!(results["urandom_hex"].len(), 64);
    assert_ne!(results["urandom_hex"], again["urandom_hex"]);
}

#[test]
fn write_state_from_file_reads_scratch_and_shared_files() {
    let server = Server::start(&[]);
    let url = format!("{}/file", server.upload);
    let put = server.request(
        Method::PUT,
        &url,
        &[("FilePath", "data/in.txt")],
        b"shared!".to_vec(),
    );
    assert_eq!(put.status, 200);
    server.upload(
        "demo",
        "fromfile",
        &compile("tests/functions/state_from_file.c"),
    );
    let reply = server.call("demo", "fromfile", "scratch bytes");
    assert_eq!((reply.status, reply.text().as_str()), (200, "13 7"));
    assert_eq!(server.get("/s/demo/from_tmp").body, b"scratch bytes");
    assert_eq!(server.get("/s/demo/from_shared").body, b"shared!");
}

/// A server whose calls may keep 1 MiB of scratch each, with demo/scratch and demo/echo.
fn capped(env: &[(&str, &str)]) -> Server {
    let server = Server::start_with_env(&["--max-scratch", "1MiB", "--call-timeout", "2"], env);
    server.upload("demo", "scratch", &compile("tests/functions/scratch.c"));
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server
}

/// Runs demo/scratch in `mode`, which must succeed; returns its output.
fn scratch(server: &Server, mode: &str) -> String {
    let reply = server.call("demo", "scratch", mode);
    assert_eq!(reply.status, 200, "{mode}: {}", reply.text());
    reply.text()
}

fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn writes_past_the_scratch_cap_fail_with_enospc() {
    let server = capped(&[]);
    let text = scratch(&server, "fill");
    assert!(text.ends_with(", then: No space left on device"), "{text}");
    let written = numbers(&text)[0];
    assert!((900_000..=1 << 20).contains(&written), "{text}");

    // Removed files free their space, unless they are still open.
    let refill = numbers(&scratch(&server, "refill"));
    assert!(refill.iter().all(|&n| n > 900_000), "{refill:?}");
    let unlinked = numbers(&scratch(&server, "unlinked"));
    assert!(
        unlinked[0] > 900_000 && unlinked[2] > 900_000,
        "{unlinked:?}"
    );
    assert!(unlinked[1] < 100_000, "{unlinked:?}");

    // Empty files cost a block each.
    let text = scratch(&server, "files");
    assert!(
        text.ends_with("files, then: No space left on device"),
        "{text}"
    );
    assert!((200..=256).contains(&numbers(&text)[0]), "{text}");

    // A private copy of a shared file counts too.
    put_file(&server, "big", &vec![7u8; 2 << 20]);
    assert_eq!(scratch(&server, "shared"), "No space left on device");

    let reply = server.call("demo", "echo", "still serving");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "still serving")
    );
}

#[test]
fn scratch_of_finished_calls_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let server = capped(&[("TMPDIR", tmp.path().to_str().unwrap())]);
    assert_eq!(scratch(&server, "keep"), "");
    let reply = server.call("demo", "scratch", "spin");
    assert!(
        reply.text().ends_with("timed out after 2s"),
        "{}",
        reply.text()
    );
    // The limit also comes from the environment.
    let env = [
        ("TMPDIR", tmp.path().to_str().unwrap()),
        ("FAASM_MAX_SCRATCH", "256KiB"),
    ];
    let other = Server::start_with_env(&[], &env);
    other.upload("demo", "scratch", &compile("tests/functions/scratch.c"));
    let written = numbers(&scratch(&other, "fill"))[0];
    assert!((128 << 10..=256 << 10).contains(&written), "{written}");

    // What calls left is emptied in the background: every call directory is back to an
    // empty `/tmp` and no private copies. Counts the call directories, lists what they hold
    // beyond that (the pool's thread may be removing entries meanwhile).
    let leftovers = || -> (usize, Vec<String>) {
        let mut calls = 0;
        let mut found = Vec::new();
        let mut pending = vec![tmp.path().to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = path.strip_prefix(tmp.path()).unwrap().display().to_string();
                let within_call = name.split_once("/call-").and_then(|(_, rest)| {
                    rest.split_once('/').map(|(_, inside)| inside.to_owned())
                });
                calls += usize::from(name.contains("/call-") && within_call.is_none());
                if within_call
                    .is_some_and(|inside| !["root", "root/tmp", "faasm"].contains(&&*inside))
                {
                    found.push(name);
                }
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    pending.push(path);
                }
            }
        }
        (calls, found)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !leftovers().1.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (calls, found) = leftovers();
    assert!(calls > 0, "no call directories in {}", tmp.path().display());
    assert_eq!(found, Vec::<String>::new());
}

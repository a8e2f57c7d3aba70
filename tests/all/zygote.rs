//! Proto-Faaslets (SPEC §7) through HTTP: `FAASM_ZYGOTE()` runs once at upload, every call
//! starts from the state it left (no call sees another's changes), the snapshot survives a
//! restart without the zygote running again, and a failing zygote fails the upload with 400
//! and the reason.

use crate::harness::{Server, compile};

/// What every call of tests/functions/zygote.c answers: its own stdout line (not the
/// zygote's), then the zygote's table (the sum of i*i + 7 for i < 1000, its first and last
/// entries) and string, and run counts of 1 (the C constructors ran once, before the zygote).
const INITIALISED: &str = "main ran\nsum=332840500 first=7 last=998008 \
                           greeting=hello from the zygote zygote_runs=1 main_runs=1 ctor_runs=1";

#[test]
fn every_call_starts_from_the_zygote_state() {
    let server = Server::start(&[]);
    server.upload("demo", "zygote", &compile("tests/functions/zygote.c"));
    for i in 0..5 {
        let reply = server.call("demo", "zygote", "");
        assert_eq!(reply.status, 200, "call {i}: {}", reply.text());
        assert_eq!(reply.text(), INITIALISED, "call {i}");
    }
}

#[test]
fn concurrent_calls_see_no_leakage() {
    let server = Server::start(&["--workers", "4"]);
    server.upload("demo", "zygote", &compile("tests/functions/zygote.c"));
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    (0..5)
                        .map(|_| server.call("demo", "zygote", "").text())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for thread in threads {
            for output in thread.join().unwrap() {
                assert_eq!(output, INITIALISED);
            }
        }
    });
}

#[test]
fn cpp_globals_keep_the_zygote_state_and_calls_exit_cleanly() {
    let server = Server::start(&[]);
    server.upload("demo", "cpp", &compile("tests/functions/zygote_cpp.cpp"));
    for i in 0..3 {
        let reply = server.call("demo", "cpp", "");
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (
                200,
                "squares=1000 sum=332833500 two=2 greeting=constructed then initialised exits=0"
            ),
            "call {i}"
        );
    }
}

#[test]
fn the_zygote_runs_once_per_upload_not_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let wasm = compile("tests/functions/zygote.c");
    let server = Server::start_in(data.path(), &[]);
    server.upload("demo", "zygote", &wasm);
    let stamp = server.call("demo", "zygote", "stamp").text();
    assert!(stamp.parse::<i64>().unwrap() > 0, "{stamp}");
    assert_eq!(server.call("demo", "zygote", "stamp").text(), stamp);
    server.stop();

    let server = Server::start_in(data.path(), &[]);
    assert_eq!(server.call("demo", "zygote", "stamp").text(), stamp);
    assert_eq!(server.call("demo", "zygote", "").text(), INITIALISED);
    // Uploading the same bytes again hits the snapshot cache too.
    server.upload("demo", "zygote", &wasm);
    assert_eq!(server.call("demo", "zygote", "stamp").text(), stamp);
}

#[test]
fn a_trapping_zygote_fails_the_upload_with_the_reason() {
    let server = Server::start(&[]);
    let reply = server.put("/f/demo/trap", compile("tests/functions/zygote_trap.c"));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.text().trim_end(),
        "Invalid wasm module: zygote failed: trap: wasm trap: wasm `unreachable` instruction executed"
    );
    assert_eq!(server.get("/f/demo/trap").status, 404, "nothing stored");

    let reply = server.put("/f/demo/fail", compile("tests/functions/zygote_fail.c"));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.text().trim_end(),
        "Invalid wasm module: zygote failed: returned 2 (stdout: initialisation failed)"
    );

    // The server goes on serving.
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    assert_eq!(
        server.call("demo", "echo", "still here").text(),
        "still here"
    );
}

#[test]
fn a_spinning_zygote_fails_the_upload_at_the_call_timeout() {
    let server = Server::start(&["--call-timeout", "1"]);
    let reply = server.put("/f/demo/spin", compile("tests/functions/zygote_spin.c"));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.text().trim_end(),
        "Invalid wasm module: zygote failed: timed out after 1s"
    );
}

#[test]
fn the_zygote_reads_shared_files_and_calls_keep_their_own_filesystem() {
    let server = Server::start(&[]);
    // Without the shared file the zygote fails, and says why.
    let reply = server.put("/f/demo/files", compile("tests/functions/zygote_files.c"));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.text().trim_end(),
        "Invalid wasm module: zygote failed: returned 1 (stdout: cannot read the model)"
    );

    let url = format!("{}/file", server.upload);
    let reply = server.request(
        reqwest::Method::PUT,
        &url,
        &[("FilePath", "zygote/model.txt")],
        b"weights v1".to_vec(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    server.upload("demo", "files", &compile("tests/functions/zygote_files.c"));
    for i in 0..3 {
        let reply = server.call("demo", "files", "");
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (
                200,
                "model=weights v1 scratch=absent tmp=round trip again=weights v1"
            ),
            "call {i}"
        );
    }
}

//! The `faasm` CLI against a real server: upload, invoke, status, state, file.

use crate::harness::{FAASM, Server, compile};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn upload_invoke_status() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("echo.wasm");
    std::fs::write(&wasm, compile("examples/c/echo.c")).unwrap();
    let out = server.cli(&["upload", "demo", "echo", wasm.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");

    let out = server.cli(&["invoke", "demo", "echo", "-i", "from the cli"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "from the cli");

    let out = server.cli(&["invoke", "demo", "echo", "-i", "later", "--async"]);
    let id = stdout(&out).trim().to_owned();
    let out = server.cli(&["status", &id, "--wait"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "SUCCESS: later");

    let failing = dir.path().join("fail.wasm");
    std::fs::write(&failing, compile("examples/c/fail.c")).unwrap();
    server.cli(&["upload", "demo", "fail", failing.to_str().unwrap()]);
    let out = server.cli(&["invoke", "demo", "fail"]);
    assert_eq!(out.status.code(), Some(1), "a failed call exits non-zero");
    assert!(stdout(&out).contains("Call failed (return value=3)"));

    let out = server.cli(&["invoke", "demo", "echo", "-i", "j", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["output_data"], "j");

    let py = dir.path().join("hello.py");
    std::fs::write(&py, "def faasm_main():\n    return 0\n").unwrap();
    assert!(
        server
            .cli(&["upload", "demo", "hello", py.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        server.get("/p/demo/hello").text(),
        "def faasm_main():\n    return 0\n"
    );
}

#[test]
fn state_and_files() {
    let server = Server::start(&[]);
    let out = server.cli(&["state", "set", "demo", "greeting", "hi there"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(server.get("/s/demo/greeting").text(), "hi there");
    let out = server.cli(&["state", "get", "demo", "greeting"]);
    assert_eq!(out.stdout, b"hi there");
    assert_eq!(
        server
            .cli(&["state", "get", "demo", "missing"])
            .status
            .code(),
        Some(1)
    );

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.txt");
    std::fs::write(&local, "shared bytes").unwrap();
    let out = server.cli(&["file", "put", "data/in.txt", local.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let back = dir.path().join("back.txt");
    let out = server.cli(&["file", "get", "data/in.txt", back.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(back).unwrap(), "shared bytes");
    let out = server.cli(&["file", "put", "../escape", local.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let out = std::process::Command::new(FAASM)
        .args(["--invoke-port", "1", "invoke", "demo", "echo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("faasm serve"));
}

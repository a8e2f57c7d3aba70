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

fn json_out(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

#[test]
fn ls_and_rm_functions() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("echo.wasm");
    std::fs::write(&wasm, compile("examples/c/echo.c")).unwrap();
    let py = dir.path().join("hello.py");
    std::fs::write(&py, "def faasm_main():\n    return 0\n").unwrap();
    for (user, func, file) in [("demo", "echo", &wasm), ("other", "echo2", &wasm)] {
        let out = server.cli(&["upload", user, func, file.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
    }
    let out = server.cli(&["upload", "demo", "hello", py.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");

    let out = server.cli(&["ls"]);
    assert_eq!(
        stdout(&out),
        "demo/echo\nother/echo2\ndemo/hello (python)\n"
    );
    assert_eq!(stdout(&server.cli(&["ls", "other"])), "other/echo2\n");
    let json = json_out(&server.cli(&["ls", "demo", "--json"]));
    assert_eq!(
        json,
        serde_json::json!({"functions": {"demo": ["echo"]}, "python": {"demo": ["hello"]}})
    );

    let out = server.cli(&["rm", "demo", "hello", "--python"]);
    assert!(out.status.success(), "{out:?}");
    let json = json_out(&server.cli(&["--json", "rm", "demo", "echo"]));
    assert_eq!(json["ok"], true);
    assert_eq!(stdout(&server.cli(&["ls"])), "other/echo2\n");
    let out = server.cli(&["rm", "demo", "echo"]);
    assert_eq!(out.status.code(), Some(1), "already gone");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    assert_eq!(server.cli(&["ls", "bad/user"]).status.code(), Some(1));
}

#[test]
fn calls_and_logs() {
    let server = Server::start(&[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "fail", &compile("examples/c/fail.c"));
    let mut ids = Vec::new();
    for input in ["one", "two"] {
        let reply = server.call("demo", "echo", input);
        ids.push(reply.header("x-faasm-call-id").unwrap());
    }
    let failed = server.call("demo", "fail", "");
    let failed_id = failed.header("x-faasm-call-id").unwrap();

    let out = server.cli(&["calls"]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 4, "a header and three calls: {lines:?}");
    assert!(lines[1].starts_with(&failed_id) && lines[1].contains("FAILED"));
    assert!(lines[1].contains("demo/fail"));
    assert!(lines[3].starts_with(&ids[0]) && lines[3].contains("SUCCESS"));

    let json = json_out(&server.cli(&["calls", "--function", "echo", "--limit", "1", "--json"]));
    let calls = json["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"].to_string(), ids[1]);
    let next = json["next_before"].to_string();
    let json = json_out(&server.cli(&["calls", "--function", "echo", "--before", &next, "--json"]));
    assert_eq!(json["calls"][0]["id"].to_string(), ids[0]);
    let json = json_out(&server.cli(&["calls", "--status", "failed", "--json"]));
    assert_eq!(json["calls"].as_array().unwrap().len(), 1);
    assert_eq!(
        server.cli(&["calls", "--status", "odd"]).status.code(),
        Some(2)
    );

    let out = server.cli(&["logs", &ids[0]]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "one");
    let out = server.cli(&["logs", &failed_id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("Call failed (return value=3)"),
        "{out:?}"
    );
    let json = json_out(&server.cli(&["logs", &ids[1], "--json"]));
    assert_eq!(json["output_data"], "two");
    let out = server.cli(&["logs", "999999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn state_and_file_listing_and_removal() {
    let server = Server::start(&[]);
    for (key, value) in [("b", "22"), ("a", "1")] {
        assert!(
            server
                .cli(&["state", "set", "demo", key, value])
                .status
                .success()
        );
    }
    let long_key = "k".repeat(150);
    assert!(
        server
            .cli(&["state", "set", "demo", &long_key, "333"])
            .status
            .success()
    );
    server.cli(&["state", "set", "other", "c", "x"]);
    let out = server.cli(&["state", "ls", "demo"]);
    assert_eq!(
        stdout(&out),
        format!("           1  a\n           2  b\n           3  {long_key}\n")
    );
    let json = json_out(&server.cli(&["state", "ls", "demo", "--json"]));
    assert_eq!(json[0], serde_json::json!({"key": "a", "bytes": 1}));
    let json = json_out(&server.cli(&["state", "get", "demo", "b", "--json"]));
    assert_eq!(json, serde_json::json!({"bytes": 2, "value": "22"}));
    assert!(server.cli(&["state", "rm", "demo", "b"]).status.success());
    assert!(
        server
            .cli(&["state", "rm", "demo", &long_key])
            .status
            .success()
    );
    assert_eq!(
        server.cli(&["state", "rm", "demo", "b"]).status.code(),
        Some(1)
    );
    assert_eq!(
        stdout(&server.cli(&["state", "ls", "demo"])),
        "           1  a\n"
    );
    assert_eq!(server.get("/s/demo/b").status, 404);

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.txt");
    std::fs::write(&local, "12345").unwrap();
    for path in ["data/x.txt", "data/deep/y.txt", "top.txt"] {
        let out = server.cli(&["file", "put", path, local.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(
        stdout(&server.cli(&["file", "ls"])),
        "           5  data/deep/y.txt\n           5  data/x.txt\n           5  top.txt\n"
    );
    let json = json_out(&server.cli(&["file", "ls", "data", "--json"]));
    assert_eq!(
        json,
        serde_json::json!([
            {"path": "data/deep/y.txt", "bytes": 5},
            {"path": "data/x.txt", "bytes": 5},
        ])
    );
    let json = json_out(&server.cli(&["--json", "file", "rm", "data/x.txt"]));
    assert_eq!(json["ok"], true);
    assert_eq!(
        server.cli(&["file", "rm", "data/x.txt"]).status.code(),
        Some(1)
    );
    assert_eq!(
        stdout(&server.cli(&["file", "ls", "data"])),
        "           5  data/deep/y.txt\n"
    );
    assert_eq!(server.cli(&["file", "ls", "../up"]).status.code(), Some(1));
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef faasm"),
        ("fish", "complete -c faasm"),
    ] {
        let out = std::process::Command::new(FAASM)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script:.200}");
        assert!(
            script.contains("calls") && script.contains("logs"),
            "{shell}"
        );
    }
}

/// On a terminal the output ends with a newline (else the prompt lands on its line); on a pipe
/// the bytes are exactly the output. `script` gives the command a pseudo-terminal.
#[test]
fn newline_only_on_a_terminal() {
    let server = Server::start(&[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    assert_eq!(
        stdout(&server.cli(&["invoke", "demo", "echo", "-i", "no newline"])),
        "no newline"
    );
    let port = |url: &str| url.rsplit(':').next().unwrap().to_owned();
    let command = format!(
        "{FAASM} --invoke-port {} invoke demo echo -i 'no newline'",
        port(&server.invoke)
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The terminal turns "\n" into "\r\n".
    assert_eq!(stdout(&out), "no newline\r\n");
}

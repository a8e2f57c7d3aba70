//! Everything uploaded survives a restart on the same data directory, and call ids are never
//! reused.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Server, compile};

#[test]
fn restart_keeps_uploads_and_never_reuses_ids() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path(), &[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.put("/p/demo/py", b"def faasm_main():\n    pass\n".to_vec());
    server.put("/s/demo/key", b"value".to_vec());
    let file_url = format!("{}/file", server.upload);
    server.request(
        Method::PUT,
        &file_url,
        &[("FilePath", "dir/f.txt")],
        b"file".to_vec(),
    );
    let first_id: u64 = server
        .call("demo", "echo", "before")
        .header("x-faasm-call-id")
        .unwrap()
        .parse()
        .unwrap();
    server.stop();

    let server = Server::start_in(data.path(), &[]);
    let reply = server.call("demo", "echo", "after");
    assert_eq!(reply.text(), "after", "function callable after restart");
    let second_id: u64 = reply.header("x-faasm-call-id").unwrap().parse().unwrap();
    assert!(
        second_id > first_id,
        "ids are never reused: {second_id} <= {first_id}"
    );
    assert_eq!(
        server.get("/p/demo/py").body,
        b"def faasm_main():\n    pass\n"
    );
    assert_eq!(server.get("/s/demo/key").body, b"value");
    let file_url = format!("{}/file", server.upload);
    let reply = server.request(
        Method::GET,
        &file_url,
        &[("FilePath", "dir/f.txt")],
        Vec::new(),
    );
    assert_eq!(reply.body, b"file");
    assert_eq!(server.get("/f/demo").json(), json!(["echo"]));
    // A sync call's result was delivered in its response and is not kept across restarts.
    let reply = server.post(json!({"id": first_id, "status": true}));
    assert_eq!(reply.status, 404);
}

#[test]
fn config_file_env_and_flags_layer_in_order() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("faasm.toml");
    std::fs::write(
        &config,
        "call-timeout = 30\nstdout-limit = \"16B\"\nmax-scratch = \"256KiB\"\n",
    )
    .unwrap();
    // The flag beats the file: the call times out after 1 s, not 30 s; the file's stdout
    // limit applies.
    let server = Server::start(&["--config", config.to_str().unwrap(), "--call-timeout", "1"]);
    server.upload("demo", "chatty", &compile("tests/functions/chatty.c"));
    let text = server.call("demo", "chatty", "").text();
    assert!(text.contains("[stdout truncated after 16 bytes]"), "{text}");
    assert!(text.ends_with("timed out after 1s"), "{text}");
    server.upload("demo", "scratch", &compile("tests/functions/scratch.c"));
    let text = server.call("demo", "scratch", "fill").text();
    let written: u64 = text.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(written <= 256 << 10, "{text}");

    std::fs::write(&config, "no-such-setting = 1\n").unwrap();
    let output = std::process::Command::new(crate::harness::FAASM)
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-setting"));
}

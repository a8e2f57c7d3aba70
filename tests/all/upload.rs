//! The upload server (SPEC §2): every route, bad names, traversal, body caps.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Server, compile};

#[test]
fn ping_and_unknown_routes() {
    let server = Server::start(&[]);
    assert_eq!(server.get("/ping").text(), "PONG");
    assert_eq!(server.get("/nope").status, 404);
    let url = format!("{}/f/demo/echo", server.upload);
    let reply = server.request(Method::POST, &url, &[], Vec::new());
    assert_eq!(reply.status, 405);
    let allow = reply.header("allow").expect("405 carries Allow");
    assert!(allow.contains("PUT") && allow.contains("GET"), "{allow}");
}

#[test]
fn functions_upload_download_list_delete() {
    let server = Server::start(&[]);
    let wasm = compile("examples/c/echo.c");
    server.upload("demo", "echo", &wasm);
    server.upload("demo", "echo.v2", &wasm);
    let reply = server.get("/f/demo/echo");
    assert_eq!((reply.status, reply.body == wasm), (200, true));
    assert_eq!(server.get("/f/demo").json(), json!(["echo", "echo.v2"]));
    assert_eq!(server.get("/f/nobody").json(), json!([]));
    assert_eq!(server.get("/f/demo/other").status, 404);

    let url = format!("{}/f/demo/echo.v2", server.upload);
    assert_eq!(
        server.request(Method::DELETE, &url, &[], Vec::new()).status,
        200
    );
    assert_eq!(
        server.request(Method::DELETE, &url, &[], Vec::new()).status,
        404
    );
    assert_eq!(server.get("/f/demo").json(), json!(["echo"]));
    let reply = server.call("demo", "echo.v2", "x");
    assert_eq!(reply.status, 404, "deleted functions cannot be called");
}

#[test]
fn invalid_wasm_is_refused_with_the_engine_reason() {
    let server = Server::start(&[]);
    let reply = server.put("/f/demo/bad", b"not wasm at all".to_vec());
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("magic header"), "{}", reply.text());
    assert!(
        !reply.text().trim_end().contains('\n'),
        "one line: {}",
        reply.text()
    );
    assert_eq!(server.get("/f/demo/bad").status, 404, "nothing stored");

    // A valid module a Faasm call cannot run: no `_start`.
    let reactor = wat::parse_str("(module (memory (export \"memory\") 1))").unwrap();
    let reply = server.put("/f/demo/reactor", reactor);
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("_start"), "{}", reply.text());

    // An import the host does not provide.
    let alien = wat::parse_str(
        r#"(module (import "env" "launch_rockets" (func)) (func (export "_start")))"#,
    )
    .unwrap();
    let reply = server.put("/f/demo/alien", alien);
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("launch_rockets"), "{}", reply.text());
}

#[test]
fn python_sources() {
    let server = Server::start(&[]);
    let source = b"def faasm_main():\n    return 0\n".to_vec();
    let reply = server.put("/p/demo/hello", source.clone());
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Python function upload complete\n")
    );
    assert_eq!(server.get("/p/demo/hello").body, source);
    assert_eq!(server.get("/p/demo").json(), json!(["hello"]));
    assert_eq!(server.get("/p/demo/missing").status, 404);
}

#[test]
fn state_values() {
    let server = Server::start(&[]);
    assert_eq!(server.get("/s/demo/k").status, 404, "never set");
    let reply = server.put("/s/demo/k", b"some state".to_vec());
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "State upload complete\n")
    );
    assert_eq!(server.get("/s/demo/k").body, b"some state");
    server.put("/s/demo/k", Vec::new());
    let reply = server.get("/s/demo/k");
    assert_eq!(
        (reply.status, reply.body.len()),
        (200, 0),
        "empty value is a value"
    );
    // Keys are opaque: characters that would mean something in a path are just bytes.
    server.put("/s/demo/a%20b..c", b"v".to_vec());
    assert_eq!(server.get("/s/demo/a%20b..c").body, b"v");
    assert_eq!(server.put("/s/demo/a%2Fb", b"v".to_vec()).status, 400);
}

#[test]
fn shared_files() {
    let server = Server::start(&[]);
    let url = format!("{}/file", server.upload);
    let put = |path: &str, body: &[u8]| {
        server.request(Method::PUT, &url, &[("FilePath", path)], body.to_vec())
    };
    let reply = put("data/in.txt", b"contents");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Shared file uploaded\n")
    );
    let get = |path: &str| server.request(Method::GET, &url, &[("FilePath", path)], Vec::new());
    assert_eq!(get("data/in.txt").body, b"contents");
    assert_eq!(get("faasm://data/in.txt").body, b"contents");
    assert_eq!(get("/data/in.txt").body, b"contents");
    assert_eq!(get("data/other").status, 404);

    let reply = server.request(Method::PUT, &url, &[], b"x".to_vec());
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (400, "Bad request, expected file path header FilePath")
    );
    for bad in ["../../etc/passwd", "data/../../x", "a//b", "./a"] {
        assert_eq!(put(bad, b"x").status, 400, "{bad}");
        assert_eq!(get(bad).status, 400, "{bad}");
    }
    assert_eq!(
        put("data/in.txt/below", b"x").status,
        409,
        "a file is not a directory"
    );
}

#[test]
fn bad_names_and_path_traversal() {
    let server = Server::start(&[]);
    let wasm = compile("examples/c/echo.c");
    for path in [
        "/f/demo/a%20b",
        "/f/de%2Fmo/x",
        "/f/.hidden/x",
        "/f/demo/x.",
        "/p/de$mo/x",
    ] {
        let reply = server.put(path, wasm.clone());
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
    }
    let long = "a".repeat(65);
    assert_eq!(
        server.put(&format!("/f/{long}/x"), wasm.clone()).status,
        400
    );
    // Raw requests, since HTTP client libraries resolve dot segments themselves.
    for path in [
        "/f/../x",
        "/f/demo/..",
        "/f/demo/%2e%2e",
        "/p/../../etc/passwd",
        "/s/../k",
    ] {
        let (status, body) = server.raw_upload_request(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(matches!(status, 400 | 404), "{path}: {status} {body}");
    }
    let (status, body) = server.raw_upload_request(
        "PUT /f/demo/%2e%2e HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("function"),
        "the message names the field: {body}"
    );
}

#[test]
fn oversized_bodies_get_413() {
    let server = Server::start(&[
        "--max-upload-body",
        "1KiB",
        "--max-wasm-body",
        "2KiB",
        "--max-invoke-body",
        "1KiB",
    ]);
    let big = vec![b'x'; 4096];
    assert_eq!(server.put("/s/demo/k", big.clone()).status, 413);
    assert_eq!(server.put("/p/demo/f", big.clone()).status, 413);
    assert_eq!(server.put("/f/demo/f", big.clone()).status, 413);
    // A body of unknown length (sent chunked) is cut off too.
    assert_eq!(server.get("/s/demo/k").status, 404, "nothing stored");
    let message = json!({"user": "demo", "function": "echo", "input_data": "y".repeat(4096)});
    assert_eq!(server.post(message).status, 413);
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(big));
    assert_eq!(server.put("/s/demo/k", body).status, 413);
    assert_eq!(server.get("/ping").text(), "PONG", "still serving");
}

#[test]
fn long_state_keys_and_file_segments_get_clear_answers() {
    let server = Server::start(&[]);
    // Keys up to 256 bytes are valid (SPEC §1), however long their stored names would be.
    for len in [100, 101, 200, 256] {
        let key = "k".repeat(len);
        let reply = server.put(&format!("/s/demo/{key}"), format!("value {len}"));
        assert_eq!(reply.status, 200, "{len}: {}", reply.text());
        assert_eq!(
            server.get(&format!("/s/demo/{key}")).text(),
            format!("value {len}")
        );
    }
    let reply = server.put(&format!("/s/demo/{}", "k".repeat(257)), "x");
    assert_eq!(reply.status, 400, "{}", reply.text());

    // A path segment no file system can hold is the client's error, not the server's.
    let url = format!("{}/file", server.upload);
    let path = format!("dir/{}", "s".repeat(300));
    let reply = server.request(Method::PUT, &url, &[("FilePath", &path)], b"x".to_vec());
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().contains("longer than 255 bytes"),
        "{}",
        reply.text()
    );
}

#[test]
fn compiled_artefacts_no_function_uses_are_removed() {
    let data = tempfile::tempdir().unwrap();
    let artefacts = || {
        std::fs::read_dir(data.path().join("cache"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_str().unwrap().ends_with(".cwasm")
            })
            .count()
    };
    let server = Server::start_in(data.path(), &[]);
    let (echo, hello) = (compile("examples/c/echo.c"), compile("examples/c/hello.c"));
    for _ in 0..3 {
        server.upload("demo", "f", &echo);
        server.upload("demo", "f", &hello);
    }
    server.upload("demo", "g", &hello);
    assert_eq!(artefacts(), 1, "only the module f and g both are");
    let delete = |name: &str| {
        let url = format!("{}/f/demo/{name}", server.upload);
        assert_eq!(
            server.request(Method::DELETE, &url, &[], Vec::new()).status,
            200
        );
    };
    delete("f");
    assert_eq!(artefacts(), 1, "g still uses it");
    delete("g");
    assert_eq!(artefacts(), 0);
    server.upload("demo", "f", &echo);
    server.stop();

    // At start, artefacts of modules no stored function is (e.g. left by a crash) go.
    std::fs::write(data.path().join("cache/0123-stale.cwasm"), b"stale").unwrap();
    let server = Server::start_in(data.path(), &[]);
    assert_eq!(artefacts(), 1);
    assert_eq!(server.call("demo", "f", "still runs").text(), "still runs");
}

//! The invoke server (SPEC §3): sync, async, status, JSON forms, errors, concurrency.

use serde_json::json;

use crate::harness::{Server, compile, wait_for};

fn server_with_examples() -> Server {
    let server = Server::start(&[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "hello", &compile("examples/c/hello.c"));
    server.upload("demo", "fail", &compile("examples/c/fail.c"));
    server
}

#[test]
fn sync_calls_return_stdout_then_output() {
    let server = server_with_examples();
    let reply = server.call("demo", "echo", "Hello API");
    assert_eq!((reply.status, reply.text().as_str()), (200, "Hello API"));
    assert_eq!(reply.header("x-faasm-return-value").as_deref(), Some("0"));
    let id: u64 = reply.header("x-faasm-call-id").unwrap().parse().unwrap();
    assert!(id > 0);

    let reply = server.call("demo", "hello", "");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Hello faasm!\n")
    );

    let reply = server.call("demo", "fail", "");
    assert_eq!(reply.status, 500);
    assert!(
        reply.text().ends_with("Call failed (return value=3)"),
        "{}",
        reply.text()
    );
    assert!(
        reply.text().starts_with("About to fail"),
        "stdout first: {}",
        reply.text()
    );
    assert_eq!(reply.header("x-faasm-return-value").as_deref(), Some("3"));

    let containers = compile("examples/cpp/containers.cpp");
    server.upload("demo", "words", &containers);
    let reply = server.call("demo", "words", "the cat the dog");
    assert_eq!(reply.text(), "words=4 unique=3 top=the:2");
}

#[test]
fn binary_input_and_cmdline() {
    let server = server_with_examples();
    let reply = server.post(json!({"user": "demo", "function": "echo", "input_b64": "AAEC/w=="}));
    assert_eq!(reply.body, [0, 1, 2, 255]);
    server.upload("demo", "args", &compile("tests/functions/args.c"));
    let reply = server.post(json!({"user": "demo", "function": "args", "cmdline": "-n 3  x"}));
    assert_eq!(reply.text(), "function.wasm\n-n\n3\nx\n");
}

#[test]
fn async_calls_and_status_polls() {
    let server = server_with_examples();
    let reply = server
        .post(json!({"user": "demo", "function": "echo", "input_data": "later", "async": true}));
    assert_eq!(reply.status, 200);
    let id: u64 = reply.text().parse().expect("async body is the id");
    assert_eq!(reply.header("x-faasm-call-id"), Some(id.to_string()));
    let done = wait_for(&server, id);
    assert_eq!((done.status, done.text().as_str()), (200, "SUCCESS: later"));
    // Polls do not consume the result.
    for _ in 0..3 {
        assert_eq!(
            server.post(json!({"id": id, "status": true})).text(),
            "SUCCESS: later"
        );
    }
    let json = server.post_json(json!({"id": id, "status": true})).json();
    assert_eq!(json["status"], "SUCCESS");
    assert_eq!(json["output_data"], "later");
    assert_eq!(json["return_value"], 0);
    assert!(json["timings"]["exec_us"].is_u64());

    let reply = server.post(json!({"user": "demo", "function": "fail", "async": true}));
    let failed = wait_for(&server, reply.text().parse().unwrap());
    assert_eq!(failed.status, 500);
    assert!(
        failed.text().starts_with("FAILED: About to fail"),
        "{}",
        failed.text()
    );
    assert!(failed.text().ends_with("Call failed (return value=3)"));

    let unknown = server.post(json!({"id": 987654321, "status": true}));
    assert_eq!(
        (unknown.status, unknown.text().as_str()),
        (404, "NOT FOUND: no call with id 987654321")
    );
    // Ids are unique and increasing.
    let a: u64 = server
        .post(json!({"user": "demo", "function": "echo", "async": true}))
        .text()
        .parse()
        .unwrap();
    let b: u64 = server
        .post(json!({"user": "demo", "function": "echo", "async": true}))
        .text()
        .parse()
        .unwrap();
    assert!(b > a && a > id);
}

#[test]
fn json_responses() {
    let server = server_with_examples();
    let json = server
        .post_json(json!({"user": "demo", "function": "hello"}))
        .json();
    assert_eq!(json["status"], "SUCCESS");
    assert_eq!(json["stdout"], "Hello faasm!\n");
    assert_eq!(json["error"], serde_json::Value::Null);
    let reply = server.post_json(json!({"user": "demo", "function": "fail"}));
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"], "Call failed (return value=3)");
    assert_eq!(reply.json()["return_value"], 3);
    let reply = server.post_json(json!({"user": "demo", "function": "echo", "async": true}));
    assert!(reply.json()["id"].is_u64());
    let reply = server.post_json(json!({"user": "demo", "function": "nope"}));
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "Function demo/nope not found");
}

#[test]
fn request_errors() {
    let server = server_with_examples();
    let cases: &[(&str, u16, &str)] = &[
        ("", 400, "Empty request"),
        ("{nope", 400, "Invalid JSON: "),
        (r#"{"function":"echo"}"#, 400, "Empty user"),
        (r#"{"user":"demo"}"#, 400, "Empty function"),
        (
            r#"{"user":"../etc","function":"echo"}"#,
            400,
            "Invalid user",
        ),
        (
            r#"{"user":"demo","function":"nope"}"#,
            404,
            "Function demo/nope not found",
        ),
        (r#"{"status":true}"#, 400, "Status request needs"),
    ];
    for (body, status, prefix) in cases {
        let reply = server.post_raw(body.to_string(), &[]);
        assert_eq!(reply.status, *status, "{body}: {}", reply.text());
        assert!(reply.text().starts_with(prefix), "{body}: {}", reply.text());
    }
    // Unknown fields are ignored.
    let reply = server
        .post(json!({"user": "demo", "function": "echo", "input_data": "ok", "colour": "blue"}));
    assert_eq!(reply.text(), "ok");
}

#[test]
fn seed_python_examples_work_verbatim() {
    let server = server_with_examples();
    let sync = r#"
import requests

endpoint = "ENDPOINT"

json_data = {
    "user": "demo",
    "function": "echo",
    "input_data": "Hello API",
}

res = requests.post(endpoint, json=json_data)
print(res.content.decode())
"#;
    let asynchronous = r#"
import requests
from time import sleep

endpoint = "ENDPOINT"

invoke_json = {
    "user": "demo",
    "function": "echo",
    "input_data": "Hello API",
    "async": True
}

res = requests.post(endpoint, json=invoke_json)
call_id = res.content.decode()
print("Async call {}".format(call_id))

status_json = {
    "id": int(call_id),
    "status": True,
}

str_res = ""
count = 0
while not str_res.startswith("SUCCESS") and count < 5:
    res = requests.post(endpoint, json=status_json)
    str_res = res.content.decode()
    count+=1
    sleep(0.2)

print(str_res)
"#;
    let run = |script: &str| {
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(script.replace("ENDPOINT", &server.invoke))
            .output()
            .expect("python3 with requests (scripts/setup installs it)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(run(sync), "Hello API\n");
    let out = run(asynchronous);
    assert!(out.starts_with("Async call "), "{out}");
    assert!(out.ends_with("SUCCESS: Hello API\n"), "{out}");
}

#[test]
fn reupload_takes_effect_for_the_next_call() {
    let server = server_with_examples();
    assert_eq!(server.call("demo", "echo", "first").text(), "first");
    server.upload("demo", "echo", &compile("examples/c/hello.c"));
    assert_eq!(
        server.call("demo", "echo", "first").text(),
        "Hello faasm!\n"
    );
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    assert_eq!(server.call("demo", "echo", "again").text(), "again");
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let server = Server::start(&[]);
    server.upload("demo", "counter", &compile("tests/functions/counter.c"));
    for _ in 0..5 {
        assert_eq!(server.call("demo", "counter", "").text(), "1");
    }
}

#[test]
fn two_hundred_concurrent_sync_calls() {
    let server = server_with_examples();
    std::thread::scope(|scope| {
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    let input = format!("call number {i}");
                    let reply = server.call("demo", "echo", &input);
                    assert_eq!((reply.status, reply.text()), (200, input));
                    reply.header("x-faasm-call-id").unwrap()
                })
            })
            .collect();
        let mut ids: Vec<String> = calls.into_iter().map(|c| c.join().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 200, "every call has its own id");
    });
}

#[test]
fn faasmctl_planner_envelope() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let server = server_with_examples();
    let batch = json!({"appId": 4242, "messages": [
        {"id": 1, "appId": 4242, "user": "demo", "function": "echo", "input_data": b64.encode("one")},
        {"id": 2, "appId": 4242, "user": "demo", "function": "fail"},
        {"id": 3, "appId": 4242, "user": "demo", "function": "missing"},
    ]});
    let reply = server.post(json!({"http_type": "EXECUTE_BATCH", "payload": batch.to_string()}));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["appId"], 4242);

    let poll = json!({"http_type": 11, "payload": json!({"appId": 4242}).to_string()});
    let status = (0..500)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            server.post(poll.clone()).json()
        })
        .find(|status| status["finished"] == true)
        .expect("the batch finishes");
    let results = status["messageResults"].as_array().unwrap();
    let by_id = |id: i64| results.iter().find(|m| m["id"] == id).unwrap();
    // Faasm's outputData is a string: the text a sync call answers.
    assert_eq!(by_id(1)["output_data"], "one");
    assert_eq!(by_id(1)["returnValue"], 0);
    assert_eq!(by_id(2)["returnValue"], 3);
    let failed = by_id(2)["output_data"].as_str().unwrap().to_owned();
    assert!(failed.ends_with("Call failed (return value=3)"), "{failed}");
    // A missing function fails its message, as the planner does, instead of the batch.
    assert_eq!(by_id(3)["returnValue"], 1);
    assert_eq!(by_id(3)["output_data"], "Function demo/missing not found");
    for m in results {
        let (start, finish) = (
            m["start_ts"].as_i64().unwrap(),
            m["finish_ts"].as_i64().unwrap(),
        );
        assert!(start > 1_700_000_000_000 && finish >= start, "{m}");
    }

    // A finished app's id may name a new batch (faasmctl draws app ids at random): the new
    // batch replaces it. (A running app's id is refused: tests/all/faasmctl.rs.)
    let again = json!({"appId": 4242, "messages": [
        {"id": 9, "user": "demo", "function": "echo", "input_data": b64.encode("two")},
    ]});
    let reply = server.post(json!({"http_type": "EXECUTE_BATCH", "payload": again.to_string()}));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let status = (0..500)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            server.post(poll.clone()).json()
        })
        .find(|status| status["finished"] == true)
        .expect("the second batch finishes");
    let results = status["messageResults"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{status}");
    assert_eq!(
        (&results[0]["id"], &results[0]["output_data"]),
        (&json!(9), &json!("two"))
    );
    assert_eq!(results[0]["executedHost"], "127.0.0.1");

    // The planner's other requests, as faasmctl sends them.
    let planner = |kind: &str| server.post(json!({"http_type": kind, "payload": "{}"}));
    for (kind, answer) in [
        ("RESET", "Planner fully reset!"),
        ("FLUSH_EXECUTORS", "Flushed executors!"),
        ("FLUSH_AVAILABLE_HOSTS", "Flushed available hosts!"),
        (
            "PRELOAD_SCHEDULING_DECISION",
            "Decision pre-loaded to planner",
        ),
    ] {
        let reply = planner(kind);
        assert_eq!((reply.status, reply.text().as_str()), (200, answer));
    }
    let hosts = planner("GET_AVAILABLE_HOSTS").json();
    assert_eq!(hosts["hosts"].as_array().unwrap().len(), 1, "{hosts}");
    assert!(hosts["hosts"][0]["slots"].as_u64().unwrap() >= 1, "{hosts}");
    assert_eq!(planner("GET_IN_FLIGHT_APPS").json()["apps"], json!([]));
    assert_eq!(planner("NO_SUCH_THING").status, 400);
    // After a flush the functions still run (loaded again from storage).
    assert_eq!(server.call("demo", "echo", "again").text(), "again");

    let unknown = json!({"http_type": "EXECUTE_BATCH_STATUS", "payload": "{\"appId\": 7}"});
    let reply = server.post(unknown);
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (404, "App not registered in results")
    );
}

//! The function store of a cluster (issue 12, docs/cluster.md): several real `faasm serve
//! --redis` processes on distinct loopback addresses, each with its own data directory, one
//! real `redis-server`. An upload on any host is what the next call on every host runs.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::{Reply, Server, compile};
use crate::redis::{Redis, Resp};

/// How long another host may take to hear of a change (pub/sub, or its resubscription after
/// a Redis restart) before a test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// `count` hosts on 127.0.0.2, 127.0.0.3, ... sharing `redis`.
fn hosts(redis: &Redis, count: u8) -> Vec<Server> {
    let url = redis.url();
    (0..count)
        .map(|n| Server::start_on(&format!("127.0.0.{}", n + 2), &["--redis", &url], &[]))
        .collect()
}

/// Polls `probe` until it gives `Some`, failing after the deadline with the last `Err`.
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > DEADLINE => panic!("{what}: still {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Calls `demo/function` on `host` (input `ping`) until it answers `status` with a body
/// containing `body`.
fn until_call(host: &Server, function: &str, status: u16, body: &str) {
    eventually(&format!("{function} on {}", host.invoke), || {
        let reply = host.call("demo", function, "ping");
        if reply.status == status && reply.text().contains(body) {
            Ok(())
        } else {
            Err(format!("{} {:?}", reply.status, reply.text()))
        }
    });
}

fn put_file(host: &Server, path: &str, bytes: &[u8]) -> Reply {
    let url = format!("{}/file", host.upload);
    host.request(Method::PUT, &url, &[("FilePath", path)], bytes.to_vec())
}

fn file_request(host: &Server, method: Method, path: &str) -> Reply {
    let url = format!("{}/file", host.upload);
    host.request(method, &url, &[("FilePath", path)], Vec::new())
}

/// The names of Redis keys matching `pattern`, sorted.
fn redis_keys(redis: &Redis, pattern: &str) -> Vec<String> {
    let Resp::Array(keys) = redis.command(&[b"KEYS", pattern.as_bytes()]) else {
        panic!("KEYS {pattern}");
    };
    let mut names: Vec<String> = keys
        .into_iter()
        .map(|key| match key {
            Resp::Bulk(Some(name)) => String::from_utf8(name).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    names.sort();
    names
}

#[test]
fn an_upload_on_one_host_runs_on_every_host() {
    let redis = Redis::start();
    let [a, b, c] = <[Server; 3]>::try_from(hosts(&redis, 3)).ok().unwrap();
    assert!(a.upload.contains("127.0.0.2") && c.upload.contains("127.0.0.4"));
    a.upload("demo", "greet", &compile("examples/c/echo.c"));
    // No other host has seen it before: each loads it from Redis at its first call.
    for host in [&b, &c] {
        let reply = host.call("demo", "greet", "ping");
        assert_eq!((reply.status, reply.text().as_str()), (200, "ping"));
    }
    assert_eq!(b.get("/f/demo").json(), json!(["greet"]));
    assert_eq!(c.get("/f/demo/greet").body, compile("examples/c/echo.c"));

    // A runs (and caches) the old code; C replaces it; A runs the new code without a restart.
    assert_eq!(a.call("demo", "greet", "ping").text(), "ping");
    c.upload("demo", "greet", &compile("examples/c/hello.c"));
    assert_eq!(c.call("demo", "greet", "ping").text(), "Hello faasm!\n");
    until_call(&a, "greet", 200, "Hello faasm!\n");
    until_call(&b, "greet", 200, "Hello faasm!\n");

    // One blob per distinct content, referenced by the one pointer left: echo's blob is gone.
    let wasm_sha = sha256_hex(&compile("examples/c/hello.c"));
    assert_eq!(
        redis_keys(&redis, "faasm:blob:*"),
        [
            format!("faasm:blob:{wasm_sha}:0"),
            format!("faasm:blob:{wasm_sha}:refs")
        ]
    );
}

#[test]
fn a_delete_on_one_host_is_a_404_on_the_others() {
    let redis = Redis::start();
    let [a, b] = <[Server; 2]>::try_from(hosts(&redis, 2)).ok().unwrap();
    a.upload("demo", "gone", &compile("examples/c/echo.c"));
    a.upload("demo", "kept", &compile("examples/c/echo.c"));
    assert_eq!(a.call("demo", "gone", "ping").text(), "ping");
    let reply = b.request(
        Method::DELETE,
        &format!("{}/f/demo/gone", b.upload),
        &[],
        Vec::new(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(a.get("/f/demo/gone").status, 404);
    until_call(&a, "gone", 404, "Function demo/gone not found");
    assert_eq!(a.get("/f/demo").json(), json!(["kept"]));
    // The blob both pointed at stays for the one left; once that goes, so does the blob and
    // the user's listing.
    assert_eq!(a.call("demo", "kept", "still").text(), "still");
    let reply = a.request(
        Method::DELETE,
        &format!("{}/f/demo/kept", a.upload),
        &[],
        Vec::new(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(redis_keys(&redis, "faasm:blob:*").is_empty());
    assert_eq!(redis_keys(&redis, "faasm:function*"), Vec::<String>::new());
}

#[test]
fn a_python_function_uploaded_on_one_host_runs_on_another() {
    let redis = Redis::start();
    let [a, b] = <[Server; 2]>::try_from(hosts(&redis, 2)).ok().unwrap();
    let upload = |host: &Server, source: &str| {
        let url = format!("{}/p/demo/version", host.upload);
        let reply = host.request_with_timeout(
            Method::PUT,
            &url,
            source.as_bytes().to_vec(),
            Duration::from_secs(900),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
    };
    let call = |host: &Server| {
        let reply = host.post(json!({"python": true, "py_user": "demo", "py_func": "version"}));
        (reply.status, reply.text())
    };
    upload(&a, "def faasm_main():\n    print('one')\n");
    assert_eq!(call(&b), (200, "one\n".to_owned()));
    assert_eq!(b.get("/p/demo").json(), json!(["version"]));
    upload(&b, "def faasm_main():\n    print('two')\n");
    eventually("the new Python source on A", || match call(&a) {
        (200, text) if text == "two\n" => Ok(()),
        other => Err(format!("{other:?}")),
    });
}

#[test]
fn shared_files_written_on_one_host_are_read_by_guests_on_another() {
    let redis = Redis::start();
    let [a, b] = <[Server; 2]>::try_from(hosts(&redis, 2)).ok().unwrap();
    b.upload("demo", "files", &compile("tests/functions/files.c"));
    for (path, text) in [
        ("data/in.txt", "hello shared world"),
        ("data/other.txt", "other content"),
        ("data/sub/nested.txt", "nested"),
    ] {
        assert_eq!(put_file(&a, path, text.as_bytes()).status, 200);
    }
    let shared = |host: &Server| {
        let reply = host.call("demo", "files", "shared");
        crate::harness::name_values(&reply.text())
    };
    eventually("A's shared files in B's guests", || {
        let seen = shared(&b);
        match (seen.get("from6"), seen.get("nested")) {
            (Some(from6), Some(nested)) if from6 == "shared world" && nested == "nested" => Ok(()),
            _ => Err(format!("{seen:?}")),
        }
    });
    // The host that stores a file shows it to its own guests at once.
    a.upload("demo", "files", &compile("tests/functions/files.c"));
    assert_eq!(put_file(&a, "data/in.txt", b"hello again!!").status, 200);
    assert_eq!(shared(&a).get("from6").map(String::as_str), Some("again!!"));
    eventually("the new version on B", || {
        let seen = shared(&b);
        match seen.get("from6") {
            Some(from6) if from6 == "again!!" => Ok(()),
            _ => Err(format!("{seen:?}")),
        }
    });

    // Large files go in chunks and come back whole on any host.
    let large: Vec<u8> = (0..(5 << 20) / 2).map(|i: u32| (i % 251) as u8).collect();
    assert_eq!(put_file(&b, "big.bin", &large).status, 200);
    assert_eq!(file_request(&a, Method::GET, "big.bin").body, large);
    let sha = sha256_hex(&large);
    assert_eq!(
        redis_keys(&redis, &format!("faasm:blob:{sha}:*")).len(),
        3 + 1
    );

    // A delete on B is a 404 on A, and A's guests no longer see the file.
    assert_eq!(
        file_request(&b, Method::DELETE, "data/sub/nested.txt").status,
        200
    );
    assert_eq!(
        file_request(&a, Method::GET, "data/sub/nested.txt").status,
        404
    );
    eventually("the delete in A's guests", || {
        let seen = shared(&a);
        match seen.get("nested") {
            Some(nested) if nested != "nested" => Ok(()),
            _ => Err(format!("{seen:?}")),
        }
    });
}

#[test]
fn hosts_follow_a_redis_restart() {
    let mut redis = Redis::start();
    let [a, b] = <[Server; 2]>::try_from(hosts(&redis, 2)).ok().unwrap();
    a.upload("demo", "greet", &compile("examples/c/echo.c"));
    assert_eq!(b.call("demo", "greet", "ping").text(), "ping");

    // Redis comes back with its data: uploads and calls go on; B hears of A's new upload
    // (or drops what it cached when it subscribes again).
    redis.restart_keeping_data();
    assert_eq!(b.call("demo", "greet", "ping").text(), "ping");
    a.upload("demo", "greet", &compile("examples/c/hello.c"));
    until_call(&b, "greet", 200, "Hello faasm!\n");
    assert_eq!(put_file(&a, "after.txt", b"after").status, 200);
    assert_eq!(file_request(&b, Method::GET, "after.txt").body, b"after");

    // Redis comes back empty: the uploads are gone for every host (docs/cluster.md).
    redis.restart();
    until_call(&b, "greet", 404, "Function demo/greet not found");
    a.upload("demo", "greet", &compile("examples/c/echo.c"));
    until_call(&b, "greet", 200, "ping");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

//! Tenants and tokens (SPEC §12, docs/auth.md) through the real binary: `faasm serve --auth`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Reply, Server, compile, wait_for};
use crate::redis::Redis;

const ADMIN: &str = "admin-token-for-the-tests-0123456789";

fn start(args: &[&str]) -> Server {
    let args = [&["--auth"], args].concat();
    Server::start_with_env(&args, &[("FAASM_ADMIN_TOKEN", ADMIN)])
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Requests with one `Authorization` header value (or none).
struct As<'a> {
    server: &'a Server,
    authorization: Option<String>,
}

impl<'a> As<'a> {
    fn token(server: &'a Server, token: &str) -> Self {
        Self::header(server, &bearer(token))
    }

    fn header(server: &'a Server, value: &str) -> Self {
        Self {
            server,
            authorization: Some(value.to_owned()),
        }
    }

    fn nobody(server: &'a Server) -> Self {
        Self {
            server,
            authorization: None,
        }
    }

    fn send(&self, method: Method, url: &str, extra: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut headers = extra.to_vec();
        if let Some(value) = &self.authorization {
            headers.push(("Authorization", value));
        }
        self.server.request(method, url, &headers, body)
    }

    fn upload(&self, method: Method, path: &str, body: impl Into<Vec<u8>>) -> Reply {
        let url = format!("{}{path}", self.server.upload);
        self.send(method, &url, &[], body.into())
    }

    fn get(&self, path: &str) -> Reply {
        self.upload(Method::GET, path, Vec::new())
    }

    fn put(&self, path: &str, body: impl Into<Vec<u8>>) -> Reply {
        self.upload(Method::PUT, path, body)
    }

    fn delete(&self, path: &str) -> Reply {
        self.upload(Method::DELETE, path, Vec::new())
    }

    fn file(&self, method: Method, path: &str, body: &[u8]) -> Reply {
        let url = format!("{}/file", self.server.upload);
        self.send(method, &url, &[("FilePath", path)], body.to_vec())
    }

    /// POSTs a JSON message to the invoke server.
    fn post(&self, message: Value) -> Reply {
        let url = format!("{}/", self.server.invoke);
        self.send(Method::POST, &url, &[], message.to_string().into_bytes())
    }

    fn call(&self, user: &str, function: &str, input: &str) -> Reply {
        self.post(json!({"user": user, "function": function, "input_data": input}))
    }

    fn poll(&self, id: u64) -> Reply {
        self.post(json!({"id": id, "status": true}))
    }
}

fn admin(server: &Server) -> As<'_> {
    As::token(server, ADMIN)
}

/// A new token of `user` with `scopes` (all if `None`), made through the admin API.
fn token(server: &Server, user: &str, scopes: Option<&[&str]>) -> String {
    let mut body = json!({"user": user});
    if let Some(scopes) = scopes {
        body["scopes"] = json!(scopes);
    }
    let reply = admin(server).upload(Method::POST, "/admin/tokens", body.to_string());
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["token"].as_str().unwrap().to_owned()
}

fn set_limits(server: &Server, user: &str, limits: Value) {
    let reply = admin(server).put(&format!("/admin/limits/{user}"), limits.to_string());
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Checks a refusal's status and that its message says `text`.
fn says(reply: &Reply, status: u16, text: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert!(reply.text().contains(text), "{text:?} in {}", reply.text());
}

fn echo() -> Vec<u8> {
    compile("examples/c/echo.c")
}

#[test]
fn no_token_or_a_wrong_token_is_401_and_ping_is_open() {
    let server = start(&[]);
    let alice = token(&server, "alice", None);
    let wrong = format!("{}x", &alice[..alice.len() - 1]);
    for who in [
        As::nobody(&server),
        As::token(&server, &wrong),
        As::header(&server, "Token abc"),
        As::header(&server, "Bearer"),
    ] {
        for reply in [
            who.get("/f/alice"),
            who.put("/f/alice/echo", echo()),
            who.get("/s/alice/key"),
            who.call("alice", "echo", "x"),
            who.poll(1),
            who.get("/admin/tokens"),
        ] {
            assert_eq!(reply.status, 401, "{}", reply.text());
            assert_eq!(
                reply.header("www-authenticate").as_deref(),
                Some(r#"Bearer realm="faasm", Basic realm="faasm""#)
            );
        }
    }
    let reply = As::nobody(&server).get("/f/alice");
    assert!(
        reply.text().starts_with("Authentication required"),
        "{}",
        reply.text()
    );
    let reply = As::token(&server, &wrong).get("/f/alice");
    assert_eq!(reply.text(), "Invalid token (unknown, revoked or expired)");
    assert_eq!(server.get("/ping").text(), "PONG");
    assert_eq!(server.get_invoke("/ping").text(), "PONG");
    assert_eq!(server.get_invoke("/metrics").status, 401);
    assert_eq!(As::token(&server, &alice).get_metrics().status, 403);
    assert_eq!(admin(&server).get_metrics().status, 200);
}

impl As<'_> {
    fn get_metrics(&self) -> Reply {
        let url = format!("{}/metrics", self.server.invoke);
        self.send(Method::GET, &url, &[], Vec::new())
    }

    fn calls(&self, query: &str) -> Reply {
        let url = format!("{}/calls{query}", self.server.invoke);
        self.send(Method::GET, &url, &[], Vec::new())
    }
}

#[test]
fn users_act_only_on_their_own_functions_state_and_calls() {
    let server = start(&[]);
    let (alice, bob) = (token(&server, "alice", None), token(&server, "bob", None));
    let (alice, bob, admin) = (
        As::token(&server, &alice),
        As::token(&server, &bob),
        admin(&server),
    );
    assert_eq!(bob.put("/f/bob/echo", echo()).status, 200);
    assert_eq!(bob.put("/s/bob/secret", "bob's").status, 200);
    let call =
        bob.post(json!({"user": "bob", "function": "echo", "input_data": "hi", "async": true}));
    assert_eq!(call.status, 200, "{}", call.text());
    let bobs_call: u64 = call.text().parse().unwrap();
    assert_eq!(bob.poll(bobs_call).status, 200);

    // Alice and bob's resources: 403, saying why.
    for reply in [
        alice.get("/f/bob/echo"),
        alice.put("/f/bob/echo", echo()),
        alice.delete("/f/bob/echo"),
        alice.get("/f/bob"),
        alice.get("/p/bob"),
        alice.get("/s/bob/secret"),
        alice.put("/s/bob/secret", "alice's"),
        alice.delete("/s/bob/secret"),
        alice.call("bob", "echo", "x"),
    ] {
        says(&reply, 403, "user alice may not act on user bob's");
    }
    // Bob's call polls as if it did not exist: exactly what an unknown id answers.
    let unknown = bobs_call + 1000;
    let (theirs, none) = (alice.poll(bobs_call), alice.poll(unknown));
    assert_eq!((theirs.status, none.status), (404, 404));
    assert_eq!(
        theirs.text().replace(&bobs_call.to_string(), "ID"),
        none.text().replace(&unknown.to_string(), "ID")
    );
    assert_eq!(theirs.header("x-faasm-call-id"), None);
    assert_eq!(alice.calls("?user=bob").status, 403);
    // Nothing of bob's changed.
    assert_eq!(bob.get("/s/bob/secret").text(), "bob's");
    assert_eq!(bob.get("/f/bob/echo").body, echo());
    assert_eq!(bob.poll(bobs_call).status, 200);

    // Alice's own work.
    assert_eq!(alice.put("/f/alice/echo", echo()).status, 200);
    let reply = alice.call("alice", "echo", "mine");
    assert_eq!((reply.status, reply.text().as_str()), (200, "mine"));
    let own: u64 = reply.header("x-faasm-call-id").unwrap().parse().unwrap();
    assert_eq!(alice.poll(own).status, 200);
    let listed = alice.calls("").json();
    let users: Vec<&str> = listed["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice"]);
    // Basic user:token works for the token's user only.
    use base64::Engine;
    let basic = |user: &str, token: &str| {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
        format!("Basic {pair}")
    };
    let alices_token = alice.authorization.clone().unwrap().replace("Bearer ", "");
    assert_eq!(
        As::header(&server, &basic("alice", &alices_token))
            .get("/f/alice")
            .status,
        200
    );
    assert_eq!(
        As::header(&server, &basic("bob", &alices_token))
            .get("/f/bob")
            .status,
        401
    );

    // The admin acts on everyone's.
    assert_eq!(admin.get("/s/bob/secret").text(), "bob's");
    assert_eq!(admin.poll(bobs_call).status, 200);
    assert_eq!(admin.call("bob", "echo", "by admin").text(), "by admin");
    assert_eq!(admin.delete("/f/alice/echo").status, 200);
    assert_eq!(admin.calls("").json()["calls"].as_array().unwrap().len(), 3);
}

#[test]
fn scopes_bound_what_a_token_may_do() {
    let server = start(&[]);
    let invoker = token(&server, "alice", Some(&["invoke"]));
    assert_eq!(admin(&server).put("/f/alice/echo", echo()).status, 200);
    let invoker = As::token(&server, &invoker);
    assert_eq!(invoker.call("alice", "echo", "ok").text(), "ok");
    for (reply, scope) in [
        (invoker.put("/f/alice/echo", echo()), "upload"),
        (invoker.get("/s/alice/key"), "state"),
        (invoker.file(Method::GET, "alice/data", b""), "files"),
        (invoker.poll(1), "status"),
    ] {
        says(&reply, 403, &format!("user alice lacks the {scope} scope"));
    }
    let reply = invoker.get("/admin/tokens");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (403, "The admin API needs the admin token")
    );
    // The planner envelope is the admin's.
    let reply = invoker.post(json!({"http_type": "FLUSH_EXECUTORS", "payload": "{}"}));
    says(&reply, 403, "The planner API needs the admin token");
    let reply = admin(&server).post(json!({"http_type": "FLUSH_EXECUTORS", "payload": "{}"}));
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn shared_files_are_written_under_the_users_prefix_and_read_by_all() {
    let server = start(&[]);
    let alice = As::token(&server, &token(&server, "alice", None));
    let bob = As::token(&server, &token(&server, "bob", None));
    assert_eq!(alice.file(Method::PUT, "alice/data.txt", b"a").status, 200);
    for path in ["bob/data.txt", "top.txt", "faasm://bob/x"] {
        says(
            &alice.file(Method::PUT, path, b"a"),
            403,
            "only under alice/",
        );
    }
    assert_eq!(
        admin(&server)
            .file(Method::PUT, "top.txt", b"shared")
            .status,
        200
    );
    assert_eq!(bob.file(Method::GET, "top.txt", b"").text(), "shared");
    assert_eq!(bob.file(Method::GET, "alice/data.txt", b"").text(), "a");
    assert_eq!(bob.file(Method::DELETE, "alice/data.txt", b"").status, 403);
    assert_eq!(
        alice.file(Method::DELETE, "alice/data.txt", b"").status,
        200
    );
}

#[test]
fn the_rate_limit_answers_429_with_retry_after_and_recovers() {
    let server = start(&[]);
    let (alice, bob) = (token(&server, "alice", None), token(&server, "bob", None));
    set_limits(&server, "alice", json!({"calls_per_minute": 60}));
    assert_eq!(admin(&server).put("/f/alice/echo", echo()).status, 200);
    assert_eq!(admin(&server).put("/f/bob/echo", echo()).status, 200);
    let alice = As::token(&server, &alice);
    // A full bucket of 60 passes, then the rate is one a second: calls faster than that
    // reach the limit.
    let refused = (0..1000)
        .map(|_| alice.call("alice", "echo", "x"))
        .find(|reply| reply.status != 200)
        .expect("the limit was never reached");
    says(&refused, 429, "calls-per-minute limit of 60");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    // Bob is not alice.
    assert_eq!(
        As::token(&server, &bob).call("bob", "echo", "b").status,
        200
    );
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(alice.call("alice", "echo", "again").text(), "again");
}

#[test]
fn concurrent_calls_past_the_limit_are_429_until_one_finishes() {
    let server = start(&[]);
    let alice = As::token(&server, &token(&server, "alice", None));
    set_limits(&server, "alice", json!({"concurrent_calls": 1}));
    assert_eq!(
        alice
            .put("/f/alice/sleeper", compile("tests/functions/sleeper.c"))
            .status,
        200
    );
    let first = alice
        .post(json!({"user": "alice", "function": "sleeper", "input_data": "3000", "async": true}));
    let id: u64 = first.text().parse().unwrap();
    let refused = alice.call("alice", "sleeper", "1");
    says(&refused, 429, "concurrent-calls limit is 1");
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
    assert!(
        wait_for_as(&alice, id).starts_with("SUCCESS"),
        "the first call finishes"
    );
    assert_eq!(alice.call("alice", "sleeper", "1").status, 200);
}

fn wait_for_as(who: &As, id: u64) -> String {
    for _ in 0..1000 {
        let text = who.poll(id).text();
        if !text.starts_with("RUNNING") {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("call {id} still running after 20 s");
}

#[test]
fn stored_bytes_past_the_limit_are_413_and_deletes_give_them_back() {
    let server = start(&[]);
    let alice = As::token(&server, &token(&server, "alice", None));
    set_limits(&server, "alice", json!({"stored_bytes": 1000}));
    assert_eq!(alice.put("/s/alice/a", vec![1u8; 600]).status, 200);
    let reply = alice.put("/s/alice/b", vec![1u8; 600]);
    says(&reply, 413, "stored-bytes limit of 1000");
    assert_eq!(alice.get("/s/alice/b").status, 404, "nothing was stored");
    // Replacing a value counts its new size only.
    assert_eq!(alice.put("/s/alice/a", vec![1u8; 300]).status, 200);
    assert_eq!(alice.file(Method::PUT, "alice/f", &[2u8; 600]).status, 200);
    assert_eq!(alice.put("/s/alice/b", vec![1u8; 200]).status, 413);
    assert_eq!(alice.delete("/s/alice/a").status, 200);
    assert_eq!(alice.put("/s/alice/b", vec![1u8; 200]).status, 200);
    let limits = admin(&server).get("/admin/limits/alice").json();
    assert_eq!(limits["stored_bytes"], 800);
    assert_eq!(limits["effective"]["stored_bytes"], 1000);
}

#[test]
fn a_users_retained_results_keep_to_its_result_bytes_limit() {
    let server = start(&[]);
    let alice = As::token(&server, &token(&server, "alice", None));
    let bob = As::token(&server, &token(&server, "bob", None));
    set_limits(&server, "alice", json!({"result_bytes": 100}));
    for (who, user) in [(&alice, "alice"), (&bob, "bob")] {
        assert_eq!(who.put(&format!("/f/{user}/echo"), echo()).status, 200);
    }
    let post = |who: &As, user: &str, i: usize| -> u64 {
        let input = format!("{i:040}");
        let reply =
            who.post(json!({"user": user, "function": "echo", "input_data": input, "async": true}));
        let id = reply.text().parse().unwrap();
        assert!(wait_for_as(who, id).starts_with("SUCCESS"));
        id
    };
    let bobs = post(&bob, "bob", 0);
    let alices: Vec<u64> = (0..5).map(|i| post(&alice, "alice", i)).collect();
    // 40 bytes each: alice keeps her newest two; bob's result is not hers to lose.
    for id in &alices[..3] {
        assert_eq!(alice.poll(*id).status, 404, "call {id}");
    }
    for id in &alices[3..] {
        assert!(alice.poll(*id).text().starts_with("SUCCESS"), "call {id}");
    }
    assert!(bob.poll(bobs).text().starts_with("SUCCESS"));
    let limits = admin(&server).get("/admin/limits/alice").json();
    assert_eq!(limits["effective"]["result_bytes"], 100);
}

#[test]
fn an_mpi_world_over_the_users_limit_is_refused() {
    let server = start(&["--user-max-mpi-world", "4"]);
    let alice = As::token(&server, &token(&server, "alice", None));
    assert_eq!(alice.put("/f/alice/echo", echo()).status, 200);
    let reply =
        alice.post(json!({"user": "alice", "function": "echo", "mpi": true, "mpi_world_size": 5}));
    says(&reply, 413, "max-mpi-world limit of 4");
}

#[test]
fn tokens_never_appear_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = std::fs::File::create(&path).unwrap();
    let server = Server::start_logging(
        &["--auth"],
        &[("RUST_LOG", "debug"), ("FAASM_ADMIN_TOKEN", ADMIN)],
        log,
    );
    let alice = token(&server, "alice", None);
    let who = As::token(&server, &alice);
    assert_eq!(who.put("/f/alice/echo", echo()).status, 200);
    assert_eq!(who.call("alice", "echo", "x").status, 200);
    assert_eq!(
        As::token(&server, &format!("{alice}0"))
            .get("/f/alice")
            .status,
        401
    );
    let listed = admin(&server).get("/admin/tokens").json();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        admin(&server).delete(&format!("/admin/tokens/{id}")).status,
        200
    );
    assert_eq!(who.get("/f/alice").status, 401);
    drop(server);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&id), "the token's id is logged: {text}");
    let secret = alice.trim_start_matches("faasm_");
    assert!(!text.contains(secret) && !text.contains(ADMIN), "{text}");
    assert!(!listed.to_string().contains(secret));
}

#[test]
fn a_generated_admin_token_is_private_and_only_its_path_is_logged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (data, path) = (dir.path().join("data"), dir.path().join("log"));
    std::fs::create_dir(&data).unwrap();
    let log = std::fs::File::create(&path).unwrap();
    let server = Server::start_in_logging(&data, &["--auth"], log);
    let file = data.join("admin-token");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(As::token(&server, &token).get("/admin/tokens").status, 200);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(file.to_str().unwrap()), "{text}");
    assert!(!text.contains(&token), "{text}");
}

#[test]
fn the_cli_manages_tokens_and_presents_them() {
    let server = start(&[]);
    let as_admin = [("FAASM_TOKEN", ADMIN)];
    let created = server.cli_with_env(
        &[
            "token",
            "create",
            "alice",
            "--scopes",
            "upload,invoke",
            "--expires",
            "1h",
        ],
        &as_admin,
    );
    assert!(created.status.success(), "{created:?}");
    let alice = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let wasm = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wasm.path(), echo()).unwrap();
    let wasm = wasm.path().to_str().unwrap();
    let upload = server.cli(&["--token", &alice, "upload", "alice", "echo", wasm]);
    assert!(upload.status.success(), "{upload:?}");
    let invoke = server.cli_with_env(
        &["invoke", "alice", "echo", "-i", "hello"],
        &[("FAASM_TOKEN", &alice)],
    );
    assert_eq!(
        String::from_utf8_lossy(&invoke.stdout),
        "hello",
        "{invoke:?}"
    );
    let refused = server.cli(&["upload", "alice", "echo", wasm]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{refused:?}"
    );

    let list = server.cli_with_env(&["token", "list"], &as_admin);
    let list = String::from_utf8(list.stdout).unwrap();
    let line = list
        .lines()
        .find(|l| l.contains("alice"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.contains("invoke,upload") || line.contains("upload,invoke"),
        "{line}"
    );
    assert!(line.contains("in 3"), "expires in about an hour: {line}");
    assert!(!list.contains(&alice[6..]));
    let id = line.split_whitespace().next().unwrap();
    let limits = server.cli_with_env(
        &["token", "limits", "alice", "--calls-per-minute", "7"],
        &as_admin,
    );
    assert!(
        String::from_utf8_lossy(&limits.stdout).contains(r#""calls_per_minute":7"#),
        "{limits:?}"
    );
    let revoked = server.cli_with_env(&["token", "revoke", id], &as_admin);
    assert!(revoked.status.success(), "{revoked:?}");
    let after = server.cli(&["--token", &alice, "invoke", "alice", "echo", "-i", "x"]);
    assert!(
        String::from_utf8_lossy(&after.stderr).contains("401"),
        "{after:?}"
    );
}

#[test]
fn hosts_sharing_redis_accept_the_same_tokens_and_see_a_revoke_at_once() {
    let redis = Redis::start();
    let url = redis.url();
    let host = |ip| {
        Server::start_on(
            ip,
            &["--auth", "--redis", &url],
            &[("FAASM_ADMIN_TOKEN", ADMIN)],
        )
    };
    let (a, b) = (host("127.0.0.2"), host("127.0.0.3"));
    let alice = token(&a, "alice", Some(&["state", "upload", "invoke", "status"]));
    let bob = token(&b, "bob", None);
    let (on_a, on_b) = (As::token(&a, &alice), As::token(&b, &alice));
    assert_eq!(on_a.put("/s/alice/k", "from a").status, 200);
    assert_eq!(on_b.get("/s/alice/k").text(), "from a");
    assert_eq!(on_b.get("/s/bob/k").status, 403);

    // An async call accepted on A polls on B for alice, and as unknown for bob.
    assert_eq!(admin(&a).put("/f/alice/echo", echo()).status, 200);
    let call =
        on_a.post(json!({"user": "alice", "function": "echo", "input_data": "hi", "async": true}));
    let id: u64 = call
        .text()
        .parse()
        .unwrap_or_else(|_| panic!("{}", call.text()));
    assert!(
        wait_for_as(&on_b, id).starts_with("SUCCESS"),
        "alice polls her call on B"
    );
    let (theirs, none) = (
        As::token(&b, &bob).poll(id),
        As::token(&b, &bob).poll(id + 1000),
    );
    assert_eq!((theirs.status, none.status), (404, 404));
    assert_eq!(
        theirs.text().replace(&id.to_string(), "ID"),
        none.text().replace(&(id + 1000).to_string(), "ID")
    );

    set_limits(&a, "alice", json!({"stored_bytes": 10}));
    says(
        &on_b.put("/s/alice/other", "12345"),
        413,
        "stored-bytes limit of 10",
    );
    let tokens = admin(&a).get("/admin/tokens").json();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(admin(&a).delete(&format!("/admin/tokens/{id}")).status, 200);
    assert_eq!(on_b.get("/s/alice/k").status, 401);
    assert_eq!(on_a.get("/s/alice/k").status, 401);
    let left = admin(&b).get("/admin/tokens").json();
    assert_eq!(left.as_array().unwrap().len(), 1, "bob's is left: {left}");
}

#[test]
fn without_auth_there_is_no_admin_api_and_no_token_is_needed() {
    let server = Server::start(&[]);
    let reply = server.get("/admin/tokens");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.text(), "The admin API needs `faasm serve --auth`");
    server.upload("alice", "echo", &echo());
    assert_eq!(server.call("alice", "echo", "open").text(), "open");
    let id: u64 = server
        .post(json!({"user": "alice", "function": "echo", "async": true}))
        .text()
        .parse()
        .unwrap();
    assert_eq!(wait_for(&server, id).status, 200);
}

/// Whatever `Authorization` header arrives, the server answers 401 (never a crash, never
/// access), over real HTTP: a property over random headers.
#[test]
fn random_authorization_headers_are_refused() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let server = start(&[]);
    let mut runner = TestRunner::new(Config::with_cases(64));
    let headers = ("(Bearer|Basic|bearer|BASIC|Token|)", "[ -~]{0,120}");
    runner
        .run(&headers, |(scheme, value)| {
            let header = format!("{scheme} {value}");
            let reply = As::header(&server, header.trim()).get("/f/alice");
            prop_assert_eq!(reply.status, 401, "{}", reply.text());
            Ok(())
        })
        .unwrap();
}

//! Starting `faasm serve` on OS-chosen ports, compiling test functions, and small HTTP helpers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const FAASM: &str = env!("CARGO_BIN_EXE_faasm");

/// A running `faasm serve`, killed on drop.
pub struct Server {
    child: Child,
    pub upload: String,
    pub invoke: String,
    _temp: Option<tempfile::TempDir>,
    http: reqwest::blocking::Client,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        Some(self.headers.get(name)?.to_str().ok()?.to_owned())
    }
}

impl Server {
    /// A server with a fresh data directory.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// A server with a fresh data directory and extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_on("127.0.0.1", args, env)
    }

    /// A server with a fresh data directory listening on `ip` (e.g. `127.0.0.2`, to stand for
    /// another host), with extra environment variables.
    pub fn start_on(ip: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let mut server = Server::spawn(ip, temp.path(), args, env, Stdio::inherit());
        server._temp = Some(temp);
        server
    }

    /// A server with a fresh data directory whose logs (stderr) go to `log`; `env` may set
    /// `RUST_LOG` (else `warn`).
    pub fn start_logging(args: &[&str], env: &[(&str, &str)], log: std::fs::File) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let mut server = Server::spawn("127.0.0.1", temp.path(), args, env, Stdio::from(log));
        server._temp = Some(temp);
        server
    }

    /// A server on an existing data directory whose logs (stderr) go to `log`.
    pub fn start_in_logging(data_dir: &Path, args: &[&str], log: std::fs::File) -> Server {
        Server::spawn("127.0.0.1", data_dir, args, &[], Stdio::from(log))
    }

    /// A server on an existing data directory (for restart tests).
    pub fn start_in(data_dir: &Path, args: &[&str]) -> Server {
        Server::spawn("127.0.0.1", data_dir, args, &[], Stdio::inherit())
    }

    fn spawn(
        ip: &str,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Server {
        let any_port = format!("{ip}:0");
        let mut child = Command::new(FAASM)
            .args([
                "serve",
                "--upload-addr",
                &any_port,
                "--invoke-addr",
                &any_port,
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start faasm serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut address = |server: &str| {
            let line = lines
                .next()
                .expect("faasm serve exited before listening")
                .unwrap();
            let prefix = format!("faasm: {server} server listening on ");
            line.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("unexpected line {line:?}"))
                .to_owned()
        };
        let upload = address("upload");
        let invoke = address("invoke");
        Server {
            child,
            upload,
            invoke,
            _temp: None,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    /// Stops the server (as `kill -9` would) and waits for it.
    pub fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the server to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::blocking::Body>,
    ) -> Reply {
        let mut request = self.http.request(method, url).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request, url)
    }

    /// A request that may take longer than the client's default timeout.
    pub fn request_with_timeout(
        &self,
        method: reqwest::Method,
        url: &str,
        body: impl Into<reqwest::blocking::Body>,
        timeout: Duration,
    ) -> Reply {
        send(
            self.http.request(method, url).body(body).timeout(timeout),
            url,
        )
    }

    pub fn put(&self, path: &str, body: impl Into<reqwest::blocking::Body>) -> Reply {
        let url = format!("{}{path}", self.upload);
        self.request(reqwest::Method::PUT, &url, &[], body)
    }

    pub fn get(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.upload);
        self.request(reqwest::Method::GET, &url, &[], Vec::new())
    }

    /// A GET on the invoke server.
    pub fn get_invoke(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.invoke);
        self.request(reqwest::Method::GET, &url, &[], Vec::new())
    }

    /// Uploads a compiled test function.
    pub fn upload(&self, user: &str, function: &str, wasm: &[u8]) {
        let reply = self.put(&format!("/f/{user}/{function}"), wasm.to_vec());
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), "Function upload complete\n");
    }

    /// POSTs a JSON message to the invoke server.
    pub fn post(&self, message: serde_json::Value) -> Reply {
        self.post_raw(message.to_string(), &[])
    }

    pub fn post_json(&self, message: serde_json::Value) -> Reply {
        self.post_raw(message.to_string(), &[("Accept", "application/json")])
    }

    pub fn post_raw(
        &self,
        body: impl Into<reqwest::blocking::Body>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}/", self.invoke);
        self.request(reqwest::Method::POST, &url, headers, body)
    }

    /// Invokes `user/function` synchronously with text input.
    pub fn call(&self, user: &str, function: &str, input: &str) -> Reply {
        self.post(serde_json::json!({"user": user, "function": function, "input_data": input}))
    }

    /// Sends raw bytes to the upload server and returns the status line's code and the body,
    /// for requests an HTTP client library would normalise (e.g. `..` in paths).
    pub fn raw_upload_request(&self, request: &str) -> (u16, String) {
        let address = self.upload.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
        let body = answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        (status, body)
    }

    /// Runs the `faasm` CLI against this server.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with_env(args, &[])
    }

    /// Runs the `faasm` CLI against this server with extra environment variables.
    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let port = |url: &str| url.rsplit(':').next().unwrap().to_owned();
        Command::new(FAASM)
            .args(args)
            .env("FAASM_HOST", "127.0.0.1")
            .env("FAASM_UPLOAD_PORT", port(&self.upload))
            .env("FAASM_INVOKE_PORT", port(&self.invoke))
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}

fn send(request: reqwest::blocking::RequestBuilder, url: &str) -> Reply {
    let response = request.send().unwrap_or_else(|e| panic!("{url}: {e}"));
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().unwrap().to_vec(),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Compiles `source` (relative to the repository root) with `faasm cc`, once per test run.
pub fn compile(source: &str) -> Vec<u8> {
    static BUILT: OnceLock<Mutex<HashMap<String, Vec<u8>>>> = OnceLock::new();
    static OUT_DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    if let Some(wasm) = built.lock().unwrap().get(source) {
        return wasm.clone();
    }
    let out_dir = OUT_DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let out = out_dir.path().join(source.replace('/', "_") + ".wasm");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(FAASM)
        .arg("cc")
        .arg("-o")
        .arg(&out)
        .arg(root.join(source))
        .status()
        .expect("run faasm cc");
    assert!(status.success(), "faasm cc failed for {source}");
    let wasm = std::fs::read(&out).unwrap();
    built
        .lock()
        .unwrap()
        .insert(source.to_owned(), wasm.clone());
    wasm
}

/// Polls a call's status until it is no longer RUNNING.
pub fn wait_for(server: &Server, id: u64) -> Reply {
    for _ in 0..1000 {
        let reply = server.post(serde_json::json!({"id": id, "status": true}));
        if !reply.text().starts_with("RUNNING") {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("call {id} still running after 20 s");
}

/// The `name=value` lines of a test function's report (tests/functions/report.h).
pub fn name_values(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// Checks that each `(name, value)` was reported.
pub fn check(results: &std::collections::BTreeMap<String, String>, expected: &[(&str, &str)]) {
    for (name, value) in expected {
        assert_eq!(
            results.get(*name).map(String::as_str),
            Some(*value),
            "{name} in {results:#?}"
        );
    }
}

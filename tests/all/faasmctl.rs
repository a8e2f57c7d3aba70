//! Faasm's own client, unchanged: the `faasmctl` CLI and library from PyPI (0.51.0, installed
//! by `scripts/setup` into `~/.cache/faasm-rs/faasmctl-venv`) against a real server, through a
//! generated `faasm.ini` whose planner is our invoke port. Every `faasmctl invoke` sleeps 2 s
//! before its first status poll, so each test starts its commands at once, on threads.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, compile};

/// The venv `scripts/setup` makes (`FAASMCTL_VENV` overrides it).
fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("FAASMCTL_VENV") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache/faasm-rs/faasmctl-venv")
}

/// A server, a scratch directory and the ini file that points faasmctl at the server.
struct Ctl {
    server: Server,
    dir: tempfile::TempDir,
    ini: PathBuf,
}

fn port(url: &str) -> &str {
    url.rsplit(':').next().unwrap()
}

impl Ctl {
    fn start() -> Ctl {
        let bin = venv().join("bin/faasmctl");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/setup",
            bin.display()
        );
        let server = Server::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("faasm.ini");
        std::fs::write(
            &ini,
            format!(
                "[Faasm]\nbackend = k8s\nupload_host = 127.0.0.1\nupload_port = {}\n\
                 planner_host = 127.0.0.1\nplanner_port = {}\n",
                port(&server.upload),
                port(&server.invoke)
            ),
        )
        .unwrap();
        Ctl { server, dir, ini }
    }

    /// Writes `bytes` into the scratch directory; returns the path as text.
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Compiles `source` and uploads it as `demo/function` with `faasmctl upload`.
    fn upload(&self, function: &str, source: &str) {
        let wasm = self.file(&format!("{function}.wasm"), &compile(source));
        let out = self.faasmctl(&["upload", "demo", function, &wasm]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_eq!(stdout(&out), "");
    }

    /// Runs `faasmctl ARGS` with `FAASM_INI_FILE` set (several commands read only that).
    fn faasmctl(&self, args: &[&str]) -> Output {
        self.run(Command::new(venv().join("bin/faasmctl")).args(args))
    }

    /// Runs a Python snippet with the venv's interpreter (faasmctl's library API).
    fn python(&self, script: &str) -> Output {
        self.run(
            Command::new(venv().join("bin/python"))
                .arg("-c")
                .arg(script),
        )
    }

    fn run(&self, command: &mut Command) -> Output {
        let mut child = command
            .env("FAASM_INI_FILE", &self.ini)
            .env_remove("FAASM_DOCKER")
            .env_remove("CPP_DOCKER")
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run faasmctl");
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        // faasmctl polls forever on "App not registered in results": never hang the suite.
        // (The first Python upload on a machine compiles the interpreter: allow for it.)
        let deadline = Instant::now() + Duration::from_secs(900);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let status = child.wait().unwrap();
                let out = Output {
                    status,
                    stdout: stdout.join().unwrap(),
                    stderr: stderr.join().unwrap(),
                };
                panic!("faasmctl did not finish in time: {}", show(&out));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    /// `faasmctl invoke demo ARGS...`.
    fn invoke(&self, args: &[&str]) -> Output {
        let mut all = vec!["invoke", "demo"];
        all.extend_from_slice(args);
        self.faasmctl(&all)
    }
}

/// Reads a pipe to its end on a thread (so a chatty child never blocks on a full pipe).
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).unwrap();
        bytes
    })
}

/// Runs every check on its own thread and waits for all (each faasmctl invoke mostly sleeps).
fn in_parallel(checks: Vec<Box<dyn FnOnce() + Send + '_>>) {
    std::thread::scope(|scope| {
        let running: Vec<_> = checks.into_iter().map(|check| scope.spawn(check)).collect();
        let failed = running.into_iter().filter_map(|t| t.join().err()).count();
        assert_eq!(failed, 0, "{failed} check(s) failed (see above)");
    });
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Checks faasmctl's summary of a finished call (tabs as it prints them) and its exit code,
/// which is the call's return value.
fn assert_summary(out: &Output, function: &str, return_value: i32, output: &str) {
    let text = stdout(out);
    for part in [
        "======================= Faasm Execution =========================\n".to_owned(),
        format!("Function: \t\t\tdemo/{function}\n"),
        format!("Return value: \t\t\t{return_value}\n"),
        "Wall time: \t\t\t".to_owned(),
        // finish_ts - start_ts of a short call: well under a second.
        "Execution time: \t\t0.".to_owned(),
        format!(
            "-----------------------------------------------------------------\nOutput:\n{output}\n\
             =================================================================\n"
        ),
    ] {
        assert!(text.contains(&part), "missing {part:?} in\n{}", show(out));
    }
    assert_eq!(out.status.code(), Some(return_value), "{}", show(out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Traceback"),
        "{}",
        show(out)
    );
}

/// `faasmctl invoke --output-format FORMAT` of `demo/function`: exit code 0 whatever the
/// call did, and one line.
fn formatted(ctl: &Ctl, function: &str, format: &str) -> String {
    let out = ctl.invoke(&[function, "--input-data", "x", "--output-format", format]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    stdout(&out)
}

#[test]
fn cli_uploads_invokes_flushes_and_uploads_files() {
    let ctl = Ctl::start();
    let ctl = &ctl;
    in_parallel(vec![
        Box::new(|| ctl.upload("echo", "examples/c/echo.c")),
        Box::new(|| ctl.upload("hello", "examples/c/hello.c")),
        Box::new(|| ctl.upload("args", "tests/functions/args.c")),
        Box::new(|| ctl.upload("fail", "examples/c/fail.c")),
    ]);
    assert_eq!(
        ctl.server.get("/f/demo").json(),
        json!(["args", "echo", "fail", "hello"])
    );
    let host_path = ctl.file("in.txt", b"shared bytes");

    in_parallel(vec![
        Box::new(|| {
            let out = ctl.invoke(&["echo", "--input-data", "Hello faasmctl"]);
            assert_summary(&out, "echo", 0, "Hello faasmctl");
        }),
        // No input at all: empty output.
        Box::new(|| assert_summary(&ctl.invoke(&["echo"]), "echo", 0, "")),
        // Captured stdout comes back in output_data, as in the sync body.
        Box::new(|| assert_summary(&ctl.invoke(&["hello"]), "hello", 0, "Hello faasm!\n")),
        // --cmdline becomes argv after the program name.
        Box::new(|| {
            let out = ctl.invoke(&["args", "--cmdline", "one two"]);
            assert_summary(&out, "args", 0, "function.wasm\none\ntwo\n");
        }),
        // --single-host only adds a hint to the batch.
        Box::new(|| {
            let out = ctl.invoke(&["echo", "-s", "--input-data", "one host"]);
            assert_summary(&out, "echo", 0, "one host");
        }),
        // A failure: the return value is the exit code, the output stdout then the reason.
        Box::new(|| {
            let out = ctl.invoke(&["fail"]);
            assert_summary(
                &out,
                "fail",
                3,
                "About to fail\nCall failed (return value=3)",
            );
        }),
        // A missing function is a failed message, not a failed request.
        Box::new(|| {
            let out = ctl.invoke(&["missing", "--input-data", "x"]);
            assert_summary(&out, "missing", 1, "Function demo/missing not found");
        }),
        // cold-start: the server's finish_ts (epoch ms) minus the client's start: small and
        // positive (no poll sleep in it). Without finish_ts it would be about -1.7e12.
        Box::new(|| {
            let cold: f64 = formatted(ctl, "echo", "cold-start").trim().parse().unwrap();
            assert!((-1.0..10_000.0).contains(&cold), "cold start {cold} ms");
        }),
        // exec-time: (finish_ts - start_ts) / 1000, two decimals; exit code 0 even for a
        // failed call.
        Box::new(|| {
            let exec = formatted(ctl, "fail", "exec-time");
            let seconds: f64 = exec.trim().parse().unwrap();
            assert!((0.0..10.0).contains(&seconds), "{exec}");
            assert_eq!(
                exec.trim().split('.').nth(1).map(str::len),
                Some(2),
                "{exec}"
            );
        }),
        // wall-time: faasmctl 0.51.0 prints the second-to-last character of "2.03 s".
        Box::new(|| assert_eq!(formatted(ctl, "echo", "wall-time"), " \n")),
        // start-end-ts: the client's own clock, around at least one 2 s poll.
        Box::new(|| {
            let ts = formatted(ctl, "echo", "start-end-ts");
            let (start, end) = ts.trim().split_once(',').unwrap();
            let (start, end): (f64, f64) = (start.parse().unwrap(), end.parse().unwrap());
            assert!(end - start >= 2.0, "{ts}");
        }),
        // --host-dist: PRELOAD_SCHEDULING_DECISION on our one host, then the batch with the
        // same appId.
        Box::new(|| {
            let out = ctl.invoke(&["echo", "--host-dist", "0:1", "--input-data", "d"]);
            assert_summary(&out, "echo", 0, "d");
        }),
        // More hosts than there are: faasmctl refuses by itself, after GET_AVAILABLE_HOSTS.
        Box::new(|| {
            let out = ctl.invoke(&["echo", "--host-dist", "0:1,1:1"]);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            assert_eq!(
                stdout(&out),
                "ERROR: requested execution among 2 hosts but only 1 available!\n"
            );
        }),
        // Flushing drops cached modules only: the invocations around it still find theirs.
        Box::new(|| {
            for command in ["flush.hosts", "flush.workers", "flush.all"] {
                let out = ctl.faasmctl(&[command]);
                assert_eq!(out.status.code(), Some(0), "{command}: {}", show(&out));
                assert_eq!(stdout(&out), "", "{command}");
            }
        }),
        Box::new(|| {
            let out = ctl.faasmctl(&[
                "upload.file",
                "--host-path",
                &host_path,
                "--faasm-path",
                "data/in.txt",
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            assert_eq!(stdout(&out), "Response (200): Shared file uploaded\n\n");
        }),
    ]);

    let url = format!("{}/file", ctl.server.upload);
    let reply = ctl.server.request(
        reqwest::Method::GET,
        &url,
        &[("FilePath", "data/in.txt")],
        Vec::new(),
    );
    assert_eq!((reply.status, reply.body), (200, b"shared bytes".to_vec()));
}

/// What `faasmctl.util.invoke.invoke_wasm` sends for a Python function (Faasm's runner names
/// in `user`/`function`), printing the first result.
fn invoke_python(function: &str, input: &str, dict_out: bool) -> String {
    let print = if dict_out {
        "m = r['messageResults'][0]\n\
         print(m['user'], m['function'], m['py_func'], repr(m['output_data']),\n\
               m.get('returnValue', 0), int(m['finish_ts']) >= int(m['start_ts']) > 0)\n"
    } else {
        "m = r.messageResults[0]\n\
         print(repr(m.outputData), m.returnValue, r.finished, len(r.messageResults))\n"
    };
    let dict_out = if dict_out { "True" } else { "False" };
    format!(
        "from base64 import b64encode\n\
         from faasmctl.util.invoke import invoke_wasm\n\
         r = invoke_wasm({{'user': 'python', 'function': 'py_func', 'python': True,\n\
                          'py_user': 'python', 'py_func': {function:?},\n\
                          'input_data': b64encode({input:?}.encode()).decode()}},\n\
                         dict_out={dict_out})\n\
         {print}"
    )
}

#[test]
fn library_python_planner_and_in_flight_apps() {
    let ctl = Ctl::start();
    let ctl = &ctl;
    let source = ctl.file(
        "pyecho.py",
        b"from pyfaasm.core import get_input, set_output\n\n\
          def faasm_main():\n    set_output(b\"py:\" + get_input())\n",
    );
    let broken = ctl.file("broken.py", b"def faasm_main():\n    return 1 // 0\n");
    ctl.server
        .upload("demo", "sleeper", &compile("tests/functions/sleeper.c"));
    // An app that runs for 30 s (longer than the test), for GET_IN_FLIGHT_APPS.
    let batch = json!({"appId": 31337, "user": "demo", "function": "sleeper", "messages": [
        {"id": 1, "appId": 31337, "user": "demo", "function": "sleeper", "input_data": "MzAwMDA="},
    ]});
    let execute = json!({"http_type": "EXECUTE_BATCH", "payload": batch.to_string()});
    let reply = ctl.server.post(execute.clone());
    assert_eq!(reply.status, 200, "{}", reply.text());

    in_parallel(vec![
        Box::new(|| {
            // upload_python always stores under user "python".
            let out = ctl.python(&format!(
                "from faasmctl.util.upload import upload_python\n\
                 upload_python('pyecho', {source:?})\n\
                 upload_python('broken', {broken:?})\n"
            ));
            assert_eq!(
                stdout(&out),
                "Response (200): Python function upload complete\n\n\
                 Response (200): Python function upload complete\n\n",
                "{}",
                show(&out)
            );
            in_parallel(vec![
                Box::new(|| {
                    let out = ctl.python(&invoke_python("pyecho", "abc", false));
                    assert_eq!(stdout(&out), "'py:abc' 0 True 1\n", "{}", show(&out));
                }),
                Box::new(|| {
                    let out = ctl.python(&invoke_python("broken", "", false));
                    let text = stdout(&out);
                    assert!(text.contains("ZeroDivisionError"), "{}", show(&out));
                    assert!(text.trim_end().ends_with("1 True 1"), "{}", show(&out));
                }),
                // dict_out: json names, int64 timestamps as strings. The message is echoed as
                // sent: Faasm's runner names, not the Python function's.
                Box::new(|| {
                    let out = ctl.python(&invoke_python("pyecho", "d", true));
                    assert_eq!(
                        stdout(&out),
                        "python py_func pyecho 'py:d' 0 True\n",
                        "{}",
                        show(&out)
                    );
                }),
            ]);
        }),
        Box::new(|| {
            let out = ctl.python(
                "from faasmctl.util.planner import get_in_fligh_apps\n\
                 apps = get_in_fligh_apps().apps\n\
                 print([(a.appId, a.size, len(a.hostIps)) for a in apps])\n",
            );
            assert_eq!(stdout(&out), "[(31337, 1, 1)]\n", "{}", show(&out));
            // A running app's id cannot name another batch.
            assert_eq!(ctl.server.post(execute.clone()).status, 409);
        }),
        // One node: after a reset the host is still there (reset waits for it), with its
        // slots; SET_POLICY is acknowledged.
        Box::new(|| {
            let out = ctl.python(
                "from faasmctl.util.planner import reset, get_available_hosts, \
                 set_planner_policy\n\
                 reset(expected_num_workers=1)\n\
                 set_planner_policy('bin-pack')\n\
                 hosts = get_available_hosts().hosts\n\
                 print(len(hosts), hosts[0].ip, hosts[0].slots >= 1)\n",
            );
            assert_eq!(stdout(&out), "1 127.0.0.1 True\n", "{}", show(&out));
        }),
    ]);

    // The envelope's texts are Faasm's.
    for (kind, text) in [
        ("RESET", "Planner fully reset!"),
        ("FLUSH_AVAILABLE_HOSTS", "Flushed available hosts!"),
        ("FLUSH_EXECUTORS", "Flushed executors!"),
        ("FLUSH_SCHEDULING_STATE", "Flushed scheduling state!"),
    ] {
        let reply = ctl.server.post(json!({"http_type": kind}));
        assert_eq!((reply.status, reply.text().as_str()), (200, text), "{kind}");
    }
}

#[test]
fn mpi_worlds_through_the_planner() {
    let ctl = Ctl::start();
    ctl.upload("p2p", "tests/functions/mpi/p2p.c");
    let (ok, expected) = crate::mpi::mpirun("p2p", 4, &[]);
    assert!(ok, "mpirun failed: {expected}");
    in_parallel(vec![
        Box::new(|| {
            let out = ctl.invoke(&["p2p", "--mpi-world-size", "4"]);
            assert_summary(&out, "p2p", 0, &expected);
        }),
        Box::new(|| {
            // One result per rank, as Faasm's planner reports a world.
            let out = ctl.python(
                "from faasmctl.util.invoke import invoke_wasm\n\
                 r = invoke_wasm({'user': 'demo', 'function': 'p2p', 'mpi_world_size': 4}, \
                 dict_out=True)\n\
                 print(sorted(m.get('mpiRank', 0) for m in r['messageResults']))",
            );
            assert_eq!(stdout(&out), "[0, 1, 2, 3]\n", "{}", show(&out));
        }),
    ]);
}

//! Python functions (SPEC §3 Python fields, §10) end to end: sources uploaded to `/p`, run by
//! the WebAssembly interpreter `scripts/setup` installs, invoked over HTTP and with the CLI.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Reply, Server, compile, wait_for};

/// Uploads Python `source` as `user/function`. The first upload on a machine compiles the
/// interpreter, so it may take minutes.
fn upload_python(server: &Server, user: &str, function: &str, source: &str) -> Reply {
    let url = format!("{}/p/{user}/{function}", server.upload);
    server.request_with_timeout(
        reqwest::Method::PUT,
        &url,
        source.as_bytes().to_vec(),
        Duration::from_secs(900),
    )
}

fn upload_ok(server: &Server, function: &str, source: &str) {
    let reply = upload_python(server, "demo", function, source);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "Python function upload complete\n");
}

fn example(name: &str) -> String {
    let path = format!("{}/examples/python/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn function_source(name: &str) -> String {
    let path = format!("{}/tests/functions/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// Uploads `source` as `demo/function`, calls it and checks that the call fails with `reason`
/// in its body.
fn assert_call_fails(server: &Server, function: &str, source: &str, reason: &str) {
    upload_ok(server, function, source);
    let reply = call_python(server, function, "");
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert!(reply.text().contains(reason), "{}", reply.text());
}

/// Calls the Python function `demo/function` synchronously.
fn call_python(server: &Server, function: &str, input: &str) -> Reply {
    server
        .post(json!({"python": true, "py_user": "demo", "py_func": function, "input_data": input}))
}

#[test]
fn echo_in_every_message_form() {
    let server = Server::start(&[]);
    upload_ok(&server, "echo", &example("echo.py"));
    let reply = call_python(&server, "echo", "Hello Python");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "Hello Python");
    assert_eq!(reply.header("x-faasm-return-value").as_deref(), Some("0"));
    // Faasm's own form names the runner in user/function.
    let reply = server.post(json!({
        "user": "python", "function": "py_func", "python": true,
        "py_user": "demo", "py_func": "echo", "input_data": "faasm form"
    }));
    assert_eq!(reply.text(), "faasm form");
    // Binary input.
    let reply = server.post(json!({
        "python": true, "py_user": "demo", "py_func": "echo", "input_b64": "AAEC/w=="
    }));
    assert_eq!(reply.body, [0, 1, 2, 255]);
    // Async, then a status poll that does not consume the result.
    let id: u64 = server
        .post(json!({"python": true, "py_user": "demo", "py_func": "echo",
                     "input_data": "later", "async": true}))
        .text()
        .parse()
        .unwrap();
    assert_eq!(wait_for(&server, id).text(), "SUCCESS: later");
    assert_eq!(wait_for(&server, id).text(), "SUCCESS: later");
    // The source is what was uploaded; a wasm function of the same name is another namespace.
    assert_eq!(server.get("/p/demo/echo").text(), example("echo.py"));
    assert_eq!(server.call("demo", "echo", "x").status, 404);
}

#[test]
fn stdout_comes_before_the_output() {
    let server = Server::start(&[]);
    upload_ok(&server, "hello", &example("hello.py"));
    let reply = call_python(&server, "hello", "faasm");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "Hello faasm from Python 3.15\ngreeted faasm");
    let json = server
        .post_json(json!({"python": true, "py_user": "demo", "py_func": "hello"}))
        .json();
    assert_eq!(json["stdout"], "Hello world from Python 3.15\n");
    assert_eq!(json["output_data"], "greeted world");
}

#[test]
fn an_exception_fails_the_call_with_its_traceback() {
    let server = Server::start(&[]);
    let source = "def helper(x):\n    raise ValueError(f'bad value {x}')\n\n\
                  def faasm_main():\n    print('before')\n    helper(42)\n";
    upload_ok(&server, "raises", source);
    let reply = call_python(&server, "raises", "");
    assert_eq!(reply.status, 500);
    let text = reply.text();
    assert!(text.starts_with("before\n"), "{text}");
    for part in [
        "Traceback (most recent call last):",
        "File \"demo/raises.py\", line 2, in helper",
        "raise ValueError(f'bad value {x}')",
    ] {
        assert!(text.contains(part), "{text}");
    }
    assert!(
        text.ends_with("Call failed: ValueError: bad value 42"),
        "{text}"
    );
    assert_eq!(reply.header("x-faasm-return-value").as_deref(), Some("1"));
    let json = server
        .post_json(json!({"python": true, "py_user": "demo", "py_func": "raises"}))
        .json();
    assert_eq!(json["status"], "FAILED");
    assert_eq!(json["error"], "Call failed: ValueError: bad value 42");
}

#[test]
fn return_values_and_exit_codes() {
    let server = Server::start(&[]);
    upload_ok(&server, "three", "def faasm_main():\n    return 3\n");
    let reply = call_python(&server, "three", "");
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "Call failed (return value=3)");
    assert_eq!(reply.header("x-faasm-return-value").as_deref(), Some("3"));

    upload_ok(
        &server,
        "exits",
        "import sys\ndef faasm_main():\n    sys.exit(4)\n",
    );
    assert_eq!(
        call_python(&server, "exits", "").text(),
        "Call failed (return value=4)"
    );

    upload_ok(&server, "zero", "def faasm_main():\n    return 0\n");
    assert_eq!(call_python(&server, "zero", "").status, 200);

    assert_call_fails(
        &server,
        "text",
        "def faasm_main():\n    return 'done'\n",
        "Call failed: TypeError: faasm_main() returned 'done': expected an int (32-bit) or None",
    );
}

#[test]
fn numpy_solves_a_linear_system() {
    let server = Server::start(&[]);
    upload_ok(&server, "solve", &example("solve.py"));
    let reply = call_python(&server, "solve", "[1, -2, 0]");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "[1.0, -2.0, -2.0]");
    let reply = call_python(&server, "solve", "[8, -11, -3]");
    let x: Vec<f64> = serde_json::from_slice(&reply.body).unwrap();
    // A x = b checked here, not by numpy.
    let a = [[3.0, 2.0, -1.0], [2.0, -2.0, 4.0], [-1.0, 0.5, -1.0]];
    let b = [8.0, -11.0, -3.0];
    for (row, want) in a.iter().zip(b) {
        let got: f64 = row.iter().zip(&x).map(|(a, x)| a * x).sum();
        assert!((got - want).abs() < 1e-6, "{x:?}");
    }
}

#[test]
fn calls_are_isolated_and_module_code_runs_once_at_upload() {
    let server = Server::start(&[]);
    let source = "import random\nprint('importing')\nCOUNT = [0]\n\
                  def faasm_main():\n    COUNT[0] += 1\n    print(COUNT[0], random.random())\n";
    upload_ok(&server, "isolated", source);
    let first = call_python(&server, "isolated", "").text();
    let second = call_python(&server, "isolated", "").text();
    // Nothing printed at import reaches a call; no call sees another's change.
    assert!(first.starts_with("1 "), "{first}");
    assert!(second.starts_with("1 "), "{second}");
    // Each call gets its own random numbers, though all start from one snapshot.
    assert_ne!(first, second);
}

#[test]
fn every_call_starts_from_the_snapshot_however_much_it_wrote() {
    // Calls write a MiB of the snapshot, grow the memory past it and change a module global;
    // the next call of the same function (which may reuse the memory's resident copy) sees
    // none of it. With a tiny --python-resident-bytes most written pages go back to the file's
    // pages; with --python-resident-copies 0 every call maps the snapshot afresh.
    let source = "DATA = bytearray(1 << 20)\nCOUNT = [0]\n\
                  def faasm_main():\n    \
                      clean = DATA.count(0) == len(DATA)\n    \
                      DATA[:] = b'\\xff' * len(DATA)\n    \
                      grown = bytearray(24 << 20)\n    \
                      COUNT[0] += 1\n    \
                      print(COUNT[0], clean, len(grown))\n";
    for flags in [
        &[][..],
        &["--python-resident-bytes", "64KiB"][..],
        &["--python-resident-copies", "0"][..],
    ] {
        let server = Server::start(flags);
        upload_ok(&server, "writer", source);
        for _ in 0..4 {
            let printed = call_python(&server, "writer", "").text();
            assert_eq!(printed, format!("1 True {}\n", 24 << 20), "{flags:?}");
        }
    }
}

#[test]
fn reupload_replaces_the_function_at_once() {
    let server = Server::start(&[]);
    upload_ok(&server, "version", "def faasm_main():\n    print('one')\n");
    assert_eq!(call_python(&server, "version", "").text(), "one\n");
    upload_ok(&server, "version", "def faasm_main():\n    print('two')\n");
    assert_eq!(call_python(&server, "version", "").text(), "two\n");
}

#[test]
fn bad_sources_are_refused_at_upload_and_not_stored() {
    let server = Server::start(&[]);
    for (source, expected) in [
        (
            "def faasm_main(:\n    pass\n",
            "Python function failed to import: SyntaxError",
        ),
        (
            "import no_such_module\ndef faasm_main():\n    pass\n",
            "Python function failed to import: ModuleNotFoundError: No module named 'no_such_module'",
        ),
        (
            "def main():\n    pass\n",
            "Python function failed to import: AttributeError: demo/bad.py defines no function faasm_main()",
        ),
        (
            "from pyfaasm.core import get_input\nget_input()\ndef faasm_main():\n    pass\n",
            "pyfaasm's host calls are available while a call runs, not while the module is imported",
        ),
    ] {
        let reply = upload_python(&server, "demo", "bad", source);
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(reply.text().contains(expected), "{}", reply.text());
        assert_eq!(server.get("/p/demo/bad").status, 404, "nothing is stored");
    }
    // A module that raises SystemExit at import is refused too, and the server goes on.
    let reply = upload_python(&server, "demo", "bad", "raise SystemExit(2)\n");
    assert_eq!(reply.status, 400, "{}", reply.text());
    upload_ok(&server, "echo", &example("echo.py"));
    assert_eq!(
        call_python(&server, "echo", "still here").text(),
        "still here"
    );
}

#[test]
fn a_spinning_function_times_out_and_others_still_run() {
    let server = Server::start(&["--call-timeout", "1", "--workers", "1"]);
    upload_ok(
        &server,
        "spin",
        "def faasm_main():\n    while True:\n        pass\n",
    );
    upload_ok(&server, "echo", &example("echo.py"));
    let id: u64 = server
        .post(json!({"python": true, "py_user": "demo", "py_func": "spin", "async": true}))
        .text()
        .parse()
        .unwrap();
    // On one worker the spinning call yields at every epoch tick.
    assert_eq!(
        call_python(&server, "echo", "meanwhile").text(),
        "meanwhile"
    );
    let status = wait_for(&server, id);
    assert_eq!(status.text(), "FAILED: Call failed: timed out after 1s");
}

#[test]
fn memory_and_output_limits_hold() {
    let server = Server::start(&["--memory-limit", "256MiB", "--output-limit", "1KiB"]);
    assert_call_fails(
        &server,
        "hog",
        "def faasm_main():\n    data = bytearray(512 * 1024 * 1024)\n    return len(data)\n",
        "Call failed: memory limit of 268435456 bytes exceeded",
    );
    assert_call_fails(
        &server,
        "big",
        "from pyfaasm.core import set_output\ndef faasm_main():\n    set_output(b'x' * 2048)\n",
        "FaasmError: output of 2048 bytes exceeds the limit of 1024 bytes",
    );
    // Endless printing is capped like any call's stdout.
    upload_ok(
        &server,
        "chatty",
        "def faasm_main():\n    for i in range(10**6):\n        print('spam' * 20)\n",
    );
    let reply = call_python(&server, "chatty", "");
    assert_eq!(reply.status, 200);
    assert!(reply.body.len() < (1 << 20) + 1024, "{}", reply.body.len());
}

#[test]
fn state_written_by_c_is_read_by_python_and_back() {
    let server = Server::start(&[]);
    server.upload(
        "demo",
        "c_counter",
        &compile("tests/functions/state_counter.c"),
    );
    upload_ok(&server, "py_counter", &function_source("state_counter.py"));
    let mut expected = 0;
    for round in 0..3 {
        expected += 1;
        assert_eq!(
            server.call("demo", "c_counter", "shared").text(),
            expected.to_string()
        );
        expected += 1;
        let reply = call_python(&server, "py_counter", "shared");
        assert_eq!(reply.text(), expected.to_string(), "round {round}");
    }
    assert_eq!(server.get("/s/demo/shared").body, 6i32.to_le_bytes());

    // What Python writes with every state call, read back over HTTP and by Python.
    let source = r#"
from pyfaasm.core import *

def faasm_main():
    write_state("greeting", b"hello world")
    push_state("greeting")
    write_state_offset("greeting", 11, 0, b"HELLO")
    push_state_partial("greeting")
    assert read_state_offset("greeting", 11, 6, 5) == b"world"
    append_state("list", b"a")
    append_state("list", b"bc")
    parts = read_appended_state("list", 2)
    clear_appended_state("list")
    set_state("set", b"via set_state")
    try:
        unlock_state_write("greeting")
    except FaasmError as e:
        print("refused:", e)
    set_output(read_state("greeting") + b"|" + b",".join(parts) + b"|" + get_state("set"))
"#;
    upload_ok(&server, "ops", source);
    let reply = call_python(&server, "ops", "");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        "refused: unlock_state_write: this call holds no write lock of state key \"greeting\"\n\
         HELLO world|a,bc|via set_state"
    );
    assert_eq!(server.get("/s/demo/greeting").text(), "HELLO world");
    assert_eq!(server.get("/s/demo/set").text(), "via set_state");
    let put = server.put("/s/demo/from_http", b"set over http".to_vec());
    assert_eq!(put.status, 200);
    upload_ok(
        &server,
        "reader",
        "from pyfaasm.core import *\ndef faasm_main():\n    \
         set_output(read_state('from_http') + str(read_state_size('from_http')).encode())\n",
    );
    assert_eq!(call_python(&server, "reader", "").text(), "set over http13");
}

#[test]
fn a_python_function_chains_its_own_entries() {
    let server = Server::start(&["--workers", "1"]);
    upload_ok(&server, "chain", &example("chain.py"));
    // 1 + 4 + 9 + 16 + 25, each square a chained call, on a single worker.
    let reply = call_python(&server, "chain", "5");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "55");
    let source = "from pyfaasm.core import chain\ndef faasm_main():\n    chain('nope', b'')\n";
    assert_call_fails(
        &server,
        "bad_chain",
        source,
        "Call failed: ValueError: chain: 'nope' is not a function defined in this module",
    );
}

#[test]
fn cmdline_becomes_sys_argv() {
    let server = Server::start(&[]);
    upload_ok(
        &server,
        "argv",
        "import sys\ndef faasm_main():\n    print(sys.argv)\n",
    );
    let reply = server.post(json!({"python": true, "py_user": "demo", "py_func": "argv",
                                   "cmdline": "a b"}));
    assert_eq!(reply.text(), "['demo/argv.py', 'a', 'b']\n");
}

#[test]
fn the_cli_uploads_and_invokes_python() {
    let server = Server::start(&[]);
    let file = format!("{}/examples/python/hello.py", env!("CARGO_MANIFEST_DIR"));
    let out = server.cli(&["upload", "demo", "hello", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Python function upload complete\n"
    );
    let out = server.cli(&["invoke", "demo", "hello", "--python", "-i", "cli"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello cli from Python 3.15\ngreeted cli"
    );
}

#[test]
fn python_functions_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path(), &[]);
    upload_ok(&server, "solve", &example("solve.py"));
    server.stop();
    let server = Server::start_in(data.path(), &[]);
    assert_eq!(
        call_python(&server, "solve", "[1, -2, 0]").text(),
        "[1.0, -2.0, -2.0]"
    );
}

#[test]
fn without_the_interpreter_python_is_refused_clearly() {
    let server = Server::start(&["--python-dir", "/nonexistent/python"]);
    let reply = upload_python(&server, "demo", "echo", &example("echo.py"));
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(
        reply.text(),
        "Python is not available on this host: the interpreter is not installed \
         (/nonexistent/python/python.wasm is missing: run scripts/setup)"
    );
    assert_eq!(server.get("/p/demo/echo").status, 404);
}

#[test]
fn pyfaasm_local_modes_config_matrix_data_and_objects() {
    let server = Server::start(&[]);
    upload_ok(&server, "compat", &function_source("pyfaasm_compat.py"));
    let reply = call_python(&server, "compat", "");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "compat ok");
}

#[test]
fn faasm_matrix_multiplication_runs_over_state_and_chained_calls() {
    let server = Server::start(&[]);
    upload_ok(&server, "matmul", &function_source("matrix_mul.py"));
    // 0 splits multiplies in the call; 1 split chains 8 calls of pyfaasm.matrix's worker (the
    // module defines none, so chain() names it "pyfaasm.matrix:distributed_divide_and_conquer").
    for input in ["8 0", "16 1"] {
        let json = server
            .post_json(
                json!({"python": true, "py_user": "demo", "py_func": "matmul",
                              "input_data": input}),
            )
            .json();
        assert_eq!(json["status"], "SUCCESS", "{json}");
        let (size, splits) = input.split_once(' ').unwrap();
        assert_eq!(
            json["output_data"],
            format!("{size}x{size}, {splits} splits: ok"),
            "{json}"
        );
        assert_eq!(
            json["stdout"],
            format!("Running divide and conquer for {size}x{size} matrix with {splits} splits\n")
        );
    }
    // What it leaves in state has Faasm's layout: the int32 parameters, float32 matrices.
    let params = server.get("/s/demo/matrix_state").body;
    assert_eq!(params, [16i32.to_le_bytes(), 1i32.to_le_bytes()].concat());
    assert_eq!(server.get("/s/demo/result_matrix").body.len(), 16 * 16 * 4);
    assert_eq!(server.get("/s/demo/mat_a_1_1_0").body.len(), 8 * 8 * 4);
    assert_eq!(
        server.get("/s/demo/intermediate_1_0_1_1_1").body.len(),
        8 * 8 * 4
    );

    // Faasm's mat_mul.py way: the module defines a worker of the same name that takes no
    // parameters and reads its input; chained calls find it by name and call it without one.
    let source = function_source("matrix_mul.py")
        + "\n\ndef distributed_divide_and_conquer():\n    \
           print('worker')\n    mat.distributed_divide_and_conquer(get_input())\n";
    upload_ok(&server, "matmul_worker", &source);
    let reply = call_python(&server, "matmul_worker", "8 1");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().ends_with("8x8, 1 splits: ok"),
        "{}",
        reply.text()
    );
}

#[test]
fn faasm_environment_and_etc() {
    let server = Server::start(&[]);
    let source = "import os, sys\n\
                  NAMES = ['PYTHONWASM', 'PYTHONHASHSEED', 'PYTHONNOUSERSITE', 'MKL_NUM_THREADS', \
                  'OPENBLAS_NUM_THREADS', 'PYTHONHOME', 'PYTHON_LOCAL_CHAINING', \
                  'PYTHON_LOCAL_OUTPUT']\n\
                  def faasm_main():\n    \
                  print(' '.join(f'{n}={os.environ.get(n)}' for n in NAMES))\n    \
                  print(repr(open('/etc/hosts').read()), sorted(os.listdir('/etc')), \
                  sys.stdout.isatty())\n";
    upload_ok(&server, "env", source);
    // Faasm's environment but for PYTHONHOME (the library is elsewhere); the C calls' /etc;
    // stdout is not a terminal for Python (CPython would colour its tracebacks).
    assert_eq!(
        call_python(&server, "env", "").text(),
        "PYTHONWASM=1 PYTHONHASHSEED=0 PYTHONNOUSERSITE=on MKL_NUM_THREADS=1 \
         OPENBLAS_NUM_THREADS=1 PYTHONHOME=None PYTHON_LOCAL_CHAINING=None \
         PYTHON_LOCAL_OUTPUT=None\n\
         '127.0.0.1\\tlocalhost\\n' ['hosts', 'localtime', 'passwd', 'resolv.conf'] False\n"
    );
}

#[test]
fn chained_entries_check_their_input_exit_and_share_pickled_state() {
    // The patterns of Faasm's chain.py and dict_state.py: entries compare their input and
    // exit(n) (the site builtin) on a mismatch; a dict goes through state by pickle.
    let server = Server::start(&[]);
    let source = r#"
import pickle
from pyfaasm.core import await_call, chain, read_state, read_state_size, write_state

def expect_abc(data):
    if data != b"abc":
        exit(3)
    return 0

def extend(data):
    d = pickle.loads(read_state("dict_a", read_state_size("dict_a")))
    d["added"] = data.decode()
    write_state("dict_b", pickle.dumps(d))

def faasm_main():
    good, bad = chain(expect_abc, b"abc"), chain(expect_abc, b"xyz")
    write_state("dict_a", pickle.dumps({"alpha": "beta"}))
    call = chain(extend, b"gamma")
    results = [await_call(good), await_call(bad), await_call(call)]
    d = pickle.loads(read_state("dict_b", read_state_size("dict_b")))
    print(results, d)
"#;
    upload_ok(&server, "chained", source);
    let reply = call_python(&server, "chained", "");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        "[0, 3, 0] {'alpha': 'beta', 'added': 'gamma'}\n"
    );
}

#[test]
fn state_segments_read_with_a_smaller_total() {
    // Faasm's state_test_read.py reads segments as read_state_offset(key, n, offset, n): the
    // total it passes is the segment's length, and Faasm uses the existing value's size.
    let server = Server::start(&[]);
    let writer = r#"
from pyfaasm.core import *

def faasm_main():
    write_state("segments", b"0123456789")
    push_state("segments")
    write_state_offset("segments", 10, 2, b"999")
    push_state_partial("segments")
"#;
    let reader = r#"
from pyfaasm.core import *

def faasm_main():
    assert read_state("segments", 10) == b"0199956789"
    parts = [read_state_offset("segments", n, offset, n) for offset, n in [(0, 3), (4, 4)]]
    set_output(b",".join(parts))
"#;
    upload_ok(&server, "writer", writer);
    upload_ok(&server, "reader", reader);
    assert_eq!(call_python(&server, "writer", "").status, 200);
    let reply = call_python(&server, "reader", "");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "019,9567");
    // A segment past the end of the value is still refused.
    let past = "from pyfaasm.core import *\ndef faasm_main():\n    \
                read_state_offset('segments', 4, 8, 4)\n";
    assert_call_fails(&server, "past", past, "FaasmError");
}

#[test]
fn documented_upstream_api_changes_hold() {
    // docs/api.md lists what Faasm's own Python functions use that numpy 2 and Python 3.15
    // removed; this keeps the list true for the shipped interpreter.
    let server = Server::start(&[]);
    let source = "import bisect, sys\nimport numpy as np\n\
                  def faasm_main():\n    print(\n        \
                  hasattr(np.ndarray, 'itemset'), hasattr(np.__config__, 'get_info'),\n        \
                  getattr(bisect, '__cached__', None), np.__version__.split('.')[0],\n        \
                  sys.version_info[:2],\n    )\n";
    upload_ok(&server, "changes", source);
    assert_eq!(
        call_python(&server, "changes", "").text(),
        "False False None 2 (3, 15)\n"
    );
}

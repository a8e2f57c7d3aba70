//! Faasm's C/C++ guest library beyond the core API (SPEC §4): the helper headers
//! (`faasm/compare.h`, `random.h`, `time.h`, `files.h`, `print.h`, `state.h`, `array.h`,
//! `shared_mem.h`, `migrate.h`, `emscripten.h`), the wasi-libc emulations `faasm cc` links as
//! Faasm's toolchain does (mmap, clock, signal, getpid, long double printf), and the debugging
//! host calls (`__faasm_backtrace`, `__faasm_host_interface_test`); and what Faasm's runtime
//! gives every function besides its API: terminals, its environment variables, `/etc`.
//!

use std::collections::BTreeMap;

use serde_json::json;

use crate::harness::{Reply, Server, check, compile, name_values};

/// Invokes demo/`function` with `input`, asking for the JSON form of the result.
fn call_json(server: &Server, function: &str, input: &str) -> Reply {
    server.post_json(json!({"user": "demo", "function": function, "input_data": input}))
}

/// The "name=value" lines of a successful call's output.
fn lines(reply: &Reply) -> BTreeMap<String, String> {
    let json = reply.json();
    assert_eq!(json["status"], "SUCCESS", "{json:#}");
    name_values(json["output_data"].as_str().unwrap())
}

#[test]
fn faasm_helper_headers_work_as_in_faasm() {
    let server = Server::start(&[]);
    server.upload("demo", "libfaasm", &compile("tests/functions/libfaasm.cpp"));
    let reply = call_json(&server, "libfaasm", "");
    check(
        &lines(&reply),
        &[
            // time.h
            ("epoch_sane", "1"),
            ("epoch_monotone", "1"),
            // random.h
            ("int_in_range", "1"),
            ("int_all_seen", "1"),
            ("float_in_unit", "1"),
            ("float_mean_ok", "1"),
            ("int_range_is_permutation", "1"),
            ("shuffle_keeps_values", "1"),
            ("string_len", "32"),
            ("string_alphabet", "1"),
            // compare.h
            ("equal_int", "1"),
            ("equal_uint8", "1"),
            ("unequal_int", "0"),
            ("unequal_double", "0"),
            // files.h
            ("length", "11"),
            ("contents", "hello files"),
            ("missing_length", "-1"),
            ("missing_contents", "1"),
            ("empty_contents", "1"),
            // state.h, array.h
            ("zero_state_size", "8"),
            ("zero_state_sum", "0"),
            ("async_array", "0,7,0,9"),
            ("mask_double", "0,0,ffffffff,ffffffff"),
            // shared_mem.h: the markup leaves the code around it to run as written
            ("reduce", "45"),
            ("atomic_and_critical", "13"),
            ("reduce_double", "1.75"),
            // migrate.h: the call never migrates, so the entry point is not called
            ("migrate_continued", "1"),
            ("migrate_resumed_with", "-1"),
            // emscripten.h
            ("siprintf", "Hi foobar 123"),
            ("siprintf_len", "13"),
        ],
    );
    // What compareArrays / printArray and FAASM_PROF_END print.
    let json = reply.json();
    let stdout = json["stdout"].as_str().unwrap();
    let mut printed = stdout.lines();
    let timing = printed.next().unwrap();
    assert!(timing.starts_with("TIME: work "), "{stdout}");
    assert!(timing["TIME: work ".len()..].parse::<f64>().unwrap() >= 0.0);
    assert_eq!(
        printed.collect::<Vec<_>>(),
        [
            "Arrays not equal: A=[1, 2, 3] B=[1, 2, 4]",
            "Arrays not equal: A=[1.500000, 2.500000] B=[1.500000, 2.750000]",
            "[0, 1, 254, 255]",
            "[1.500000, 2.500000]",
        ]
    );
    // zeroState and AsyncArray::push reached the global tier.
    assert_eq!(server.get("/s/demo/helpers_zero").body, vec![0u8; 8]);
    let array: Vec<u8> = [0i32, 7, 0, 9]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(server.get("/s/demo/helpers_array").body, array);
}

#[test]
fn faasm_cc_links_the_wasi_libc_emulations() {
    let server = Server::start(&[]);
    server.upload("demo", "posix", &compile("tests/functions/posix_emul.c"));
    let reply = call_json(&server, "posix", "");
    check(
        &lines(&reply),
        &[
            ("mmap_anon", "ok"),
            ("mmap_zeroed", "1"),
            ("mmap_last_byte", "255"),
            ("munmap", "0"),
            ("mmap_munmap_200", "1"),
            ("mmap_file", "mapped file contents"),
            ("clock_nonnegative", "1"),
            ("clock_advances", "1"),
            ("getrusage", "0"),
            ("Lf", "1.500000"),
            ("Le", "1.235e+04"),
            ("strtold", "2.5"),
            ("sscanf_Lf", "7.125"),
            ("sizeof", "16"),
            ("getpid_positive", "1"),
            ("getpid_stable", "1"),
            ("signal_previous_default", "1"),
            ("raise_usr1", "0"),
            ("handled", "1"),
            ("raise_ignored", "0"),
        ],
    );
    assert_eq!(reply.json()["stdout"], "printf %Lf: 3.250000\n");

    // A raised SIGTERM with its default action ends the call, which fails.
    let reply = call_json(&server, "posix", "raise_term");
    assert_eq!(reply.status, 500, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["status"], "FAILED");
    let stdout = json["stdout"].as_str().unwrap();
    assert!(stdout.starts_with("raising SIGTERM\n"), "{stdout}");
    assert!(!stdout.contains("still running"), "{stdout}");
    assert!(
        json["error"].as_str().unwrap().starts_with("Call failed"),
        "{json:#}"
    );
}

#[test]
fn backtrace_logs_and_carries_on() {
    let server = Server::start(&[]);
    server.upload("demo", "debug", &compile("tests/functions/debug_hooks.c"));
    let reply = server.call("demo", "debug", "backtrace");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "after backtrace")
    );
}

#[test]
fn an_error_in_a_host_call_fails_the_call() {
    let server = Server::start(&[]);
    server.upload("demo", "debug", &compile("tests/functions/debug_hooks.c"));
    let reply = call_json(&server, "debug", "host_error");
    assert_eq!(reply.status, 500, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["status"], "FAILED");
    assert_eq!(json["stdout"], "before host error\n");
    assert_eq!(json["output_data"], "");
    // The host's message (wording is the host's choice) names the test.
    let error = json["error"].as_str().unwrap();
    assert!(error.starts_with("Call failed"), "{error}");
    // The server is fine afterwards.
    let reply = server.call("demo", "debug", "backtrace");
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn terminals_environment_and_etc_are_faasms() {
    let server = Server::start(&[]);
    server.upload("demo", "root", &compile("tests/functions/runtime_root.c"));
    server.upload(
        "demo",
        "root_zygote",
        &compile("tests/functions/runtime_root_zygote.c"),
    );
    let expected = [
        // Faasm reports stdout and stderr as terminals; stdin is not claimed to be one.
        ("isatty_stdin", "0"),
        ("isatty_stdout", "1"),
        ("isatty_stderr", "1"),
        ("stdout_chr", "1"),
        ("stderr_chr", "1"),
        // Faasm's fixed environment, and nothing else.
        ("PYTHONWASM", "1"),
        ("PYTHONHOME", "/"),
        ("PYTHON_PATH", "/"),
        ("PYTHONHASHSEED", "0"),
        ("PYTHONNOUSERSITE", "on"),
        ("MKL_NUM_THREADS", "1"),
        ("OPENBLAS_NUM_THREADS", "1"),
        ("env_count", "7"),
        ("FOOBAR_before", "unset"),
        ("FOOBAR_after", "BAZ"),
        // /etc, read-only.
        ("hosts", "127.0.0.1\tlocalhost"),
        ("passwd_root", "1"),
        ("resolv_nameserver", "1"),
        ("localtime_magic", "TZif2"),
        ("hosts_size", "20"),
        ("etc_is_dir", "1"),
        ("mmap_hosts", "127.0.0.1"),
        ("listing", "hosts,localtime,passwd,resolv.conf"),
        ("write_hosts", "Operation not permitted"),
        ("create_file", "Operation not permitted"),
        ("shadow", "No such file or directory"),
        ("utc_offset", "0"),
    ];
    for function in ["root", "root_zygote"] {
        let reply = call_json(&server, function, "");
        let results = lines(&reply);
        check(&results, &expected);
        // A terminal's stdout is line-buffered: the lines arrive in the order printed.
        assert_eq!(reply.json()["stdout"], "out\nerr\nout2\n", "{function}");
        if function == "root_zygote" {
            // The zygote saw the same, and its calls keep seeing it.
            check(
                &results,
                &[
                    ("zygote_env", "1"),
                    ("zygote_hosts", "127.0.0.1\tlocalhost"),
                ],
            );
        }
    }
}

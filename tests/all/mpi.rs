//! MPI worlds (SPEC §9, docs/mpi.md): C programs compiled by the real `faasm cc` run as
//! worlds, and the very same sources compiled by OpenMPI's `mpicc` and run by `mpirun` give
//! the expected answer. The programs print from rank 0 only, so a world's stdout (rank 0's)
//! must equal mpirun's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::calls_run;
use crate::harness::{Reply, Server, compile};
use crate::redis::Redis;

/// `source` (under tests/functions/mpi) built by OpenMPI's `mpicc`, once per test run.
fn native(source: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    static OUT_DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(binary) = built.get(source) {
        return binary.clone();
    }
    let out = OUT_DIR
        .get_or_init(|| tempfile::tempdir().unwrap())
        .path()
        .join(source);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/functions/mpi");
    let status = Command::new("mpicc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(root.join(format!("{source}.c")))
        .status()
        .expect("run mpicc (scripts/setup installs openmpi-bin and libopenmpi-dev)");
    assert!(status.success(), "mpicc failed for {source}");
    built.insert(source.to_owned(), out.clone());
    out
}

/// What OpenMPI's `mpirun -np ranks` prints for `source`, and whether it succeeded.
pub(crate) fn mpirun(source: &str, ranks: u32, args: &[&str]) -> (bool, String) {
    // A launch of mpirun can fail on its own when the machine is busy (many tests start
    // worlds at once): a failure is tried again before it counts, and reports mpirun's stderr.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let output = Command::new("mpirun")
            .args(["--allow-run-as-root", "--oversubscribe", "-np"])
            .arg(ranks.to_string())
            .arg(native(source))
            .args(args)
            .output()
            .expect("run mpirun");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return (true, stdout);
        }
        if attempts == 3 {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return (false, format!("{stdout}\n--- stderr ---\n{stderr}"));
        }
    }
}

/// Invokes `source` as a world of `ranks`, answered as JSON.
fn world(server: &Server, source: &str, ranks: u32, cmdline: &str) -> Reply {
    server.post_json(json!({
        "user": "mpi",
        "function": source,
        "mpi": true,
        "mpi_world_size": ranks,
        "cmdline": cmdline,
    }))
}

fn upload(server: &Server, source: &str) {
    let wasm = compile(&format!("tests/functions/mpi/{source}.c"));
    server.upload("mpi", source, &wasm);
}

/// Runs `source` with `ranks` under both and checks that faasm-rs printed what OpenMPI did.
fn matches_openmpi(server: &Server, source: &str, ranks: u32) {
    matches_openmpi_with(server, source, ranks, "");
}

/// The same, with command-line arguments.
fn matches_openmpi_with(server: &Server, source: &str, ranks: u32, cmdline: &str) {
    let args: Vec<&str> = cmdline.split_whitespace().collect();
    let (ok, expected) = mpirun(source, ranks, &args);
    assert!(ok, "mpirun failed: {expected}");
    let json = world(server, source, ranks, cmdline).json();
    assert_eq!(json["status"], "SUCCESS", "{json:#}");
    let stdout = json["stdout"].as_str().unwrap();
    assert_eq!(stdout, expected, "{source} {cmdline} with {ranks} ranks");
}

#[test]
fn point_to_point_matches_openmpi() {
    let server = Server::start(&[]);
    upload(&server, "p2p");
    matches_openmpi(&server, "p2p", 5);
}

#[test]
fn collectives_match_openmpi() {
    let server = Server::start(&[]);
    upload(&server, "collectives");
    // A power of two (recursive doubling) and not (reduce + broadcast).
    matches_openmpi(&server, "collectives", 4);
    matches_openmpi(&server, "collectives", 5);
}

#[test]
fn cartesian_topologies_match_openmpi() {
    let server = Server::start(&[]);
    upload(&server, "cart");
    matches_openmpi(&server, "cart", 12);
}

#[test]
fn sixteen_ranks_finish_on_two_workers() {
    let server = Server::start(&["--workers", "2"]);
    upload(&server, "p2p");
    upload(&server, "cart");
    matches_openmpi(&server, "p2p", 16);
    matches_openmpi(&server, "cart", 16);
}

#[test]
fn worlds_that_do_not_fit_together_take_turns() {
    // 16 instances leave 12 for one user, of which a world may take 10: two worlds of 8
    // cannot both be admitted, and each must be admitted whole or wait.
    let server = Server::start(&["--max-instances", "16", "--workers", "2"]);
    upload(&server, "collectives");
    let (ok, expected) = mpirun("collectives", 8, &[]);
    assert!(ok, "mpirun failed: {expected}");
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| world(&server, "collectives", 8, "")))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for reply in replies {
        let json = reply.json();
        assert_eq!(json["status"], "SUCCESS", "{json:#}");
        assert_eq!(json["stdout"].as_str().unwrap(), expected);
    }
}

#[test]
fn a_failing_rank_fails_the_world_and_releases_the_others() {
    // The other ranks wait for a message that never comes: only the world failing ends them
    // (the call timeout is far beyond the client's).
    let server = Server::start(&["--call-timeout", "600", "--mpi-buffer-limit", "1MiB"]);
    upload(&server, "fail");
    let (ok, _) = mpirun("fail", 4, &["abort"]);
    assert!(!ok, "OpenMPI's world should fail too");
    for (how, reason) in [
        ("abort", "rank 2 aborted the world with error code 3"),
        ("exit", "return value=3"),
        ("trap", "trap"),
        ("unsupported", "MPI_Comm_split is not supported"),
        ("flood", "past 1048576 bytes (--mpi-buffer-limit)"),
    ] {
        let json = world(&server, "fail", 4, how).json();
        assert_eq!(json["status"], "FAILED", "{json:#}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains("MPI world failed: rank 2"), "{how}: {error}");
        assert!(error.contains(reason), "{how}: {error}");
    }
    // A rank waiting in a large send (its buffer lent to a receiver that never takes it)
    // is released too, and the host runs the next world.
    let json = world(&server, "fail", 4, "lent").json();
    assert_eq!(json["status"], "FAILED", "{json:#}");
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("rank 1 aborted the world with error code 4"),
        "{error}"
    );
    upload(&server, "p2p");
    matches_openmpi(&server, "p2p", 4);
}

#[test]
fn worlds_are_checked_before_they_start() {
    let server = Server::start(&["--max-instances", "16"]);
    upload(&server, "p2p");
    let reply = world(&server, "p2p", 11, "");
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().contains("at most 10 ranks"),
        "{}",
        reply.text()
    );
    // Without "mpi": true, MPI_Init fails the call with a clear reason.
    let json = server
        .post_json(json!({"user": "mpi", "function": "p2p"}))
        .json();
    assert_eq!(json["status"], "FAILED", "{json:#}");
    let error = json["error"].as_str().unwrap();
    assert!(error.contains("not an MPI call"), "{error}");
}

/// Two hosts on one Redis, with room for `instances[i]` instances each: 8 leave a world 5
/// (less the children's reserve and within the user's share), 4 leave it 2.
fn two_hosts(redis: &Redis, instances: [&str; 2], args: &[&str]) -> Vec<Server> {
    let url = redis.url();
    (0..2)
        .map(|i| {
            let mut host_args = vec!["--redis", &url, "--workers", "2"];
            host_args.extend_from_slice(&["--max-instances", instances[i]]);
            host_args.extend_from_slice(args);
            Server::start_on(&format!("127.0.0.{}", i + 2), &host_args, &[])
        })
        .collect()
}

#[test]
fn a_world_too_large_for_one_host_spreads_over_two() {
    let redis = Redis::start();
    let hosts = two_hosts(&redis, ["8", "8"], &[]);
    for source in ["p2p", "collectives", "cart"] {
        upload(&hosts[0], source);
    }
    // 8 ranks: 5 on the host that got the call, 3 on the other, which learns of the
    // function from the shared store.
    matches_openmpi(&hosts[0], "p2p", 8);
    matches_openmpi(&hosts[0], "collectives", 8);
    assert_eq!(calls_run(&hosts[1], "p2p"), 3);
    assert_eq!(calls_run(&hosts[1], "collectives"), 3);
    // Posted to the other host, and with more ranks than both hosts together admit.
    matches_openmpi(&hosts[1], "cart", 9);
    let reply = world(&hosts[0], "p2p", 11, "");
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply
            .text()
            .contains("this deployment admits worlds of at most 10 ranks"),
        "{}",
        reply.text()
    );
}

#[test]
fn collectives_across_hosts_go_through_one_leader_per_host() {
    let redis = Redis::start();
    // Worlds of up to 3 ranks on the first host and 5 on the second (each less one instance
    // for children and within a user's share of 3/4): 8 ranks run 3 + 5.
    let hosts = two_hosts(&redis, ["6", "8"], &["--child-reserve", "1"]);
    upload(&hosts[0], "collectives");
    upload(&hosts[0], "across");
    matches_openmpi(&hosts[0], "collectives", 8);
    assert_eq!(calls_run(&hosts[1], "collectives"), 5);
    // Messages between the hosts per call, and their bytes on the wire (a 25-byte header
    // each, and the data: 4 ints): a broadcast or reduce crosses once, from whichever host
    // the root is on; an allreduce or barrier once each way; a gather or scatter once, with
    // the other host's blocks packed (each with its 4-byte length).
    let times = 10;
    for (collective, root, messages, bytes) in [
        ("bcast", 0, 1, 25 + 16),
        ("bcast", 1, 1, 25 + 16),
        ("bcast", 6, 1, 25 + 16),
        ("reduce", 0, 1, 25 + 16),
        ("reduce", 7, 1, 25 + 16),
        ("reduce", 2, 1, 25 + 16),
        ("allreduce", 0, 2, 2 * (25 + 16)),
        ("barrier", 0, 2, 2 * 25),
        ("gather", 0, 1, 25 + 5 * (4 + 16)),
        ("gather", 6, 1, 25 + 3 * (4 + 16)),
        ("scatter", 0, 1, 25 + 5 * (4 + 16)),
        ("scatter", 6, 1, 25 + 3 * (4 + 16)),
    ] {
        let before = sent_across(&hosts);
        let cmdline = format!("{collective} {root} {times}");
        matches_openmpi_with(&hosts[0], "across", 8, &cmdline);
        let after = sent_across(&hosts);
        let sent = (after.0 - before.0, after.1 - before.1);
        assert_eq!(sent, (messages * times, bytes * times), "{cmdline}");
    }
}

/// MPI messages, and their bytes, that `hosts` sent to each other so far.
fn sent_across(hosts: &[Server]) -> (u64, u64) {
    let counter = |text: &str, name: &str| {
        let value = text.lines().find_map(|line| line.strip_prefix(name));
        value.map_or(0.0, |v| v.trim().parse::<f64>().unwrap()) as u64
    };
    hosts.iter().fold((0, 0), |(messages, bytes), host| {
        let text = host.get_invoke("/metrics").text();
        (
            messages + counter(&text, "faasm_mpi_host_messages_total "),
            bytes + counter(&text, "faasm_mpi_host_message_bytes_total "),
        )
    })
}

#[test]
fn a_failing_rank_on_another_host_fails_the_world() {
    let redis = Redis::start();
    let args = ["--call-timeout", "600", "--mpi-buffer-limit", "1MiB"];
    let hosts = two_hosts(&redis, ["8", "4"], &args);
    upload(&hosts[0], "fail");
    // Posted to the small host, which runs ranks 0 and 1: they wait for rank 2, which fails
    // on the other host, or floods rank 0 across hosts past what a host holds for a world.
    for (how, reason) in [
        ("abort", "aborted the world with error code 3"),
        ("flood", "past 1048576 bytes (--mpi-buffer-limit)"),
    ] {
        let json = world(&hosts[1], "fail", 6, how).json();
        assert_eq!(json["status"], "FAILED", "{json:#}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains("MPI world failed"), "{how}: {error}");
        assert!(error.contains(reason), "{how}: {error}");
    }
    // The failed worlds took nothing with them: a world across both hosts still runs.
    upload(&hosts[0], "p2p");
    matches_openmpi(&hosts[1], "p2p", 6);
}

#[test]
fn a_world_fails_at_once_when_a_host_of_it_dies() {
    let redis = Redis::start();
    let mut hosts = two_hosts(&redis, ["8", "8"], &["--call-timeout", "600"]);
    upload(&hosts[0], "fail");
    let doomed = hosts.pop().unwrap();
    // Every rank waits for a message that never comes; ranks 5-7 run on the doomed host.
    let started = std::thread::scope(|scope| {
        let call = scope.spawn(|| world(&hosts[0], "fail", 8, "wait"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while running(&doomed, "fail") < 3 {
            assert!(Instant::now() < deadline, "the ranks never started there");
            std::thread::sleep(Duration::from_millis(20));
        }
        doomed.stop();
        call.join().unwrap()
    });
    let json = started.json();
    assert_eq!(json["status"], "FAILED", "{json:#}");
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("MPI world failed: host 127.0.0.3:"),
        "{error}"
    );
    // The surviving host runs worlds again.
    upload(&hosts[0], "p2p");
    matches_openmpi(&hosts[0], "p2p", 4);
}

/// Calls of `function` running on `host` now.
fn running(host: &Server, function: &str) -> usize {
    let query = format!("/calls?function={function}&status=running");
    let listed = host.get_invoke(&query).json();
    listed["calls"].as_array().map_or(0, Vec::len)
}

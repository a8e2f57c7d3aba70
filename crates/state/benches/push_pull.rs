//! Push/pull throughput of the local tier against Redis, next to `redis-benchmark` SET/GET on
//! the same Redis in the same run (SPEC §8; goal: at least 0.8x). Starts its own
//! `redis-server` on a free loopback port.
//!
//! `cargo bench -p faasm-state --bench push_pull` (`-- --quick` for fewer requests).
//! A push is `write_state` + `push_state` of a whole value (one SET); a pull is `pull_state`
//! (one GET). Both run from 50 concurrent tasks, each on its own key, as redis-benchmark's 50
//! clients do.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faasm_api::StateKey;
use faasm_state::{LocalTier, RedisTier};

const CLIENTS: usize = 50;

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(dir: &std::path::Path) -> Redis {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server (installed by scripts/setup)");
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis(child, port)
}

/// redis-benchmark's requests per second for SET and GET of `size`-byte values.
fn redis_benchmark(port: u16, size: usize, requests: usize) -> (f64, f64) {
    let output = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-t", "set,get", "-q"])
        .args(["-d", &size.to_string(), "-n", &requests.to_string()])
        .args(["-c", &CLIENTS.to_string()])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = |name: &str| -> f64 {
        // Progress lines end in \r; the last "NAME: <rate> requests per second" is the result.
        text.split(['\r', '\n'])
            .filter_map(|line| line.trim().strip_prefix(&format!("{name}: ")))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .next_back()
            .unwrap_or_else(|| panic!("no {name} rate in redis-benchmark output: {text}"))
    };
    (rate("SET"), rate("GET"))
}

/// Our pushes and pulls per second: `requests` of each from [`CLIENTS`] tasks.
async fn ours(local: &Arc<LocalTier>, size: usize, requests: usize) -> (f64, f64) {
    let value = vec![b'x'; size];
    let per_task = requests / CLIENTS;
    let run = |pull: bool| {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let local = local.clone();
                let value = value.clone();
                tokio::spawn(async move {
                    let key = StateKey::new(format!("bench-{size}-{i}")).unwrap();
                    let kv = local.value("bench", &key);
                    for _ in 0..per_task {
                        let mut v = kv.access().await;
                        if pull {
                            v.pull(0).await.unwrap();
                            assert_eq!(v.len(), size);
                        } else {
                            v.replace(&value).unwrap();
                            v.push().await.unwrap();
                        }
                    }
                })
            })
            .collect();
        async move {
            let start = Instant::now();
            for task in tasks {
                task.await.unwrap();
            }
            (per_task * CLIENTS) as f64 / start.elapsed().as_secs_f64()
        }
    };
    let push = run(false).await;
    let pull = run(true).await;
    (push, pull)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dir = tempfile::tempdir().unwrap();
    let redis = start_redis(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = format!("redis://127.0.0.1:{}", redis.1);
    let local = runtime.block_on(async {
        LocalTier::new(
            Arc::new(RedisTier::connect(&url).await.unwrap()),
            Default::default(),
        )
    });
    println!(
        "{:<8} {:>6} {:>14} {:>14} {:>7}",
        "size", "op", "faasm ops/s", "redis-bench/s", "ratio"
    );
    for (label, size, requests) in [("1KiB", 1 << 10, 100_000), ("1MiB", 1 << 20, 2_000)] {
        let requests = if quick { requests / 10 } else { requests };
        let (set, get) = redis_benchmark(redis.1, size, requests);
        // Warm up (connections, allocations), then measure.
        runtime.block_on(ours(&local, size, CLIENTS * 2));
        let (push, pull) = runtime.block_on(ours(&local, size, requests));
        for (op, ours, theirs) in [("push", push, set), ("pull", pull, get)] {
            println!(
                "{label:<8} {op:>6} {ours:>14.0} {theirs:>14.0} {:>6.2}x",
                ours / theirs
            );
        }
    }
}

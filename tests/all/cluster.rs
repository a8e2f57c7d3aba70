//! Several real `faasm serve --redis` hosts (on 127.0.0.2, 127.0.0.3, ...) sharing one real
//! `redis-server`: calls queued and claimed across hosts, status from any host, and calls of
//! a host killed mid-run re-run elsewhere (SPEC §11).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, compile};
use crate::redis::Redis;

/// `count` hosts on distinct loopback addresses; `echo` and `sleeper` uploaded on the first
/// (the function store is shared).
fn hosts(redis: &Redis, count: usize, args: &[&str]) -> Vec<Server> {
    let url = redis.url();
    let mut host_args = vec!["--redis", &url];
    host_args.extend_from_slice(args);
    let hosts: Vec<Server> = (0..count)
        .map(|i| Server::start_on(&format!("127.0.0.{}", i + 2), &host_args, &[]))
        .collect();
    hosts[0].upload("demo", "echo", &compile("examples/c/echo.c"));
    hosts[0].upload("demo", "sleeper", &compile("tests/functions/sleeper.c"));
    hosts
}

fn post_async(host: &Server, function: &str, input: &str) -> u64 {
    let reply = host.post(json!({
        "user": "demo", "function": function, "input_data": input, "async": true
    }));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.text().parse().unwrap()
}

/// Polls `id` on `host` until it is no longer RUNNING, for at most `limit`.
fn finished(host: &Server, id: u64, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = host.post(json!({"id": id, "status": true})).text();
        if !text.starts_with("RUNNING") {
            return text;
        }
        assert!(Instant::now() < deadline, "call {id} still RUNNING");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Calls of `function` this host finished, from its `faasm_calls_total` series.
pub(crate) fn calls_run(host: &Server, function: &str) -> u64 {
    let metrics = host.get_invoke("/metrics").text();
    let series = format!("function=\"{function}\"");
    metrics
        .lines()
        .filter(|line| line.starts_with("faasm_calls_total{") && line.contains(&series))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn an_async_call_answers_the_same_status_on_every_host() {
    let redis = Redis::start();
    let hosts = hosts(&redis, 3, &[]);
    let id = post_async(&hosts[0], "echo", "everywhere");
    let first = finished(&hosts[1], id, Duration::from_secs(20));
    assert_eq!(first, "SUCCESS: everywhere");
    for host in &hosts {
        assert_eq!(finished(host, id, Duration::from_secs(5)), first);
    }
    // Ids are unique across hosts: each host hands out its own block.
    let ids: Vec<u64> = hosts.iter().map(|h| post_async(h, "echo", "x")).collect();
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
    // Unknown ids are unknown everywhere.
    let unknown = hosts[2].post(json!({"id": 2_000_000_000u64, "status": true}));
    assert_eq!(unknown.status, 404);
    // Every host is listed by the planner envelope's GET_AVAILABLE_HOSTS.
    let listed = hosts[0]
        .post(json!({"http_type": "GET_AVAILABLE_HOSTS"}))
        .json();
    let listed = listed["hosts"].as_array().expect("hosts").len();
    assert_eq!(listed, 3);
}

#[test]
fn a_thousand_async_calls_spread_over_three_hosts() {
    let redis = Redis::start();
    let hosts = hosts(&redis, 3, &["--max-instances", "4", "--workers", "1"]);
    // Posted to the three hosts in turn, from three clients at once.
    let posted: Vec<(usize, u64, String)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..3)
            .map(|client| {
                let hosts = &hosts;
                scope.spawn(move || {
                    (0..1000)
                        .filter(|i| i % 3 == client)
                        .map(|i| {
                            let input = format!("call {i}");
                            let accepted_by = (i + client) % 3;
                            let id = post_async(&hosts[accepted_by], "echo", &input);
                            (accepted_by, id, input)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    // Each polled on a host that did not accept it.
    for (accepted_by, id, input) in &posted {
        let poller = &hosts[(accepted_by + 1 + (*id as usize % 2)) % 3];
        let text = finished(poller, *id, Duration::from_secs(60));
        assert_eq!(text, format!("SUCCESS: {input}"), "call {id}");
    }
    let counts: Vec<u64> = hosts.iter().map(|h| calls_run(h, "echo")).collect();
    assert_eq!(counts.iter().sum::<u64>(), 1000, "{counts:?}");
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
}

#[test]
fn sync_calls_beyond_a_hosts_room_run_on_others() {
    let redis = Redis::start();
    let hosts = hosts(&redis, 2, &["--max-instances", "2", "--workers", "1"]);
    // Eight sleepers of 500 ms at once on a host with room for two: the other host takes
    // the overflow from the queue, and every caller gets its own answer.
    let answers: Vec<String> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let host = &hosts[0];
                scope.spawn(move || {
                    host.post(json!({"user": "demo", "function": "sleeper", "input_data": "500"}))
                        .text()
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for answer in &answers {
        let slept: u64 = answer.parse().unwrap_or_else(|_| panic!("{answer}"));
        assert!(slept >= 500, "{answer}");
    }
    assert!(
        calls_run(&hosts[1], "sleeper") > 0,
        "the second host ran none"
    );
}

#[test]
fn the_calls_of_a_killed_host_run_again_elsewhere() {
    let redis = Redis::start();
    let lease = ["--call-lease", "2"];
    let mut hosts = hosts(&redis, 3, &lease);
    // Sixty sleepers all claimed by the first host (it has room for all of them).
    let ids: Vec<u64> = (0..60)
        .map(|_| post_async(&hosts[0], "sleeper", "1500"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let victim = hosts.remove(0);
    victim.stop();
    for (i, id) in ids.iter().enumerate() {
        let poller = &hosts[i % 2];
        let text = finished(poller, *id, Duration::from_secs(30));
        assert!(text.starts_with("SUCCESS: "), "call {id}: {text}");
    }
    let rerun: u64 = hosts.iter().map(|h| calls_run(h, "sleeper")).sum();
    assert!(rerun >= 50, "only {rerun} calls ran again");
}

#[test]
fn a_chained_fan_out_spreads_over_hosts() {
    let redis = Redis::start();
    let hosts = hosts(&redis, 3, &["--max-instances", "3", "--workers", "1"]);
    hosts[0].upload(
        "demo",
        "fanout",
        &compile("tests/functions/chain_named_fanout.c"),
    );
    let reply = hosts[0].post(json!({"user": "demo", "function": "fanout", "input_data": "12"}));
    assert_eq!((reply.status, reply.text().as_str()), (200, "12 of 12"));
    let elsewhere = calls_run(&hosts[1], "sleeper") + calls_run(&hosts[2], "sleeper");
    assert!(elsewhere > 0, "every child ran on the parent's host");
}

#[test]
fn results_in_redis_keep_to_the_retention() {
    let redis = Redis::start();
    let hosts = hosts(&redis, 2, &["--max-results", "5"]);
    let ids: Vec<u64> = (0..12)
        .map(|i| {
            let id = post_async(&hosts[0], "echo", &format!("result {i}"));
            finished(&hosts[1], id, Duration::from_secs(20));
            id
        })
        .collect();
    let kept = redis.command(&[b"ZCARD", b"faasm:results"]);
    assert_eq!(kept, crate::redis::Resp::Int(5));
    let oldest = hosts[1].post(json!({"id": ids[0], "status": true}));
    assert_eq!(oldest.status, 404, "{}", oldest.text());
    let newest = finished(&hosts[1], ids[11], Duration::from_secs(5));
    assert_eq!(newest, "SUCCESS: result 11");
}

#[test]
fn calls_survive_a_redis_restart() {
    let mut redis = Redis::start();
    let hosts = hosts(&redis, 2, &["--call-lease", "2"]);
    let before: Vec<u64> = (0..20)
        .map(|_| post_async(&hosts[0], "sleeper", "1000"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    redis.restart_keeping_data();
    let after: Vec<u64> = (0..20)
        .map(|i| post_async(&hosts[i % 2], "echo", &format!("after {i}")))
        .collect();
    for id in before {
        let text = finished(&hosts[1], id, Duration::from_secs(30));
        assert!(text.starts_with("SUCCESS: "), "call {id}: {text}");
    }
    for (i, id) in after.into_iter().enumerate() {
        let text = finished(&hosts[(i + 1) % 2], id, Duration::from_secs(30));
        assert_eq!(text, format!("SUCCESS: after {i}"));
    }
}

#[test]
fn one_users_backlog_does_not_hold_up_another_user() {
    let redis = Redis::start();
    let hosts = hosts(&redis, 2, &["--max-instances", "4", "--workers", "2"]);
    hosts[0].upload("hog", "sleeper", &compile("tests/functions/sleeper.c"));
    hosts[0].upload("fair", "echo", &compile("examples/c/echo.c"));
    let hog: Vec<u64> = (0..60)
        .map(|_| {
            let reply = hosts[0].post(json!({
                "user": "hog", "function": "sleeper", "input_data": "200", "async": true
            }));
            reply.text().parse().unwrap()
        })
        .collect();
    let fair = hosts[1].post(json!({
        "user": "fair", "function": "echo", "input_data": "my turn", "async": true
    }));
    let fair: u64 = fair.text().parse().unwrap();
    assert_eq!(
        finished(&hosts[0], fair, Duration::from_secs(60)),
        "SUCCESS: my turn"
    );
    // The hog's calls are still queued behind it: the deployment's queue takes users in turn.
    let unfinished = hog
        .iter()
        .filter(|id| {
            let reply = hosts[1].post(json!({"id": id, "status": true}));
            reply.text().starts_with("RUNNING")
        })
        .count();
    assert!(
        unfinished > 30,
        "only {unfinished} of the hog's 60 calls were left"
    );
    for id in hog {
        let text = finished(&hosts[1], id, Duration::from_secs(60));
        assert!(text.starts_with("SUCCESS: "), "{text}");
    }
}

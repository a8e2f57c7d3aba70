//! What operators see: `/metrics` (Prometheus text, histograms labelled by user and function),
//! call logs and call records.

use std::collections::BTreeMap;

use serde_json::json;

use crate::harness::{Server, compile};

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The families (`# TYPE` lines) and samples of a Prometheus text exposition; panics on any
/// line that is not valid text format.
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{line}"
            );
            continue;
        }
        if line.starts_with('#') {
            assert!(line.starts_with("# HELP "), "{line}");
            continue;
        }
        let name_end = line.find(['{', ' ']).expect(line);
        let name = &line[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "metric name in {line}"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '}' {
                    end = Some(i);
                    break;
                }
                if c == ',' {
                    continue;
                }
                let eq = inner[i..].find('=').expect(line) + i;
                let key = inner[i..eq].to_owned();
                assert!(inner[eq + 1..].starts_with('"'), "{line}");
                let mut value = String::new();
                while let Some((j, c)) = chars.next() {
                    if j <= eq + 1 {
                        continue;
                    }
                    match c {
                        '\\' => match chars.next().expect(line).1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                assert!(labels.insert(key, value).is_none(), "{line}");
            }
            let end = end.expect(line);
            rest = &inner[end + 1..];
        }
        let value = rest.split_whitespace().next().expect(line);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    // Every sample belongs to a declared family, histograms' buckets are cumulative and end
    // at +Inf = _count.
    for sample in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| sample.name.strip_suffix(s))
            .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            .unwrap_or(&sample.name);
        assert!(types.contains_key(family), "no # TYPE for {}", sample.name);
    }
    for (family, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let mut labels = s.labels.clone();
            let le = labels.remove("le").expect("bucket without le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            series
                .entry(format!("{labels:?}"))
                .or_default()
                .push((le, s.value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{family}{labels}"
            );
            let inf = buckets.last().unwrap();
            assert!(inf.0.is_infinite(), "{family}{labels} has no +Inf bucket");
            let count = samples
                .iter()
                .find(|s| {
                    s.name == format!("{family}_count") && format!("{:?}", s.labels) == labels
                })
                .unwrap_or_else(|| panic!("{family}{labels} has no _count"));
            assert_eq!(count.value, inf.1, "{family}{labels}");
        }
    }
    (types, samples)
}

fn metrics(server: &Server) -> String {
    let reply = server.get_invoke("/metrics");
    assert_eq!(reply.status, 200);
    reply.text()
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
fn metrics_are_labelled_histograms_counters_and_gauges() {
    let server = Server::start(&[
        "--call-timeout",
        "0.5",
        "--memory-limit",
        "64MiB",
        "--metric-label-pairs",
        "3",
    ]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "fail", &compile("examples/c/fail.c"));
    server.upload("demo", "spin", &compile("tests/functions/spin.c"));
    server.upload("demo", "membomb", &compile("tests/functions/membomb.c"));
    server.upload("late", "echo", &compile("examples/c/echo.c"));
    for _ in 0..3 {
        assert_eq!(server.call("demo", "echo", "x").status, 200);
    }
    assert_eq!(server.call("demo", "fail", "").status, 500);
    assert_eq!(server.call("demo", "spin", "").status, 500);
    // The fourth pair is past the cap of 3: it counts as other/other.
    assert_eq!(server.call("late", "echo", "y").status, 200);
    let membomb = server.call("demo", "membomb", "");
    assert_eq!(membomb.status, 500, "{}", membomb.text());

    let text = metrics(&server);
    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
    {
        assert!(out.status.success(), "promtool: {out:?}\n{text}");
    }
    let (types, samples) = parse_exposition(&text);
    for family in [
        "faasm_call_exec_seconds",
        "faasm_call_queued_seconds",
        "faasm_call_latency_seconds",
        "faasm_cold_start_seconds",
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some("histogram"),
            "{family}\n{text}"
        );
    }
    for (family, kind) in [
        ("faasm_calls_total", "counter"),
        ("faasm_calls_running", "gauge"),
        ("faasm_calls_waiting", "gauge"),
        ("faasm_instances_in_use", "gauge"),
        ("faasm_memory_budget_used_bytes", "gauge"),
        ("faasm_memory_budget_bytes", "gauge"),
        ("faasm_state_local_bytes", "gauge"),
        ("faasm_results_retained_bytes", "gauge"),
        ("faasm_build_info", "gauge"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family}\n{text}"
        );
    }
    assert!(!types.values().any(|t| t == "summary"), "{text}");
    let echo = [("user", "demo"), ("function", "echo")];
    let count = find(&samples, "faasm_call_exec_seconds_count", &echo).expect(&text);
    assert_eq!(count.value, 3.0);
    let buckets = samples
        .iter()
        .filter(|s| {
            s.name == "faasm_call_exec_seconds_bucket"
                && s.labels.get("function").map(String::as_str) == Some("echo")
                && s.labels["user"] == "demo"
        })
        .count();
    assert!(buckets > 10, "{text}");
    let outcome = |user: &str, function: &str, outcome: &str| {
        find(
            &samples,
            "faasm_calls_total",
            &[("user", user), ("function", function), ("outcome", outcome)],
        )
        .map_or(0.0, |s| s.value)
    };
    assert_eq!(outcome("demo", "echo", "success"), 3.0, "{text}");
    assert_eq!(outcome("demo", "fail", "failed"), 1.0, "{text}");
    assert_eq!(outcome("demo", "spin", "timeout"), 1.0, "{text}");
    // membomb is the fourth pair too, past the cap.
    assert_eq!(outcome("other", "other", "success"), 1.0, "{text}");
    assert_eq!(outcome("other", "other", "memory"), 1.0, "{text}");
    assert!(
        find(&samples, "faasm_calls_total", &[("user", "late")]).is_none(),
        "{text}"
    );
    let cold = find(&samples, "faasm_cold_start_seconds_count", &echo).expect(&text);
    assert!(cold.value >= 1.0);
    let build = find(&samples, "faasm_build_info", &[]).expect(&text);
    assert!(build.labels.contains_key("version") && build.value == 1.0);
    let budget = find(&samples, "faasm_memory_budget_bytes", &[]).expect(&text);
    assert!(budget.value > 0.0);
    // Label pairs: user and function (and outcome, le) only.
    for sample in &samples {
        for key in sample.labels.keys() {
            assert!(
                ["user", "function", "outcome", "le", "version"].contains(&key.as_str()),
                "{key} in {sample:?}"
            );
        }
    }
}

#[test]
fn queue_full_counts_as_rejected() {
    let server = Server::start(&["--queue-size", "0"]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    assert_eq!(server.call("demo", "echo", "x").status, 503);
    let (_, samples) = parse_exposition(&metrics(&server));
    let rejected = find(
        &samples,
        "faasm_calls_total",
        &[
            ("user", "demo"),
            ("function", "echo"),
            ("outcome", "rejected"),
        ],
    );
    assert_eq!(rejected.map(|s| s.value), Some(1.0));
}

/// The lines a server logged to `path` that are JSON objects with `target` `faasm::calls`.
fn call_log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{e}: not a JSON log line: {line}"))
        })
        .filter(|line| line["target"] == "faasm::calls")
        .collect()
}

#[test]
fn json_logs_have_one_line_per_call_without_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = std::fs::File::create(&path).unwrap();
    let server = Server::start_logging(&["--log-format", "json"], &[("RUST_LOG", "info")], log);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "fail", &compile("examples/c/fail.c"));
    let secret = "input-secret-7f3a";
    let reply = server.call("demo", "echo", secret);
    assert_eq!(reply.status, 200);
    let id: u64 = reply.header("x-faasm-call-id").unwrap().parse().unwrap();
    assert_eq!(server.call("demo", "fail", "").status, 500);
    // The line is written after the result is sent: wait for both.
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = call_log_lines(&path);
        if lines.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    let echo = lines.iter().find(|l| l["function"] == "echo").unwrap();
    assert_eq!(echo["id"], id);
    assert_eq!(echo["user"], "demo");
    assert_eq!(echo["outcome"], "success");
    assert_eq!(echo["level"], "INFO");
    assert!(
        echo["queued_us"].is_u64() && echo["exec_us"].is_u64(),
        "{echo}"
    );
    let fail = lines.iter().find(|l| l["function"] == "fail").unwrap();
    assert_eq!(
        (&fail["outcome"], &fail["return_value"]),
        (&json!("failed"), &json!(3))
    );
    let all = std::fs::read_to_string(&path).unwrap();
    assert!(!all.contains(secret), "the input is never logged: {all}");
    drop(server);
}

#[test]
fn text_logs_have_one_line_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let log = std::fs::File::create(&path).unwrap();
    let server = Server::start_logging(&[], &[("RUST_LOG", "info")], log);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    assert_eq!(server.call("demo", "echo", "secret-text-input").status, 200);
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&path).unwrap();
        if text.contains("call finished") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let line = text
        .lines()
        .find(|l| l.contains("call finished"))
        .expect(&text);
    for field in [
        "id=1 ",
        "faasm::calls",
        "user=demo",
        "function=echo",
        "outcome=success",
        "exec_us=",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(!text.contains("secret-text-input"), "{text}");
}

#[test]
fn calls_lists_recent_calls_filtered_and_paged() {
    let server = Server::start(&[]);
    server.upload("demo", "echo", &compile("examples/c/echo.c"));
    server.upload("demo", "fail", &compile("examples/c/fail.c"));
    server.upload("other", "echo", &compile("examples/c/echo.c"));
    let mut echo_ids = Vec::new();
    for i in 0..5 {
        let reply = server.call("demo", "echo", &"x".repeat(i + 1));
        echo_ids.push(
            reply
                .header("x-faasm-call-id")
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        );
    }
    assert_eq!(server.call("demo", "fail", "").status, 500);
    assert_eq!(server.call("other", "echo", "y").status, 200);

    let list = |query: &str| {
        let reply = server.get_invoke(&format!("/calls{query}"));
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    };
    let all = list("");
    let calls = all["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 7);
    let ids: Vec<u64> = calls.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(calls[0]["user"], "other");
    assert_eq!(all["next_before"], serde_json::Value::Null);

    let newest_echo = &list("?user=demo&function=echo&limit=1")["calls"][0];
    assert_eq!(newest_echo["id"], *echo_ids.last().unwrap());
    assert_eq!(newest_echo["status"], "SUCCESS");
    assert_eq!(newest_echo["return_value"], 0);
    assert_eq!(newest_echo["output_bytes"], 5);
    assert!(newest_echo["timings"]["exec_us"].is_u64());

    let failed = list("?status=failed");
    assert_eq!(failed["calls"].as_array().unwrap().len(), 1);
    assert_eq!(failed["calls"][0]["function"], "fail");
    assert_eq!(failed["calls"][0]["return_value"], 3);

    // Pages of two through demo/echo: 5 calls, then nothing.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let page = list(&format!("?user=demo&function=echo&limit=2{before}"));
        let calls = page["calls"].as_array().unwrap();
        seen.extend(calls.iter().map(|c| c["id"].as_u64().unwrap()));
        match page["next_before"].as_u64() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
        assert!(seen.len() <= 5);
    }
    echo_ids.reverse();
    assert_eq!(seen, echo_ids);

    for bad in ["?status=weird", "?limit=ten", "?before=-1"] {
        let reply = server.get_invoke(&format!("/calls{bad}"));
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
    }
}

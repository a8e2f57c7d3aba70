//! The deployment files (Dockerfile, docker-compose.yml, deploy/k8s/): Docker and Kubernetes
//! cannot run here, so they are checked for what can be checked without them: they parse, they
//! agree with each other, with the binary's real flags and defaults (`faasm serve --help`), and
//! the Kubernetes ConfigMap's config is accepted by a real `faasm serve --config`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::harness::{FAASM, Server};
use crate::redis::Redis;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The YAML documents of `path` (anchors and merge keys applied), as JSON values.
fn yaml_documents(path: &str) -> Vec<Value> {
    let text = repo_file(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            let mut value = serde_norway::Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            value.apply_merge().unwrap();
            serde_json::to_value(value).unwrap()
        })
        .collect()
}

fn help(subcommand: &str) -> String {
    let out = Command::new(FAASM)
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "faasm {subcommand} --help");
    String::from_utf8(out.stdout).unwrap()
}

/// Checks that `args` starts with `serve` and each of its flags is one of `faasm serve`.
fn assert_serve_args(args: &[String]) {
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{args:?}");
    let help = help("serve");
    for flag in args.iter().filter(|arg| arg.starts_with("--")) {
        assert!(
            help.contains(&format!("{flag} ")),
            "faasm serve has no {flag}"
        );
    }
}

/// The value following `flag` in `args`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args.iter().position(|arg| arg == flag);
    let value = at.and_then(|at| args.get(at + 1));
    value.unwrap_or_else(|| panic!("no {flag} in {args:?}"))
}

fn strings(value: &Value) -> Vec<String> {
    let items = value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"));
    items
        .iter()
        .map(|item| item.as_str().unwrap().to_owned())
        .collect()
}

/// The ports of the two servers, as `faasm serve --help` gives their defaults.
fn default_ports() -> (u16, u16) {
    let help = help("serve");
    let port = |server: &str| {
        let text = help
            .split(&format!("Address of the {server} server"))
            .nth(1);
        let default = text.and_then(|t| t.split("[default: 0.0.0.0:").nth(1));
        default
            .and_then(|d| d.split(']').next()?.parse().ok())
            .unwrap()
    };
    (port("upload"), port("invoke"))
}

/// `KEY=value` settings of the Dockerfile's `ENV` lines.
fn dockerfile_env(lines: &[String]) -> BTreeMap<String, String> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(|settings| settings.split_whitespace())
        .filter_map(|setting| {
            let (key, value) = setting.split_once('=')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<String> {
    let text = repo_file("Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn dockerfile_builds_in_stages_what_a_host_needs() {
    let lines = dockerfile();
    let stages: Vec<&String> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    // The build image's Rust is at least the workspace's rust-version.
    let rust = stages[0].strip_prefix("FROM rust:").unwrap();
    let version = |v: &str| -> (u32, u32) {
        let mut parts = v.split('.').map(|p| p.parse().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let image_rust = version(rust.split('-').next().unwrap());
    let manifest: toml::Value = toml::from_str(&repo_file("Cargo.toml")).unwrap();
    let wanted = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    assert!(image_rust >= version(wanted), "{rust} < {wanted}");
    assert!(stages[0].ends_with(" AS build") && stages[1].ends_with(" AS runtime"));

    // The build stage installs scripts/setup's toolchain packages, builds the binary, and
    // uses the real subcommands to check `faasm cc` and compile the Python interpreter.
    let setup = repo_file("scripts/setup");
    let packages = setup.split("PACKAGES=(").nth(1).unwrap().split(')').next();
    let build_apt = lines
        .iter()
        .find(|l| l.contains("apt-get install"))
        .unwrap();
    for package in packages.unwrap().split_whitespace() {
        if package.contains("19") || package == "wasi-libc" {
            assert!(build_apt.contains(package), "build stage lacks {package}");
        }
    }
    let runs = lines.join("\n");
    assert!(runs.contains("cargo build --release --bin faasm"));
    assert!(runs.contains("faasm cc -o /tmp/echo.wasm examples/c/echo.c"));
    assert!(repo_file("examples/c/echo.c").contains("int main"));
    assert!(runs.contains("scripts/install-python && ./target/release/faasm python-setup"));
    assert!(help("python-setup").contains("--python-dir"));

    // The runtime stage copies what the build stage made (WORKDIR /src holds the repository).
    let copies: Vec<&String> = lines.iter().filter(|l| l.starts_with("COPY ")).collect();
    assert_eq!(copies[0], "COPY . .");
    for copy in &copies[1..] {
        let source = copy.split_whitespace().rev().nth(1).unwrap();
        match source.strip_prefix("/src/") {
            Some("target/release/faasm") => {}
            Some(path) => assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(path).is_dir()),
            None => assert_eq!(source, "/opt/faasm/cache", "{copy}"),
        }
    }
    assert!(copies.iter().any(|c| c.contains("/src/sdk ")));
    let env = dockerfile_env(&lines);
    assert_eq!(env["XDG_CACHE_HOME"], "/opt/faasm/cache");
    assert!(help("serve").contains("FAASM_DATA_DIR"));

    let (upload, invoke) = default_ports();
    assert!(lines.contains(&format!("EXPOSE {upload} {invoke}")));
    let healthcheck = lines.iter().find(|l| l.starts_with("HEALTHCHECK")).unwrap();
    assert!(healthcheck.contains(&format!(":{upload}/ping")));
    assert!(lines.contains(&r#"ENTRYPOINT ["faasm"]"#.to_owned()));
    assert!(lines.contains(&r#"CMD ["serve"]"#.to_owned()));
    // The build context leaves out the (huge) build output.
    assert!(repo_file(".dockerignore").lines().any(|l| l == "target"));
}

#[test]
fn compose_runs_three_hosts_on_one_persistent_redis() {
    let compose = yaml_documents("docker-compose.yml").remove(0);
    let services = compose["services"].as_object().unwrap();
    let redis = &services["redis"];
    let redis_command = strings(&redis["command"]).join(" ");
    assert!(
        redis_command.contains("--appendonly yes"),
        "{redis_command}"
    );
    let redis_volume = strings(&redis["volumes"]).remove(0);
    let (volume, target) = redis_volume.split_once(':').unwrap();
    assert_eq!(target, "/data");
    assert!(compose["volumes"].get(volume).is_some());

    let data_dir = dockerfile_env(&dockerfile())["FAASM_DATA_DIR"].clone();
    let (upload, invoke) = default_ports();
    let hosts: Vec<_> = services
        .keys()
        .filter(|n| n.starts_with("faasm-"))
        .collect();
    assert_eq!(hosts.len(), 3);
    let mut host_ports = BTreeSet::new();
    let mut data_volumes = BTreeSet::new();
    for name in hosts {
        let host = &services[name];
        let args = strings(&host["command"]);
        assert_serve_args(&args);
        // Redis's service name and its default port.
        assert_eq!(flag_value(&args, "--redis"), "redis://redis:6379");
        // Auth on, every host with the one admin token the operator gives.
        assert!(args.iter().any(|a| a == "--auth"), "{name}: {args:?}");
        let admin = host["environment"]["FAASM_ADMIN_TOKEN"].as_str().unwrap();
        assert!(admin.starts_with("${FAASM_ADMIN_TOKEN:?"), "{admin}");
        assert_eq!(host["depends_on"]["redis"]["condition"], "service_healthy");
        // The name the other hosts resolve it by, for MPI worlds spread over hosts.
        assert_eq!(host["hostname"], name.as_str());
        let mut container_ports = BTreeSet::new();
        for mapping in strings(&host["ports"]) {
            let (outside, inside) = mapping.split_once(':').unwrap();
            assert!(host_ports.insert(outside.to_owned()), "{outside} twice");
            container_ports.insert(inside.parse::<u16>().unwrap());
        }
        assert_eq!(container_ports, BTreeSet::from([upload, invoke]), "{name}");
        let volume = strings(&host["volumes"]).remove(0);
        let (volume, target) = volume.split_once(':').unwrap();
        assert_eq!(target, data_dir);
        assert!(compose["volumes"].get(volume).is_some());
        assert!(
            data_volumes.insert(volume.to_owned()),
            "hosts share {volume}"
        );
    }
}

/// The Kubernetes objects of deploy/k8s, by kind and name, from the files its
/// kustomization lists (which must be every manifest there).
fn k8s_objects() -> BTreeMap<(String, String), Value> {
    let kustomization = yaml_documents("deploy/k8s/kustomization.yaml").remove(0);
    let listed: BTreeSet<String> = strings(&kustomization["resources"]).into_iter().collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let present: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present);
    let mut objects = BTreeMap::new();
    for file in listed {
        for object in yaml_documents(&format!("deploy/k8s/{file}")) {
            let kind = object["kind"].as_str().unwrap().to_owned();
            let name = object["metadata"]["name"].as_str().unwrap().to_owned();
            assert!(object["apiVersion"].is_string(), "{kind} {name}");
            objects.insert((kind, name), object);
        }
    }
    objects
}

fn object<'a>(objects: &'a BTreeMap<(String, String), Value>, kind: &str, name: &str) -> &'a Value {
    objects
        .get(&(kind.to_owned(), name.to_owned()))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Bytes of a Kubernetes quantity such as `4Gi`.
fn quantity(text: &str) -> u64 {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap());
    let shift = match unit {
        "Ki" => 10,
        "Mi" => 20,
        "Gi" => 30,
        _ => panic!("unit {unit}"),
    };
    number.parse::<u64>().unwrap() << shift
}

/// The worker's `faasm.toml`, from the ConfigMap.
fn worker_config(objects: &BTreeMap<(String, String), Value>) -> String {
    let config = object(objects, "ConfigMap", "faasm-config");
    config["data"]["faasm.toml"].as_str().unwrap().to_owned()
}

#[test]
fn k8s_manifests_agree_with_each_other_and_the_binary() {
    let objects = k8s_objects();
    let (upload, invoke) = default_ports();

    // Redis: a StatefulSet with a volume claim mounted at Redis's data dir, AOF on, behind
    // the Service the workers' config names.
    let redis = object(&objects, "StatefulSet", "faasm-redis");
    let claim = redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].clone();
    let redis_container = &redis["spec"]["template"]["spec"]["containers"][0];
    assert!(
        strings(&redis_container["args"])
            .join(" ")
            .contains("--appendonly yes")
    );
    let mount = &redis_container["volumeMounts"][0];
    assert_eq!(
        (&mount["name"], &mount["mountPath"]),
        (&claim, &"/data".into())
    );
    let redis_service = object(&objects, "Service", "faasm-redis");
    assert_eq!(redis["spec"]["serviceName"], "faasm-redis");
    assert_eq!(
        redis_service["spec"]["selector"],
        redis["spec"]["template"]["metadata"]["labels"]
    );
    let redis_port = redis_service["spec"]["ports"][0]["port"].as_u64().unwrap();

    let config: toml::Table = toml::from_str(&worker_config(&objects)).unwrap();
    assert_eq!(
        config["redis"].as_str().unwrap(),
        format!("redis://faasm-redis:{redis_port}")
    );
    assert_eq!(
        config["upload-addr"].as_str().unwrap(),
        format!("0.0.0.0:{upload}")
    );
    assert_eq!(
        config["invoke-addr"].as_str().unwrap(),
        format!("0.0.0.0:{invoke}")
    );

    // The workers: `faasm serve --config` on the mounted ConfigMap, probes on /ping, named
    // ports that are the servers' ports, resources that hold the config's budgets.
    let workers = object(&objects, "Deployment", "faasm-worker");
    let pod = &workers["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);
    assert_serve_args(&args);
    let mounts = container["volumeMounts"].as_array().unwrap();
    let mount_of = |volume: &str| {
        let mount = mounts.iter().find(|m| m["name"] == volume).unwrap();
        mount["mountPath"].as_str().unwrap().to_owned()
    };
    let volumes = pod["volumes"].as_array().unwrap();
    let config_volume = volumes
        .iter()
        .find(|v| v["configMap"]["name"] == "faasm-config");
    let config_volume = config_volume.unwrap()["name"].as_str().unwrap();
    assert_eq!(
        flag_value(&args, "--config"),
        format!("{}/faasm.toml", mount_of(config_volume))
    );
    assert_eq!(config["data-dir"].as_str().unwrap(), mount_of("data"));
    let ports: BTreeMap<String, u64> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports["upload"], u64::from(upload));
    assert_eq!(ports["invoke"], u64::from(invoke));
    // Other workers reach this one's MPI port at its pod IP.
    assert_eq!(
        Some(ports["mpi"]),
        config["mpi-port"].as_integer().map(|p| p as u64)
    );
    let env = container["env"].as_array().unwrap();
    let host_name = env.iter().find(|e| e["name"] == "FAASM_HOST_NAME").unwrap();
    assert_eq!(host_name["value"], format!("$(POD_IP):{invoke}").as_str());
    let pod_ip = env.iter().position(|e| e["name"] == "POD_IP").unwrap();
    let host_name_at = env
        .iter()
        .position(|e| e["name"] == "FAASM_HOST_NAME")
        .unwrap();
    assert!(pod_ip < host_name_at, "POD_IP must come first to expand");
    let source = &env[pod_ip]["valueFrom"]["fieldRef"]["fieldPath"];
    assert_eq!(source, "status.podIP");
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], "/ping", "{probe}");
        assert_eq!(
            ports[get["port"].as_str().unwrap()],
            u64::from(upload),
            "{probe}"
        );
    }
    let resources = &container["resources"];
    for bound in ["requests", "limits"] {
        assert!(resources[bound]["cpu"].is_string() && resources[bound]["memory"].is_string());
    }
    let budgets: u64 = ["memory-budget", "state-budget", "max-result-bytes"]
        .iter()
        .map(|key| {
            let text = config[*key].as_str().unwrap();
            text.parse::<bytesize::ByteSize>().unwrap().as_u64()
        })
        .sum();
    let limit = quantity(resources["limits"]["memory"].as_str().unwrap());
    assert!(
        budgets < limit,
        "budgets {budgets} do not fit the limit {limit}"
    );
    let workers_setting = config["workers"].as_integer().unwrap();
    assert_eq!(resources["limits"]["cpu"], workers_setting.to_string());

    // The Service: both servers of every worker.
    let service = object(&objects, "Service", "faasm");
    assert_eq!(
        service["spec"]["selector"],
        workers["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(
        workers["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"]
    );
    let service_ports: BTreeMap<u64, String> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["port"].as_u64().unwrap(),
                p["targetPort"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        service_ports,
        BTreeMap::from([
            (u64::from(upload), "upload".into()),
            (u64::from(invoke), "invoke".into())
        ])
    );
}

#[test]
fn the_k8s_config_is_accepted_by_faasm_serve() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faasm.toml");
    std::fs::write(&path, worker_config(&k8s_objects())).unwrap();
    // Flags win over the file: the harness's addresses and data dir, the test's Redis. The
    // admin token comes from the environment, as from the workers' Secret.
    let admin = "an-admin-token-of-the-deployment";
    let args = ["--config", path.to_str().unwrap(), "--redis", &redis.url()];
    let server = Server::start_with_env(&args, &[("FAASM_ADMIN_TOKEN", admin)]);
    let reply = server.get("/ping");
    assert_eq!((reply.status, reply.text().as_str()), (200, "PONG"));
    assert_eq!(server.get("/f/demo").status, 401, "auth is on");
    let url = format!("{}/f/demo", server.upload);
    let bearer = format!("Bearer {admin}");
    let reply = server.request(
        reqwest::Method::GET,
        &url,
        &[("Authorization", &bearer)],
        vec![],
    );
    assert_eq!(reply.text(), "[]");
}

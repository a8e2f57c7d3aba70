//! Hostile HTTP input against the real server: random bodies, messages, headers and queries on
//! every route that reads them. Whatever arrives, the answer is never a server error (5xx; the
//! one exception is the documented `501` of an MPI call) and the server keeps answering.
//!
//! Cases: `PROPTEST_CASES` (default 64).

use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Reply, Server};

#[path = "../../crates/api/tests/hostile/mod.rs"]
mod hostile;
use hostile::FIELDS;

/// One hostile request.
#[derive(Debug, Clone)]
enum Hostile {
    Invoke(Vec<u8>),
    Upload(Vec<u8>),
    State(String, Vec<u8>),
    File(String, Vec<u8>),
    Calls(Vec<(String, String)>),
    Files(String),
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        // Near-wasm and near-JSON prefixes get past the first check.
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|mut b| {
            b.splice(0..0, *b"\0asm\x01\0\0\0");
            b
        }),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|mut b| {
            b.splice(0..0, *b"{\"user\":\"demo\",");
            b
        }),
    ]
}

/// Flat messages with the fields the invoke server reads and values of the wrong kinds.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!("demo")),
        Just(json!("EXECUTE_BATCH")),
        Just(json!(
            "{\"messages\": [{\"user\": \"demo\", \"function\": \"f\"}]}"
        )),
        ".{0,16}".prop_map(Value::from),
    ];
    prop::collection::btree_map(prop::sample::select(FIELDS), value, 0..8)
        .prop_map(|fields| serde_json::to_vec(&fields).unwrap())
}

/// Text a header value can carry.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "(\\.\\./|/|faasm://|[a-z]{1,3}/){0,5}[a-z.]{0,4}"
    ]
}

fn request() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        prop_oneof![bytes(), message()].prop_map(Hostile::Invoke),
        bytes().prop_map(Hostile::Upload),
        ("[a-zA-Z0-9 ._~%-]{1,20}", bytes()).prop_map(|(k, b)| Hostile::State(k, b)),
        (header_text(), bytes()).prop_map(|(p, b)| Hostile::File(p, b)),
        prop::collection::vec(
            (
                prop_oneof![
                    Just("user".to_owned()),
                    Just("function".to_owned()),
                    Just("status".to_owned()),
                    Just("limit".to_owned()),
                    Just("before".to_owned()),
                    ".{0,6}",
                ],
                ".{0,12}"
            ),
            0..5
        )
        .prop_map(Hostile::Calls),
        ".{0,30}".prop_map(Hostile::Files),
    ]
}

fn send(server: &Server, request: &Hostile) -> Reply {
    match request {
        Hostile::Invoke(body) => server.post_raw(body.clone(), &[]),
        Hostile::Upload(body) => server.put("/f/demo/hostile", body.clone()),
        Hostile::State(key, body) => {
            let mut url = reqwest::Url::parse(&format!("{}/s/demo/", server.upload)).unwrap();
            url.path_segments_mut().unwrap().pop().push(key);
            server.request(Method::PUT, url.as_str(), &[], body.clone())
        }
        Hostile::File(path, body) => {
            let url = format!("{}/file", server.upload);
            server.request(Method::PUT, &url, &[("FilePath", path)], body.clone())
        }
        Hostile::Calls(pairs) => {
            let mut url = reqwest::Url::parse(&format!("{}/calls", server.invoke)).unwrap();
            url.query_pairs_mut().extend_pairs(pairs);
            server.request(Method::GET, url.as_str(), &[], Vec::new())
        }
        Hostile::Files(prefix) => {
            let mut url = reqwest::Url::parse(&format!("{}/files", server.upload)).unwrap();
            url.query_pairs_mut().append_pair("prefix", prefix);
            server.request(Method::GET, url.as_str(), &[], Vec::new())
        }
    }
}

#[test]
fn random_requests_never_get_a_server_error() {
    let server = Server::start(&[]);
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    proptest!(hostile::config(64), |(request in request())| {
        let reply = send(&server, &request);
        *statuses.borrow_mut().entry(reply.status).or_default() += 1;
        let mpi = reply.status == 501 && reply.text().contains("MPI");
        prop_assert!(reply.status < 500 || mpi, "{} {:?} for {:?}", reply.status, reply.text(), request);
    });
    let statuses = statuses.into_inner();
    eprintln!("answers by status: {statuses:?}");
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&400),
        "{statuses:?}"
    );
    for reply in [server.get("/ping"), server.get_invoke("/ping")] {
        assert_eq!(reply.text(), "PONG");
    }
}

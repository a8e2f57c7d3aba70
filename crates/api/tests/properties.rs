//! Property tests of the wire parsers and name rules against hostile input: the invoke message
//! and the planner envelope (random bytes, and random JSON built from the fields they read),
//! user/function names, state keys and `FilePath` normalisation.
//!
//! Cases per property: `PROPTEST_CASES` (default 256; these are pure functions, so cheap).

use std::path::{Component, Path};

use faasm_api::{ApiError, FilePath, Request, StateKey, validate_name};
use proptest::prelude::*;
use serde_json::{Map, Value};

mod hostile;
use hostile::{FIELDS, config};

/// A refusal of bad input is a 4xx, never a server error.
fn assert_client_error(err: &ApiError) -> Result<(), TestCaseError> {
    let code = err.status_code();
    prop_assert!((400..500).contains(&code), "{} for {}", code, err);
    Ok(())
}

/// JSON values whose objects use [`FIELDS`], with edge numbers and names.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(i64::from(i32::MAX) + 1),
            any::<i64>()
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("demo".to_owned()),
            Just("..".to_owned()),
            Just("EXECUTE_BATCH".to_owned()),
            Just("EXECUTE_BATCH_STATUS".to_owned()),
            Just("RESET".to_owned()),
            Just("GET_AVAILABLE_HOSTS".to_owned()),
            Just("aGk=".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|fields| {
                let map: Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                Value::Object(map)
            }),
        ]
    })
}

/// What a parsed request promises: every name it carries is valid.
fn check_parsed(request: &Request) -> Result<(), TestCaseError> {
    match request {
        Request::Invoke { call, .. } => {
            prop_assert!(validate_name("user", &call.user).is_ok());
            prop_assert!(validate_name("function", &call.function).is_ok());
        }
        Request::ExecuteBatch(batch) => {
            for message in &batch.messages {
                prop_assert!(validate_name("user", &message.call.user).is_ok());
                prop_assert!(validate_name("function", &message.call.function).is_ok());
            }
        }
        Request::Status { id } => prop_assert!(*id > 0),
        Request::BatchStatus { .. } | Request::Planner(_) => {}
    }
    Ok(())
}

fn check_parse(body: &[u8]) -> Result<(), TestCaseError> {
    match Request::parse(body) {
        Ok(request) => check_parsed(&request),
        Err(err) => assert_client_error(&err),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn invoke_parser_takes_any_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        check_parse(&body)?;
    }

    #[test]
    fn invoke_parser_takes_any_message(message in json()) {
        check_parse(&serde_json::to_vec(&message).unwrap())?;
    }

    #[test]
    fn planner_envelope_takes_any_payload(
        http_type in prop_oneof![
            (0i64..20).prop_map(Value::from),
            Just(Value::from("EXECUTE_BATCH")),
            Just(Value::from("EXECUTE_BATCH_STATUS")),
            json(),
        ],
        payload in prop_oneof![
            json().prop_map(|v| v.to_string()),
            ".{0,40}",
        ],
    ) {
        let envelope = serde_json::json!({ "http_type": http_type, "payload": payload });
        check_parse(&serde_json::to_vec(&envelope).unwrap())?;
    }

    #[test]
    fn names_follow_the_rule(name in prop_oneof!["[A-Za-z0-9_.-]{0,70}", ".{0,70}"]) {
        let expected = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            && !name.starts_with('.')
            && !name.ends_with('.');
        match validate_name("user", &name) {
            Ok(()) => prop_assert!(expected, "accepted {:?}", name),
            Err(err) => {
                prop_assert!(!expected, "refused {:?}: {}", name, err);
                assert_client_error(&err)?;
            }
        }
    }

    #[test]
    fn state_keys_follow_the_rule(key in prop::collection::vec(any::<u8>(), 0..300)) {
        let expected = (1..=256).contains(&key.len()) && !key.contains(&0) && !key.contains(&b'/');
        match StateKey::new(key.clone()) {
            Ok(parsed) => {
                prop_assert!(expected);
                prop_assert_eq!(parsed.as_bytes(), &key[..]);
            }
            Err(err) => {
                prop_assert!(!expected);
                assert_client_error(&err)?;
            }
        }
    }

    #[test]
    fn file_paths_never_escape_and_normalise_once(
        raw in prop_oneof![
            (
                prop::sample::select(&["", "/", "faasm://", "faasm:/", "//", "faasm:///"][..]),
                prop::collection::vec(
                    prop::sample::select(
                        &["a", "b.txt", "..", ".", "", "faasm:", "x y", "\\", "\0", "~"][..],
                    ),
                    0..6,
                ),
            )
                .prop_map(|(prefix, segments)| format!("{prefix}{}", segments.join("/"))),
            ".{0,40}",
        ],
    ) {
        match FilePath::new(&raw) {
            Ok(path) => {
                let text = path.as_str();
                prop_assert!(!text.is_empty());
                // Below the shared-files root whatever it is joined to.
                prop_assert!(
                    Path::new(text).components().all(|c| matches!(c, Component::Normal(_))),
                    "{:?} from {:?}", text, raw
                );
                for segment in path.segments() {
                    prop_assert!(!matches!(segment, "" | "." | ".."));
                    prop_assert!(!segment.contains(['\0', '\\']));
                }
                prop_assert_eq!(path.segments().collect::<Vec<_>>().join("/"), text);
                // Idempotent: the normal form is its own normal form.
                prop_assert_eq!(FilePath::new(text).ok(), Some(path.clone()));
            }
            Err(err) => assert_client_error(&err)?,
        }
    }
}

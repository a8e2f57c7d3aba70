//! Faasm's planner envelope (used by the `faasmctl` client):
//! `{"http_type": "EXECUTE_BATCH" | 10, "payload": "<BatchExecuteRequest JSON>"}` and
//! `{"http_type": "EXECUTE_BATCH_STATUS" | 11, "payload": "<BatchExecuteRequestStatus JSON>"}`.
//! Batch messages use the invoke message's field names, except that `input_data` is base64
//! (a protobuf `bytes` field); their `id` and the batch's `appId` are chosen by the client.

use serde::Deserialize;
use serde_json::Value;

use crate::message::parse_id;
use crate::{ApiError, CallRequest, InvokeMessage, Request};

/// The planner's other requests, which `faasmctl` sends by name: on one host with no planner
/// most mean nothing and are acknowledged as Faasm's planner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannerCommand {
    Reset,
    FlushAvailableHosts,
    /// Drop cached modules, so the next call loads what storage holds.
    FlushExecutors,
    FlushSchedulingState,
    /// `invoke --host-dist`: a placement for the next batch (there is one host here).
    PreloadSchedulingDecision,
    SetPolicy,
    SetNextEvictedVm,
    GetAvailableHosts,
    GetInFlightApps,
}

impl PlannerCommand {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "RESET" => Self::Reset,
            "FLUSH_AVAILABLE_HOSTS" => Self::FlushAvailableHosts,
            "FLUSH_EXECUTORS" => Self::FlushExecutors,
            "FLUSH_SCHEDULING_STATE" => Self::FlushSchedulingState,
            "PRELOAD_SCHEDULING_DECISION" => Self::PreloadSchedulingDecision,
            "SET_POLICY" => Self::SetPolicy,
            "SET_NEXT_EVICTED_VM" => Self::SetNextEvictedVm,
            "GET_AVAILABLE_HOSTS" => Self::GetAvailableHosts,
            "GET_IN_FLIGHT_APPS" => Self::GetInFlightApps,
            _ => return None,
        })
    }

    /// The planner's plain-text answer to a request that only acknowledges.
    pub fn acknowledgement(self) -> &'static str {
        match self {
            Self::Reset => "Planner fully reset!",
            Self::FlushAvailableHosts => "Flushed available hosts!",
            Self::FlushExecutors => "Flushed executors!",
            Self::FlushSchedulingState => "Flushed scheduling state!",
            Self::PreloadSchedulingDecision => "Decision pre-loaded to planner",
            Self::SetPolicy => "Policy set correctly",
            Self::SetNextEvictedVm => "Set next evicted VM",
            Self::GetAvailableHosts | Self::GetInFlightApps => "",
        }
    }
}

/// A validated `EXECUTE_BATCH`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    pub app_id: i64,
    /// The messages, in order.
    pub messages: Vec<BatchMessage>,
}

/// One message of a batch: what the client sent to identify it, which its result echoes
/// (a Python message names Faasm's runner, `python`/`py_func`, not the Python function), and
/// the call it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMessage {
    /// The client's message id (0 if it sent none); an `int32` in Faasm's protobuf.
    pub id: i64,
    pub user: String,
    pub function: String,
    pub call: CallRequest,
}

#[derive(Deserialize)]
struct RawBatch {
    #[serde(rename = "appId", default)]
    app_id: Option<Value>,
    #[serde(default)]
    messages: Vec<InvokeMessage>,
}

pub(crate) fn planner_request(http_type: &Value, payload: &str) -> Result<Request, ApiError> {
    let is_status = match http_type {
        Value::String(s) if s == "EXECUTE_BATCH" => false,
        Value::String(s) if s == "EXECUTE_BATCH_STATUS" => true,
        Value::Number(n) if n.as_u64() == Some(10) => false,
        Value::Number(n) if n.as_u64() == Some(11) => true,
        Value::String(name) if PlannerCommand::named(name).is_some() => {
            return Ok(Request::Planner(PlannerCommand::named(name).unwrap()));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "Unrecognised message type {other}"
            )));
        }
    };
    let raw: RawBatch = serde_json::from_str(payload)
        .map_err(|e| ApiError::bad_request(format!("Invalid payload: {e}")))?;
    let app_id =
        raw.app_id.as_ref().and_then(int32_id).ok_or_else(|| {
            ApiError::bad_request(format!("Planner request needs {INT32} \"appId\""))
        })?;
    if is_status {
        return Ok(Request::BatchStatus { app_id });
    }
    if raw.messages.is_empty() {
        return Err(ApiError::bad_request("EXECUTE_BATCH without messages"));
    }
    let messages = raw
        .messages
        .into_iter()
        .map(|mut message| {
            let id = match message.id.take() {
                None | Some(Value::Null) => 0,
                Some(id) => int32_id(&id).ok_or_else(|| {
                    ApiError::bad_request(format!("A message \"id\" must be {INT32}"))
                })?,
            };
            let user = message.user.clone().unwrap_or_default();
            let function = message.function.clone().unwrap_or_default();
            // Protobuf `bytes`: base64 in JSON.
            message.input_b64 = match message.input_data.take() {
                Some(Value::String(b64)) => Some(b64),
                _ => None,
            };
            message.status = None;
            // faasmctl's `--mpi-world-size` sends the size without `mpi`: in a batch, as for
            // Faasm's planner, a world size makes the message an MPI world.
            if message.mpi_world_size.is_some_and(|size| size > 0) {
                message.mpi = Some(true);
            }
            match message.validate()? {
                Request::Invoke { call, .. } => Ok(BatchMessage {
                    id,
                    user,
                    function,
                    call,
                }),
                _ => Err(ApiError::bad_request("batch messages must be calls")),
            }
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Request::ExecuteBatch(BatchRequest { app_id, messages }))
}

/// Faasm's app and message ids are protobuf `int32`s: a client such as `faasmctl` cannot read
/// a larger one back.
const INT32: &str = "a positive 32-bit integer";

fn int32_id(value: &Value) -> Option<i64> {
    parse_id(value)
        .filter(|&id| id <= i32::MAX as u64)
        .map(|id| id as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(http_type: &str, payload: Value) -> Vec<u8> {
        serde_json::json!({"http_type": serde_json::from_str::<Value>(http_type).unwrap(),
                           "payload": payload.to_string()})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn execute_batch() {
        let payload = serde_json::json!({"appId": 77, "messages": [
            {"id": 5, "appId": 77, "user": "demo", "function": "echo", "input_data": "aGk="},
            {"id": 6, "user": "demo", "function": "echo"},
            {"id": 7, "user": "demo", "function": "mpi", "mpi_world_size": 4},
        ]});
        for kind in ["\"EXECUTE_BATCH\"", "10"] {
            let Request::ExecuteBatch(batch) =
                Request::parse(&envelope(kind, payload.clone())).unwrap()
            else {
                panic!()
            };
            assert_eq!(batch.app_id, 77);
            assert_eq!(batch.messages.len(), 3);
            assert_eq!(batch.messages[0].id, 5);
            assert_eq!(&batch.messages[0].call.input[..], b"hi");
            assert_eq!(&batch.messages[1].call.input[..], b"");
            assert_eq!(batch.messages[1].call.mpi_world_size, None);
            // faasmctl's --mpi-world-size: a world without "mpi": true.
            assert_eq!(batch.messages[2].call.mpi_world_size, Some(4));
        }
    }

    #[test]
    fn status_and_errors() {
        let status = envelope(
            "11",
            serde_json::json!({"appId": 77, "expectedNumMessages": 2}),
        );
        assert_eq!(
            Request::parse(&status).unwrap(),
            Request::BatchStatus { app_id: 77 }
        );
        let bad = |kind: &str, payload: Value| {
            Request::parse(&envelope(kind, payload))
                .unwrap_err()
                .to_string()
        };
        assert!(bad("3", serde_json::json!({})).contains("Unrecognised message type"));
        assert_eq!(
            Request::parse(&envelope("\"FLUSH_EXECUTORS\"", serde_json::json!({}))).unwrap(),
            Request::Planner(PlannerCommand::FlushExecutors)
        );
        assert!(bad("10", serde_json::json!({"appId": 1})).contains("without messages"));
        assert!(bad("10", serde_json::json!({"messages": [{}]})).contains("appId"));
        let unnamed = serde_json::json!({"appId": 1, "messages": [{"user": "demo"}]});
        assert_eq!(bad("10", unnamed), "Empty function");
    }

    #[test]
    fn messages_keep_what_the_client_sent_and_ids_are_int32() {
        let payload = serde_json::json!({"appId": i32::MAX, "messages": [
            {"id": i32::MAX, "user": "python", "function": "py_func",
             "python": true, "py_user": "demo", "py_func": "hello"},
            {"user": "demo", "function": "echo"},
        ]});
        let Request::ExecuteBatch(batch) = Request::parse(&envelope("10", payload)).unwrap() else {
            panic!()
        };
        let sent = &batch.messages[0];
        assert_eq!(
            (sent.id, sent.user.as_str(), sent.function.as_str()),
            (i64::from(i32::MAX), "python", "py_func")
        );
        assert_eq!(
            (sent.call.user.as_str(), sent.call.function.as_str()),
            ("demo", "hello")
        );
        assert!(sent.call.python);
        assert_eq!(batch.messages[1].id, 0);

        let error = |payload: Value| {
            Request::parse(&envelope("10", payload))
                .unwrap_err()
                .to_string()
        };
        let too_big = i64::from(i32::MAX) + 1;
        let message = serde_json::json!({"user": "demo", "function": "echo"});
        let app = error(serde_json::json!({"appId": too_big, "messages": [message]}));
        assert!(app.contains("\"appId\"") && app.contains("32-bit"), "{app}");
        let message = serde_json::json!({"id": too_big, "user": "demo", "function": "echo"});
        let id = error(serde_json::json!({"appId": 1, "messages": [message]}));
        assert!(id.contains("\"id\"") && id.contains("32-bit"), "{id}");
    }
}

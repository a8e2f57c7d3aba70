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
    /// The client's message id and the call it asks for, in order.
    pub calls: Vec<(i64, CallRequest)>,
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
    let app_id = app_id(raw.app_id.as_ref())?;
    if is_status {
        return Ok(Request::BatchStatus { app_id });
    }
    if raw.messages.is_empty() {
        return Err(ApiError::bad_request("EXECUTE_BATCH without messages"));
    }
    let calls = raw
        .messages
        .into_iter()
        .map(|mut message| {
            let id = message.id.take().as_ref().and_then(parse_id).unwrap_or(0) as i64;
            // Protobuf `bytes`: base64 in JSON.
            message.input_b64 = match message.input_data.take() {
                Some(Value::String(b64)) => Some(b64),
                _ => None,
            };
            message.status = None;
            match message.validate()? {
                Request::Invoke { call, .. } => Ok((id, call)),
                _ => Err(ApiError::bad_request("batch messages must be calls")),
            }
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Request::ExecuteBatch(BatchRequest { app_id, calls }))
}

fn app_id(value: Option<&Value>) -> Result<i64, ApiError> {
    value
        .and_then(parse_id)
        .map(|id| id as i64)
        .ok_or_else(|| ApiError::bad_request("Planner request needs a positive \"appId\""))
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
        ]});
        for kind in ["\"EXECUTE_BATCH\"", "10"] {
            let Request::ExecuteBatch(batch) =
                Request::parse(&envelope(kind, payload.clone())).unwrap()
            else {
                panic!()
            };
            assert_eq!(batch.app_id, 77);
            assert_eq!(batch.calls.len(), 2);
            assert_eq!(batch.calls[0].0, 5);
            assert_eq!(&batch.calls[0].1.input[..], b"hi");
            assert_eq!(&batch.calls[1].1.input[..], b"");
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
}

//! The invoke server's JSON message (SPEC §3) and its validated forms.

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::planner::{BatchRequest, PlannerCommand, planner_request};
use crate::{ApiError, CallId, validate_name};

/// The JSON object posted to the invoke server, as sent. Unknown fields are ignored, and the
/// loosely typed fields of older clients (`input_data` as a non-string, `id` as a string) are
/// tolerated.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvokeMessage {
    pub user: Option<String>,
    pub function: Option<String>,
    pub input_data: Option<Value>,
    pub input_b64: Option<String>,
    #[serde(rename = "async")]
    pub is_async: Option<bool>,
    pub status: Option<bool>,
    pub id: Option<Value>,
    pub python: Option<bool>,
    pub py_user: Option<String>,
    pub py_func: Option<String>,
    pub mpi: Option<bool>,
    pub mpi_world_size: Option<i64>,
    pub cmdline: Option<String>,
    /// Faasm's planner envelope: `EXECUTE_BATCH` (10) or `EXECUTE_BATCH_STATUS` (11)...
    pub http_type: Option<Value>,
    /// ...with its request as a JSON string.
    pub payload: Option<String>,
}

/// What an invoke-server request asks for, once validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Run a call; `is_async` answers with its id at once.
    Invoke { call: CallRequest, is_async: bool },
    /// Report the status of a call.
    Status { id: CallId },
    /// Faasm planner `EXECUTE_BATCH`: run every message of an app.
    ExecuteBatch(BatchRequest),
    /// Faasm planner `EXECUTE_BATCH_STATUS`: report on an app's messages.
    BatchStatus { app_id: i64 },
    /// Another request of Faasm's planner (flushes, host listings, ...).
    Planner(PlannerCommand),
}

/// A validated request to run one function.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, Deserialize)]
pub struct CallRequest {
    pub user: String,
    pub function: String,
    pub input: Bytes,
    /// Extra argv after the program name.
    pub cmdline: Vec<String>,
    /// Set for Python calls: `user`/`function` then name the uploaded Python source.
    pub python: bool,
    /// Set for MPI calls: the world size.
    pub mpi_world_size: Option<u32>,
}

const DEFAULT_MPI_WORLD_SIZE: u32 = 5;

impl Request {
    /// Parses and validates an invoke-server body.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("Empty request"));
        }
        let msg: InvokeMessage = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))?;
        msg.validate()
    }
}

impl InvokeMessage {
    pub fn validate(self) -> Result<Request, ApiError> {
        if let Some(http_type) = &self.http_type {
            return planner_request(http_type, self.payload.as_deref().unwrap_or("{}"));
        }
        if self.status == Some(true) {
            let id =
                self.id.as_ref().and_then(parse_id).ok_or_else(|| {
                    ApiError::bad_request("Status request needs a positive \"id\"")
                })?;
            return Ok(Request::Status { id });
        }
        let input = self.input()?;
        let python = self.python == Some(true);
        let (user, function) = if python {
            (
                self.py_user.unwrap_or_default(),
                self.py_func.unwrap_or_default(),
            )
        } else {
            (
                self.user.unwrap_or_default(),
                self.function.unwrap_or_default(),
            )
        };
        let (user_field, function_field) = if python {
            ("py_user", "py_func")
        } else {
            ("user", "function")
        };
        validate_name(user_field, &user)?;
        validate_name(function_field, &function)?;
        let mpi_world_size = (self.mpi == Some(true)).then(|| match self.mpi_world_size {
            Some(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
            _ => DEFAULT_MPI_WORLD_SIZE,
        });
        let cmdline = self
            .cmdline
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|arg| !arg.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Request::Invoke {
            call: CallRequest {
                user,
                function,
                input,
                cmdline,
                python,
                mpi_world_size,
            },
            is_async: self.is_async == Some(true),
        })
    }

    fn input(&self) -> Result<Bytes, ApiError> {
        if let Some(b64) = &self.input_b64 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| ApiError::bad_request(format!("Invalid input_b64: {e}")))?;
            return Ok(bytes.into());
        }
        Ok(match &self.input_data {
            None | Some(Value::Null) => Bytes::new(),
            Some(Value::String(s)) => Bytes::copy_from_slice(s.as_bytes()),
            Some(other) => other.to_string().into(),
        })
    }
}

pub(crate) fn parse_id(value: &Value) -> Option<CallId> {
    let id = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (id > 0).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(body: &str) -> CallRequest {
        match Request::parse(body.as_bytes()).unwrap() {
            Request::Invoke { call, .. } => call,
            other => panic!("not an invoke: {other:?}"),
        }
    }

    fn error(body: &str) -> String {
        Request::parse(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn seed_messages() {
        let call = invoke(r#"{"user":"demo","function":"echo","input_data":"Hello API"}"#);
        assert_eq!(
            (call.user.as_str(), call.function.as_str()),
            ("demo", "echo")
        );
        assert_eq!(&call.input[..], b"Hello API");
        assert_eq!(
            Request::parse(br#"{"id": 42, "status": true}"#).unwrap(),
            Request::Status { id: 42 }
        );
        let Request::Invoke { is_async, .. } =
            Request::parse(br#"{"user":"demo","function":"echo","async":true}"#).unwrap()
        else {
            panic!()
        };
        assert!(is_async);
    }

    #[test]
    fn input_forms() {
        let call = invoke(r#"{"user":"u","function":"f","input_data":"x","input_b64":"AAH/"}"#);
        assert_eq!(&call.input[..], &[0, 1, 255]);
        assert_eq!(&invoke(r#"{"user":"u","function":"f"}"#).input[..], b"");
        assert_eq!(
            &invoke(r#"{"user":"u","function":"f","input_data":true}"#).input[..],
            b"true"
        );
        assert!(error(r#"{"user":"u","function":"f","input_b64":"!!"}"#).contains("input_b64"));
    }

    #[test]
    fn errors() {
        assert_eq!(error(""), "Empty request");
        assert!(error("{nope").starts_with("Invalid JSON: "));
        assert_eq!(error(r#"{"function":"f"}"#), "Empty user");
        assert_eq!(error(r#"{"user":"u"}"#), "Empty function");
        assert!(error(r#"{"user":"../x","function":"f"}"#).contains("user"));
        assert!(error(r#"{"status":true}"#).contains("id"));
        assert!(error(r#"{"status":true,"id":0}"#).contains("id"));
    }

    #[test]
    fn python_mpi_cmdline() {
        let call = invoke(
            r#"{"python":true,"user":"python","function":"py_func","py_user":"demo","py_func":"hello"}"#,
        );
        assert!(call.python);
        assert_eq!(
            (call.user.as_str(), call.function.as_str()),
            ("demo", "hello")
        );
        assert_eq!(error(r#"{"python":true,"py_func":"x"}"#), "Empty py_user");
        let call = invoke(r#"{"user":"u","function":"f","mpi":true,"mpi_world_size":0}"#);
        assert_eq!(call.mpi_world_size, Some(5));
        let call = invoke(r#"{"user":"u","function":"f","cmdline":" a  b c"}"#);
        assert_eq!(call.cmdline, ["a", "b", "c"]);
    }
}

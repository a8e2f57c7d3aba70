//! The result of a call and the text and JSON forms the invoke server answers with (SPEC §3).

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use crate::CallId;

/// Where a call's time went, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    pub queued_us: u64,
    pub exec_us: u64,
}

/// A finished call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallResult {
    pub id: CallId,
    /// The guest's exit code; 1 when it trapped, timed out or hit a limit.
    pub return_value: i32,
    /// What the guest passed to `write_output`.
    pub output: Bytes,
    /// Captured stdout (and stderr), possibly truncated with a marker.
    pub stdout: Bytes,
    /// `None` on success, else the one-line reason (`Call failed ...`).
    pub error: Option<String>,
    pub timings: Timings,
}

impl CallResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// The sync response body: stdout then the output, or stdout then the failure reason.
    pub fn body(&self) -> Bytes {
        self.prefixed_body("")
    }

    /// `SUCCESS: ...` or `FAILED: ...`, the status-poll body.
    pub fn status_body(&self) -> Bytes {
        self.prefixed_body(if self.succeeded() {
            "SUCCESS: "
        } else {
            "FAILED: "
        })
    }

    fn prefixed_body(&self, prefix: &str) -> Bytes {
        if prefix.is_empty() && self.stdout.is_empty() && self.succeeded() {
            return self.output.clone();
        }
        let tail: &[u8] = match &self.error {
            None => &self.output,
            Some(reason) => reason.as_bytes(),
        };
        let mut body = BytesMut::with_capacity(prefix.len() + self.stdout.len() + tail.len() + 1);
        body.put_slice(prefix.as_bytes());
        body.put_slice(&self.stdout);
        // Keep a failure reason on its own line after whatever the guest printed.
        if self.error.is_some() && !self.stdout.is_empty() && !self.stdout.ends_with(b"\n") {
            body.put_u8(b'\n');
        }
        body.put_slice(tail);
        body.freeze()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": if self.succeeded() { "SUCCESS" } else { "FAILED" },
            "output_data": String::from_utf8_lossy(&self.output),
            "stdout": String::from_utf8_lossy(&self.stdout),
            "return_value": self.return_value,
            "error": self.error,
            "timings": { "queued_us": self.timings.queued_us, "exec_us": self.timings.exec_us },
        })
    }
}

/// What a status poll finds.
#[derive(Debug, Clone)]
pub enum CallStatus {
    Running,
    Finished(std::sync::Arc<CallResult>),
    NotFound,
}

impl CallStatus {
    /// The plain-text status body for call `id`.
    pub fn text(&self, id: CallId) -> Bytes {
        match self {
            Self::Running => Bytes::from_static(b"RUNNING"),
            Self::Finished(result) => result.status_body(),
            Self::NotFound => format!("NOT FOUND: no call with id {id}").into(),
        }
    }

    /// The JSON status object for call `id`.
    pub fn json(&self, id: CallId) -> Value {
        match self {
            Self::Finished(result) => result.to_json(),
            Self::Running => json!({ "id": id, "status": "RUNNING" }),
            Self::NotFound => json!({
                "id": id, "status": "NOT FOUND", "error": format!("no call with id {id}"),
            }),
        }
    }

    /// The HTTP status of a status poll: 200, 500 for a failed call, 404 for an unknown id.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Running => 200,
            Self::Finished(result) if result.succeeded() => 200,
            Self::Finished(_) => 500,
            Self::NotFound => 404,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(stdout: &str, output: &str, error: Option<&str>) -> CallResult {
        CallResult {
            id: 7,
            return_value: if error.is_some() { 3 } else { 0 },
            output: Bytes::copy_from_slice(output.as_bytes()),
            stdout: Bytes::copy_from_slice(stdout.as_bytes()),
            error: error.map(str::to_owned),
            timings: Timings::default(),
        }
    }

    #[test]
    fn bodies() {
        let ok = result("hi\n", "out", None);
        assert_eq!(&ok.body()[..], b"hi\nout");
        assert_eq!(&ok.status_body()[..], b"SUCCESS: hi\nout");
        let failed = result("partial", "ignored", Some("Call failed (return value=3)"));
        assert_eq!(&failed.body()[..], b"partial\nCall failed (return value=3)");
        assert_eq!(
            &failed.status_body()[..],
            b"FAILED: partial\nCall failed (return value=3)"
        );
        assert_eq!(&result("", "x", None).body()[..], b"x");
    }

    #[test]
    fn statuses() {
        assert_eq!(&CallStatus::Running.text(1)[..], b"RUNNING");
        assert_eq!(
            &CallStatus::NotFound.text(9)[..],
            b"NOT FOUND: no call with id 9"
        );
        assert_eq!(CallStatus::NotFound.http_status(), 404);
        let failed = CallStatus::Finished(result("", "", Some("x")).into());
        assert_eq!(failed.http_status(), 500);
        assert_eq!(failed.json(7)["status"], "FAILED");
    }
}

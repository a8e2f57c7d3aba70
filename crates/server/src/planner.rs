//! Faasm's planner envelope on the invoke port (`EXECUTE_BATCH` / `EXECUTE_BATCH_STATUS`, as
//! sent by `faasmctl`): a batch's messages become ordinary calls, and the app id remembers
//! which calls belong to it so their results can be reported in the planner's shape.

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use faasm_api::{ApiError, BatchRequest, CallId, CallStatus};
use faasm_scheduler::Scheduler;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// Apps remembered at most; the oldest is forgotten first (its calls stay pollable by id).
const MAX_APPS: usize = 10_000;

#[derive(Default)]
pub(crate) struct Batches {
    inner: Mutex<Apps>,
}

#[derive(Default)]
struct Apps {
    calls: HashMap<i64, Vec<BatchCall>>,
    order: VecDeque<i64>,
}

struct BatchCall {
    message_id: i64,
    call_id: CallId,
    user: String,
    function: String,
}

impl Batches {
    /// Starts every message of the batch; answers the planner's initial status.
    pub async fn execute(
        &self,
        scheduler: &std::sync::Arc<Scheduler>,
        batch: BatchRequest,
    ) -> Result<Value, ApiError> {
        let expected = batch.calls.len();
        self.reserve(batch.app_id)?;
        let mut started = Vec::with_capacity(expected);
        let mut failure = None;
        for (message_id, call) in batch.calls {
            let (user, function) = (call.user.clone(), call.function.clone());
            match scheduler.submit(call, true).await {
                Ok((call_id, _)) => started.push(BatchCall {
                    message_id,
                    call_id,
                    user,
                    function,
                }),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        self.remember(batch.app_id, started);
        if let Some(err) = failure {
            return Err(err);
        }
        Ok(json!({
            "appId": batch.app_id,
            "expectedNumMessages": expected,
            "finished": false,
        }))
    }

    /// Claims `app_id` for a new batch: an app id names one batch, so reusing one that is
    /// remembered is refused (409) rather than hiding the earlier batch's results.
    fn reserve(&self, app_id: i64) -> Result<(), ApiError> {
        let mut apps = self.inner.lock();
        if apps.calls.contains_key(&app_id) {
            return Err(ApiError::Conflict(format!(
                "App {app_id} already exists: use a new appId for a new batch"
            )));
        }
        apps.calls.insert(app_id, Vec::new());
        apps.order.push_back(app_id);
        while apps.order.len() > MAX_APPS {
            if let Some(oldest) = apps.order.pop_front() {
                apps.calls.remove(&oldest);
            }
        }
        Ok(())
    }

    fn remember(&self, app_id: i64, calls: Vec<BatchCall>) {
        if let Some(app) = self.inner.lock().calls.get_mut(&app_id) {
            *app = calls;
        }
    }

    /// The planner's `BatchExecuteRequestStatus` for `app_id`: finished once every call is.
    pub fn status(&self, scheduler: &Scheduler, app_id: i64) -> Result<Value, ApiError> {
        let apps = self.inner.lock();
        let calls = apps
            .calls
            .get(&app_id)
            .ok_or_else(|| ApiError::NotFound("App not registered in results".into()))?;
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            let (return_value, output) = match scheduler.status(call.call_id) {
                CallStatus::Running => continue,
                CallStatus::Finished(result) => (result.return_value, result.output.clone()),
                CallStatus::NotFound => (1, bytes::Bytes::from_static(b"result expired")),
            };
            results.push(json!({
                "id": call.message_id,
                "appId": app_id,
                "user": call.user,
                "function": call.function,
                "output_data": base64::engine::general_purpose::STANDARD.encode(output),
                "returnValue": return_value,
            }));
        }
        Ok(json!({
            "appId": app_id,
            "expectedNumMessages": calls.len(),
            "finished": results.len() == calls.len(),
            "messageResults": results,
        }))
    }
}

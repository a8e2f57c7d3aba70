//! Faasm's planner envelope on the invoke port (`EXECUTE_BATCH` / `EXECUTE_BATCH_STATUS`, as
//! sent by `faasmctl`): a batch's messages become ordinary calls, and the app id remembers
//! which calls belong to it so their results can be reported in the planner's shape.

use std::collections::{HashMap, VecDeque};

use faasm_api::{ApiError, BatchRequest, CallId, CallStatus, PlannerCommand};
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

#[derive(Clone)]
struct BatchCall {
    message_id: i64,
    /// The call started for the message, or why none could be (as the planner does, the
    /// message then finishes at once with return value 1 and the reason as its output).
    call: Result<CallId, String>,
    /// The message's names as sent, which its result echoes.
    user: String,
    function: String,
    /// For a Python message, the function it runs (`py_user`, `py_func`).
    python: Option<(String, String)>,
    /// When the batch was accepted, in ms since the epoch.
    submitted_ms: i64,
    /// For an MPI message, its world's size: its result then lists every rank's.
    world_size: Option<u32>,
}

/// Results a batch reports when finished: one per message, one per rank for MPI messages.
fn expected_results(calls: &[BatchCall]) -> usize {
    calls
        .iter()
        .map(|c| c.world_size.unwrap_or(1) as usize)
        .sum()
}

/// A finished call's return value, the text Faasm's `outputData` holds (a sync call's body:
/// stdout, then the output or the failure's reason), and its queued and executing times in µs.
type Outcome = (i32, String, u64, u64);

/// The outcome of call `id`, once it has finished.
async fn outcome_of(scheduler: &Scheduler, id: CallId) -> Option<Outcome> {
    match scheduler.status(id).await {
        CallStatus::Running => None,
        CallStatus::Finished(result) => Some((
            result.return_value,
            String::from_utf8_lossy(&result.body()).into_owned(),
            result.timings.queued_us,
            result.timings.exec_us,
        )),
        CallStatus::NotFound => Some((1, "result expired".to_owned(), 0, 0)),
    }
}

impl BatchCall {
    /// The message's result in the planner's shape; `world` is the rank and size of an MPI
    /// rank's. Every key is a field of Faasm's protobuf `Message` (clients parse strictly),
    /// and the ids are the client's.
    fn result(
        &self,
        app_id: i64,
        host: &str,
        world: Option<(i32, u32)>,
        outcome: Outcome,
    ) -> Value {
        let (return_value, output, queued_us, exec_us) = outcome;
        let start_ts = self.submitted_ms + (queued_us / 1000) as i64;
        let mut result = json!({
            "id": self.message_id,
            "appId": app_id,
            "user": self.user,
            "function": self.function,
            "output_data": output,
            "returnValue": return_value,
            "start_ts": start_ts,
            "finish_ts": start_ts + (exec_us / 1000) as i64,
            "mainHost": host,
            "executedHost": host,
        });
        if let Some((py_user, py_func)) = &self.python {
            result["python"] = json!(true);
            result["py_user"] = json!(py_user);
            result["py_func"] = json!(py_func);
        }
        if let Some((rank, size)) = world {
            result["mpi"] = json!(true);
            result["mpiRank"] = json!(rank);
            result["mpi_world_size"] = json!(size);
        }
        result
    }

    async fn running(&self, scheduler: &Scheduler) -> bool {
        match &self.call {
            Ok(id) => matches!(scheduler.status(*id).await, CallStatus::Running),
            Err(_) => false,
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Batches {
    /// Starts every message of the batch; answers the planner's initial status.
    pub async fn execute(
        &self,
        scheduler: &std::sync::Arc<Scheduler>,
        batch: BatchRequest,
    ) -> Result<Value, ApiError> {
        self.reserve(scheduler, batch.app_id).await?;
        let mut started = Vec::with_capacity(batch.messages.len());
        let mut failure = None;
        let submitted_ms = now_ms();
        for message in batch.messages {
            let call = message.call;
            let python = call
                .python
                .then(|| (call.user.clone(), call.function.clone()));
            let world_size = call.mpi_world_size;
            let call = match scheduler.submit(call, true).await {
                Ok((call_id, _)) => Ok(call_id),
                Err(err @ ApiError::NotFound(_)) => Err(err.to_string()),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            };
            started.push(BatchCall {
                message_id: message.id,
                call,
                user: message.user,
                function: message.function,
                python,
                submitted_ms,
                world_size,
            });
        }
        let expected = expected_results(&started);
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

    /// Claims `app_id` for a new batch. An app id names one batch: one still running (or
    /// being started: no calls yet) is refused (409) rather than mixing two batches' results.
    /// A finished one is replaced, as Faasm's planner does, since clients such as `faasmctl`
    /// draw app ids at random from a small range and so reuse them by chance.
    async fn reserve(&self, scheduler: &Scheduler, app_id: i64) -> Result<(), ApiError> {
        let running = || {
            ApiError::Conflict(format!(
                "App {app_id} is still running: use a new appId for a new batch"
            ))
        };
        let earlier = self.inner.lock().calls.get(&app_id).cloned();
        for call in earlier.iter().flatten() {
            if call.running(scheduler).await {
                return Err(running());
            }
        }
        let mut apps = self.inner.lock();
        if let Some(calls) = apps.calls.get(&app_id) {
            // No calls yet: another request is starting this app right now.
            if calls.is_empty() {
                return Err(running());
            }
            apps.order.retain(|&id| id != app_id);
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

    /// The planner's `BatchExecuteRequestStatus` for `app_id`: finished once every call is,
    /// with one result per message, and for an MPI message one per rank of its world.
    pub async fn status(
        &self,
        scheduler: &Scheduler,
        app_id: i64,
        host: &str,
    ) -> Result<Value, ApiError> {
        let calls = self.inner.lock().calls.get(&app_id).cloned();
        let calls =
            calls.ok_or_else(|| ApiError::NotFound("App not registered in results".into()))?;
        let mut results = Vec::with_capacity(calls.len());
        let mut finished = 0;
        for call in &calls {
            let id = match &call.call {
                Err(reason) => {
                    results.push(call.result(app_id, host, None, (1, reason.clone(), 0, 0)));
                    finished += 1;
                    continue;
                }
                Ok(id) => *id,
            };
            let Some(outcome) = outcome_of(scheduler, id).await else {
                continue;
            };
            finished += 1;
            let world = call.world_size.map(|size| (0, size));
            results.push(call.result(app_id, host, world, outcome));
            // The world ended with rank 0: every rank that ran here has its result.
            let ranks = scheduler.world_ranks(id).unwrap_or_default();
            for (rank, &rank_id) in ranks.iter().enumerate().skip(1) {
                let (Some(size), Some(outcome)) =
                    (call.world_size, outcome_of(scheduler, rank_id).await)
                else {
                    continue;
                };
                let world = Some((rank as i32, size));
                results.push(call.result(app_id, host, world, outcome));
            }
        }
        Ok(json!({
            "appId": app_id,
            "expectedNumMessages": expected_results(&calls),
            // An app still being started has no calls yet.
            "finished": !calls.is_empty() && finished == calls.len(),
            "messageResults": results,
        }))
    }

    /// Answers the planner's other requests.
    pub async fn command(
        &self,
        scheduler: &Scheduler,
        command: PlannerCommand,
        host: &str,
    ) -> Value {
        match command {
            PlannerCommand::Reset | PlannerCommand::FlushExecutors => {
                scheduler.functions().flush();
            }
            PlannerCommand::GetAvailableHosts => {
                let hosts: Vec<Value> = (scheduler.hosts(host).await.into_iter())
                    .map(|info| {
                        json!({"ip": info.name, "slots": info.slots, "usedSlots": info.used_slots})
                    })
                    .collect();
                return json!({ "hosts": hosts });
            }
            PlannerCommand::GetInFlightApps => {
                let apps: Vec<(i64, Vec<BatchCall>)> = {
                    let apps = self.inner.lock();
                    let calls = |app_id: &i64| Some((*app_id, apps.calls.get(app_id)?.clone()));
                    apps.order.iter().filter_map(calls).collect()
                };
                let mut in_flight = Vec::new();
                for (app_id, calls) in apps {
                    for call in &calls {
                        if call.running(scheduler).await {
                            let app =
                                json!({"appId": app_id, "size": calls.len(), "hostIps": [host]});
                            in_flight.push(app);
                            break;
                        }
                    }
                }
                return json!({"apps": in_flight, "numMigrations": 0});
            }
            _ => {}
        }
        Value::String(command.acknowledgement().to_owned())
    }
}

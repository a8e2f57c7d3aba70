//! The deployment's calls on Redis: the queue, the leases, the results and the ids
//! ([`RedisCalls`] implements the scheduler's `Cluster`, `CallQueue`, `ResultStore` and
//! `IdBlocks`).
//!
//! The protocol, in Redis terms (key names in [`keys`](crate::keys)):
//! - **Accept**: one script sets the call's RUNNING marker and `XADD`s it to its user's stream;
//!   a host with a free instance also `XREADGROUP`s one entry of that stream in the same
//!   script, so the call it just accepted (or an older one of the same user) is already its own.
//! - **Claim**: a host with free instances `XREADGROUP`s (blocking) from every user's stream at
//!   once, as the consumer named after itself, the same count from each: users take turns. A
//!   claimed entry sits in its group's pending list; its idle time is the lease.
//! - **Renew**: every third of the lease a host resets the idle time of the entries it still
//!   owns (`XCLAIM ... JUSTID` through a script that checks the owner), and refreshes its
//!   heartbeat key.
//! - **Reclaim**: entries idle longer than the lease belong to a host that stopped; any host
//!   takes them over with `XAUTOCLAIM`, counting the extra run in the attempts hash. The
//!   scheduler runs them again or fails them once out of attempts.
//! - **Finish**: the result is `SET ... NX` (the first result of an id is the result), then one
//!   transaction acknowledges and deletes the entry, removes the marker and the attempts, and
//!   publishes the id on the done channel, which wakes whoever waits for it on any host.
//!
//! Writes that follow a call's end go through one ordered writer task, batched into pipelines
//! and retried until Redis answers, so a Redis restart delays them and loses none.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use faasm_api::{CallId, CallResult, CallStatus};
use faasm_scheduler::{
    BoxFuture, CallQueue, Cluster, HostInfo, IdBlocks, JournalError, QueuedCall, ResultStore,
    Retention, StoredResult, now_ms,
};
use futures_util::StreamExt;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::{AsyncConnectionConfig, Client, Value};
use tokio::sync::{mpsc, oneshot};

use crate::keys;

/// How the calls of a deployment are shared.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This host's name: its invoke address as other hosts and clients reach it.
    pub host: String,
    /// How long a claim lasts unless renewed; a dead host's calls run again after it.
    pub lease: Duration,
    /// How long, how many and how many bytes of results the deployment keeps in Redis (a
    /// RUNNING marker lasts as long as a result would).
    pub retention: Retention,
}

/// Records a result unless its id has one (KEYS[1]), indexes it by finish time (KEYS[2], a
/// sorted set) with its size (KEYS[3], a hash that also holds the `total`), then forgets the
/// expired results and the oldest while more than ARGV[5] results or ARGV[6] bytes are kept.
/// ARGV: 1 value, 2 ttl in s, 3 id, 4 now in ms, 5 max results, 6 max bytes, 7 ttl in ms,
/// 8 the prefix of result keys.
const RECORD_RESULT: &str = r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
local size = string.len(ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], size)
local total = redis.call('HINCRBY', KEYS[3], 'total', size)
local function forget(id)
  local bytes = tonumber(redis.call('HGET', KEYS[3], id) or '0')
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('DEL', ARGV[8] .. id)
  total = redis.call('HINCRBY', KEYS[3], 'total', -bytes)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[7]))) do
  forget(id)
end
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[5]) or total > tonumber(ARGV[6]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  forget(oldest)
end
return 1";

/// Renews the caller's own pending entries (ARGV[3..]) of stream KEYS[1], group ARGV[1],
/// consumer ARGV[2]; entries another host has reclaimed meanwhile are left to it.
const RENEW: &str = r"
local mine = {}
for _, entry in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 100000, ARGV[2])) do
  mine[entry[1]] = true
end
local renew = {}
for i = 3, #ARGV do
  if mine[ARGV[i]] then renew[#renew + 1] = ARGV[i] end
end
local count = #renew
if count > 0 then
  renew[count + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(renew))
end
return count";

/// Most writes sent in one pipeline.
const WRITE_BATCH: usize = 256;

/// The Redis side of a host in a deployment.
#[derive(Clone)]
pub struct RedisCalls {
    shared: Arc<Shared>,
}

struct Shared {
    config: ClusterConfig,
    client: Client,
    /// Pipelined commands that never block.
    connection: ConnectionManager,
    /// The blocking `XREADGROUP` of [`Cluster::take`] (one caller: the scheduler's claimer).
    blocking: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Id blocks come through the synchronous [`IdBlocks`] trait (rarely: one per 10,000 ids).
    sync: Mutex<Option<redis::Connection>>,
    /// The calls this host has claimed and not finished.
    claims: Mutex<HashMap<CallId, Claim>>,
    /// Callers waiting for calls that may finish on another host.
    waiters: Mutex<HashMap<CallId, Vec<oneshot::Sender<Arc<CallResult>>>>>,
    writes: mpsc::UnboundedSender<Write>,
    /// Which user's stream [`Cluster::take`] lists first, in turn.
    turn: AtomicUsize,
    /// Signalled when the host's advertised facts changed: the heartbeat goes out at once.
    readvertise: tokio::sync::Notify,
}

/// Where a claimed call sits in the queue.
#[derive(Debug, Clone)]
struct Claim {
    /// Its user's stream.
    stream: String,
    entry: String,
}

impl Claim {
    /// Acknowledges and deletes the entry.
    fn remove(&self, pipe: &mut redis::Pipeline) {
        pipe.cmd("XACK")
            .arg(&self.stream)
            .arg(keys::GROUP)
            .arg(&self.entry)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(&self.entry)
            .ignore();
    }
}

/// Queues ARGV[3] (a call) on its user's stream KEYS[1] (creating the stream's group for a new
/// user, ARGV[5], recorded in KEYS[2]) and sets its RUNNING marker KEYS[3] (ARGV[2] for ARGV[4]
/// s); ARGV[7] names the entry's field. With ARGV[6] = 1, also reads the oldest unclaimed entry of that stream for consumer
/// ARGV[2] of group ARGV[1], which it returns.
const ENQUEUE: &str = r"
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
if redis.call('SADD', KEYS[2], ARGV[5]) == 1 then
  redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
end
redis.call('XADD', KEYS[1], '*', ARGV[7], ARGV[3])
if ARGV[6] == '1' then
  return redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', KEYS[1], '>')
end
return false";

/// A write the writer task applies in order.
enum Write {
    /// A result to record unless the id has one (the first result wins).
    Result(CallId, Vec<u8>),
    /// Call `id` is over: its entry (if this host claimed it) and marker go, waiters wake.
    Done(CallId, Option<Claim>),
    /// Answered once everything before it is applied.
    Barrier(oneshot::Sender<()>),
}

fn redis_error(err: redis::RedisError) -> JournalError {
    JournalError::new(format!("redis: {err}"))
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("call records always encode")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, JournalError> {
    postcard::from_bytes(bytes).map_err(|e| JournalError::new(format!("corrupt record: {e}")))
}

/// The call carried by a stream entry.
fn queued_call(entry: &StreamId) -> Result<QueuedCall, JournalError> {
    match entry.map.get(keys::CALL_FIELD) {
        Some(Value::BulkString(bytes)) => decode(bytes),
        _ => Err(JournalError::new(format!(
            "stream entry {} carries no call",
            entry.id
        ))),
    }
}

impl RedisCalls {
    /// Connects to `url` and starts this host's writer, subscriber, lease renewal and
    /// heartbeat.
    pub async fn connect(
        url: &str,
        config: ClusterConfig,
        advertise: impl Fn() -> HostInfo + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let client = Client::open(url)?;
        let connection = client.get_connection_manager().await?;
        let (writes, queue) = mpsc::unbounded_channel();
        let calls = Self {
            shared: Arc::new(Shared {
                config,
                client,
                connection,
                blocking: tokio::sync::Mutex::new(None),
                sync: Mutex::new(None),
                claims: Mutex::default(),
                waiters: Mutex::default(),
                writes,
                turn: AtomicUsize::new(0),
                readvertise: tokio::sync::Notify::new(),
            }),
        };
        tokio::spawn(calls.shared.clone().write(queue));
        tokio::spawn(calls.shared.clone().subscribe());
        tokio::spawn(calls.shared.clone().renew(advertise));
        Ok(calls)
    }
}

impl Shared {
    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Sends `pipe`, once more if the connection was lost (Redis restarted): the connection
    /// manager reconnects after a failure. A pipeline applied before its answer was lost runs
    /// twice: at worst a call is queued twice, and runs twice with one result (at least once).
    async fn send<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, JournalError> {
        let mut connection = self.connection();
        match pipe.query_async(&mut connection).await {
            Err(err) if err.is_connection_dropped() || err.is_io_error() => {
                pipe.query_async(&mut connection).await
            }
            sent => sent,
        }
        .map_err(redis_error)
    }

    fn ttl_seconds(&self) -> u64 {
        self.config.retention.ttl.as_secs().max(1)
    }

    /// The users whose streams hold queued calls (or did).
    async fn queue_users(&self) -> Result<Vec<String>, JournalError> {
        let mut users: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys::QUEUE_USERS)
            .query_async(&mut self.connection())
            .await
            .map_err(redis_error)?;
        users.sort();
        Ok(users)
    }

    /// Creates the consumer group of every user's stream that lacks one (after Redis lost
    /// its data, the set of users and the groups go together, but not always at once).
    async fn create_groups(&self) -> Result<(), JournalError> {
        for user in self.queue_users().await? {
            let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(keys::calls(&user))
                .arg(keys::GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut self.connection())
                .await;
            match created {
                Err(err) if err.code() != Some("BUSYGROUP") => return Err(redis_error(err)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Records the claims of the entries read from `streams` and decodes their calls; an
    /// entry that cannot be decoded is dropped from the queue (it can never run).
    fn claim(&self, streams: impl IntoIterator<Item = (String, Vec<StreamId>)>) -> Vec<QueuedCall> {
        let mut calls = Vec::new();
        for (stream, entries) in streams {
            for entry in entries {
                let claim = Claim {
                    stream: stream.clone(),
                    entry: entry.id.clone(),
                };
                match queued_call(&entry) {
                    Ok(call) => {
                        self.claims.lock().insert(call.id, claim);
                        calls.push(call);
                    }
                    Err(err) => {
                        tracing::error!("dropping a queued call: {err}");
                        let _ = self.writes.send(Write::Done(0, Some(claim)));
                    }
                }
            }
        }
        calls
    }

    /// Applies writes in order, each batch (whatever has queued up, up to [`WRITE_BATCH`])
    /// in one pipeline, retried until Redis takes it. Every command is idempotent or
    /// harmless twice (`SET NX`, acknowledgements, deletes, a repeated `PUBLISH`), so a batch
    /// cut short by a lost connection can be sent again whole.
    async fn write(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<Write>) {
        let mut batch = Vec::new();
        while queue.recv_many(&mut batch, WRITE_BATCH).await > 0 {
            let mut pipe = redis::pipe();
            let mut barriers = Vec::new();
            for write in batch.drain(..) {
                match write {
                    Write::Barrier(done) => barriers.push(done),
                    Write::Result(id, bytes) => self.record_result(&mut pipe, id, bytes),
                    Write::Done(id, claim) => {
                        if let Some(claim) = &claim {
                            claim.remove(&mut pipe);
                        }
                        pipe.cmd("DEL").arg(keys::running(id)).ignore();
                        pipe.cmd("HDEL").arg(keys::ATTEMPTS).arg(id).ignore();
                        // Last: whoever wakes up finds the result recorded.
                        pipe.cmd("PUBLISH").arg(keys::DONE).arg(id).ignore();
                    }
                }
            }
            let mut delay = Duration::from_millis(10);
            while let Err(err) = pipe.query_async::<()>(&mut self.connection()).await {
                tracing::warn!("redis write failed, retrying: {err}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            for done in barriers {
                let _ = done.send(());
            }
        }
    }

    fn record_result(&self, pipe: &mut redis::Pipeline, id: CallId, bytes: Vec<u8>) {
        let retention = &self.config.retention;
        pipe.cmd("EVAL")
            .arg(RECORD_RESULT)
            .arg(3)
            .arg(keys::result(id))
            .arg(keys::RESULTS_BY_TIME)
            .arg(keys::RESULT_SIZES)
            .arg(bytes)
            .arg(self.ttl_seconds())
            .arg(id)
            .arg(now_ms())
            .arg(retention.max_results)
            .arg(retention.max_bytes)
            .arg(retention.ttl.as_millis() as u64)
            .arg(keys::result(""))
            .ignore();
    }

    /// Wakes waiters as results are published; after every (re)subscription it looks up
    /// the results of every waiter, since messages sent while disconnected are lost.
    async fn subscribe(self: Arc<Self>) {
        loop {
            let subscribed = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(keys::DONE).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let mut pubsub = match subscribed.await {
                Ok(pubsub) => pubsub,
                Err(err) => {
                    tracing::warn!("subscribing to finished calls: {err}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let waiting: Vec<CallId> = self.waiters.lock().keys().copied().collect();
            for id in waiting {
                self.wake(id).await;
            }
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                if let Ok(id) = message.get_payload::<CallId>()
                    && self.waiters.lock().contains_key(&id)
                {
                    self.wake(id).await;
                }
            }
        }
    }

    /// Hands call `id`'s result to its waiters, if it has one.
    async fn wake(&self, id: CallId) {
        if let Ok(Some(result)) = self.result(id).await {
            let result = Arc::new(result);
            for waiter in self.waiters.lock().remove(&id).into_iter().flatten() {
                let _ = waiter.send(result.clone());
            }
        }
    }

    async fn result(&self, id: CallId) -> Result<Option<CallResult>, JournalError> {
        let bytes: Option<Vec<u8>> = redis::cmd("GET")
            .arg(keys::result(id))
            .query_async(&mut self.connection())
            .await
            .map_err(redis_error)?;
        bytes
            .map(|bytes| decode::<StoredResult>(&bytes).map(|stored| stored.result))
            .transpose()
    }

    /// Every third of the lease: renews this host's claims and heartbeat.
    async fn renew(self: Arc<Self>, advertise: impl Fn() -> HostInfo) {
        let mut every = tokio::time::interval(self.config.lease / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = self.readvertise.notified() => {}
            }
            if let Err(err) = self.renew_once(&advertise()).await {
                tracing::warn!("renewing this host's leases: {err}");
            }
        }
    }

    async fn renew_once(&self, info: &HostInfo) -> Result<(), JournalError> {
        let mut by_stream: HashMap<String, Vec<String>> = HashMap::new();
        for claim in self.claims.lock().values() {
            let entries = by_stream.entry(claim.stream.clone()).or_default();
            entries.push(claim.entry.clone());
        }
        let lease_ms = self.config.lease.as_millis() as u64;
        let mut connection = self.connection();
        let info = serde_json::to_string(info).expect("host info encodes");
        redis::pipe()
            .cmd("SET")
            .arg(keys::host(&self.config.host))
            .arg(info)
            .arg("PX")
            .arg(lease_ms)
            .ignore()
            .cmd("SADD")
            .arg(keys::HOSTS)
            .arg(&self.config.host)
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)?;
        for (stream, entries) in by_stream {
            redis::Script::new(RENEW)
                .key(stream)
                .arg(keys::GROUP)
                .arg(&self.config.host)
                .arg(entries)
                .invoke_async::<i64>(&mut connection)
                .await
                .map_err(redis_error)?;
        }
        Ok(())
    }

    /// The dedicated connection for blocking reads, (re)opened when needed.
    async fn blocking_read(
        &self,
        read: &redis::Cmd,
    ) -> Result<Option<StreamReadReply>, JournalError> {
        let mut slot = self.blocking.lock().await;
        if slot.is_none() {
            // A blocking read must not time out before Redis answers it.
            let config = AsyncConnectionConfig::new().set_response_timeout(None);
            let connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config);
            *slot = Some(connection.await.map_err(redis_error)?);
        }
        let connection = slot.as_mut().expect("opened above");
        let read = read.query_async(connection).await;
        if read.is_err() {
            *slot = None;
        }
        match read {
            // A group went with Redis's data (a restart without persistence).
            Err(err) if err.code() == Some("NOGROUP") => {
                self.create_groups().await?;
                Ok(None)
            }
            other => other.map_err(redis_error),
        }
    }
}

/// The entries of a stream read, by stream.
fn entries(reply: Option<StreamReadReply>) -> impl Iterator<Item = (String, Vec<StreamId>)> {
    reply
        .into_iter()
        .flat_map(|r| r.keys)
        .map(|k| (k.key, k.ids))
}

impl Cluster for RedisCalls {
    fn enqueue(
        &self,
        call: QueuedCall,
        take: bool,
    ) -> BoxFuture<'_, Result<Option<QueuedCall>, JournalError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let stream = keys::calls(&call.call.user);
            let mut pipe = redis::pipe();
            pipe.cmd("EVAL")
                .arg(ENQUEUE)
                .arg(3)
                .arg(&stream)
                .arg(keys::QUEUE_USERS)
                .arg(keys::running(call.id))
                .arg(keys::GROUP)
                .arg(&shared.config.host)
                .arg(encode(&call))
                .arg(shared.ttl_seconds())
                .arg(&call.call.user)
                .arg(u8::from(take))
                .arg(keys::CALL_FIELD);
            let (read,): (Option<StreamReadReply>,) = shared.send(&pipe).await?;
            Ok(shared.claim(entries(read)).pop())
        })
    }

    /// Reads from every user's stream at once, at most `max` calls and as many from each
    /// user as the others (COUNT applies per stream), so one user's backlog does not hold up
    /// another's calls.
    fn take(
        &self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<QueuedCall>, JournalError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let mut users = shared.queue_users().await?;
            if users.is_empty() {
                tokio::time::sleep(wait).await;
                return Ok(Vec::new());
            }
            // A different user first each time when there are more users than room.
            let turn = shared.turn.fetch_add(1, Ordering::Relaxed) % users.len();
            users.rotate_left(turn);
            users.truncate(max.max(1));
            let per_user = (max / users.len()).max(1);
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP")
                .arg(keys::GROUP)
                .arg(&shared.config.host)
                .arg("COUNT")
                .arg(per_user)
                .arg("BLOCK")
                .arg(wait.as_millis().max(1) as u64)
                .arg("STREAMS");
            for user in &users {
                read.arg(keys::calls(user));
            }
            for _ in &users {
                read.arg(">");
            }
            let reply = shared.blocking_read(&read).await?;
            Ok(shared.claim(entries(reply)))
        })
    }

    fn requeue(&self, call: QueuedCall) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let claim = shared.claims.lock().remove(&call.id);
            let mut pipe = redis::pipe();
            pipe.atomic();
            if let Some(claim) = &claim {
                claim.remove(&mut pipe);
            }
            pipe.cmd("XADD")
                .arg(keys::calls(&call.call.user))
                .arg("*")
                .arg(keys::CALL_FIELD)
                .arg(encode(&call))
                .ignore();
            shared.send(&pipe).await
        })
    }

    fn reclaim(&self) -> BoxFuture<'_, Result<Vec<QueuedCall>, JournalError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let mut connection = shared.connection();
            let mut claimed = Vec::new();
            for user in shared.queue_users().await? {
                let stream = keys::calls(&user);
                let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                    .arg(&stream)
                    .arg(keys::GROUP)
                    .arg(&shared.config.host)
                    .arg(shared.config.lease.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(100)
                    .query_async(&mut connection)
                    .await
                    .map_err(redis_error)?;
                claimed.push((stream, reply.claimed));
            }
            let mut calls = Vec::new();
            for mut call in shared.claim(claimed) {
                // Finished before its host stopped, but not yet acknowledged.
                let finished: bool = redis::cmd("EXISTS")
                    .arg(keys::result(call.id))
                    .query_async(&mut connection)
                    .await
                    .map_err(redis_error)?;
                if finished {
                    self.dequeue(call.id);
                    continue;
                }
                let reruns: u32 = redis::cmd("HINCRBY")
                    .arg(keys::ATTEMPTS)
                    .arg(call.id)
                    .arg(1)
                    .query_async(&mut connection)
                    .await
                    .map_err(redis_error)?;
                call.attempts += reruns;
                calls.push(call);
            }
            Ok(calls)
        })
    }

    fn lease(&self) -> Duration {
        self.shared.config.lease
    }

    fn status(&self, id: CallId) -> BoxFuture<'_, Result<CallStatus, JournalError>> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.cmd("GET")
                .arg(keys::result(id))
                .cmd("EXISTS")
                .arg(keys::running(id));
            let (result, running): (Option<Vec<u8>>, bool) = self.shared.send(&pipe).await?;
            Ok(match result {
                Some(bytes) => {
                    let stored: StoredResult = decode(&bytes)?;
                    CallStatus::Finished(Arc::new(stored.result))
                }
                None if running => CallStatus::Running,
                None => CallStatus::NotFound,
            })
        })
    }

    fn wait(&self, id: CallId) -> BoxFuture<'_, Result<Arc<CallResult>, JournalError>> {
        Box::pin(async move {
            let (sender, receiver) = oneshot::channel();
            self.shared
                .waiters
                .lock()
                .entry(id)
                .or_default()
                .push(sender);
            // Registered before looking, so a result recorded in between is not missed.
            self.shared.wake(id).await;
            receiver
                .await
                .map_err(|_| JournalError::new("stopped waiting for the call"))
        })
    }

    fn share(&self, result: StoredResult) {
        self.put(result);
    }

    fn advertise(&self) {
        self.shared.readvertise.notify_one();
    }

    fn hosts(&self) -> BoxFuture<'_, Result<Vec<HostInfo>, JournalError>> {
        Box::pin(async move {
            let mut connection = self.shared.connection();
            let mut names: Vec<String> = redis::cmd("SMEMBERS")
                .arg(keys::HOSTS)
                .query_async(&mut connection)
                .await
                .map_err(redis_error)?;
            if names.is_empty() {
                return Ok(Vec::new());
            }
            names.sort();
            let heartbeats: Vec<Option<String>> = redis::cmd("MGET")
                .arg(
                    names
                        .iter()
                        .map(|name| keys::host(name))
                        .collect::<Vec<_>>(),
                )
                .query_async(&mut connection)
                .await
                .map_err(redis_error)?;
            let mut hosts = Vec::with_capacity(names.len());
            let mut gone = Vec::new();
            for (name, heartbeat) in names.into_iter().zip(heartbeats) {
                match heartbeat.and_then(|info| serde_json::from_str(&info).ok()) {
                    Some(info) => hosts.push(info),
                    // Its heartbeat expired: it stopped.
                    None => gone.push(name),
                }
            }
            if !gone.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("SREM")
                    .arg(keys::HOSTS)
                    .arg(gone)
                    .query_async(&mut connection)
                    .await;
            }
            Ok(hosts)
        })
    }
}

impl CallQueue for RedisCalls {
    fn enqueue(&self, call: QueuedCall) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(async move { Cluster::enqueue(self, call, false).await.map(drop) })
    }

    fn dequeue(&self, id: CallId) {
        let claim = self.shared.claims.lock().remove(&id);
        let _ = self.shared.writes.send(Write::Done(id, claim));
    }

    /// Calls are reclaimed from the deployment's queue, not replayed from a host's own list.
    fn pending(&self) -> Result<Vec<QueuedCall>, JournalError> {
        Ok(Vec::new())
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(async move {
            let (done, flushed) = oneshot::channel();
            let _ = self.shared.writes.send(Write::Barrier(done));
            flushed
                .await
                .map_err(|_| JournalError::new("the Redis writer stopped"))
        })
    }
}

impl ResultStore for RedisCalls {
    fn put(&self, result: StoredResult) {
        let id = result.result.id;
        let _ = self.shared.writes.send(Write::Result(id, encode(&result)));
    }

    /// Results expire in Redis by themselves.
    fn remove(&self, _ids: Vec<CallId>) {}

    /// Status polls read results from Redis; a host keeps none of its own to restore.
    fn retained(&self) -> Result<Vec<StoredResult>, JournalError> {
        Ok(Vec::new())
    }
}

impl IdBlocks for RedisCalls {
    fn reserve(&self, count: u64) -> Result<Range<u64>, JournalError> {
        let mut slot = self.shared.sync.lock();
        if slot.is_none() {
            *slot = Some(self.shared.client.get_connection().map_err(redis_error)?);
        }
        let connection = slot.as_mut().expect("opened above");
        let end: redis::RedisResult<u64> = redis::cmd("INCRBY")
            .arg(keys::NEXT_CALL_ID)
            .arg(count)
            .query(connection);
        let end = end.inspect_err(|_| *slot = None).map_err(redis_error)?;
        Ok(end + 1 - count..end + 1)
    }
}

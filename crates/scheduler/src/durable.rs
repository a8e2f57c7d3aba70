//! Durable calls (SPEC §11 on one host): the [`CallQueue`] of accepted async calls not yet
//! finished, and the [`ResultStore`] of finished results, so that a crash or restart neither
//! forgets an accepted call nor a result within retention. Several hosts get Redis
//! implementations of the same traits; one host has [`EmbeddedJournal`], a redb file in the data
//! directory.
//!
//! Why redb: an embedded, transactional, crash-safe key-value store in pure Rust (no C build,
//! no server), with single-writer transactions that make group commit natural. Every write goes
//! to one writer thread, which commits whatever has arrived meanwhile in one transaction (one
//! fsync for many accepts), so the async accept rate is not one fsync per call.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use faasm_api::{CallId, CallRequest, CallResult};
use faasm_runtime::BoxFuture;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// An accepted call waiting to (re-)run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedCall {
    pub id: CallId,
    pub call: CallRequest,
    /// Runs started so far (a host that restarted during a run counts it).
    pub attempts: u32,
}

/// A finished call as retained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    pub result: CallResult,
    /// Milliseconds since the Unix epoch.
    pub finished_ms: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("call journal: {0}")]
pub struct JournalError(String);

impl JournalError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

fn journal_error(err: impl std::fmt::Display) -> JournalError {
    JournalError(err.to_string())
}

/// Accepted calls, durable before their id is returned.
pub trait CallQueue: Send + Sync {
    /// Records `call`; resolves once it is durable.
    fn enqueue(&self, call: QueuedCall) -> BoxFuture<'_, Result<(), JournalError>>;
    /// Forgets call `id` (it has a result now).
    fn dequeue(&self, id: CallId);
    /// Every call enqueued and not dequeued, oldest first.
    fn pending(&self) -> Result<Vec<QueuedCall>, JournalError>;
    /// Resolves once every earlier write (of either trait) is durable.
    fn flush(&self) -> BoxFuture<'_, Result<(), JournalError>>;
}

/// Finished results, kept within the retention the registry applies.
pub trait ResultStore: Send + Sync {
    fn put(&self, result: StoredResult);
    fn remove(&self, ids: Vec<CallId>);
    /// Every retained result, oldest first.
    fn retained(&self) -> Result<Vec<StoredResult>, JournalError>;
}

const QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("queued_calls");
const RESULTS: TableDefinition<u64, &[u8]> = TableDefinition::new("results");

enum Write {
    Enqueue(u64, Vec<u8>, oneshot::Sender<Result<(), JournalError>>),
    Dequeue(u64),
    PutResult(u64, Vec<u8>),
    RemoveResults(Vec<u64>),
    /// Acknowledged once everything before it is committed.
    Barrier(oneshot::Sender<Result<(), JournalError>>),
}

/// Both traits over one redb file with a group-committing writer thread.
pub struct EmbeddedJournal {
    db: Arc<Database>,
    writes: mpsc::Sender<Write>,
}

impl EmbeddedJournal {
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let db = Arc::new(Database::create(path).map_err(journal_error)?);
        let txn = db.begin_write().map_err(journal_error)?;
        txn.open_table(QUEUE).map_err(journal_error)?;
        txn.open_table(RESULTS).map_err(journal_error)?;
        txn.commit().map_err(journal_error)?;
        let (writes, queue) = mpsc::channel();
        let writer = db.clone();
        std::thread::Builder::new()
            .name("faasm-journal".into())
            .spawn(move || write_loop(&writer, &queue))
            .map_err(journal_error)?;
        Ok(Self { db, writes })
    }

    fn send(&self, write: Write) {
        // The writer only stops when every sender is gone.
        let _ = self.writes.send(write);
    }

    /// Sends a write and waits until it is committed.
    async fn acknowledged(
        &self,
        write: impl FnOnce(oneshot::Sender<Result<(), JournalError>>) -> Write,
    ) -> Result<(), JournalError> {
        let (ack, acked) = oneshot::channel();
        self.send(write(ack));
        acked
            .await
            .map_err(|_| JournalError("the journal writer stopped".into()))?
    }

    fn scan<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<u64, &[u8]>,
    ) -> Result<Vec<T>, JournalError> {
        let txn = self.db.begin_read().map_err(journal_error)?;
        let table = txn.open_table(table).map_err(journal_error)?;
        let mut items = Vec::new();
        for entry in table.iter().map_err(journal_error)? {
            let (_, value) = entry.map_err(journal_error)?;
            items.push(postcard::from_bytes(value.value()).map_err(journal_error)?);
        }
        Ok(items)
    }
}

/// Commits the writes that have queued up, many per transaction, until every sender is gone.
fn write_loop(db: &Database, queue: &mpsc::Receiver<Write>) {
    const MAX_BATCH: usize = 4096;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        let outcome = commit(db, batch, &mut acks);
        for ack in acks {
            let _ = ack.send(outcome.as_ref().map_err(journal_error).copied());
        }
        if let Err(err) = outcome {
            tracing::error!("{err}");
        }
    }
}

fn commit(
    db: &Database,
    batch: Vec<Write>,
    acks: &mut Vec<oneshot::Sender<Result<(), JournalError>>>,
) -> Result<(), JournalError> {
    let txn = db.begin_write().map_err(journal_error)?;
    {
        let mut queue = txn.open_table(QUEUE).map_err(journal_error)?;
        let mut results = txn.open_table(RESULTS).map_err(journal_error)?;
        for write in batch {
            match write {
                Write::Enqueue(id, bytes, ack) => {
                    queue.insert(id, bytes.as_slice()).map_err(journal_error)?;
                    acks.push(ack);
                }
                Write::Dequeue(id) => {
                    queue.remove(id).map_err(journal_error)?;
                }
                Write::PutResult(id, bytes) => {
                    results
                        .insert(id, bytes.as_slice())
                        .map_err(journal_error)?;
                }
                Write::RemoveResults(ids) => {
                    for id in ids {
                        results.remove(id).map_err(journal_error)?;
                    }
                }
                Write::Barrier(ack) => acks.push(ack),
            }
        }
    }
    txn.commit().map_err(journal_error)
}

impl CallQueue for EmbeddedJournal {
    fn enqueue(&self, call: QueuedCall) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(async move {
            let bytes = postcard::to_stdvec(&call).map_err(journal_error)?;
            self.acknowledged(|ack| Write::Enqueue(call.id, bytes, ack))
                .await
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), JournalError>> {
        Box::pin(self.acknowledged(Write::Barrier))
    }

    fn dequeue(&self, id: CallId) {
        self.send(Write::Dequeue(id));
    }

    fn pending(&self) -> Result<Vec<QueuedCall>, JournalError> {
        self.scan(QUEUE)
    }
}

impl ResultStore for EmbeddedJournal {
    fn put(&self, result: StoredResult) {
        match postcard::to_stdvec(&result) {
            Ok(bytes) => self.send(Write::PutResult(result.result.id, bytes)),
            Err(err) => tracing::error!("call journal: cannot encode a result: {err}"),
        }
    }

    fn remove(&self, ids: Vec<CallId>) {
        if !ids.is_empty() {
            self.send(Write::RemoveResults(ids));
        }
    }

    fn retained(&self) -> Result<Vec<StoredResult>, JournalError> {
        self.scan(RESULTS)
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

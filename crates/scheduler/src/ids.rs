//! Call ids: positive, never reused on a deployment, even across restarts or across hosts.
//! Ids are reserved in blocks from an [`IdBlocks`] (the data directory on one host, Redis on
//! many) before any id of the block is issued, so a restart resumes above everything the
//! previous run could have handed out and two hosts never issue the same id.

use std::ops::Range;
use std::sync::Arc;

use faasm_api::{ApiError, CallId};
use faasm_storage::{Object, ObjectStore};
use parking_lot::Mutex;

use crate::durable::JournalError;
use crate::storage_error;

const BLOCK: u64 = 10_000;

/// Where blocks of ids are reserved.
pub trait IdBlocks: Send + Sync {
    /// Reserves `count` ids nobody has had, durably.
    fn reserve(&self, count: u64) -> Result<Range<u64>, JournalError>;
}

/// Blocks recorded in one host's object store (its data directory): the record holds the
/// first id not yet reserved.
pub struct StoredIds(pub Arc<dyn ObjectStore>);

const RECORD: Object<'static> = Object::Meta("next-call-id");

impl IdBlocks for StoredIds {
    fn reserve(&self, count: u64) -> Result<Range<u64>, JournalError> {
        let error = |err: ApiError| JournalError::new(err.to_string());
        let first = match self.0.get(RECORD).map_err(storage_error).map_err(error)? {
            None => 1,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| JournalError::new("corrupt next-call-id record"))?,
        };
        let end = first + count;
        self.0
            .put(RECORD, end.to_string().as_bytes())
            .map_err(storage_error)
            .map_err(error)?;
        Ok(first..end)
    }
}

pub(crate) struct CallIds {
    block: Mutex<Range<u64>>,
    blocks: Arc<dyn IdBlocks>,
}

impl CallIds {
    pub fn new(blocks: Arc<dyn IdBlocks>) -> Self {
        Self {
            block: Mutex::new(0..0),
            blocks,
        }
    }

    pub fn next(&self) -> Result<CallId, ApiError> {
        let mut block = self.block.lock();
        if block.is_empty() {
            *block = self
                .blocks
                .reserve(BLOCK)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        let id = block.start;
        block.start += 1;
        Ok(id)
    }
}

//! Call ids: positive, increasing, never reused on a deployment, even across restarts. Ids are
//! reserved in blocks whose upper bound is persisted before any id of the block is issued, so
//! a restart resumes above everything the previous run could have handed out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use faasm_api::{ApiError, CallId};
use faasm_storage::{Object, ObjectStore};

use crate::storage_error;
use parking_lot::Mutex;

const RECORD: Object<'static> = Object::Meta("next-call-id");
const BLOCK: u64 = 10_000;

pub(crate) struct CallIds {
    next: AtomicU64,
    /// Ids below this are reserved (persisted); guarded by the mutex when raised.
    reserved_until: AtomicU64,
    reserve: Mutex<()>,
    store: Arc<dyn ObjectStore>,
}

impl CallIds {
    pub fn open(store: Arc<dyn ObjectStore>) -> Result<Self, ApiError> {
        let first = match store.get(RECORD).map_err(storage_error)? {
            None => 1,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::Internal("corrupt next-call-id record".into()))?,
        };
        Ok(Self {
            next: AtomicU64::new(first),
            reserved_until: AtomicU64::new(first),
            reserve: Mutex::new(()),
            store,
        })
    }

    pub fn next(&self) -> Result<CallId, ApiError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if id < self.reserved_until.load(Ordering::Acquire) {
            return Ok(id);
        }
        let _guard = self.reserve.lock();
        let mut reserved = self.reserved_until.load(Ordering::Acquire);
        while reserved <= id {
            reserved += BLOCK;
            self.store
                .put(RECORD, reserved.to_string().as_bytes())
                .map_err(storage_error)?;
            self.reserved_until.store(reserved, Ordering::Release);
        }
        Ok(id)
    }
}

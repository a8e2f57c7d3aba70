//! The local tier: one copy of each `(user, key)` per host, shared by every call on the host.
//!
//! A copy starts knowing nothing and is filled lazily: a whole read pulls the whole value, a
//! ranged read pulls only the missing bytes of its range (the `pulled` set). Writes change the
//! copy and mark their bytes `dirty`; a push sends the dirty bytes (or the whole value) to the
//! global tier. Each key also has the reader/writer lock guests take; it is async, so a guest
//! waiting for it gives its thread back.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use faasm_api::StateKey;
use parking_lot::Mutex;
use tokio::sync::{MutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::StateError;
use crate::global::{GlobalTier, Lease, Result};
use crate::ranges::Ranges;

/// This host's copies of state values, in front of the global tier.
pub struct LocalTier {
    global: Arc<dyn GlobalTier>,
    values: Mutex<HashMap<(String, StateKey), Arc<KeyValue>>>,
}

impl std::fmt::Debug for LocalTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTier")
            .field("values", &self.values.lock().len())
            .finish_non_exhaustive()
    }
}

impl LocalTier {
    pub fn new(global: Arc<dyn GlobalTier>) -> Arc<Self> {
        Arc::new(Self {
            global,
            values: Mutex::default(),
        })
    }

    /// A local tier over a global tier in memory (tests, benchmarks).
    pub fn in_memory() -> Arc<Self> {
        Self::new(Arc::new(crate::MemoryTier::new()))
    }

    pub fn global(&self) -> &Arc<dyn GlobalTier> {
        &self.global
    }

    /// This host's copy of `(user, key)`, created empty on first use.
    pub fn value(&self, user: &str, key: &StateKey) -> Arc<KeyValue> {
        let mut values = self.values.lock();
        if let Some(value) = values.get(&(user.to_owned(), key.clone())) {
            return value.clone();
        }
        let value = Arc::new(KeyValue {
            user: user.to_owned(),
            key: key.clone(),
            global: self.global.clone(),
            lock: Arc::new(RwLock::new(())),
            copy: tokio::sync::Mutex::new(Copy::default()),
        });
        values.insert((user.to_owned(), key.clone()), value.clone());
        value
    }

    /// Sets the global value and drops this host's copy, so the next read pulls the new value
    /// (`PUT /s`).
    pub async fn set_global(&self, user: &str, key: &StateKey, value: Bytes) -> Result<()> {
        self.global.set(user, key, &value).await?;
        self.forget(user, key).await;
        Ok(())
    }

    /// Deletes the global value and drops this host's copy (`DELETE /s`).
    pub async fn delete_global(&self, user: &str, key: &StateKey) -> Result<bool> {
        let existed = self.global.delete(user, key).await?;
        self.forget(user, key).await;
        Ok(existed)
    }

    async fn forget(&self, user: &str, key: &StateKey) {
        let value = self
            .values
            .lock()
            .get(&(user.to_owned(), key.clone()))
            .cloned();
        if let Some(value) = value {
            let mut copy = value.copy.lock().await;
            *copy = Copy::default();
            copy.touch();
        }
    }
}

/// One key's local copy and lock.
pub struct KeyValue {
    user: String,
    key: StateKey,
    global: Arc<dyn GlobalTier>,
    /// The lock guests take with `lock_state_read/write`.
    lock: Arc<RwLock<()>>,
    /// The bytes; held briefly by every operation (also across its global-tier I/O).
    copy: tokio::sync::Mutex<Copy>,
}

#[derive(Default)]
struct Copy {
    /// `false` until something is known of the value: its size is then unknown too.
    known: bool,
    bytes: Vec<u8>,
    /// Bytes in step with the global tier (or written here since).
    pulled: Ranges,
    /// Bytes written here and not yet pushed.
    dirty: Ranges,
    /// The whole value was replaced (its size may have changed): push it whole.
    replaced: bool,
    /// Changes whenever the bytes may have: unique across copies and resets.
    version: u64,
}

impl KeyValue {
    pub fn key(&self) -> &StateKey {
        &self.key
    }

    /// Exclusive access to the copy for one operation.
    pub async fn access(&self) -> Access<'_> {
        Access {
            value: self,
            copy: self.copy.lock().await,
        }
    }

    /// Takes the key's read lock (shared with other readers on this host).
    pub async fn lock_read(&self) -> OwnedRwLockReadGuard<()> {
        self.lock.clone().read_owned().await
    }

    /// Takes the key's write lock: first on this host, then across hosts if the global tier has
    /// leases. Once another host may have written, the copy's clean bytes are dropped so the
    /// next read pulls them.
    pub async fn lock_write(&self) -> Result<WriteLock> {
        let local = self.lock.clone().write_owned().await;
        let lease = self.global.lock_write(&self.user, &self.key).await?;
        if lease.is_some() {
            self.copy.lock().await.forget_clean();
        }
        Ok(WriteLock {
            _local: local,
            lease,
        })
    }

    pub async fn append(&self, element: Bytes) -> Result<()> {
        self.global.append(&self.user, &self.key, element).await
    }

    pub async fn read_appended(&self, n: usize) -> Result<Vec<Bytes>> {
        self.global.read_appended(&self.user, &self.key, n).await
    }

    pub async fn clear_appended(&self) -> Result<()> {
        self.global.clear_appended(&self.user, &self.key).await
    }
}

/// A held write lock; [`WriteLock::release`] gives back the cross-host lease too.
pub struct WriteLock {
    _local: OwnedRwLockWriteGuard<()>,
    lease: Option<Lease>,
}

impl WriteLock {
    pub async fn release(mut self) {
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
    }
}

/// The largest state value the local tier holds (guests pass sizes; this bounds what one
/// guest can make the host allocate).
pub const MAX_VALUE_BYTES: usize = 1 << 30;

fn check_size(len: usize) -> Result<()> {
    if len > MAX_VALUE_BYTES {
        return Err(StateError::Bounds(format!(
            "a state value of {len} bytes exceeds the limit of {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Checks that `[offset, offset + len)` lies within a value of `total` bytes.
pub fn check_range(total: usize, offset: usize, len: usize) -> Result<Range<usize>> {
    check_size(total)?;
    match offset.checked_add(len) {
        Some(end) if end <= total => Ok(offset..end),
        _ => Err(StateError::Bounds(format!(
            "{len} bytes at offset {offset} lie outside the state value of {total} bytes"
        ))),
    }
}

/// One operation's hold on a key's copy.
pub struct Access<'a> {
    value: &'a KeyValue,
    copy: MutexGuard<'a, Copy>,
}

impl Access<'_> {
    /// The copy's bytes (call a `load_*` first for them to be meaningful).
    pub fn bytes(&self) -> &[u8] {
        &self.copy.bytes
    }

    pub fn len(&self) -> usize {
        self.copy.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.copy.bytes.is_empty()
    }

    /// Differs from any earlier version whenever the bytes may have changed since.
    pub fn version(&self) -> u64 {
        self.copy.version
    }

    /// Makes the whole value local, pulling what is missing (a key never set is empty), and at
    /// least `min_len` bytes long (zero bytes past the global value's end).
    pub async fn load_whole(&mut self, min_len: usize) -> Result<()> {
        check_size(min_len)?;
        let v = self.value;
        let copy = &mut *self.copy;
        if !copy.known {
            let value = v.global.get(&v.user, &v.key).await?.unwrap_or_default();
            copy.bytes = value.to_vec();
            copy.known = true;
            copy.touch();
        } else if !copy.pulled.contains(0..copy.bytes.len()) {
            let value = v.global.get(&v.user, &v.key).await?.unwrap_or_default();
            copy.fill_gaps(0..copy.bytes.len(), 0, &value);
            copy.touch();
        }
        if copy.bytes.len() < min_len {
            copy.bytes.resize(min_len, 0);
            copy.touch();
        }
        copy.pulled.insert(0..copy.bytes.len());
        Ok(())
    }

    /// Makes `range` of a value of `total` bytes local, pulling only its missing bytes.
    pub async fn load_range(&mut self, total: usize, range: Range<usize>) -> Result<()> {
        check_range(total, range.start, range.len())?;
        self.copy.ensure_len(total);
        let Some(span) = self.copy.gaps_span(range.clone()) else {
            return Ok(());
        };
        let v = self.value;
        let fetched = v.global.get_range(&v.user, &v.key, span.clone()).await?;
        self.copy.fill_gaps(range, span.start, &fetched);
        self.copy.touch();
        Ok(())
    }

    /// Replaces the whole value (`write_state`).
    pub fn replace(&mut self, data: &[u8]) -> Result<()> {
        check_size(data.len())?;
        let copy = &mut *self.copy;
        copy.bytes.clear();
        copy.bytes.extend_from_slice(data);
        copy.known = true;
        copy.pulled = Ranges::of(0..data.len());
        copy.dirty = Ranges::of(0..data.len());
        copy.replaced = true;
        copy.touch();
        Ok(())
    }

    /// Writes `data` at `offset` of a value of `total` bytes (`write_state_offset`).
    pub fn write_at(&mut self, total: usize, offset: usize, data: &[u8]) -> Result<()> {
        let range = check_range(total, offset, data.len())?;
        self.copy.ensure_len(total);
        self.copy.bytes[range.clone()].copy_from_slice(data);
        self.mark_written(range);
        self.copy.touch();
        Ok(())
    }

    /// Marks bytes already in the copy as written here: dirty until pushed.
    pub fn mark_dirty(&mut self, total: usize, range: Range<usize>) -> Result<()> {
        check_range(total, range.start, range.len())?;
        self.copy.ensure_len(total);
        self.mark_written(range);
        Ok(())
    }

    fn mark_written(&mut self, range: Range<usize>) {
        self.copy.pulled.insert(range.clone());
        self.copy.dirty.insert(range);
    }

    /// Writes back bytes changed through a guest pointer, as `(offset, bytes)`. They are local
    /// from now on; they are dirty (pushed by the next push) only if `dirty`.
    pub fn write_changes(&mut self, changes: &[(usize, Vec<u8>)], dirty: bool) -> Result<()> {
        for (offset, bytes) in changes {
            let range = check_range(MAX_VALUE_BYTES, *offset, bytes.len())?;
            self.copy.ensure_len(range.end);
            self.copy.bytes[range.clone()].copy_from_slice(bytes);
            self.copy.pulled.insert(range.clone());
            if dirty {
                self.copy.dirty.insert(range);
            }
            self.copy.touch();
        }
        Ok(())
    }

    /// Sends the value to the global tier if anything was written: whole if it was replaced or
    /// is wholly local, else just the written bytes (the others are not known here).
    pub async fn push(&mut self) -> Result<()> {
        let whole = 0..self.copy.bytes.len();
        if self.copy.replaced || self.copy.pulled.contains(whole) {
            if self.copy.dirty.is_empty() && !self.copy.replaced {
                return Ok(());
            }
            return self.push_whole().await;
        }
        self.push_partial().await
    }

    async fn push_whole(&mut self) -> Result<()> {
        let v = self.value;
        v.global.set(&v.user, &v.key, &self.copy.bytes).await?;
        self.copy.clean();
        Ok(())
    }

    /// Sends only the dirty bytes (the whole value if it was replaced).
    pub async fn push_partial(&mut self) -> Result<()> {
        let dirty = self.copy.dirty.clone();
        self.push_ranges(dirty).await
    }

    /// Like [`Self::push_partial`], but sends the bytes where `mask` is non-zero instead of the
    /// dirty ones (only if something is dirty, and only bytes known here).
    pub async fn push_partial_mask(&mut self, mask: &[u8]) -> Result<()> {
        if self.copy.dirty.is_empty() && !self.copy.replaced {
            return Ok(());
        }
        let len = self.copy.bytes.len();
        let mut chosen = Ranges::new();
        for masked in Ranges::from_mask(&mask[..mask.len().min(len)]).iter() {
            for known in self.copy.pulled.within(masked) {
                chosen.insert(known);
            }
        }
        self.push_ranges(chosen).await
    }

    async fn push_ranges(&mut self, ranges: Ranges) -> Result<()> {
        if self.copy.replaced {
            return self.push_whole().await;
        }
        if ranges.is_empty() {
            self.copy.clean();
            return Ok(());
        }
        let v = self.value;
        let parts = ranges
            .iter()
            .map(|r| (r.start, &self.copy.bytes[r]))
            .collect();
        v.global.set_ranges(&v.user, &v.key, parts).await?;
        self.copy.clean();
        Ok(())
    }

    /// Replaces the copy with the global value (`pull_state`), at least `len` bytes long;
    /// unpushed writes are lost.
    pub async fn pull(&mut self, len: usize) -> Result<()> {
        check_size(len)?;
        let v = self.value;
        let value = v.global.get(&v.user, &v.key).await?.unwrap_or_default();
        let copy = &mut *self.copy;
        copy.bytes = value.to_vec();
        copy.bytes.resize(copy.bytes.len().max(len), 0);
        copy.known = true;
        copy.pulled = Ranges::of(0..copy.bytes.len());
        copy.dirty.clear();
        copy.replaced = false;
        copy.touch();
        Ok(())
    }

    /// Whether every byte of the value is local and nothing is dirty (for tests).
    pub fn is_clean_and_whole(&self) -> bool {
        self.copy.known
            && self.copy.dirty.is_empty()
            && self.copy.pulled.contains(0..self.copy.bytes.len())
    }
}

impl Copy {
    fn touch(&mut self) {
        static VERSIONS: AtomicU64 = AtomicU64::new(1);
        self.version = VERSIONS.fetch_add(1, Ordering::Relaxed);
    }

    /// Sizes the copy to at least `len` bytes (new bytes are zero and not pulled).
    fn ensure_len(&mut self, len: usize) {
        self.known = true;
        if self.bytes.len() < len {
            self.bytes.resize(len, 0);
            self.touch();
        }
    }

    /// The smallest range covering every missing byte of `range`, if any is missing.
    fn gaps_span(&self, range: Range<usize>) -> Option<Range<usize>> {
        let mut gaps = self.pulled.gaps(range);
        let first = gaps.next()?;
        let end = gaps.last().map_or(first.end, |last| last.end);
        Some(first.start..end)
    }

    /// Copies the bytes of `fetched` (global bytes starting at `fetched_at`) into the missing
    /// parts of `range`, leaving local writes alone, and marks `range` pulled. Bytes past the
    /// end of the global value stay zero.
    fn fill_gaps(&mut self, range: Range<usize>, fetched_at: usize, fetched: &[u8]) {
        let gaps: Vec<_> = self.pulled.gaps(range.clone()).collect();
        for gap in gaps {
            let from = gap.start.saturating_sub(fetched_at).min(fetched.len());
            let to = (gap.end - fetched_at).min(fetched.len());
            let bytes = &mut self.bytes[gap.clone()];
            bytes.fill(0);
            bytes[..to - from].copy_from_slice(&fetched[from..to]);
        }
        self.pulled.insert(range);
    }

    fn clean(&mut self) {
        self.dirty.clear();
        self.replaced = false;
    }

    /// Keeps only what was written here: everything else may be stale.
    fn forget_clean(&mut self) {
        if self.replaced {
            return;
        }
        if self.dirty.is_empty() {
            *self = Copy::default();
            self.touch();
        } else {
            self.pulled = self.dirty.clone();
        }
    }
}

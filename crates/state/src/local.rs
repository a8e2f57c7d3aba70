//! The local tier: one copy of each `(user, key)` per host, shared by every call on the host.
//!
//! A copy starts knowing nothing and is filled lazily: a whole read pulls the whole value, a
//! ranged read pulls only the missing bytes of its range (the `pulled` set). Writes change the
//! copy and mark their bytes `dirty`; a push sends the dirty bytes (or the whole value) to the
//! global tier. Each key also has the reader/writer lock guests take; it is async, so a guest
//! waiting for it gives its thread back.
//!
//! The copies' bytes together stay within a budget ([`LocalTier::new`]): before a copy grows,
//! the bytes are reserved, evicting the least recently used clean copies of other keys (ones
//! with nothing to push; a later read pulls them again) if needed; if that is not enough, the
//! operation fails with [`StateError::Budget`]. One user's copies hold at most three quarters
//! of the budget, so a user whose copies are all dirty cannot leave another none. Keys whose copies are empty and unused leave
//! the table at the same time, so it does not grow with every key ever touched.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

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
    /// Bytes of all copies together at most.
    budget: usize,
    /// Bytes the copies hold now.
    used: Mutex<Usage>,
    /// Ticks of use, for least-recently-used eviction.
    clock: AtomicU64,
    /// The largest value a copy may hold.
    max_value: usize,
    /// The most bytes one key's appended list may hold.
    max_appended: usize,
}

impl std::fmt::Debug for LocalTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTier")
            .field("values", &self.values.lock().len())
            .finish_non_exhaustive()
    }
}

/// Bytes the copies hold, in all and per user.
#[derive(Default)]
struct Usage {
    total: usize,
    per_user: HashMap<String, usize>,
}

impl Usage {
    fn of(&self, user: &str) -> usize {
        self.per_user.get(user).copied().unwrap_or(0)
    }
}

/// The sizes a [`LocalTier`] keeps to.
#[derive(Debug, Clone, Copy)]
pub struct LocalLimits {
    /// Bytes of all copies together.
    pub budget: usize,
    /// The largest value, at most [`MAX_VALUE_BYTES`].
    pub max_value: usize,
    /// The most bytes one key's appended list may hold (with 4 bytes per element on the
    /// embedded tier).
    pub max_appended: usize,
}

impl Default for LocalLimits {
    fn default() -> Self {
        Self {
            budget: usize::MAX,
            max_value: MAX_VALUE_BYTES,
            max_appended: usize::MAX,
        }
    }
}

impl LocalTier {
    pub fn new(global: Arc<dyn GlobalTier>, limits: LocalLimits) -> Arc<Self> {
        Arc::new(Self {
            global,
            values: Mutex::default(),
            budget: limits.budget,
            used: Mutex::default(),
            clock: AtomicU64::new(0),
            max_value: limits.max_value.min(MAX_VALUE_BYTES),
            max_appended: limits.max_appended,
        })
    }

    /// A local tier over a global tier in memory, without a budget (tests, benchmarks).
    pub fn in_memory() -> Arc<Self> {
        Self::new(Arc::new(crate::MemoryTier::new()), LocalLimits::default())
    }

    /// Bytes the copies on this host hold now.
    pub fn used_bytes(&self) -> usize {
        self.used.lock().total
    }

    /// Reserves `bytes` more for the copy of `growing`, evicting other keys' clean copies,
    /// least recently used first, if the budget is short.
    fn reserve(&self, bytes: usize, growing: &KeyValue) -> Result<()> {
        let user = growing.user.as_str();
        if self.try_reserve(bytes, user) {
            return Ok(());
        }
        // Past its own share, a user can only make room from its own copies.
        let over_share = self.used.lock().of(user).saturating_add(bytes) > self.user_share();
        let mut others: Vec<Arc<KeyValue>> = self
            .values
            .lock()
            .values()
            .filter(|v| !std::ptr::eq(Arc::as_ptr(v), growing))
            .filter(|v| !over_share || v.user == user)
            .cloned()
            .collect();
        others.sort_by_key(|v| v.last_used.load(Ordering::Relaxed));
        let mut reserved = false;
        for value in &others {
            // A copy in use right now is not clean for long: leave it.
            if let Ok(mut copy) = value.copy.try_lock()
                && copy.is_clean()
                && copy.charged > 0
            {
                self.release(copy.charged, &value.user);
                *copy = Copy::default();
                copy.touch();
                if self.try_reserve(bytes, user) {
                    reserved = true;
                    break;
                }
            }
        }
        self.prune(others);
        if reserved {
            return Ok(());
        }
        Err(StateError::Budget(format!(
            "the local state tier's budget of {} bytes ({} for one user) cannot hold {bytes} \
             more bytes for user {user} (its other copies are in use or not yet pushed)",
            self.budget,
            self.user_share()
        )))
    }

    /// What one user's copies may hold together.
    fn user_share(&self) -> usize {
        self.budget - self.budget / 4
    }

    fn try_reserve(&self, bytes: usize, user: &str) -> bool {
        let mut used = self.used.lock();
        let fits = used
            .total
            .checked_add(bytes)
            .is_some_and(|t| t <= self.budget)
            && used
                .of(user)
                .checked_add(bytes)
                .is_some_and(|u| u <= self.user_share());
        if fits {
            used.total += bytes;
            *used.per_user.entry(user.to_owned()).or_default() += bytes;
        }
        fits
    }

    fn release(&self, bytes: usize, user: &str) {
        let mut used = self.used.lock();
        used.total = used.total.saturating_sub(bytes);
        if let Some(held) = used.per_user.get_mut(user) {
            *held = held.saturating_sub(bytes);
            if *held == 0 {
                used.per_user.remove(user);
            }
        }
    }

    /// Forgets keys whose copies hold nothing and that nobody else holds (`candidates` are
    /// this function's own references).
    fn prune(&self, candidates: Vec<Arc<KeyValue>>) {
        let mut values = self.values.lock();
        for value in candidates {
            let idle = Arc::strong_count(&value) == 2
                && value.lock.try_write().is_ok()
                && value
                    .copy
                    .try_lock()
                    .is_ok_and(|copy| !copy.known && copy.charged == 0);
            if idle {
                values.remove(&(value.user.clone(), value.key.clone()));
            }
        }
    }

    pub fn global(&self) -> &Arc<dyn GlobalTier> {
        &self.global
    }

    /// This host's copy of `(user, key)`, created empty on first use.
    pub fn value(self: &Arc<Self>, user: &str, key: &StateKey) -> Arc<KeyValue> {
        let mut values = self.values.lock();
        if let Some(value) = values.get(&(user.to_owned(), key.clone())) {
            return value.clone();
        }
        let value = Arc::new(KeyValue {
            user: user.to_owned(),
            key: key.clone(),
            global: self.global.clone(),
            tier: Arc::downgrade(self),
            last_used: AtomicU64::new(self.clock.fetch_add(1, Ordering::Relaxed)),
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
            self.release(copy.charged, user);
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
    /// The tier whose budget the copy's bytes count against.
    tier: Weak<LocalTier>,
    /// The tier's clock at the last access, for eviction.
    last_used: AtomicU64,
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
    /// Bytes reserved from the tier's budget for `bytes`.
    charged: usize,
}

impl KeyValue {
    pub fn key(&self) -> &StateKey {
        &self.key
    }

    /// Exclusive access to the copy for one operation.
    pub async fn access(&self) -> Access<'_> {
        if let Some(tier) = self.tier.upgrade() {
            let tick = tier.clock.fetch_add(1, Ordering::Relaxed);
            self.last_used.store(tick, Ordering::Relaxed);
        }
        Access {
            value: self,
            copy: self.copy.lock().await,
        }
    }

    /// Sets what `copy` is charged to `len` bytes, reserving (possibly evicting) first when it
    /// grows: call before the bytes grow, and after they shrink.
    fn charge(&self, copy: &mut Copy, len: usize) -> Result<()> {
        let Some(tier) = self.tier.upgrade() else {
            return Ok(());
        };
        if len > tier.max_value {
            return Err(StateError::Bounds(format!(
                "a state value of {len} bytes exceeds the limit of {} bytes",
                tier.max_value
            )));
        }
        if len > copy.charged {
            tier.reserve(len - copy.charged, self)?;
        } else {
            tier.release(copy.charged - len, &self.user);
        }
        copy.charged = len;
        Ok(())
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
            let mut copy = self.copy.lock().await;
            copy.forget_clean();
            let len = copy.bytes.len();
            self.charge(&mut copy, len)?;
        }
        Ok(WriteLock {
            _local: local,
            lease,
        })
    }

    pub async fn append(&self, element: Bytes) -> Result<()> {
        let max = self
            .tier
            .upgrade()
            .map_or(usize::MAX, |tier| tier.max_appended);
        self.global
            .append(&self.user, &self.key, element, max)
            .await
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
            v.charge(copy, value.len().max(min_len))?;
            copy.bytes = value.to_vec();
            copy.known = true;
            copy.touch();
        } else if !copy.pulled.contains(0..copy.bytes.len()) {
            let value = v.global.get(&v.user, &v.key).await?.unwrap_or_default();
            copy.fill_gaps(0..copy.bytes.len(), 0, &value);
            copy.touch();
        }
        if copy.bytes.len() < min_len {
            v.charge(copy, min_len)?;
            copy.resize(min_len);
        }
        copy.pulled.insert(0..copy.bytes.len());
        Ok(())
    }

    /// The size a ranged call naming `total` works on. As in Faasm, `total` only sizes a key
    /// that is new: an existing value keeps its size, so a range past `total` but inside the
    /// value is fine. Only then is a value not yet local pulled whole, to learn its size.
    pub async fn size_for(&mut self, total: usize, offset: usize, len: usize) -> Result<usize> {
        if offset.saturating_add(len) > total && !self.copy.known {
            self.load_whole(0).await?;
        }
        Ok(match self.copy.known {
            true => total.max(self.copy.bytes.len()),
            false => total,
        })
    }

    /// Makes `range` of a value of `total` bytes local, pulling only its missing bytes.
    pub async fn load_range(&mut self, total: usize, range: Range<usize>) -> Result<()> {
        check_range(total, range.start, range.len())?;
        self.ensure_len(total)?;
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
        self.value.charge(copy, data.len())?;
        copy.bytes.clear();
        copy.bytes.shrink_to(data.len());
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
        self.ensure_len(total)?;
        self.copy.bytes[range.clone()].copy_from_slice(data);
        self.mark_written(range);
        self.copy.touch();
        Ok(())
    }

    /// Marks bytes already in the copy as written here: dirty until pushed.
    pub fn mark_dirty(&mut self, total: usize, range: Range<usize>) -> Result<()> {
        check_range(total, range.start, range.len())?;
        self.ensure_len(total)?;
        self.mark_written(range);
        Ok(())
    }

    /// Sizes the copy to at least `len` bytes (new bytes are zero and not pulled).
    fn ensure_len(&mut self, len: usize) -> Result<()> {
        self.copy.known = true;
        if self.copy.bytes.len() < len {
            self.value.charge(&mut self.copy, len)?;
            self.copy.resize(len);
        }
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
            self.ensure_len(range.end)?;
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
        let new_len = value.len().max(len);
        if new_len > copy.charged {
            v.charge(copy, new_len)?;
        }
        copy.bytes = value.to_vec();
        copy.resize(new_len);
        if new_len < copy.charged {
            v.charge(copy, new_len)?;
        }
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

    /// Grows the bytes to `len` (zeros), allocating no more than that.
    fn resize(&mut self, len: usize) {
        self.bytes
            .reserve_exact(len.saturating_sub(self.bytes.len()));
        self.bytes.resize(len, 0);
        self.touch();
    }

    /// Nothing here that the global tier lacks.
    fn is_clean(&self) -> bool {
        self.dirty.is_empty() && !self.replaced
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
            // Keeps the charge: the caller settles it for the emptied bytes.
            let charged = self.charged;
            *self = Copy::default();
            self.charged = charged;
            self.touch();
        } else {
            self.pulled = self.dirty.clone();
        }
    }
}

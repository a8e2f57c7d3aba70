//! State (SPEC §4 state rows, §8): the `__faasm_*state*` host calls over this host's
//! [`LocalTier`]. Keys are the calling user's; a bad key, offset or pointer traps.
//!
//! `read_state_ptr` / `read_state_offset_ptr` are the *copying* version of Faasm's pointers:
//! the host grows the guest's memory, copies the local value there and remembers the mapping.
//! Bytes the guest changes there reach the local copy when it flags them dirty (then they are
//! dirty and pushed), before every other state call on the key, on `unlock_state_write` and
//! when the call ends (then they are local but not dirty, as Faasm's shared pages would be).
//! The mapping is refreshed from the local copy after each state call on the key (a lock taken,
//! a pull, a write), so the guest sees what co-located calls pushed into the local tier.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use faasm_api::StateKey;
use faasm_state::{Access, KeyValue, LocalTier, WriteLock};
use tokio::sync::OwnedRwLockReadGuard;
use wasmtime::{AsContextMut, Caller, Instance, Linker, Store};

use super::chain::ChainView;
use super::{MODULE, memory};
use crate::files::FilesView;

const PAGE: usize = 64 << 10;

/// What one call holds of the state: the locks it took and the values it mapped.
pub(crate) struct StateSession {
    tier: Arc<LocalTier>,
    /// The user whose keys the call reads and writes.
    user: String,
    locks: HashMap<StateKey, Held>,
    mappings: HashMap<StateKey, Mapping>,
}

enum Held {
    /// Read locks nest within one call.
    Read {
        _guard: OwnedRwLockReadGuard<()>,
        depth: u32,
    },
    Write(WriteLock),
}

/// A value copied into the guest's memory at `ptr`; `snapshot` is what was put there, so what
/// the guest changed since is the difference.
struct Mapping {
    ptr: usize,
    snapshot: Vec<u8>,
    /// The local copy's version the snapshot was last refreshed from.
    version: Option<u64>,
}

/// Where a store's data keeps its [`StateSession`]: the projection this part links through.
/// State waits without a worker ([`ChainView`]) and reads files (`write_state_from_file`).
pub(crate) trait StateView: ChainView + FilesView {
    fn state(&mut self) -> &mut StateSession;
}

impl StateSession {
    pub(crate) fn new(tier: Arc<LocalTier>, user: String) -> Self {
        Self {
            tier,
            user,
            locks: HashMap::new(),
            mappings: HashMap::new(),
        }
    }
}

/// After the guest returned: writes back what it changed through state pointers, then gives
/// back the locks it still holds (the store's drop would too, but a lease is released now).
pub(crate) async fn end_call<T: StateView>(store: &mut Store<T>, instance: &Instance) {
    if let Some(memory) = instance.get_memory(store.as_context_mut(), "memory") {
        let (data, call) = memory.data_and_store_mut(store.as_context_mut());
        let session = call.state();
        for (key, mapping) in &mut session.mappings {
            let changes = mapping.changes(data);
            if !changes.is_empty() {
                let value = session.tier.value(&session.user, key);
                if let Err(err) = value.access().await.write_changes(&changes, false) {
                    tracing::warn!("writing back state through a pointer: {err}");
                }
            }
        }
    }
    for (_, held) in store.data_mut().state().locks.drain() {
        if let Held::Write(lock) = held {
            lock.release().await;
        }
    }
}

pub(super) fn add_to_linker<T: StateView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "__faasm_read_state",
        |mut c: Caller<'_, T>, (key, buf, len): (u32, u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                v.load_whole(0).await?;
                if len > 0 {
                    let n = v.len().min(len as usize);
                    write_guest(&mut c, buf, &v.bytes()[..n])?;
                }
                refresh(&mut c, &key, &v)?;
                guest_len(v.len())
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_read_state_ptr",
        |mut c: Caller<'_, T>, (key, total): (u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                v.load_whole(total as usize).await?;
                let ptr = map(&mut c, &key, total as usize)?;
                refresh(&mut c, &key, &v)?;
                Ok(ptr as u32)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_read_state_offset",
        |mut c: Caller<'_, T>, (key, total, off, buf, len): (u32, u32, u32, u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                let (off, len) = (off as usize, len as usize);
                let total = v.size_for(total as usize, off, len).await?;
                let range = faasm_state::check_range(total, off, len)?;
                v.load_range(total, range.clone()).await?;
                write_guest(&mut c, buf, &v.bytes()[range])?;
                refresh(&mut c, &key, &v)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_read_state_offset_ptr",
        |mut c: Caller<'_, T>, (key, total, off, len): (u32, u32, u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                let (off, len) = (off as usize, len as usize);
                let total = v.size_for(total as usize, off, len).await?;
                let range = faasm_state::check_range(total, off, len)?;
                v.load_range(total, range.clone()).await?;
                let ptr = map(&mut c, &key, total)?;
                refresh(&mut c, &key, &v)?;
                Ok((ptr + range.start) as u32)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_write_state",
        |mut c: Caller<'_, T>, (key, data, len): (u32, u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let data = read_guest(&mut c, data, len)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                v.replace(&data)?;
                refresh(&mut c, &key, &v)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_write_state_from_file",
        |mut c: Caller<'_, T>, (key, path): (u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let path = {
                    let memory = memory::exported(&mut c)?;
                    memory::c_str(memory.data(&c), path)?.to_owned()
                };
                let data = c.data_mut().files().read_file(&path).map_err(|e| {
                    wasmtime::format_err!("write_state_from_file: cannot read {path:?}: {e}")
                })?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                v.replace(&data)?;
                refresh(&mut c, &key, &v)?;
                guest_len(data.len())
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_write_state_offset",
        |mut c: Caller<'_, T>, (key, total, off, data, len): (u32, u32, u32, u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let data = read_guest(&mut c, data, len)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                let total = v.size_for(total as usize, off as usize, data.len()).await?;
                v.write_at(total, off as usize, &data)?;
                refresh(&mut c, &key, &v)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_flag_state_dirty",
        |mut c: Caller<'_, T>, (key, total): (u32, u32)| {
            Box::new(async move { flag_dirty(&mut c, key, total, 0, total).await })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_flag_state_offset_dirty",
        |mut c: Caller<'_, T>, (key, total, off, len): (u32, u32, u32, u32)| {
            Box::new(async move { flag_dirty(&mut c, key, total, off, len).await })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_push_state",
        |mut c: Caller<'_, T>, (key,): (u32,)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                Ok(v.push().await?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_push_state_partial",
        |mut c: Caller<'_, T>, (key,): (u32,)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let mut v = sync_in(&mut c, &key, &value).await?;
                Ok(v.push_partial().await?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_push_state_partial_mask",
        |mut c: Caller<'_, T>, (key, mask_key): (u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let (mask_key, mask_value) = open(&mut c, mask_key)?;
                // The mask is as long as the value; the two keys may be the same.
                let len = sync_in(&mut c, &key, &value).await?.len();
                let mask = {
                    let mut m = sync_in(&mut c, &mask_key, &mask_value).await?;
                    m.load_whole(len).await?;
                    refresh(&mut c, &mask_key, &m)?;
                    m.bytes()[..len].to_vec()
                };
                let mut v = value.access().await;
                Ok(v.push_partial_mask(&mask).await?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_pull_state",
        |mut c: Caller<'_, T>, (key, len): (u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                // The guest's unflagged pointer writes are overwritten, as in Faasm.
                let mut v = value.access().await;
                v.pull(len as usize).await?;
                refresh(&mut c, &key, &v)?;
                Ok(())
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_append_state",
        |mut c: Caller<'_, T>, (key, data, len): (u32, u32, u32)| {
            Box::new(async move {
                let (_, value) = open(&mut c, key)?;
                let data = read_guest(&mut c, data, len)?;
                Ok(value.append(Bytes::from(data)).await?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_read_appended_state",
        |mut c: Caller<'_, T>, (key, buf, len, n): (u32, u32, u32, u32)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                let elements = value.read_appended(n as usize).await?;
                if elements.len() < n as usize {
                    wasmtime::bail!(
                        "state key {} has {} appended elements, {n} were asked for",
                        show(&key),
                        elements.len()
                    );
                }
                let total: usize = elements.iter().map(Bytes::len).sum();
                if total > len as usize {
                    wasmtime::bail!(
                        "{n} appended elements of state key {} take {total} bytes, \
                         the buffer has {len}",
                        show(&key)
                    );
                }
                write_guest(&mut c, buf, &elements.concat())
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_clear_appended_state",
        |mut c: Caller<'_, T>, (key,): (u32,)| {
            Box::new(async move {
                let (_, value) = open(&mut c, key)?;
                Ok(value.clear_appended().await?)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_lock_state_read",
        |mut c: Caller<'_, T>, (key,): (u32,)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                lock_read(&mut c, &key, &value).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_unlock_state_read",
        |mut c: Caller<'_, T>, (key,): (u32,)| {
            Box::new(async move {
                let (key, _) = open(&mut c, key)?;
                unlock_read(&mut c, &key)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_lock_state_write",
        |mut c: Caller<'_, T>, (key,): (u32,)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                lock_write(&mut c, &key, &value).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "__faasm_unlock_state_write",
        |mut c: Caller<'_, T>, (key,): (u32,)| {
            Box::new(async move {
                let (key, value) = open(&mut c, key)?;
                unlock_write(&mut c, &key, &value).await
            })
        },
    )?;
    Ok(())
}

/// Takes a read lock of `key` (read locks nest within a call), without holding a worker while
/// it waits.
pub(crate) async fn lock_read<T: StateView>(
    c: &mut Caller<'_, T>,
    key: &StateKey,
    value: &Arc<KeyValue>,
) -> wasmtime::Result<()> {
    match c.data_mut().state().locks.get_mut(key) {
        Some(Held::Read { depth, .. }) => *depth += 1,
        Some(Held::Write(_)) => wasmtime::bail!(
            "lock_state_read: this call already holds the write lock of state key {}",
            show(key)
        ),
        None => {
            let guard = c.data_mut().chaining().idle(value.lock_read()).await;
            let held = Held::Read {
                _guard: guard,
                depth: 1,
            };
            c.data_mut().state().locks.insert(key.clone(), held);
        }
    }
    let v = sync_in(c, key, value).await?;
    refresh(c, key, &v)
}

pub(crate) fn unlock_read<T: StateView>(
    c: &mut Caller<'_, T>,
    key: &StateKey,
) -> wasmtime::Result<()> {
    let locks = &mut c.data_mut().state().locks;
    match locks.get_mut(key) {
        Some(Held::Read { depth, .. }) if *depth > 1 => *depth -= 1,
        Some(Held::Read { .. }) => {
            locks.remove(key);
        }
        _ => wasmtime::bail!(
            "unlock_state_read: this call holds no read lock of state key {}",
            show(key)
        ),
    }
    Ok(())
}

/// Takes the write lock of `key` (across hosts with Redis), without holding a worker while it
/// waits.
pub(crate) async fn lock_write<T: StateView>(
    c: &mut Caller<'_, T>,
    key: &StateKey,
    value: &Arc<KeyValue>,
) -> wasmtime::Result<()> {
    if c.data_mut().state().locks.contains_key(key) {
        wasmtime::bail!(
            "lock_state_write: this call already holds a lock of state key {}",
            show(key)
        );
    }
    let lock = c.data_mut().chaining().idle(value.lock_write()).await?;
    c.data_mut()
        .state()
        .locks
        .insert(key.clone(), Held::Write(lock));
    let v = sync_in(c, key, value).await?;
    refresh(c, key, &v)
}

pub(crate) async fn unlock_write<T: StateView>(
    c: &mut Caller<'_, T>,
    key: &StateKey,
    value: &Arc<KeyValue>,
) -> wasmtime::Result<()> {
    let Some(Held::Write(_)) = c.data_mut().state().locks.get(key) else {
        wasmtime::bail!(
            "unlock_state_write: this call holds no write lock of state key {}",
            show(key)
        );
    };
    // Pointer writes reach the local copy before others may read it.
    drop(sync_in(c, key, value).await?);
    if let Some(Held::Write(lock)) = c.data_mut().state().locks.remove(key) {
        lock.release().await;
    }
    Ok(())
}

/// This host's copy of the calling user's `key`.
pub(crate) fn value<T: StateView>(c: &mut Caller<'_, T>, key: &StateKey) -> Arc<KeyValue> {
    let session = c.data_mut().state();
    session.tier.value(&session.user, key)
}

/// The key at `ptr` (a NUL-terminated string) and this host's copy of it.
fn open<T: StateView>(
    c: &mut Caller<'_, T>,
    ptr: u32,
) -> wasmtime::Result<(StateKey, Arc<KeyValue>)> {
    let memory = memory::exported(c)?;
    let data = memory.data(&*c);
    let tail = data.get(ptr as usize..).unwrap_or_default();
    let Some(len) = tail.iter().position(|&b| b == 0) else {
        wasmtime::bail!("state key at {ptr:#x} is not NUL-terminated inside linear memory");
    };
    let key = StateKey::new(&tail[..len]).map_err(|e| wasmtime::format_err!("{e}"))?;
    let value = value(c, &key);
    Ok((key, value))
}

/// Takes hold of `value`'s copy, first writing back what the guest changed through its mapping.
async fn sync_in<'v, T: StateView>(
    c: &mut Caller<'_, T>,
    key: &StateKey,
    value: &'v KeyValue,
) -> wasmtime::Result<Access<'v>> {
    let changes = match c.data_mut().state().mappings.contains_key(key) {
        true => {
            let memory = memory::exported(c)?;
            let (data, call) = memory.data_and_store_mut(&mut *c);
            call.state().mappings.get_mut(key).unwrap().changes(data)
        }
        false => Vec::new(),
    };
    let mut access = value.access().await;
    access.write_changes(&changes, false)?;
    Ok(access)
}

/// Copies the local value into the guest's mapping of it, if it has one.
fn refresh<T: StateView>(
    c: &mut Caller<'_, T>,
    key: &StateKey,
    v: &Access<'_>,
) -> wasmtime::Result<()> {
    if !c.data_mut().state().mappings.contains_key(key) {
        return Ok(());
    }
    let memory = memory::exported(c)?;
    let (data, call) = memory.data_and_store_mut(&mut *c);
    let mapping = call.state().mappings.get_mut(key).unwrap();
    if mapping.version == Some(v.version()) {
        return Ok(());
    }
    mapping.version = Some(v.version());
    let n = mapping.snapshot.len().min(v.len());
    let range = mapping.ptr..mapping.ptr + n;
    data[range].copy_from_slice(&v.bytes()[..n]);
    mapping.snapshot[..n].copy_from_slice(&v.bytes()[..n]);
    Ok(())
}

/// The guest address of a mapping of `key` at least `total` bytes long, made if needed by
/// growing the guest's memory.
fn map<T: StateView>(
    c: &mut Caller<'_, T>,
    key: &StateKey,
    total: usize,
) -> wasmtime::Result<usize> {
    if let Some(mapping) = c.data_mut().state().mappings.get(key)
        && mapping.snapshot.len() >= total
    {
        return Ok(mapping.ptr);
    }
    let memory = memory::exported(c)?;
    let pages = total.div_ceil(PAGE).max(1);
    let old_pages = memory.grow(&mut *c, pages as u64)?;
    let ptr = usize::try_from(old_pages)? * PAGE;
    let mapping = Mapping {
        ptr,
        snapshot: vec![0; total],
        version: None,
    };
    // A smaller earlier mapping was written back by `sync_in`; the guest keeps its memory.
    c.data_mut().state().mappings.insert(key.clone(), mapping);
    Ok(ptr)
}

/// Marks `[off, off + len)` of the value dirty, taking the guest's bytes there if it mapped it.
async fn flag_dirty<T: StateView>(
    c: &mut Caller<'_, T>,
    key: u32,
    total: u32,
    off: u32,
    len: u32,
) -> wasmtime::Result<()> {
    let (key, value) = open(c, key)?;
    let range = faasm_state::check_range(total as usize, off as usize, len as usize)?;
    let flagged = match c.data_mut().state().mappings.contains_key(&key) {
        true => {
            let memory = memory::exported(c)?;
            let (data, call) = memory.data_and_store_mut(&mut *c);
            let mapping = call.state().mappings.get_mut(&key).unwrap();
            mapping.take(data, range.clone())
        }
        false => None,
    };
    let mut v = sync_in(c, &key, &value).await?;
    v.write_changes(flagged.as_slice(), true)?;
    // Bytes flagged but never loaded are pulled first, so the push sends the global ones.
    v.load_range(total as usize, range.clone()).await?;
    v.mark_dirty(total as usize, range)?;
    refresh(c, &key, &v)
}

impl Mapping {
    /// The runs of bytes the guest changed since the snapshot, as `(offset, bytes)`; the
    /// snapshot then matches the guest's memory.
    fn changes(&mut self, memory: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let guest = &memory[self.ptr..self.ptr + self.snapshot.len()];
        let mut changes: Vec<(usize, Vec<u8>)> = Vec::new();
        const CHUNK: usize = 4096;
        for (i, (g, s)) in guest
            .chunks(CHUNK)
            .zip(self.snapshot.chunks_mut(CHUNK))
            .enumerate()
        {
            if g == s {
                continue;
            }
            for (j, (&gb, sb)) in g.iter().zip(s.iter_mut()).enumerate() {
                if gb == *sb {
                    continue;
                }
                *sb = gb;
                let at = i * CHUNK + j;
                match changes.last_mut() {
                    Some((start, run)) if *start + run.len() == at => run.push(gb),
                    _ => changes.push((at, vec![gb])),
                }
            }
        }
        changes
    }

    /// The guest's bytes of `range` (clipped to the mapping), which the snapshot then matches.
    fn take(&mut self, memory: &[u8], range: Range<usize>) -> Option<(usize, Vec<u8>)> {
        let end = range.end.min(self.snapshot.len());
        if range.start >= end {
            return None;
        }
        let bytes = memory[self.ptr + range.start..self.ptr + end].to_vec();
        self.snapshot[range.start..end].copy_from_slice(&bytes);
        Some((range.start, bytes))
    }
}

fn read_guest<T: StateView>(
    c: &mut Caller<'_, T>,
    ptr: u32,
    len: u32,
) -> wasmtime::Result<Vec<u8>> {
    let memory = memory::exported(c)?;
    let data = memory.data(&*c);
    Ok(data[memory::range(data, ptr, len)?].to_vec())
}

fn write_guest<T: StateView>(
    c: &mut Caller<'_, T>,
    ptr: u32,
    bytes: &[u8],
) -> wasmtime::Result<()> {
    let memory = memory::exported(c)?;
    let data = memory.data_mut(&mut *c);
    let len = u32::try_from(bytes.len())?;
    let range = memory::range(data, ptr, len)?;
    data[range].copy_from_slice(bytes);
    Ok(())
}

fn guest_len(len: usize) -> wasmtime::Result<i32> {
    i32::try_from(len)
        .map_err(|_| wasmtime::format_err!("state value of {len} bytes does not fit in an i32"))
}

/// A key for messages.
fn show(key: &StateKey) -> String {
    format!("{:?}", String::from_utf8_lossy(key.as_bytes()))
}

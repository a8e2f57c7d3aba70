//! [`MemoryTier`]: a global tier in this process's memory, gone when it exits. For tests and
//! benchmarks that need a runtime with state but no data directory.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use faasm_api::StateKey;
use parking_lot::Mutex;

use crate::global::{BoxFuture, GlobalTier, Result, appended_too_large};

type Id = (String, StateKey);

#[derive(Default)]
pub struct MemoryTier {
    values: Mutex<HashMap<Id, Vec<u8>>>,
    appended: Mutex<HashMap<Id, Vec<Bytes>>>,
}

impl MemoryTier {
    pub fn new() -> Self {
        Self::default()
    }
}

fn id(user: &str, key: &StateKey) -> Id {
    (user.to_owned(), key.clone())
}

/// Writes `bytes` at `offset` of `value`, zero-extending it as needed.
pub(crate) fn patch(value: &mut Vec<u8>, offset: usize, bytes: &[u8]) {
    let end = offset + bytes.len();
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(bytes);
}

/// The existing part of `range` of `value`.
pub(crate) fn slice(value: &[u8], range: Range<usize>) -> &[u8] {
    let end = range.end.min(value.len());
    value.get(range.start..end).unwrap_or_default()
}

impl GlobalTier for MemoryTier {
    fn get<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<Option<Bytes>>> {
        let value = self.values.lock().get(&id(user, key)).cloned();
        Box::pin(async move { Ok(value.map(Bytes::from)) })
    }

    fn get_range<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        range: Range<usize>,
    ) -> BoxFuture<'a, Result<Bytes>> {
        let values = self.values.lock();
        let bytes = values
            .get(&id(user, key))
            .map(|v| Bytes::copy_from_slice(slice(v, range)))
            .unwrap_or_default();
        Box::pin(async move { Ok(bytes) })
    }

    fn set<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        self.values.lock().insert(id(user, key), value.to_vec());
        Box::pin(async { Ok(()) })
    }

    fn set_ranges<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        ranges: Vec<(usize, &'a [u8])>,
    ) -> BoxFuture<'a, Result<()>> {
        let mut values = self.values.lock();
        let value = values.entry(id(user, key)).or_default();
        for (offset, bytes) in ranges {
            patch(value, offset, bytes);
        }
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<bool>> {
        let existed = self.values.lock().remove(&id(user, key)).is_some();
        Box::pin(async move { Ok(existed) })
    }

    fn keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<(StateKey, u64)>>> {
        let mut keys: Vec<(StateKey, u64)> = self
            .values
            .lock()
            .iter()
            .filter(|((owner, _), _)| owner == user)
            .map(|((_, key), value)| (key.clone(), value.len() as u64))
            .collect();
        keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Box::pin(async move { Ok(keys) })
    }

    fn append<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        element: Bytes,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<()>> {
        let mut appended = self.appended.lock();
        let list = appended.entry(id(user, key)).or_default();
        let held: usize = list.iter().map(Bytes::len).sum();
        let result = if held + element.len() > max_bytes {
            Err(appended_too_large(max_bytes))
        } else {
            list.push(element);
            Ok(())
        };
        Box::pin(async { result })
    }

    fn read_appended<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<Bytes>>> {
        let elements = self
            .appended
            .lock()
            .get(&id(user, key))
            .map(|list| list.iter().take(n).cloned().collect())
            .unwrap_or_default();
        Box::pin(async move { Ok(elements) })
    }

    fn clear_appended<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<()>> {
        self.appended.lock().remove(&id(user, key));
        Box::pin(async { Ok(()) })
    }
}

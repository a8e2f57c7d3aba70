//! The global tier: the source of truth for state across hosts and restarts. The local tier
//! pulls from it and pushes to it; the upload server's `/s` routes read and write it directly.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use faasm_api::StateKey;

use crate::StateError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type Result<T> = std::result::Result<T, StateError>;

/// The error of an append past the list's limit.
pub(crate) fn appended_too_large(max_bytes: usize) -> StateError {
    StateError::Bounds(format!(
        "the appended state would pass its limit of {max_bytes} bytes: clear it first"
    ))
}

/// Where state values and appended lists live beyond one host. Every method is for one
/// `(user, key)`; `user` has been validated by the caller (SPEC §1).
pub trait GlobalTier: Send + Sync + 'static {
    /// The whole value, or `None` if the key was never set.
    fn get<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<Option<Bytes>>>;

    /// The bytes of `range` that exist: shorter than the range (or empty) past the value's end.
    fn get_range<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        range: Range<usize>,
    ) -> BoxFuture<'a, Result<Bytes>>;

    /// Replaces the value.
    fn set<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<()>>;

    /// Overwrites the given `(offset, bytes)` ranges, all at once, extending the value with zero
    /// bytes if a range lies past its end (creating it if absent).
    fn set_ranges<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        ranges: Vec<(usize, &'a [u8])>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes the value; `false` if there was none.
    fn delete<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<bool>>;

    /// The keys of `user` that hold a value, with the value's size in bytes, sorted by key.
    fn keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<(StateKey, u64)>>>;

    /// Adds one element to the key's appended list (separate from its value), unless the
    /// list's elements would then hold more than `max_bytes` together.
    fn append<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        element: Bytes,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<()>>;

    /// The first `n` elements of the appended list (fewer if it is shorter).
    fn read_appended<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<Bytes>>>;

    /// Empties the appended list.
    fn clear_appended<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<()>>;

    /// Takes the key's cross-host write lock, waiting for it. `None` when the tier serves one
    /// host only, where the local lock is enough.
    fn lock_write<'a>(
        &'a self,
        _user: &'a str,
        _key: &'a StateKey,
    ) -> BoxFuture<'a, Result<Option<Lease>>> {
        Box::pin(async { Ok(None) })
    }
}

/// A cross-host write lock held on the global tier. [`Lease::release`] gives it back; a lease
/// dropped without that is released in the background, and one whose holder died expires.
pub struct Lease {
    release: Option<BoxFuture<'static, ()>>,
    /// Keeps the lease alive while held; aborted when the lease ends.
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl Lease {
    pub fn new(
        release: BoxFuture<'static, ()>,
        renewal: Option<tokio::task::JoinHandle<()>>,
    ) -> Self {
        Self {
            release: Some(release),
            renewal,
        }
    }

    pub async fn release(mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if let Some(release) = self.release.take() {
            release.await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if let Some(release) = self.release.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(release);
        }
    }
}

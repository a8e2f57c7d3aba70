//! [`EmbeddedTier`]: the default global tier, files in the data directory. One host only; it
//! survives restarts, and every write is atomic (a temp file renamed into place).
//!
//! Layout (keys are opaque bytes, so file names are their hex; `.` never occurs in hex, so a
//! list can never be mistaken for a value). A key of more than [`HEX_NAME_BYTES`] bytes
//! would pass Linux's 255-byte file names in hex, so its name is `~` and the hex of its
//! SHA-256 instead (`~` never occurs in hex either), and the key itself is kept beside the value
//! in `<name>.key` so that the keys can be listed:
//! ```text
//! <data-dir>/state/<user>/<hex key>            the value
//! <data-dir>/state/<user>/<hex key>.appended   the appended list: (u32 LE length, bytes)*
//! <data-dir>/state/<user>/~<sha256 hex>.key    a long key's bytes (beside its value)
//! <data-dir>/tmp/                              temp files, renamed into place when complete
//! ```

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use faasm_api::{StateKey, validate_name};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::StateError;
use crate::global::{BoxFuture, GlobalTier, Result, appended_too_large};
use crate::memory::patch;

/// Longest key whose file name is its hex (200 characters, 209 with `.appended`).
const HEX_NAME_BYTES: usize = 100;

/// Read-modify-write operations on one key are serialised by one of these locks.
const STRIPES: usize = 64;

#[derive(Clone)]
pub struct EmbeddedTier {
    inner: Arc<Inner>,
}

struct Inner {
    state: PathBuf,
    tmp: PathBuf,
    stripes: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl EmbeddedTier {
    /// Opens (creating if needed) the state directories of the data directory `root`.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let state = root.join("state");
        let tmp = root.join("tmp");
        fs::create_dir_all(&state)?;
        fs::create_dir_all(&tmp)?;
        Ok(Self {
            inner: Arc::new(Inner {
                state,
                tmp,
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
                hasher: RandomState::new(),
            }),
        })
    }

    /// Runs blocking file work off the async threads.
    fn run<'a, T: Send + 'static>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        work: impl FnOnce(&Inner, Paths) -> std::io::Result<T> + Send + 'static,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(async move {
            validate_name("user", user).map_err(|e| StateError::Global(e.to_string()))?;
            let inner = self.inner.clone();
            let paths = inner.paths(user, key);
            tokio::task::spawn_blocking(move || work(&inner, paths))
                .await
                .map_err(|e| StateError::Global(format!("embedded state: {e}")))?
                .map_err(|e| StateError::Global(format!("embedded state: {e}")))
        })
    }
}

/// The files of one key, and the lock serialising its read-modify-writes.
struct Paths {
    value: PathBuf,
    appended: PathBuf,
    /// For a long (hashed) key: the file holding the key, and the key.
    key: Option<(PathBuf, Vec<u8>)>,
    stripe: usize,
}

impl Paths {
    /// Writes the value, and a long key's `.key` file if it is not there yet.
    fn write_value(&self, inner: &Inner, value: &[u8]) -> std::io::Result<()> {
        inner.write_atomically(&self.value, value)?;
        match &self.key {
            Some((path, key)) if !path.exists() => inner.write_atomically(path, key),
            _ => Ok(()),
        }
    }
}

impl Inner {
    fn paths(&self, user: &str, key: &StateKey) -> Paths {
        let key = key.as_bytes();
        let dir = self.state.join(user);
        let (name, key_file) = if key.len() <= HEX_NAME_BYTES {
            (hex::encode(key), None)
        } else {
            let name = format!("~{}", hex::encode(Sha256::digest(key)));
            let key_file = (dir.join(format!("{name}.key")), key.to_vec());
            (name, Some(key_file))
        };
        Paths {
            appended: dir.join(format!("{name}.appended")),
            value: dir.join(name),
            key: key_file,
            stripe: self.hasher.hash_one((user, key)) as usize % STRIPES,
        }
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut temp = tempfile::NamedTempFile::new_in(&self.tmp)?;
        temp.write_all(bytes)?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `None` for a missing file.
fn read(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a file; `false` if there was none.
fn remove(path: &Path) -> std::io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The keys whose values are in a user's directory, with their sizes, sorted by key.
fn list_keys(dir: &Path) -> std::io::Result<Vec<(StateKey, u64)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.contains('.') {
            continue; // an appended list or a long key's name, not a value
        }
        let key = if name.starts_with('~') {
            match read(&dir.join(format!("{name}.key")))? {
                Some(key) => key,
                None => {
                    // Written before `.key` files existed: the key cannot be recovered.
                    tracing::warn!(file = %name, "state value of an unknown long key");
                    continue;
                }
            }
        } else {
            match hex::decode(&name) {
                Ok(key) => key,
                Err(_) => continue,
            }
        };
        if let Ok(key) = StateKey::new(key) {
            keys.push((key, entry.metadata()?.len()));
        }
    }
    keys.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(keys)
}

/// Splits an appended-list file into its elements; a torn last record (a crash mid-append) is
/// ignored.
fn elements(mut file: &[u8], n: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    while out.len() < n && file.len() >= 4 {
        let len = u32::from_le_bytes(file[..4].try_into().unwrap()) as usize;
        let Some(element) = file.get(4..4 + len) else {
            break;
        };
        out.push(Bytes::copy_from_slice(element));
        file = &file[4 + len..];
    }
    out
}

impl GlobalTier for EmbeddedTier {
    fn get<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<Option<Bytes>>> {
        self.run(user, key, |_, paths| {
            Ok(read(&paths.value)?.map(Bytes::from))
        })
    }

    fn get_range<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        range: Range<usize>,
    ) -> BoxFuture<'a, Result<Bytes>> {
        self.run(user, key, move |_, paths| {
            let file = match File::open(&paths.value) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Bytes::new()),
                Err(e) => return Err(e),
            };
            let len = (file.metadata()?.len() as usize).clamp(range.start, range.end);
            let mut buf = vec![0; len - range.start];
            file.read_exact_at(&mut buf, range.start as u64)?;
            Ok(buf.into())
        })
    }

    fn set<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        let value = value.to_vec();
        self.run(user, key, move |inner, paths| {
            let _serialised = inner.stripes[paths.stripe].lock();
            paths.write_value(inner, &value)
        })
    }

    fn set_ranges<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        ranges: Vec<(usize, &'a [u8])>,
    ) -> BoxFuture<'a, Result<()>> {
        let ranges: Vec<(usize, Vec<u8>)> =
            ranges.into_iter().map(|(o, b)| (o, b.to_vec())).collect();
        self.run(user, key, move |inner, paths| {
            let _serialised = inner.stripes[paths.stripe].lock();
            let mut value = read(&paths.value)?.unwrap_or_default();
            for (offset, bytes) in ranges {
                patch(&mut value, offset, &bytes);
            }
            paths.write_value(inner, &value)
        })
    }

    fn delete<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<bool>> {
        self.run(user, key, |inner, paths| {
            let _serialised = inner.stripes[paths.stripe].lock();
            let existed = remove(&paths.value)?;
            if let Some((key_file, _)) = &paths.key {
                remove(key_file)?;
            }
            Ok(existed)
        })
    }

    fn keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<(StateKey, u64)>>> {
        Box::pin(async move {
            validate_name("user", user).map_err(|e| StateError::Global(e.to_string()))?;
            let dir = self.inner.state.join(user);
            tokio::task::spawn_blocking(move || list_keys(&dir))
                .await
                .map_err(|e| StateError::Global(format!("embedded state: {e}")))?
                .map_err(|e| StateError::Global(format!("embedded state: {e}")))
        })
    }

    fn append<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        element: Bytes,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<()>> {
        let appended = self.run(user, key, move |inner, paths| {
            let len = u32::try_from(element.len())
                .map_err(|_| std::io::Error::other("appended element over 4 GiB"))?;
            let mut record = Vec::with_capacity(4 + element.len());
            record.extend_from_slice(&len.to_le_bytes());
            record.extend_from_slice(&element);
            let _serialised = inner.stripes[paths.stripe].lock();
            if let Some(parent) = paths.appended.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&paths.appended)?;
            // Each element's 4-byte length counts too.
            if file.metadata()?.len() + record.len() as u64 > max_bytes as u64 {
                return Ok(false);
            }
            file.write_all(&record)?;
            Ok(true)
        });
        Box::pin(async move {
            match appended.await? {
                true => Ok(()),
                false => Err(appended_too_large(max_bytes)),
            }
        })
    }

    fn read_appended<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<Bytes>>> {
        self.run(user, key, move |_, paths| {
            Ok(elements(&read(&paths.appended)?.unwrap_or_default(), n))
        })
    }

    fn clear_appended<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<()>> {
        self.run(user, key, |inner, paths| {
            let _serialised = inner.stripes[paths.stripe].lock();
            match fs::remove_file(&paths.appended) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }
}

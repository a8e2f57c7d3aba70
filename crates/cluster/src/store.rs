//! The function store of a cluster: what `faasm serve --redis URL` keeps uploads in, so an
//! upload on any host is what the next call on every host runs (SPEC §2, §11).
//!
//! - Functions, Python functions and shared files live in Redis ([`shared`]): each object is a
//!   content-addressed blob (its sha256), in chunks of 1 MiB written before the pointer that
//!   names it, so a reader never sees half an upload. A pointer per name (a field of a hash per
//!   user, or of the one hash of shared files) says which blob is current; a set per listing
//!   names the users that have objects in it. A blob counts the pointers naming it and goes
//!   when the count drops to zero (a Lua script moves a pointer, counts, and announces the
//!   change in one step). Chunks of an upload that died before its pointer moved expire.
//! - Every change is announced on a pub/sub channel ([`keys::STORE_CHANGES`]): the other
//!   hosts drop the function they had prepared (the next call loads and prepares the new one)
//!   or copy the changed shared file. Messages sent while a host is not subscribed are lost,
//!   so whenever its subscription (re)connects a host drops every prepared function and
//!   brings its copy of the shared files in line with Redis. A call never asks Redis anything
//!   about its function: prepared modules stay cached until a change is announced.
//! - Guests read shared files from a directory ([`ClusterStore::shared_files_dir`]), a mirror
//!   of Redis's files on this host's disk. The host that stores a file writes its mirror too,
//!   so its own guests see it at once; other hosts copy it when the change reaches them.
//! - Each host keeps its own records (`Object::Meta`, e.g. the next call id) and state values
//!   (`Object::State`; the state tiers serve `/s`) in its own data directory.
//!
//! docs/cluster.md describes the layout, the semantics and what happens when Redis loses data.

mod shared;

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use faasm_api::FilePath;
use faasm_scheduler::{FunctionKind, Scheduler};
use faasm_storage::{DataDir, Listing, Object, ObjectStore, StorageError};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::keys;
use shared::{Pointer, SharedObjects};

/// How long a host waits before subscribing again after losing Redis, at first and at most.
const RESUBSCRIBE_FIRST: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(5);

/// Uploads in Redis, shared by every host; this host's own records on its disk.
pub struct ClusterStore {
    url: String,
    shared: SharedObjects,
    own: DataDir,
    /// The shared files as this host's guests read them.
    mirror: DataDir,
    /// Held while the mirror is brought in line with Redis, so an older copy never lands
    /// over a newer one.
    mirroring: Mutex<()>,
    /// Names this host in its announcements, which it then ignores.
    origin: String,
}

/// An announcement on [`keys::STORE_CHANGES`].
#[derive(Serialize, Deserialize)]
struct Change {
    origin: String,
    #[serde(flatten)]
    changed: Changed,
}

/// What changed: a stored object, by name.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Changed {
    Function { user: String, function: String },
    Python { user: String, function: String },
    File { path: String },
}

/// Where a shared object's pointer is and what its change announces; `None` for this host's
/// own objects.
fn shared_object(object: Object<'_>) -> Option<(Pointer, Changed)> {
    let listed = |hash: String, set: &'static str, user: &str, name: &str| Pointer {
        hash,
        field: name.to_owned(),
        users: Some((set, user.to_owned())),
    };
    Some(match object {
        Object::Function { user, function } => (
            listed(keys::functions(user), keys::FUNCTION_USERS, user, function),
            Changed::Function {
                user: user.to_owned(),
                function: function.to_owned(),
            },
        ),
        Object::Python { user, function } => (
            listed(keys::python(user), keys::PYTHON_USERS, user, function),
            Changed::Python {
                user: user.to_owned(),
                function: function.to_owned(),
            },
        ),
        Object::File(path) => (
            file_pointer(path.as_str()),
            Changed::File {
                path: path.as_str().to_owned(),
            },
        ),
        Object::State { .. } | Object::Meta(_) => return None,
    })
}

fn file_pointer(path: &str) -> Pointer {
    Pointer {
        hash: keys::FILES.to_owned(),
        field: path.to_owned(),
        users: None,
    }
}

impl ClusterStore {
    /// The store of the cluster at `url`, with this host's records in `own` and its copy of
    /// the shared files under `mirror_root`.
    pub fn open(url: &str, own: DataDir, mirror_root: &Path) -> Result<Self, StorageError> {
        Ok(Self {
            url: url.to_owned(),
            shared: SharedObjects::open(url)?,
            own,
            mirror: DataDir::open(mirror_root)?,
            mirroring: Mutex::new(()),
            origin: format!(
                "{}-{:016x}",
                std::process::id(),
                RandomState::new().hash_one(std::time::SystemTime::now())
            ),
        })
    }

    /// The directory guests read shared files from (`faasm://`).
    pub fn shared_files_dir(&self) -> PathBuf {
        self.mirror.files_dir()
    }

    fn announcement(&self, changed: Changed) -> String {
        let change = Change {
            origin: self.origin.clone(),
            changed,
        };
        serde_json::to_string(&change).expect("a change serialises")
    }

    /// Follows the announcements of other hosts for as long as the process runs: drops the
    /// functions `scheduler` prepared when they change and copies changed shared files.
    /// Returns once subscribed and caught up, so the host serves nothing older than Redis.
    pub async fn watch(self: Arc<Self>, scheduler: Arc<Scheduler>) -> Result<(), StorageError> {
        let client = redis::Client::open(self.url.as_str()).map_err(redis_error)?;
        let subscription = subscribe(&client).await.map_err(redis_error)?;
        self.clone().catch_up(&scheduler).await;
        tokio::spawn(async move {
            let mut subscription = subscription;
            loop {
                self.follow(subscription, &scheduler).await;
                tracing::warn!("lost the subscription to store changes; subscribing again");
                subscription = resubscribe(&client).await;
                self.clone().catch_up(&scheduler).await;
                tracing::info!("subscribed to store changes again");
            }
        });
        Ok(())
    }

    /// After (re)subscribing: whatever changed before is unknown, so drop every prepared
    /// function and bring the mirror in line with Redis.
    async fn catch_up(self: Arc<Self>, scheduler: &Scheduler) {
        scheduler.functions().flush();
        let store = self.clone();
        match tokio::task::spawn_blocking(move || store.resync_mirror()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("copying the shared files from Redis: {err}"),
            Err(err) => tracing::warn!("copying the shared files from Redis: {err}"),
        }
    }

    /// Applies announcements until the subscription ends.
    async fn follow(self: &Arc<Self>, mut subscription: redis::aio::PubSub, scheduler: &Scheduler) {
        let mut messages = subscription.on_message();
        while let Some(message) = messages.next().await {
            let change: Change = match serde_json::from_slice(message.get_payload_bytes()) {
                Ok(change) => change,
                Err(err) => {
                    tracing::warn!("ignoring a malformed store change: {err}");
                    continue;
                }
            };
            if change.origin == self.origin {
                continue;
            }
            let functions = scheduler.functions();
            match change.changed {
                Changed::Function { user, function } => {
                    functions.invalidate(FunctionKind::Wasm, &user, &function);
                }
                Changed::Python { user, function } => {
                    functions.invalidate(FunctionKind::Python, &user, &function);
                }
                Changed::File { path } => {
                    let store = self.clone();
                    let copied = tokio::task::spawn_blocking(move || store.copy_file(&path)).await;
                    if let Ok(Err(err)) = copied {
                        tracing::warn!("copying a changed shared file: {err}");
                    }
                }
            }
        }
    }

    /// Makes the mirror's copy of `path` what Redis holds.
    fn copy_file(&self, path: &str) -> Result<(), StorageError> {
        let path = FilePath::new(path)
            .map_err(|err| StorageError::Io(std::io::Error::other(err.to_string())))?;
        let _mirroring = self.mirroring.lock();
        self.copy_locked(&path)
    }

    fn copy_locked(&self, path: &FilePath) -> Result<(), StorageError> {
        match self.shared.get(&file_pointer(path.as_str()))? {
            Some(bytes) => self.mirror.put(Object::File(path), &bytes),
            None => self.mirror.delete(Object::File(path)).map(drop),
        }
    }

    /// Copies every shared file the mirror lacks or holds another version of, and removes
    /// what Redis no longer has.
    fn resync_mirror(&self) -> Result<(), StorageError> {
        let _mirroring = self.mirroring.lock();
        let wanted = self.shared.digests(keys::FILES)?;
        let mut present = Vec::new();
        files_under(&self.mirror.files_dir(), "", &mut present)?;
        for path in present {
            if !wanted.contains_key(&path)
                && let Ok(path) = FilePath::new(&path)
            {
                self.mirror.delete(Object::File(&path))?;
            }
        }
        for (path, sha) in &wanted {
            let Ok(path) = FilePath::new(path) else {
                tracing::warn!(path, "Redis names a shared file with an invalid path");
                continue;
            };
            if self.mirror.digest(Object::File(&path))?.as_ref() != Some(sha)
                && let Err(err) = self.copy_locked(&path)
            {
                // E.g. two hosts stored `a` and `a/b`: one of them cannot be a file here.
                tracing::warn!(path = path.as_str(), "copying a shared file: {err}");
            }
        }
        Ok(())
    }
}

fn redis_error(err: redis::RedisError) -> StorageError {
    StorageError::Io(std::io::Error::other(format!("redis: {err}")))
}

async fn subscribe(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut subscription = client.get_async_pubsub().await?;
    subscription.subscribe(keys::STORE_CHANGES).await?;
    Ok(subscription)
}

/// Subscribes again, waiting longer after each failure.
async fn resubscribe(client: &redis::Client) -> redis::aio::PubSub {
    let mut pause = RESUBSCRIBE_FIRST;
    loop {
        tokio::time::sleep(pause).await;
        match subscribe(client).await {
            Ok(subscription) => return subscription,
            Err(err) => tracing::debug!("subscribing to store changes: {err}"),
        }
        pause = (pause * 2).min(RESUBSCRIBE_MAX);
    }
}

/// Collects the paths (`a/b/c`) of the files under `dir`, `prefix` naming `dir`.
fn files_under(dir: &Path, prefix: &str, paths: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            files_under(&entry.path(), &format!("{path}/"), paths)?;
        } else {
            paths.push(path);
        }
    }
    Ok(())
}

/// The hash of `user`'s objects of `listing`.
fn listing_hash(listing: Listing, user: &str) -> String {
    match listing {
        Listing::Functions => keys::functions(user),
        Listing::Python => keys::python(user),
    }
}

/// The set of users with objects of `listing`.
fn listing_users(listing: Listing) -> &'static str {
    match listing {
        Listing::Functions => keys::FUNCTION_USERS,
        Listing::Python => keys::PYTHON_USERS,
    }
}

impl ObjectStore for ClusterStore {
    fn put(&self, object: Object<'_>, bytes: &[u8]) -> Result<(), StorageError> {
        let Some((pointer, changed)) = shared_object(object) else {
            return self.own.put(object, bytes);
        };
        let announcement = self.announcement(changed);
        let Object::File(path) = object else {
            return self.shared.put(&pointer, bytes, &announcement);
        };
        let _mirroring = self.mirroring.lock();
        // The mirror first: a path clashing with this host's files is refused before Redis
        // changes.
        self.mirror.put(object, bytes)?;
        self.shared
            .put(&pointer, bytes, &announcement)
            .inspect_err(|_| {
                if let Err(err) = self.copy_locked(path) {
                    tracing::warn!(path = path.as_str(), "restoring a shared file: {err}");
                }
            })
    }

    fn get(&self, object: Object<'_>) -> Result<Option<Bytes>, StorageError> {
        match shared_object(object) {
            Some((pointer, _)) => self.shared.get(&pointer),
            None => self.own.get(object),
        }
    }

    fn delete(&self, object: Object<'_>) -> Result<bool, StorageError> {
        let Some((pointer, changed)) = shared_object(object) else {
            return self.own.delete(object);
        };
        let _mirroring = matches!(object, Object::File(_)).then(|| self.mirroring.lock());
        let deleted = self.shared.delete(&pointer, &self.announcement(changed))?;
        if let Object::File(_) = object {
            self.mirror.delete(object)?;
        }
        Ok(deleted)
    }

    fn list(&self, listing: Listing, user: &str) -> Result<Vec<String>, StorageError> {
        self.shared.names(&listing_hash(listing, user))
    }

    fn users(&self, listing: Listing) -> Result<Vec<String>, StorageError> {
        self.shared.members(listing_users(listing))
    }

    fn digest(&self, object: Object<'_>) -> Result<Option<String>, StorageError> {
        match shared_object(object) {
            Some((pointer, _)) => self.shared.digest(&pointer),
            None => self.own.digest(object),
        }
    }
}

//! The objects every host shares, in Redis: content-addressed blobs in chunks, and the
//! pointers naming each object's current blob. Synchronous, like [`faasm_storage::ObjectStore`]
//! (its callers run it on blocking threads), over a small pool of plain connections.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use faasm_storage::StorageError;
use parking_lot::Mutex;
use redis::{Connection, RedisResult};
use sha2::{Digest, Sha256};

use crate::keys;

/// The size of a blob's chunks: a fixed part of the layout (every host must agree on it),
/// small enough that no single Redis value is large.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Chunks are written with this expiry and made persistent only when a pointer names their
/// blob, so the chunks of an upload that died half-way go away by themselves.
const ORPHAN_SECONDS: u64 = 3600;

/// Bounds on talking to Redis; a command that takes longer counts as a lost connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// How often an upload or a read starts again when a blob it names was removed under it by a
/// concurrent delete or re-upload, before giving up.
const ATTEMPTS: usize = 3;

/// Points `ARGV[1]` in the hash `KEYS[1]` at the blob `ARGV[2]` (`{sha256}:{length}`), or
/// removes it when `ARGV[2]` is empty; keeps the users set `KEYS[2]` (if given) holding
/// `ARGV[3]` exactly while the hash is not empty; counts the pointers of each blob and deletes
/// a blob's chunks when none is left; announces the change (`ARGV[5]` on channel `ARGV[4]`).
/// Returns 1 when done, 0 when there was nothing to delete, -1 when a chunk of the new blob is
/// missing (the caller writes them again).
const SWAP: &str = r"
local prefix, chunk = ARGV[6], tonumber(ARGV[7])
local function blob(value)
  local sha, len = string.match(value, '^(%x+):(%d+)$')
  local keys = {}
  for i = 0, math.max(1, math.ceil(tonumber(len) / chunk)) - 1 do
    keys[#keys + 1] = prefix .. sha .. ':' .. i
  end
  return keys, prefix .. sha .. ':refs'
end
local old = redis.call('hget', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  if old == ARGV[2] then return 1 end
  local chunks, refs = blob(ARGV[2])
  for _, key in ipairs(chunks) do
    if redis.call('exists', key) == 0 then return -1 end
  end
  for _, key in ipairs(chunks) do redis.call('persist', key) end
  redis.call('incr', refs)
  redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
  if KEYS[2] then redis.call('sadd', KEYS[2], ARGV[3]) end
else
  if not old then return 0 end
  redis.call('hdel', KEYS[1], ARGV[1])
  if KEYS[2] and redis.call('hlen', KEYS[1]) == 0 then redis.call('srem', KEYS[2], ARGV[3]) end
end
if old then
  local chunks, refs = blob(old)
  if redis.call('decr', refs) <= 0 then
    redis.call('del', refs)
    for _, key in ipairs(chunks) do redis.call('del', key) end
  end
end
redis.call('publish', ARGV[4], ARGV[5])
return 1
";

/// Where one object's pointer is: a field of a hash, and the set of users to keep in step.
pub(crate) struct Pointer {
    pub hash: String,
    pub field: String,
    /// The users set and the user, for objects listed per user.
    pub users: Option<(&'static str, String)>,
}

/// The shared objects, over connections to one Redis.
pub(crate) struct SharedObjects {
    client: redis::Client,
    idle: Mutex<Vec<Connection>>,
}

fn storage_error(err: redis::RedisError) -> StorageError {
    StorageError::Io(std::io::Error::other(format!("redis: {err}")))
}

fn corrupt(what: String) -> StorageError {
    StorageError::Io(std::io::Error::other(what))
}

/// A pointer's value `{sha256}:{length}`, split.
fn parse(value: &str) -> Result<(&str, usize), StorageError> {
    value
        .split_once(':')
        .and_then(|(sha, len)| Some((sha, len.parse().ok()?)))
        .ok_or_else(|| corrupt(format!("bad blob pointer {value:?} in Redis")))
}

/// The chunks of a blob of `len` bytes (an empty blob is one empty chunk).
fn chunk_count(len: usize) -> usize {
    len.div_ceil(CHUNK_BYTES).max(1)
}

impl SharedObjects {
    /// The store at `url`, checked to answer.
    pub fn open(url: &str) -> Result<Self, StorageError> {
        let objects = Self {
            client: redis::Client::open(url).map_err(storage_error)?,
            idle: Mutex::default(),
        };
        objects.run(|c| redis::cmd("PING").query::<()>(c))?;
        Ok(objects)
    }

    fn connect(&self) -> RedisResult<Connection> {
        let connection = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(IO_TIMEOUT))?;
        connection.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(connection)
    }

    /// Runs `work` on an idle connection (or a new one). Every operation here may run twice,
    /// so when the connection turns out dead (Redis restarted) the idle ones are dropped too
    /// and `work` runs once more on a new connection.
    fn run<T>(&self, work: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T, StorageError> {
        let pooled = self.idle.lock().pop();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => self.connect().map_err(storage_error)?,
        };
        let done = match work(&mut connection) {
            Err(err) if err.is_connection_dropped() || err.is_io_error() => {
                self.idle.lock().clear();
                connection = self.connect().map_err(storage_error)?;
                work(&mut connection)
            }
            done => done,
        };
        let value = done.map_err(storage_error)?;
        self.idle.lock().push(connection);
        Ok(value)
    }

    /// Stores `bytes` as the object of `pointer` and announces `change`: the chunks first,
    /// then the pointer, in one round trip, so no reader sees a partial upload.
    pub fn put(&self, pointer: &Pointer, bytes: &[u8], change: &str) -> Result<(), StorageError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let value = format!("{sha}:{}", bytes.len());
        let mut chunks: Vec<&[u8]> = bytes.chunks(CHUNK_BYTES).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for _ in 0..ATTEMPTS {
            let swapped: i64 = self.run(|c| {
                let mut pipe = redis::pipe();
                for (index, chunk) in chunks.iter().enumerate() {
                    pipe.cmd("SET")
                        .arg(keys::blob_chunk(&sha, index))
                        .arg(*chunk)
                        .arg("NX")
                        .arg("EX")
                        .arg(ORPHAN_SECONDS)
                        .ignore();
                }
                pipe.add_command(swap(pointer, &value, change));
                let (swapped,): (i64,) = pipe.query(c)?;
                Ok(swapped)
            })?;
            if swapped >= 0 {
                return Ok(());
            }
        }
        Err(corrupt(format!(
            "blob {sha} kept disappearing while it was uploaded"
        )))
    }

    /// Removes the object of `pointer` and announces `change`; `false` if there was none.
    pub fn delete(&self, pointer: &Pointer, change: &str) -> Result<bool, StorageError> {
        let removed: i64 = self.run(|c| swap(pointer, "", change).query(c))?;
        Ok(removed == 1)
    }

    /// The current bytes of the object of `pointer`.
    pub fn get(&self, pointer: &Pointer) -> Result<Option<Bytes>, StorageError> {
        for _ in 0..ATTEMPTS {
            let Some(value) = self.pointer(pointer)? else {
                return Ok(None);
            };
            let (sha, len) = parse(&value)?;
            let names: Vec<String> = (0..chunk_count(len))
                .map(|index| keys::blob_chunk(sha, index))
                .collect();
            let chunks: Vec<Option<Vec<u8>>> =
                self.run(|c| redis::cmd("MGET").arg(&names).query(c))?;
            // A chunk missing: the blob was replaced and removed since the pointer was read.
            let Some(chunks) = chunks.into_iter().collect::<Option<Vec<_>>>() else {
                continue;
            };
            let bytes = chunks.concat();
            if bytes.len() != len {
                return Err(corrupt(format!(
                    "blob {sha} holds {} bytes, its pointer says {len}",
                    bytes.len()
                )));
            }
            return Ok(Some(bytes.into()));
        }
        Err(corrupt(format!(
            "{} {} kept changing while it was read",
            pointer.hash, pointer.field
        )))
    }

    /// The sha256 of the object of `pointer`, without reading it.
    pub fn digest(&self, pointer: &Pointer) -> Result<Option<String>, StorageError> {
        let value = self.pointer(pointer)?;
        value
            .map(|value| parse(&value).map(|(sha, _)| sha.to_owned()))
            .transpose()
    }

    fn pointer(&self, pointer: &Pointer) -> Result<Option<String>, StorageError> {
        self.run(|c| {
            redis::cmd("HGET")
                .arg(&pointer.hash)
                .arg(&pointer.field)
                .query(c)
        })
    }

    /// The fields of `hash` (the names of a listing), sorted.
    pub fn names(&self, hash: &str) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self.run(|c| redis::cmd("HKEYS").arg(hash).query(c))?;
        names.sort();
        Ok(names)
    }

    /// The members of `set`, sorted.
    pub fn members(&self, set: &str) -> Result<Vec<String>, StorageError> {
        let mut members: Vec<String> = self.run(|c| redis::cmd("SMEMBERS").arg(set).query(c))?;
        members.sort();
        Ok(members)
    }

    /// Every name of `hash` with the sha256 of its object.
    pub fn digests(&self, hash: &str) -> Result<HashMap<String, String>, StorageError> {
        let pointers: HashMap<String, String> =
            self.run(|c| redis::cmd("HGETALL").arg(hash).query(c))?;
        pointers
            .into_iter()
            .map(|(name, value)| Ok((name, parse(&value)?.0.to_owned())))
            .collect()
    }
}

/// The script call pointing `pointer` at `value` (empty: removing it).
fn swap(pointer: &Pointer, value: &str, change: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(SWAP);
    match &pointer.users {
        Some((set, _)) => cmd.arg(2).arg(&pointer.hash).arg(*set),
        None => cmd.arg(1).arg(&pointer.hash),
    };
    let user = pointer.users.as_ref().map_or("", |(_, user)| user.as_str());
    cmd.arg(&pointer.field)
        .arg(value)
        .arg(user)
        .arg(keys::STORE_CHANGES)
        .arg(change)
        .arg(keys::BLOB)
        .arg(CHUNK_BYTES);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_agree_with_the_script() {
        // The script builds `{prefix}{sha}:{index}` and `{prefix}{sha}:refs`.
        assert_eq!(keys::blob_chunk("ab", 3), format!("{}ab:3", keys::BLOB));
        assert_eq!(keys::blob_refs("ab"), format!("{}ab:refs", keys::BLOB));
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(CHUNK_BYTES), 1);
        assert_eq!(chunk_count(CHUNK_BYTES + 1), 2);
        assert_eq!(parse("ab:12").unwrap(), ("ab", 12));
        assert!(parse("ab").is_err());
    }
}

//! [`RedisTier`]: the global tier shared by several hosts (`faasm serve --redis URL`).
//!
//! Redis keys (users contain no `/` and state keys no `/`, so these never collide; other
//! subsystems keep to names with a `:` before any `/`):
//! ```text
//! {user}/{key}            the value, a string: GET/SET whole, GETRANGE/SETRANGE for ranges
//! {user}/{key}/appended   the appended list (RPUSH, LRANGE, DEL)
//! {user}/{key}/appended-bytes  the bytes of its elements, kept with it by a script
//! {user}/{key}/lock       the cross-host write lease: SET NX PX with a random token,
//!                         renewed while held, deleted only by its holder
//! ```

use std::hash::{BuildHasher, RandomState};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use faasm_api::StateKey;
use redis::aio::ConnectionManager;

use crate::StateError;
use crate::bulk::{BULK_BYTES, BulkWriter};
use crate::global::{BoxFuture, GlobalTier, Lease, Result, appended_too_large};

/// How long a lease lasts unless renewed: a holder that dies blocks others for at most this.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Polling interval bounds while waiting for another host's lease.
const LOCK_POLL_MIN: Duration = Duration::from_millis(1);
const LOCK_POLL_MAX: Duration = Duration::from_millis(20);

/// Appends ARGV[1] to the list KEYS[1] unless its bytes (counted in KEYS[2]) would pass
/// ARGV[2]; returns 0 then.
const APPEND: &str = "local held = tonumber(redis.call('get', KEYS[2]) or '0') \
                      if held + string.len(ARGV[1]) > tonumber(ARGV[2]) then return 0 end \
                      redis.call('rpush', KEYS[1], ARGV[1]) \
                      redis.call('incrby', KEYS[2], string.len(ARGV[1])) return 1";
const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                     return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";

/// Connections per tier: requests are pipelined on each, and spread over them so one large
/// value does not hold up every other request.
const CONNECTIONS: usize = 4;

#[derive(Clone)]
pub struct RedisTier {
    connections: Arc<[ConnectionManager]>,
    next: Arc<AtomicUsize>,
    /// Sends large values without the redis crate's copies.
    bulk: Option<Arc<BulkWriter>>,
    lease: Duration,
}

fn redis_error(err: redis::RedisError) -> StateError {
    StateError::Global(format!("redis: {err}"))
}

/// Whether `err` means the connection is gone (Redis restarted or unreachable), which the
/// connection manager repairs on the next use.
fn lost_connection(err: &redis::RedisError) -> bool {
    err.is_connection_dropped() || err.is_connection_refusal() || err.is_io_error()
}

fn name(user: &str, key: &StateKey, suffix: &str) -> Vec<u8> {
    let mut name = Vec::with_capacity(user.len() + key.as_bytes().len() + suffix.len() + 1);
    name.extend_from_slice(user.as_bytes());
    name.push(b'/');
    name.extend_from_slice(key.as_bytes());
    name.extend_from_slice(suffix.as_bytes());
    name
}

/// A token no other lease holder has: random per process, counted within it.
fn lease_token() -> String {
    static RANDOM: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let random = RANDOM.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    format!("{random:016x}-{}", COUNT.fetch_add(1, Ordering::Relaxed))
}

impl RedisTier {
    /// Connects to `url` (`redis://host:port[/db]`), failing if Redis does not answer.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let mut connections = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            connections.push(client.get_connection_manager().await.map_err(redis_error)?);
        }
        Ok(Self {
            connections: connections.into(),
            next: Arc::default(),
            bulk: BulkWriter::new(client.get_connection_info()).map(Arc::new),
            lease: DEFAULT_LEASE,
        })
    }

    /// Sets how long a lease lasts without renewal.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    fn connection(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[i].clone()
    }

    /// Runs `cmd`, once more if the connection was lost: the connection manager reconnects
    /// after a failure, so the retry waits for that instead of failing a call on a Redis that
    /// is back. (A command whose connection dropped after Redis applied it runs twice; every
    /// command here but the append script is idempotent, and an append twice needs the
    /// connection to drop between Redis applying it and answering.)
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        let mut connection = self.connection();
        match cmd.query_async(&mut connection).await {
            Err(err) if lost_connection(&err) => cmd.query_async(&mut connection).await,
            done => done,
        }
        .map_err(redis_error)
    }
}

impl GlobalTier for RedisTier {
    fn get<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move { self.query(redis::cmd("GET").arg(name(user, key, ""))).await })
    }

    fn get_range<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        range: Range<usize>,
    ) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            if range.is_empty() {
                return Ok(Bytes::new());
            }
            // GETRANGE's end is inclusive.
            self.query(
                redis::cmd("GETRANGE")
                    .arg(name(user, key, ""))
                    .arg(range.start)
                    .arg(range.end - 1),
            )
            .await
        })
    }

    fn set<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let name = name(user, key, "");
            match &self.bulk {
                Some(bulk) if value.len() >= BULK_BYTES => {
                    bulk.command(&[b"SET", &name], value).await
                }
                _ => self.query(redis::cmd("SET").arg(name).arg(value)).await,
            }
        })
    }

    fn set_ranges<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        ranges: Vec<(usize, &'a [u8])>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let name = name(user, key, "");
            if let ([(offset, bytes)], Some(bulk)) = (&ranges[..], &self.bulk)
                && bytes.len() >= BULK_BYTES
            {
                let offset = offset.to_string();
                return bulk
                    .command(&[b"SETRANGE", &name, offset.as_bytes()], bytes)
                    .await;
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (offset, bytes) in &ranges {
                pipe.cmd("SETRANGE")
                    .arg(&name)
                    .arg(offset)
                    .arg(*bytes)
                    .ignore();
            }
            let mut connection = self.connection();
            match pipe.query_async(&mut connection).await {
                Err(err) if lost_connection(&err) => pipe.query_async(&mut connection).await,
                done => done,
            }
            .map_err(redis_error)
        })
    }

    fn delete<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let removed: u64 = self
                .query(redis::cmd("DEL").arg(name(user, key, "")))
                .await?;
            Ok(removed > 0)
        })
    }

    fn keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<(StateKey, u64)>>> {
        Box::pin(async move {
            // A value's name is `user/key`; appended lists and locks have a second `/`, which
            // no key contains. Names are validated, so `user` holds no glob characters.
            let mut connection = self.connection();
            let mut names: Vec<Vec<u8>> = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{user}/*"))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut connection)
                    .await
                    .map_err(redis_error)?;
                names.extend(
                    batch
                        .into_iter()
                        .filter(|name| name.iter().filter(|&&b| b == b'/').count() == 1),
                );
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            names.sort();
            names.dedup();
            let mut pipe = redis::pipe();
            for name in &names {
                pipe.cmd("STRLEN").arg(name);
            }
            let sizes: Vec<u64> = if names.is_empty() {
                Vec::new()
            } else {
                pipe.query_async(&mut connection)
                    .await
                    .map_err(redis_error)?
            };
            Ok(names
                .into_iter()
                .zip(sizes)
                .filter_map(|(name, size)| {
                    let key = StateKey::new(name[user.len() + 1..].to_vec()).ok()?;
                    Some((key, size))
                })
                .collect())
        })
    }

    fn append<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        element: Bytes,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let appended: u64 = self
                .query(
                    redis::cmd("EVAL")
                        .arg(APPEND)
                        .arg(2)
                        .arg(name(user, key, "/appended"))
                        .arg(name(user, key, "/appended-bytes"))
                        .arg(&element[..])
                        .arg(max_bytes),
                )
                .await?;
            match appended {
                1 => Ok(()),
                _ => Err(appended_too_large(max_bytes)),
            }
        })
    }

    fn read_appended<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<Bytes>>> {
        Box::pin(async move {
            if n == 0 {
                return Ok(Vec::new());
            }
            self.query(
                redis::cmd("LRANGE")
                    .arg(name(user, key, "/appended"))
                    .arg(0)
                    .arg(n - 1),
            )
            .await
        })
    }

    fn clear_appended<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let _: u64 = self
                .query(
                    redis::cmd("DEL")
                        .arg(name(user, key, "/appended"))
                        .arg(name(user, key, "/appended-bytes")),
                )
                .await?;
            Ok(())
        })
    }

    fn lock_write<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
    ) -> BoxFuture<'a, Result<Option<Lease>>> {
        Box::pin(async move {
            let lock = name(user, key, "/lock");
            let token = lease_token();
            let millis = self.lease.as_millis().max(1) as u64;
            let mut wait = LOCK_POLL_MIN;
            loop {
                let taken: Option<String> = self
                    .query(
                        redis::cmd("SET")
                            .arg(&lock)
                            .arg(&token)
                            .arg("NX")
                            .arg("PX")
                            .arg(millis),
                    )
                    .await?;
                if taken.is_some() {
                    break;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(LOCK_POLL_MAX);
            }
            let renewal = {
                let (tier, lock, token) = (self.clone(), lock.clone(), token.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(tier.lease / 3).await;
                        let renewed: Result<u64> = tier
                            .query(
                                redis::cmd("EVAL")
                                    .arg(RENEW)
                                    .arg(1)
                                    .arg(&lock)
                                    .arg(&token)
                                    .arg(millis),
                            )
                            .await;
                        if !matches!(renewed, Ok(1)) {
                            tracing::warn!("state lease lost: {renewed:?}");
                            return;
                        }
                    }
                })
            };
            let tier = self.clone();
            let release = Box::pin(async move {
                let released: Result<u64> = tier
                    .query(
                        redis::cmd("EVAL")
                            .arg(RELEASE)
                            .arg(1)
                            .arg(&lock)
                            .arg(&token),
                    )
                    .await;
                if let Err(err) = released {
                    tracing::warn!("releasing a state lease: {err}");
                }
            });
            Ok(Some(Lease::new(release, Some(renewal))))
        })
    }
}

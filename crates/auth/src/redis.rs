//! [`RedisStore`]: the token store shared by the hosts of a deployment (`--redis`). Its keys
//! (named with a `:`, so they never meet state keys):
//! ```text
//! faasm:tokens          hash: token id -> the stored token (JSON)
//! faasm:limits          hash: user -> the user's limit overrides (JSON)
//! faasm:stored:{user}   hash: object -> its bytes (the stored-bytes ledger)
//! faasm:owner:{id}      the user of async call `id`, for as long as results are retained
//! ```

use std::time::Duration;

use faasm_api::UserLimits;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::store::{BoxFuture, Result, TokenStore, store_error};
use crate::token::StoredToken;

const TOKENS: &str = "faasm:tokens";
const LIMITS: &str = "faasm:limits";

fn owner(id: u64) -> String {
    format!("faasm:owner:{id}")
}

fn ledger(user: &str) -> String {
    format!("faasm:stored:{user}")
}

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port[/db]`), failing if Redis does not answer.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(store_error)?;
        let connection = client.get_connection_manager().await.map_err(store_error)?;
        Ok(Self { connection })
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

fn json<T: serde::de::DeserializeOwned>(bytes: Option<Vec<u8>>) -> Result<Option<T>> {
    bytes
        .map(|b| serde_json::from_slice(&b).map_err(store_error))
        .transpose()
}

impl TokenStore for RedisStore {
    fn insert<'a>(&'a self, token: &'a StoredToken) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let value = serde_json::to_vec(token).map_err(store_error)?;
            self.connection()
                .hset_nx(TOKENS, &token.info.id, value)
                .await
                .map_err(store_error)
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<StoredToken>>> {
        Box::pin(async move {
            let value: Option<Vec<u8>> = self
                .connection()
                .hget(TOKENS, id)
                .await
                .map_err(store_error)?;
            json(value)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredToken>>> {
        Box::pin(async move {
            let values: Vec<Vec<u8>> =
                self.connection().hvals(TOKENS).await.map_err(store_error)?;
            values
                .iter()
                .map(|v| serde_json::from_slice(v).map_err(store_error))
                .collect()
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let removed: u64 = self
                .connection()
                .hdel(TOKENS, id)
                .await
                .map_err(store_error)?;
            Ok(removed > 0)
        })
    }

    fn limits<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<UserLimits>> {
        Box::pin(async move {
            let value: Option<Vec<u8>> = self
                .connection()
                .hget(LIMITS, user)
                .await
                .map_err(store_error)?;
            Ok(json(value)?.unwrap_or_default())
        })
    }

    fn set_limits<'a>(&'a self, user: &'a str, limits: UserLimits) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let value = serde_json::to_vec(&limits).map_err(store_error)?;
            self.connection()
                .hset(LIMITS, user, value)
                .await
                .map_err(store_error)
        })
    }

    fn set_call_owner<'a>(
        &'a self,
        id: u64,
        user: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.connection()
                .set_ex(owner(id), user, ttl.as_secs().max(1))
                .await
                .map_err(store_error)
        })
    }

    fn call_owner(&self, id: u64) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move { self.connection().get(owner(id)).await.map_err(store_error) })
    }

    fn stored_bytes<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let sizes: Vec<u64> = self
                .connection()
                .hvals(ledger(user))
                .await
                .map_err(store_error)?;
            Ok(sizes.into_iter().fold(0, u64::saturating_add))
        })
    }

    fn object_bytes<'a>(&'a self, user: &'a str, object: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let size: Option<u64> = self
                .connection()
                .hget(ledger(user), object)
                .await
                .map_err(store_error)?;
            Ok(size.unwrap_or(0))
        })
    }

    fn set_object_bytes<'a>(
        &'a self,
        user: &'a str,
        object: &'a str,
        bytes: Option<u64>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut connection = self.connection();
            match bytes {
                Some(bytes) => connection.hset(ledger(user), object, bytes).await,
                None => connection.hdel(ledger(user), object).await,
            }
            .map_err(store_error)
        })
    }
}

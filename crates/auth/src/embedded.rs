//! [`EmbeddedStore`]: the token store of one host, a redb file in the data directory
//! (`auth.redb`). Values are JSON; the ledger's keys are `{user}/{object}` (users hold no `/`),
//! so one user's objects are one key range.

use std::path::Path;
use std::time::Duration;

use faasm_api::UserLimits;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::store::{BoxFuture, Result, TokenStore, store_error};
use crate::token::StoredToken;

const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const LIMITS: TableDefinition<&str, &[u8]> = TableDefinition::new("limits");
const LEDGER: TableDefinition<&str, u64> = TableDefinition::new("stored_bytes");

pub struct EmbeddedStore {
    db: Database,
}

impl EmbeddedStore {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(store_error)?;
        let txn = db.begin_write().map_err(store_error)?;
        txn.open_table(TOKENS).map_err(store_error)?;
        txn.open_table(LIMITS).map_err(store_error)?;
        txn.open_table(LEDGER).map_err(store_error)?;
        txn.commit().map_err(store_error)?;
        Ok(Self { db })
    }

    fn read<T>(&self, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<Option<T>>
    where
        T: serde::de::DeserializeOwned,
    {
        let txn = self.db.begin_read().map_err(store_error)?;
        let table = txn.open_table(table).map_err(store_error)?;
        match table.get(key).map_err(store_error)? {
            Some(value) => Ok(Some(
                serde_json::from_slice(value.value()).map_err(store_error)?,
            )),
            None => Ok(None),
        }
    }

    /// Runs `change` on `table` in one committed transaction.
    fn write<K: redb::Key + 'static, V: redb::Value + 'static, T>(
        &self,
        table: TableDefinition<K, V>,
        change: impl FnOnce(&mut redb::Table<K, V>) -> std::result::Result<T, redb::StorageError>,
    ) -> Result<T> {
        let txn = self.db.begin_write().map_err(store_error)?;
        let out = {
            let mut table = txn.open_table(table).map_err(store_error)?;
            change(&mut table).map_err(store_error)?
        };
        txn.commit().map_err(store_error)?;
        Ok(out)
    }

    fn ledger_key(user: &str, object: &str) -> String {
        format!("{user}/{object}")
    }
}

impl TokenStore for EmbeddedStore {
    fn insert<'a>(&'a self, token: &'a StoredToken) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let json = serde_json::to_vec(token).map_err(store_error)?;
            self.write(TOKENS, |table| {
                if table.get(token.info.id.as_str())?.is_some() {
                    return Ok(false);
                }
                table.insert(token.info.id.as_str(), json.as_slice())?;
                Ok(true)
            })
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<StoredToken>>> {
        Box::pin(async move { self.read(TOKENS, id) })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredToken>>> {
        Box::pin(async move {
            let txn = self.db.begin_read().map_err(store_error)?;
            let table = txn.open_table(TOKENS).map_err(store_error)?;
            let mut tokens = Vec::new();
            for entry in table.iter().map_err(store_error)? {
                let (_, value) = entry.map_err(store_error)?;
                tokens.push(serde_json::from_slice(value.value()).map_err(store_error)?);
            }
            Ok(tokens)
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { self.write(TOKENS, |table| Ok(table.remove(id)?.is_some())) })
    }

    fn limits<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<UserLimits>> {
        Box::pin(async move { Ok(self.read(LIMITS, user)?.unwrap_or_default()) })
    }

    fn set_limits<'a>(&'a self, user: &'a str, limits: UserLimits) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let json = serde_json::to_vec(&limits).map_err(store_error)?;
            self.write(LIMITS, |table| {
                table.insert(user, json.as_slice())?;
                Ok(())
            })
        })
    }

    fn set_call_owner<'a>(&'a self, _: u64, _: &'a str, _: Duration) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn call_owner(&self, _: u64) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }

    fn stored_bytes<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let txn = self.db.begin_read().map_err(store_error)?;
            let table = txn.open_table(LEDGER).map_err(store_error)?;
            // `0` follows `/`: the range is every key starting with `{user}/`.
            let (start, end) = (format!("{user}/"), format!("{user}0"));
            let mut total = 0u64;
            for entry in table
                .range(start.as_str()..end.as_str())
                .map_err(store_error)?
            {
                total = total.saturating_add(entry.map_err(store_error)?.1.value());
            }
            Ok(total)
        })
    }

    fn object_bytes<'a>(&'a self, user: &'a str, object: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let txn = self.db.begin_read().map_err(store_error)?;
            let table = txn.open_table(LEDGER).map_err(store_error)?;
            let key = Self::ledger_key(user, object);
            Ok(table
                .get(key.as_str())
                .map_err(store_error)?
                .map_or(0, |v| v.value()))
        })
    }

    fn set_object_bytes<'a>(
        &'a self,
        user: &'a str,
        object: &'a str,
        bytes: Option<u64>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let key = Self::ledger_key(user, object);
            self.write(LEDGER, |table| match bytes {
                Some(bytes) => table.insert(key.as_str(), bytes).map(drop),
                None => table.remove(key.as_str()).map(drop),
            })
        })
    }
}

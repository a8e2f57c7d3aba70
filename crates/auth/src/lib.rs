//! Tenants and tokens (SPEC §12). With `faasm serve --auth`, every request but `/ping` presents
//! a token; [`Auth::authenticate`] turns it into a [`Principal`]: the deployment's admin, or a
//! user acting only on its own resources within its token's scopes. User tokens, per-user limit
//! overrides and the stored-bytes ledger live in a [`TokenStore`]: [`EmbeddedStore`] in the data
//! directory, or [`RedisStore`] shared by every host.
//!
//! Tokens are kept only as SHA-256 hashes. A presented token is hashed, its id (a prefix of the
//! hash) looked up, and the full hashes compared with `subtle::ConstantTimeEq`
//! ([`TokenHash::matches`]); the admin token's hash is compared the same way.

pub mod credential;
mod embedded;
mod redis;
mod store;
mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use faasm_api::{ApiError, UserLimits, validate_name};

pub use crate::redis::RedisStore;
pub use embedded::EmbeddedStore;
pub use store::{StoreError, TokenStore};
pub use token::{Scope, StoredToken, TokenHash, TokenInfo, generate, now_ms};

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The admin token: every user's resources, the admin API, the planner, `/metrics`.
    Admin,
    /// A user token.
    User { user: String, scopes: Vec<Scope> },
}

/// The deployment's tokens and limits.
pub struct Auth {
    store: Arc<dyn TokenStore>,
    admin: TokenHash,
    defaults: UserLimits,
    /// How long a call's owner is kept (as long as results are retained).
    results_ttl: Duration,
}

/// A token just made: the secret (shown once) and what is stored about it.
#[derive(Debug, serde::Serialize)]
pub struct NewToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::Unauthorized(message.into())
}

fn store_failure(err: StoreError) -> ApiError {
    ApiError::Internal(err.to_string())
}

impl Auth {
    pub fn new(
        store: Arc<dyn TokenStore>,
        admin_token: &str,
        defaults: UserLimits,
        results_ttl: Duration,
    ) -> Self {
        Self {
            store,
            admin: TokenHash::of(admin_token),
            defaults,
            results_ttl,
        }
    }

    /// Who presents `authorization` (the header's value, if any). 401 for no header, a
    /// malformed one, an unknown, revoked or expired token, or a Basic user that is not the
    /// token's.
    pub async fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Principal, ApiError> {
        let header = authorization.ok_or_else(|| {
            unauthorized(
                "Authentication required: send Authorization: Bearer <token> \
                 (or Basic with user:token)",
            )
        })?;
        let credential = credential::parse(header).map_err(|e| unauthorized(e.to_string()))?;
        let hash = TokenHash::of(&credential.token);
        if hash.matches(&self.admin) {
            return Ok(Principal::Admin);
        }
        let invalid = || unauthorized("Invalid token (unknown, revoked or expired)");
        let stored = self
            .store
            .get(&hash.id())
            .await
            .map_err(store_failure)?
            .ok_or_else(invalid)?;
        let known = TokenHash::from_hex(&stored.hash).is_some_and(|h| h.matches(&hash));
        if !known || stored.info.expired(now_ms()) {
            return Err(invalid());
        }
        if credential.user.is_some_and(|user| user != stored.info.user) {
            return Err(unauthorized("The Basic user is not the token's user"));
        }
        Ok(Principal::User {
            user: stored.info.user,
            scopes: stored.info.scopes,
        })
    }

    /// Makes a token for `user`; only its hash is stored.
    pub async fn create(
        &self,
        user: &str,
        scopes: Vec<Scope>,
        expires_ms: Option<u64>,
    ) -> Result<NewToken, ApiError> {
        validate_name("user", user)?;
        if scopes.is_empty() {
            return Err(ApiError::bad_request("A token needs at least one scope"));
        }
        loop {
            let token = generate();
            let hash = TokenHash::of(&token);
            let info = TokenInfo {
                id: hash.id(),
                user: user.to_owned(),
                scopes: scopes.clone(),
                created_ms: now_ms(),
                expires_ms,
            };
            let stored = StoredToken {
                hash: hash.to_hex(),
                info,
            };
            // A taken id (two tokens sharing 64 bits of hash) is drawn again.
            if self.store.insert(&stored).await.map_err(store_failure)? {
                tracing::info!(id = %stored.info.id, user, "token created");
                return Ok(NewToken {
                    token,
                    info: stored.info,
                });
            }
        }
    }

    pub async fn list(&self) -> Result<Vec<TokenInfo>, ApiError> {
        let mut tokens: Vec<TokenInfo> = self
            .store
            .list()
            .await
            .map_err(store_failure)?
            .into_iter()
            .map(|t| t.info)
            .collect();
        tokens.sort_by(|a, b| (&a.user, a.created_ms).cmp(&(&b.user, b.created_ms)));
        Ok(tokens)
    }

    /// Revokes a token by id; `false` if there was none.
    pub async fn revoke(&self, id: &str) -> Result<bool, ApiError> {
        let removed = self.store.remove(id).await.map_err(store_failure)?;
        if removed {
            tracing::info!(id, "token revoked");
        }
        Ok(removed)
    }

    pub fn defaults(&self) -> UserLimits {
        self.defaults
    }

    /// The user's overrides as set through the admin API.
    pub async fn overrides(&self, user: &str) -> Result<UserLimits, ApiError> {
        self.store.limits(user).await.map_err(store_failure)
    }

    pub async fn set_overrides(&self, user: &str, limits: UserLimits) -> Result<(), ApiError> {
        validate_name("user", user)?;
        self.store
            .set_limits(user, limits)
            .await
            .map_err(store_failure)
    }

    /// The limits that hold for `user`: its overrides over the defaults.
    pub async fn limits(&self, user: &str) -> Result<UserLimits, ApiError> {
        Ok(self.overrides(user).await?.over(self.defaults))
    }

    /// Refuses (413, naming the limit) to store `bytes` as `object` of `user` when the user's
    /// stored bytes, this object's old size aside, would pass its limit.
    pub async fn check_stored(&self, user: &str, object: &str, bytes: u64) -> Result<(), ApiError> {
        let Some(limit) = self.limits(user).await?.stored_bytes else {
            return Ok(());
        };
        let total = self.store.stored_bytes(user).await.map_err(store_failure)?;
        let old = self
            .store
            .object_bytes(user, object)
            .await
            .map_err(store_failure)?;
        let after = total.saturating_sub(old).saturating_add(bytes);
        if after > limit {
            return Err(ApiError::OverLimit(format!(
                "Storing {bytes} bytes would bring user {user} to {after} stored bytes, \
                 over its stored-bytes limit of {limit}"
            )));
        }
        Ok(())
    }

    /// Records that async call `id` is `user`'s, for polls on hosts that did not accept it.
    pub async fn record_call(&self, id: u64, user: &str) -> Result<(), ApiError> {
        self.store
            .set_call_owner(id, user, self.results_ttl)
            .await
            .map_err(store_failure)
    }

    /// The user of call `id` as recorded by [`record_call`](Self::record_call).
    pub async fn call_owner(&self, id: u64) -> Result<Option<String>, ApiError> {
        self.store.call_owner(id).await.map_err(store_failure)
    }

    /// The bytes `user` has stored, by the ledger.
    pub async fn stored_bytes(&self, user: &str) -> Result<u64, ApiError> {
        self.store.stored_bytes(user).await.map_err(store_failure)
    }

    /// Records that `object` of `user` now holds `bytes` (or is gone).
    pub async fn record_stored(
        &self,
        user: &str,
        object: &str,
        bytes: Option<u64>,
    ) -> Result<(), ApiError> {
        self.store
            .set_object_bytes(user, object, bytes)
            .await
            .map_err(store_failure)
    }
}

/// Where the admin token comes from when neither `FAASM_ADMIN_TOKEN` nor a token file is given.
pub fn default_admin_token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}

/// The admin token: `given` (from the environment), else the first line of `file`; else one is
/// generated into `file` (created with mode 0600) and its path, never its value, logged.
pub fn admin_token(given: Option<String>, file: &Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let token = match given {
        Some(token) => token,
        None => match std::fs::read_to_string(file) {
            Ok(text) => text.lines().next().unwrap_or("").trim().to_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let token = generate();
                write_private(file, &token)
                    .with_context(|| format!("writing the admin token to {}", file.display()))?;
                tracing::warn!(
                    path = %file.display(),
                    "generated the admin token (read it from this file)"
                );
                return Ok(token);
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("reading the admin token from {}", file.display()));
            }
        },
    };
    anyhow::ensure!(
        token.len() >= 16 && !token.chars().any(char::is_whitespace),
        "the admin token must be at least 16 characters without whitespace"
    );
    Ok(token)
}

fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{token}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(dir: &Path) -> Auth {
        let store = EmbeddedStore::open(&dir.join("auth.redb")).unwrap();
        let (admin, defaults) = ("admin-token-0123456789", UserLimits::default());
        Auth::new(Arc::new(store), admin, defaults, Duration::from_secs(60))
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[tokio::test]
    async fn tokens_authenticate_until_revoked_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let auth = auth(dir.path());
        assert_eq!(
            auth.authenticate(Some(&bearer("admin-token-0123456789")))
                .await
                .unwrap(),
            Principal::Admin
        );
        let new = auth
            .create("alice", vec![Scope::Invoke], None)
            .await
            .unwrap();
        let who = auth.authenticate(Some(&bearer(&new.token))).await.unwrap();
        assert_eq!(
            who,
            Principal::User {
                user: "alice".into(),
                scopes: vec![Scope::Invoke]
            }
        );
        assert_eq!(
            auth.authenticate(None).await.unwrap_err().status_code(),
            401
        );
        let wrong = format!("{}x", new.token);
        assert_eq!(
            auth.authenticate(Some(&bearer(&wrong)))
                .await
                .unwrap_err()
                .status_code(),
            401
        );
        let listed = auth.list().await.unwrap();
        assert_eq!(listed, vec![new.info.clone()]);
        assert!(auth.revoke(&new.info.id).await.unwrap());
        assert!(auth.authenticate(Some(&bearer(&new.token))).await.is_err());

        let old = auth
            .create("bob", vec![Scope::Invoke], Some(1))
            .await
            .unwrap();
        assert!(auth.authenticate(Some(&bearer(&old.token))).await.is_err());
    }

    #[tokio::test]
    async fn stored_bytes_are_checked_against_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let auth = auth(dir.path());
        let limits = UserLimits {
            stored_bytes: Some(100),
            ..UserLimits::default()
        };
        auth.set_overrides("alice", limits).await.unwrap();
        auth.record_stored("alice", "f/a", Some(60)).await.unwrap();
        auth.record_stored("alicex", "f/a", Some(1000))
            .await
            .unwrap();
        auth.check_stored("alice", "f/a", 100).await.unwrap();
        let err = auth.check_stored("alice", "f/b", 41).await.unwrap_err();
        assert_eq!(err.status_code(), 413);
        assert!(err.to_string().contains("limit of 100"), "{err}");
        auth.record_stored("alice", "f/a", None).await.unwrap();
        auth.check_stored("alice", "f/b", 100).await.unwrap();
    }

    #[test]
    fn a_generated_admin_token_is_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = default_admin_token_file(dir.path());
        let token = admin_token(None, &file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(admin_token(None, &file).unwrap(), token);
        assert!(admin_token(Some("short".into()), &file).is_err());
    }
}

//! Tokens: 256 random bits, shown once, kept only as their SHA-256 hash. A token's id (what
//! `faasm token list` shows and `revoke` takes) is the first 16 hex digits of its hash, so the
//! store is looked up by id and the full hashes are then compared in constant time.

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of generated tokens, so that a leaked one is recognisable (secret scanners).
const PREFIX: &str = "faasm_";

/// A new token: `faasm_` and 32 random bytes in unpadded base64url.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source");
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The SHA-256 of a token.
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// The token's id: the first 64 bits of the hash, in hex.
    pub fn id(self) -> String {
        hex::encode(&self.0[..8])
    }

    /// Whether two hashes are equal, in time that does not depend on where they differ
    /// (`subtle::ConstantTimeEq`).
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// What a token may be used for (SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `/f` and `/p`: functions and Python sources.
    Upload,
    /// Calls: `POST /` with an invoke message.
    Invoke,
    /// `/s`: state values.
    State,
    /// `/file`: shared files.
    Files,
    /// Status polls and `GET /calls`.
    Status,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Upload,
        Scope::Invoke,
        Scope::State,
        Scope::Files,
        Scope::Status,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Upload => "upload",
            Scope::Invoke => "invoke",
            Scope::State => "state",
            Scope::Files => "files",
            Scope::Status => "status",
        }
    }

    /// Parses a comma-separated list such as `upload,invoke`.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let scope = Scope::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| {
                    format!(
                        "unknown scope {name:?}: scopes are upload, invoke, state, files, status"
                    )
                })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("give at least one scope".into());
        }
        scopes.sort();
        Ok(scopes)
    }
}

/// A user token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub scopes: Vec<Scope>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When it stops working, in ms since the Unix epoch; `None`: never.
    #[serde(default)]
    pub expires_ms: Option<u64>,
}

impl TokenInfo {
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|at| at <= now_ms)
    }
}

/// A user token as stored: its info and its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    pub hash: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_to_their_id() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        let hash = TokenHash::of(&a);
        assert!(hash.matches(&TokenHash::from_hex(&hash.to_hex()).unwrap()));
        assert!(!hash.matches(&TokenHash::of(&b)));
        assert_eq!(hash.id(), &hash.to_hex()[..16]);
    }

    #[test]
    fn scope_lists() {
        assert_eq!(
            Scope::parse_list("invoke, upload,invoke").unwrap(),
            vec![Scope::Upload, Scope::Invoke]
        );
        assert!(
            Scope::parse_list("upload,admin")
                .unwrap_err()
                .contains("admin")
        );
        assert!(Scope::parse_list("").is_err());
    }
}

//! Validation of every user-supplied name before it gets near a path or a key (SPEC §1).

use crate::ApiError;

const MAX_NAME_LEN: usize = 64;
const MAX_KEY_LEN: usize = 256;
const MAX_FILE_PATH_LEN: usize = 1024;
/// Longest segment of a `FilePath`: what a Linux file name may hold.
const MAX_FILE_SEGMENT_LEN: usize = 255;

/// Checks a `user` or `function` name: 1–64 chars of `[A-Za-z0-9_-]`, with `.` allowed
/// inside (never first or last, so `.` and `..` are impossible). `field` names the field in
/// the error message.
pub fn validate_name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad_request(format!("Empty {field}")));
    }
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    let ok_dots = !value.starts_with('.') && !value.ends_with('.');
    if value.len() > MAX_NAME_LEN || !ok_chars || !ok_dots {
        return Err(ApiError::bad_request(format!(
            "Invalid {field} {value:?}: expected 1-{MAX_NAME_LEN} characters of [A-Za-z0-9_-], \
             with '.' allowed inside"
        )));
    }
    Ok(())
}

/// A state key: 1–256 opaque bytes, no NUL, no `/`. Stored as bytes, never used as a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateKey(Vec<u8>);

impl StateKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, ApiError> {
        let key = key.into();
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(ApiError::bad_request(format!(
                "Invalid state key: expected 1-{MAX_KEY_LEN} bytes, got {}",
                key.len()
            )));
        }
        if key.iter().any(|&b| b == 0 || b == b'/') {
            return Err(ApiError::bad_request(
                "Invalid state key: NUL and '/' are not allowed",
            ));
        }
        Ok(Self(key))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A shared-file path: relative `/`-separated segments, no `..`, no empty or `.` segments.
/// A leading `/` or `faasm://` is stripped. Holds the normalised form (`a/b/c`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilePath(String);

impl FilePath {
    pub fn new(raw: &str) -> Result<Self, ApiError> {
        let bad = |why: &str| ApiError::bad_request(format!("Invalid FilePath {raw:?}: {why}"));
        if raw.len() > MAX_FILE_PATH_LEN {
            return Err(bad("longer than 1024 bytes"));
        }
        let path = raw.strip_prefix("faasm://").unwrap_or(raw);
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        for segment in path.split('/') {
            match segment {
                "" => return Err(bad("empty path segment")),
                "." | ".." => return Err(bad("'.' and '..' segments are not allowed")),
                s if s.bytes().any(|b| b == 0 || b == b'\\') => {
                    return Err(bad("NUL and '\\' are not allowed"));
                }
                s if s.len() > MAX_FILE_SEGMENT_LEN => {
                    return Err(bad("a path segment is longer than 255 bytes"));
                }
                _ => {}
            }
        }
        Ok(Self(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["demo", "echo", "a.b", "x-y_z", "A1", &"a".repeat(64)] {
            assert!(validate_name("user", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".a",
            "a.",
            "a/b",
            "a b",
            "é",
            &"a".repeat(65),
            "a\0",
        ] {
            assert!(validate_name("user", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            validate_name("function", ""),
            Err(ApiError::bad_request("Empty function"))
        );
    }

    #[test]
    fn state_keys() {
        assert!(StateKey::new("counter").is_ok());
        assert!(StateKey::new(vec![0xff, 0x01]).is_ok());
        assert!(StateKey::new("").is_err());
        assert!(StateKey::new("a/b").is_err());
        assert!(StateKey::new("a\0b").is_err());
        assert!(StateKey::new(vec![b'k'; 257]).is_err());
    }

    #[test]
    fn file_paths() {
        assert_eq!(FilePath::new("a/b.txt").unwrap().as_str(), "a/b.txt");
        assert_eq!(FilePath::new("/a/b").unwrap().as_str(), "a/b");
        assert_eq!(FilePath::new("faasm://data/x").unwrap().as_str(), "data/x");
        for bad in [
            "",
            "/",
            "../x",
            "a/../../etc/passwd",
            "a//b",
            "a/./b",
            "a/",
            "a\\b",
        ] {
            assert!(FilePath::new(bad).is_err(), "{bad:?}");
        }
        assert!(FilePath::new(&"a".repeat(1025)).is_err());
        assert!(FilePath::new(&format!("d/{}", "a".repeat(256))).is_err());
        assert!(FilePath::new(&format!("d/{}", "a".repeat(255))).is_ok());
    }
}

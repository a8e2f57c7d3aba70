//! [`ObjectStore`] on a local directory.
//!
//! Layout (names are validated by `faasm-api` before they get here; state keys are opaque
//! bytes, so they are hex-encoded rather than used as file names):
//! ```text
//! functions/<user>/<function>.wasm   python/<user>/<function>.py
//! state/<user>/<hex key>             files/<shared file path>
//! meta/<name>                        tmp/ (temp files, renamed into place when complete)
//! ```

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::{Listing, Object, ObjectStore, StorageError};

pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (creating if needed) a data directory.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        for dir in ["functions", "python", "state", "files", "meta", "tmp"] {
            fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self { root })
    }

    /// Where the shared files are, one file per path (what guests see at `faasm://`).
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }

    fn path(&self, object: Object<'_>) -> PathBuf {
        match object {
            Object::Function { user, function } => self
                .root
                .join("functions")
                .join(user)
                .join(format!("{function}.wasm")),
            Object::Python { user, function } => self
                .root
                .join("python")
                .join(user)
                .join(format!("{function}.py")),
            Object::State { user, key } => self
                .root
                .join("state")
                .join(user)
                .join(hex::encode(key.as_bytes())),
            Object::Meta(name) => self.root.join("meta").join(name),
            Object::File(path) => path
                .segments()
                .fold(self.files_dir(), |dir, segment| dir.join(segment)),
        }
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut temp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))?;
        temp.write_all(bytes)?;
        // An upload is answered as stored: it must survive the machine, not only the server.
        temp.as_file().sync_all()?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn io_error(object: Object<'_>, err: std::io::Error) -> StorageError {
    match (object, err.kind()) {
        // A shared file where a directory must go, or the other way round.
        (Object::File(path), ErrorKind::NotADirectory | ErrorKind::IsADirectory)
        | (Object::File(path), ErrorKind::AlreadyExists | ErrorKind::DirectoryNotEmpty) => {
            StorageError::Clash {
                path: path.as_str().to_owned(),
            }
        }
        _ => StorageError::Io(err),
    }
}

impl ObjectStore for DataDir {
    fn put(&self, object: Object<'_>, bytes: &[u8]) -> Result<(), StorageError> {
        self.write_atomically(&self.path(object), bytes)
            .map_err(|e| io_error(object, e))
    }

    fn get(&self, object: Object<'_>) -> Result<Option<Bytes>, StorageError> {
        match fs::read(self.path(object)) {
            Ok(bytes) => Ok(Some(bytes.into())),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                Ok(None)
            }
            // A shared-file path naming a directory is simply not a file.
            Err(e) if e.kind() == ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(io_error(object, e)),
        }
    }

    fn delete(&self, object: Object<'_>) -> Result<bool, StorageError> {
        match fs::remove_file(self.path(object)) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                Ok(false)
            }
            Err(e) if e.kind() == ErrorKind::IsADirectory => Ok(false),
            Err(e) => Err(io_error(object, e)),
        }
    }

    fn list(&self, listing: Listing, user: &str) -> Result<Vec<String>, StorageError> {
        let (dir, extension) = listing_dir(listing);
        let entries = match fs::read_dir(self.root.join(dir).join(user)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StorageError::Io(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                (path.extension()? == extension)
                    .then(|| path.file_stem()?.to_str().map(str::to_owned))?
            })
            .collect();
        names.sort();
        Ok(names)
    }

    fn users(&self, listing: Listing) -> Result<Vec<String>, StorageError> {
        let (dir, _) = listing_dir(listing);
        let entries = fs::read_dir(self.root.join(dir))?;
        let mut users: Vec<String> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                entry.file_type().ok()?.is_dir().then_some(())?;
                entry.file_name().into_string().ok()
            })
            .collect();
        users.sort();
        Ok(users)
    }
}

/// The directory of a listing's objects and their file extension.
fn listing_dir(listing: Listing) -> (&'static str, &'static str) {
    match listing {
        Listing::Functions => ("functions", "wasm"),
        Listing::Python => ("python", "py"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faasm_api::{FilePath, StateKey};

    #[test]
    fn round_trips_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::open(dir.path()).unwrap();
        let f = Object::Function {
            user: "demo",
            function: "echo",
        };
        assert_eq!(store.get(f).unwrap(), None);
        store.put(f, b"one").unwrap();
        store.put(f, b"two").unwrap();
        assert_eq!(store.get(f).unwrap().unwrap(), &b"two"[..]);
        assert_eq!(store.list(Listing::Functions, "demo").unwrap(), ["echo"]);
        assert!(store.delete(f).unwrap());
        assert!(!store.delete(f).unwrap());

        let key = StateKey::new(vec![b'k', 0xff]).unwrap();
        let s = Object::State {
            user: "demo",
            key: &key,
        };
        store.put(s, b"").unwrap();
        assert_eq!(store.get(s).unwrap().unwrap(), &b""[..]);
    }

    #[test]
    fn file_tree_conflicts_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = DataDir::open(dir.path()).unwrap();
        let a = FilePath::new("a").unwrap();
        let ab = FilePath::new("a/b").unwrap();
        store.put(Object::File(&a), b"file").unwrap();
        let err = store.put(Object::File(&ab), b"x").unwrap_err();
        assert!(matches!(err, StorageError::Clash { .. }), "{err}");
        assert_eq!(store.get(Object::File(&ab)).unwrap(), None);
    }
}

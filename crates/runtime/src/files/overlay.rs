//! The private overlay of `faasm://` writes (see "Global read, local write" in [`super`]):
//! where an open, `stat` or removal of a `faasm://` path goes, the call's private copies of
//! shared files, and reading a file as the guest would.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use wasmtime_wasi::p1::types::Errno;

use super::layout::{FAASM_FD, FAASM_PREOPEN};
use super::{CallFiles, ENTRY_BYTES, O_CREAT, O_DIRECTORY, O_EXCL, O_TRUNC, RIGHT_FD_WRITE};

impl CallFiles {
    pub(super) fn shared_path(&self, segments: &[String]) -> PathBuf {
        join(&self.shared, segments)
    }

    pub(super) fn shadow_path(&self, segments: &[String]) -> Option<PathBuf> {
        Some(join(&self.dirs.as_ref()?.shadow(), segments))
    }

    pub(super) fn shadow_kind(&self, segments: &[String]) -> Kind {
        match (&self.dirs, self.shadow_used) {
            (Some(dirs), true) => kind(&dirs.shadow(), segments),
            _ => Kind::Missing,
        }
    }

    /// Where a `path_open` of a `faasm://` path goes: the shared directory, or the call's
    /// own copy (which [`CallFiles::make_own`] makes first if the open writes). `Err` is the
    /// errno to answer with.
    pub(super) fn faasm_open(
        &self,
        segments: &[String],
        oflags: i32,
        rights: i64,
    ) -> Result<FaasmOpen, Errno> {
        if segments.is_empty() || !self.shadow {
            return Ok(FaasmOpen::Shared);
        }
        let writes = rights & RIGHT_FD_WRITE != 0 || oflags & (O_CREAT | O_TRUNC | O_EXCL) != 0;
        match self.shadow_kind(segments) {
            Kind::File | Kind::Other => return Ok(FaasmOpen::Own),
            Kind::Dir if writes || kind(&self.shared, segments) != Kind::Dir => {
                return Ok(FaasmOpen::Own);
            }
            Kind::Dir => return Ok(FaasmOpen::Shared),
            Kind::Missing if !writes || oflags & O_DIRECTORY != 0 => {
                return Ok(FaasmOpen::Shared);
            }
            Kind::Missing => {}
        }
        match kind(&self.shared, segments) {
            // Writing a directory or through a link: let the read-only preopen refuse it.
            Kind::Dir | Kind::Other => Ok(FaasmOpen::Shared),
            Kind::File if oflags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL => Err(Errno::Exist),
            Kind::File => Ok(FaasmOpen::MakeOwn {
                copy: oflags & O_TRUNC == 0,
            }),
            Kind::Missing => Ok(FaasmOpen::MakeOwn { copy: false }),
        }
    }

    /// At most what [`CallFiles::make_own`] adds to the scratch: the parents, the copy.
    pub(super) fn own_bytes(&self, segments: &[String], copy: bool) -> u64 {
        let copied = match fs::symlink_metadata(self.shared_path(segments)) {
            Ok(meta) if copy && meta.is_file() => meta.len(),
            _ => 0,
        };
        ENTRY_BYTES * segments.len() as u64 + copied
    }

    /// Prepares the call's own copy of a `faasm://` path: its parents, and the shared file's
    /// bytes if `copy`.
    pub(super) fn make_own(&mut self, segments: &[String], copy: bool) -> io::Result<()> {
        self.shadow_parents(segments)?;
        if copy {
            self.copy_to_shadow(segments)?;
        }
        self.shadow_used = true;
        Ok(())
    }

    /// Creates in the hidden directory the parents of `segments` that exist as directories
    /// in the shared one, so the private copy has somewhere to go. Stops at the first that
    /// does not (the open then fails as it would in the shared tree).
    pub(super) fn shadow_parents(&self, segments: &[String]) -> io::Result<()> {
        for end in 1..segments.len() {
            let Some(path) = self.shadow_path(&segments[..end]) else {
                return Ok(());
            };
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if kind(&self.shared, &segments[..end]) != Kind::Dir {
                        return Ok(());
                    }
                    match fs::create_dir(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    /// Copies a shared file to the hidden directory (its parents exist there, checked to be
    /// real directories; `create_new` never follows a link).
    fn copy_to_shadow(&self, segments: &[String]) -> io::Result<()> {
        let (Some(dirs), Some((_, parents))) = (&self.dirs, segments.split_last()) else {
            return Ok(());
        };
        if kind(&dirs.shadow(), parents) != Kind::Dir {
            // A parent is missing (or is not a plain directory): the open will say so.
            return Ok(());
        }
        let mut source = fs::File::open(self.shared_path(segments))?;
        let mut copy = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(join(&dirs.shadow(), segments))?;
        io::copy(&mut source, &mut copy)?;
        Ok(())
    }

    /// The bytes of the file a guest names by `path`, as the guest would read them: a
    /// `faasm://` path gives the call's own copy if it wrote one, else the shared file; any
    /// other path is in the call's root (cwd `/`). Links are not followed; devices and
    /// directories are refused. For `__faasm_write_state_from_file`.
    pub(crate) fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let refused = |why: &str| io::Error::new(io::ErrorKind::PermissionDenied, why.to_owned());
        let (base, rest) = match path.strip_prefix(FAASM_PREOPEN) {
            Some(rest) => (None, rest),
            None => {
                let Some(dirs) = &self.dirs else {
                    // The call never touched its filesystem: its root is empty.
                    return Err(io::ErrorKind::NotFound.into());
                };
                (Some(dirs.root()), path)
            }
        };
        let segments = segments(rest.trim_start_matches('/'))
            .ok_or_else(|| refused("the path leaves the call's files"))?;
        let dir = match base {
            Some(_) if segments.first().is_some_and(|first| first == "dev") => {
                return Err(refused("devices cannot be read whole"));
            }
            Some(root) => root,
            None if self.shadow_kind(&segments) == Kind::File => {
                self.shadow_path(&[]).expect("mounted")
            }
            None => self.shared.clone(),
        };
        match kind(&dir, &segments) {
            Kind::File => fs::read(join(&dir, &segments)),
            Kind::Missing => Err(io::ErrorKind::NotFound.into()),
            Kind::Dir => Err(io::ErrorKind::IsADirectory.into()),
            Kind::Other => Err(refused("not a regular file")),
        }
    }

    /// Where a `path_filestat_get` of a `faasm://` path goes.
    pub(super) fn faasm_stat(&self, segments: &[String]) -> u32 {
        match self.shadow_kind(segments) {
            Kind::File | Kind::Other => self.shadow_fd(),
            Kind::Dir if kind(&self.shared, segments) != Kind::Dir => self.shadow_fd(),
            _ => FAASM_FD,
        }
    }
}

pub(super) fn io_errno(err: io::Error) -> Errno {
    match err.kind() {
        io::ErrorKind::NotFound => Errno::Noent,
        io::ErrorKind::PermissionDenied => Errno::Acces,
        io::ErrorKind::AlreadyExists => Errno::Exist,
        io::ErrorKind::StorageFull => Errno::Nospc,
        io::ErrorKind::QuotaExceeded => Errno::Dquot,
        io::ErrorKind::FileTooLarge => Errno::Fbig,
        _ => Errno::Io,
    }
}

/// Where [`CallFiles::faasm_open`] sends an open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum FaasmOpen {
    /// The shared file (read-only).
    Shared,
    /// The call's existing copy.
    Own,
    /// The call's copy, to be made first.
    MakeOwn { copy: bool },
}

/// What a path names, found without following links.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    Missing,
    File,
    Dir,
    /// A link or something else: left to wasmtime-wasi, which keeps it inside the preopen.
    Other,
}

pub(super) fn kind(base: &Path, segments: &[String]) -> Kind {
    let mut path = base.to_path_buf();
    for (i, segment) in segments.iter().enumerate() {
        path.push(segment);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Kind::Missing;
            }
            Err(_) => return Kind::Other,
        };
        let last = i + 1 == segments.len();
        if meta.is_symlink() {
            return Kind::Other;
        }
        if !last && !meta.is_dir() {
            return Kind::Missing;
        }
        if last {
            return if meta.is_dir() {
                Kind::Dir
            } else if meta.is_file() {
                Kind::File
            } else {
                Kind::Other
            };
        }
    }
    Kind::Dir
}

pub(super) fn join(base: &Path, segments: &[String]) -> PathBuf {
    let mut path = base.to_path_buf();
    path.extend(segments);
    path
}

/// The segments of a path relative to a preopen, with `.` and `..` resolved lexically;
/// `None` if it is absolute, climbs out, or is not UTF-8 (wasmtime-wasi then refuses it).
pub(super) fn segments(path: &str) -> Option<Vec<String>> {
    if path.starts_with('/') {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s.to_owned()),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capped_pipe::CappedPipe;

    #[test]
    fn paths_are_resolved_lexically_and_never_climb_out() {
        let s = |path: &str| segments(path).map(|s| s.join("|"));
        assert_eq!(s("data/in.txt").as_deref(), Some("data|in.txt"));
        assert_eq!(s("data/./x/../in.txt/").as_deref(), Some("data|in.txt"));
        assert_eq!(s("data//in.txt").as_deref(), Some("data|in.txt"));
        assert_eq!(s(".").as_deref(), Some(""));
        assert_eq!(s(""), Some(String::new()));
        assert_eq!(s(".."), None);
        assert_eq!(s("data/../../etc/passwd"), None);
        assert_eq!(s("/etc/passwd"), None);
    }

    #[test]
    fn files_are_read_as_the_guest_sees_them() {
        let shared = tempfile::tempdir().unwrap();
        fs::create_dir(shared.path().join("data")).unwrap();
        fs::write(shared.path().join("data/in.txt"), b"shared").unwrap();
        let pipe = CappedPipe::new(1024);
        let mut files = CallFiles::new(shared.path().to_path_buf(), vec!["x.wasm".into()], pipe);
        let read = |files: &CallFiles, path: &str| {
            files
                .read_file(path)
                .map(|bytes| String::from_utf8(bytes).unwrap())
                .map_err(|e| e.kind())
        };
        assert_eq!(read(&files, "faasm://data/in.txt"), Ok("shared".into()));
        assert_eq!(read(&files, "faasm:/data/in.txt"), Ok("shared".into()));
        assert_eq!(
            read(&files, "faasm://data"),
            Err(io::ErrorKind::IsADirectory)
        );
        assert_eq!(read(&files, "faasm://nope"), Err(io::ErrorKind::NotFound));
        assert_eq!(
            read(&files, "faasm://../in.txt"),
            Err(io::ErrorKind::PermissionDenied)
        );
        assert_eq!(read(&files, "/tmp/x"), Err(io::ErrorKind::NotFound));

        let _wasi = files.mount().unwrap();
        let root = files.dirs.as_ref().unwrap().root();
        fs::write(root.join("tmp/x"), b"scratch").unwrap();
        assert_eq!(read(&files, "/tmp/x"), Ok("scratch".into()));
        assert_eq!(read(&files, "tmp/x"), Ok("scratch".into()));
        assert_eq!(
            read(&files, "/tmp/../../x"),
            Err(io::ErrorKind::PermissionDenied)
        );
        std::os::unix::fs::symlink("/etc/passwd", root.join("tmp/link")).unwrap();
        assert_eq!(
            read(&files, "/tmp/link"),
            Err(io::ErrorKind::PermissionDenied)
        );
        assert_eq!(
            read(&files, "/dev/urandom"),
            Err(io::ErrorKind::PermissionDenied)
        );

        // A private copy wins over the shared file.
        let path = ["data".into(), "in.txt".into()];
        assert_eq!(
            files.faasm_open(&path, O_CREAT | O_TRUNC, RIGHT_FD_WRITE),
            Ok(FaasmOpen::MakeOwn { copy: false })
        );
        files.make_own(&path, false).unwrap();
        fs::write(
            files
                .shadow_path(&["data".into(), "in.txt".into()])
                .unwrap(),
            b"own",
        )
        .unwrap();
        assert_eq!(read(&files, "faasm://data/in.txt"), Ok("own".into()));
        assert_eq!(
            fs::read(shared.path().join("data/in.txt")).unwrap(),
            b"shared"
        );
    }
}

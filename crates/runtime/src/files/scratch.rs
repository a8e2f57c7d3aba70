//! The scratch pool: the process's scratch directory (the devices, `/etc`, call directories)
//! and the background thread that keeps ready call directories in a pool and empties used
//! ones for reuse (see "Cost" in [`super`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, mpsc};

use super::devices::Device;
use crate::guest_env;

/// Call directories kept ready by the background thread.
const POOL: usize = 8;

/// One call's directories: `root/` (the guest's `/`, with `tmp/`) and `faasm/` (its private
/// copies of shared files), in a temp directory removed when this is dropped.
pub(super) struct CallDirs {
    dir: tempfile::TempDir,
    /// The sizes of `root`, `root/tmp` and `faasm` as made (a directory that held many
    /// entries stays bigger, so a reused one must be the same size).
    sizes: [u64; 3],
}

impl CallDirs {
    pub(super) fn create(parent: &Path) -> io::Result<CallDirs> {
        let dir = tempfile::Builder::new()
            .prefix("call-")
            .tempdir_in(parent)?;
        let mut dirs = CallDirs { dir, sizes: [0; 3] };
        for path in dirs.guest_dirs() {
            fs::create_dir(path)?;
        }
        dirs.sizes = dirs
            .sizes()
            .ok_or_else(|| io::Error::other("call directory vanished"))?;
        Ok(dirs)
    }

    /// `root`, `root/tmp` and `faasm`, parents first.
    fn guest_dirs(&self) -> [PathBuf; 3] {
        [self.root(), self.root().join("tmp"), self.shadow()]
    }

    fn sizes(&self) -> Option<[u64; 3]> {
        let [a, b, c] = self.guest_dirs().map(|path| {
            fs::symlink_metadata(path)
                .ok()
                .filter(|meta| meta.is_dir())
                .map(|meta| meta.len())
        });
        Some([a?, b?, c?])
    }

    /// Empties the directories a call used (`/` back to holding only an empty `/tmp`, no
    /// private copies) and resets their times, so another call cannot tell them from new ones.
    /// `false` if that failed, or if a directory grew (on ext4 a directory that once held
    /// many entries stays bigger): then they must be deleted instead.
    fn recycle(&self) -> bool {
        let [root, tmp, shadow] = self.guest_dirs();
        let cleaned = (|| {
            empty(&root, Some("tmp"))?;
            if !fs::symlink_metadata(&tmp).is_ok_and(|meta| meta.is_dir()) {
                // Only the call itself could have put something else there.
                let _ = fs::remove_file(&tmp);
                fs::create_dir(&tmp)?;
            }
            empty(&tmp, None)?;
            empty(&shadow, None)
        })();
        if cleaned.is_err() || self.sizes() != Some(self.sizes) {
            return false;
        }
        let now = std::time::SystemTime::now();
        let times = fs::FileTimes::new().set_accessed(now).set_modified(now);
        self.guest_dirs().iter().all(|path| {
            fs::File::open(path)
                .and_then(|dir| dir.set_times(times))
                .is_ok()
        })
    }

    pub(super) fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub(super) fn shadow(&self) -> PathBuf {
        self.dir.path().join("faasm")
    }
}

/// The process's scratch directory (`$TMPDIR/faasm-scratch-XXXXXX`): the devices, `/etc`, the
/// pool of ready call directories, and the used ones waiting to be emptied. One background
/// thread empties used directories into the pool (or deletes them) and keeps the pool topped
/// up; a call that finds the pool empty empties a used directory itself (tens of µs) before it
/// would make a new one (hundreds of µs with the deletion it implies, on ext4).
///
/// The process holds an exclusive lock on its `lock` file for as long as it lives, so a later
/// process can tell the directory of one that was killed (its lock is free) and delete it.
pub(super) struct Scratch {
    dir: PathBuf,
    pub(super) dev: PathBuf,
    pub(super) etc: PathBuf,
    ready: Mutex<Vec<CallDirs>>,
    used: Mutex<Vec<CallDirs>>,
    /// Wakes the background thread.
    wake: mpsc::Sender<()>,
    _lock: fs::File,
}

const SCRATCH_PREFIX: &str = "faasm-scratch-";
/// Where a scratch directory is made before its lock is held (never swept).
const NEW_SCRATCH_PREFIX: &str = ".faasm-scratch-new-";

static SCRATCH: OnceLock<Scratch> = OnceLock::new();

pub(super) fn scratch() -> io::Result<&'static Scratch> {
    if let Some(scratch) = SCRATCH.get() {
        return Ok(scratch);
    }
    let (dir, lock) = new_scratch_dir()?;
    let (wake, woken) = mpsc::channel();
    let mut created = Some(Scratch {
        dev: dir.join("dev"),
        etc: dir.join("etc"),
        dir: dir.clone(),
        ready: Mutex::new(Vec::new()),
        used: Mutex::new(Vec::new()),
        wake,
        _lock: lock,
    });
    let scratch = SCRATCH.get_or_init(|| created.take().expect("initialised once"));
    match created {
        // Another thread won the race: drop ours.
        Some(_) => {
            let _ = fs::remove_dir_all(&dir);
        }
        None => {
            std::thread::Builder::new()
                .name("faasm-scratch".into())
                .spawn(move || keep_pool(woken))?;
            // Deleting what killed servers left can take a while: not on the pool's thread.
            let own = scratch.dir.clone();
            std::thread::Builder::new()
                .name("faasm-scratch-sweep".into())
                .spawn(move || sweep(&own))?;
        }
    }
    Ok(scratch)
}

/// Makes a scratch directory with its devices and `/etc`, locked, under its final name.
fn new_scratch_dir() -> io::Result<(PathBuf, fs::File)> {
    let new = tempfile::Builder::new()
        .prefix(NEW_SCRATCH_PREFIX)
        .tempdir()?;
    let dev = new.path().join("dev");
    fs::create_dir(&dev)?;
    for (name, _) in Device::NAMES {
        fs::File::create(dev.join(name))?;
    }
    guest_env::create_etc(&new.path().join("etc"))?;
    let lock = fs::File::create(new.path().join("lock"))?;
    lock.lock()?;
    let name = new
        .path()
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix(NEW_SCRATCH_PREFIX))
        .map(|suffix| format!("{SCRATCH_PREFIX}{suffix}"))
        .ok_or_else(|| io::Error::other("unexpected temp directory name"))?;
    let dir = new.path().with_file_name(name);
    let made = new.keep();
    if let Err(e) = fs::rename(&made, &dir) {
        let _ = fs::remove_dir_all(&made);
        return Err(e);
    }
    Ok((dir, lock))
}

/// Deletes the scratch directories in `$TMPDIR` whose process is gone (their lock is free).
fn sweep(own: &Path) {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(SCRATCH_PREFIX));
        if !ours || path == own {
            continue;
        }
        let Ok(lock) = fs::File::open(path.join("lock")) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            tracing::debug!(dir = %path.display(), "removing a dead process's scratch");
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// The background thread: empties used directories into the pool, tops the pool up.
fn keep_pool(woken: mpsc::Receiver<()>) {
    while woken.recv().is_ok() {
        while woken.try_recv().is_ok() {}
        let Some(scratch) = SCRATCH.get() else {
            continue;
        };
        // Top up to POOL once below half of it, emptying used directories first.
        let mut filling = false;
        loop {
            if let Some(dirs) = scratch.used.lock().expect("pool lock").pop() {
                let room = scratch.ready.lock().expect("pool lock").len() < POOL;
                if room && dirs.recycle() {
                    scratch.ready.lock().expect("pool lock").push(dirs);
                }
                // Else dropping it deletes it.
                continue;
            }
            let ready = scratch.ready.lock().expect("pool lock").len();
            if ready >= POOL || (!filling && ready >= POOL / 2) {
                break;
            }
            filling = true;
            match CallDirs::create(&scratch.dir) {
                Ok(dirs) => scratch.ready.lock().expect("pool lock").push(dirs),
                Err(e) => {
                    tracing::warn!("cannot create a call scratch directory: {e}");
                    break;
                }
            }
        }
    }
}

impl Scratch {
    pub(super) fn take(&self) -> io::Result<CallDirs> {
        let ready = self.ready.lock().expect("pool lock").pop();
        let _ = self.wake.send(());
        if let Some(dirs) = ready {
            return Ok(dirs);
        }
        loop {
            let used = self.used.lock().expect("pool lock").pop();
            match used {
                Some(dirs) if dirs.recycle() => return Ok(dirs),
                // Could not be emptied: dropping it deletes it.
                Some(_) => continue,
                None => return CallDirs::create(&self.dir),
            }
        }
    }

    fn discard(&self, dirs: CallDirs) {
        self.used.lock().expect("pool lock").push(dirs);
        let _ = self.wake.send(());
    }
}

/// Gives a call's directories back when the call ends: the background thread empties them
/// for reuse (or deletes them).
pub(super) fn give_back(dirs: CallDirs) {
    match SCRATCH.get() {
        Some(scratch) => scratch.discard(dirs),
        None => drop(dirs),
    }
}

/// Removes everything in `dir` but a directory named `keep`. Links are removed, never followed.
fn empty(dir: &Path, keep: Option<&str>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_dir = entry.file_type()?.is_dir();
        if is_dir && keep.is_some_and(|keep| entry.file_name() == keep) {
            continue;
        }
        if is_dir {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_call_directories_are_emptied_for_reuse() {
        let parent = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep"), b"x").unwrap();
        let dirs = CallDirs::create(parent.path()).unwrap();
        let listing = |path: PathBuf| {
            let mut names: Vec<_> = fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names.join(",")
        };
        let fresh = |dirs: &CallDirs| {
            assert_eq!(listing(dirs.root()), "tmp");
            assert_eq!(listing(dirs.root().join("tmp")), "");
            assert_eq!(listing(dirs.shadow()), "");
        };
        assert!(dirs.recycle());
        fresh(&dirs);

        fs::write(dirs.root().join("tmp/x"), b"x").unwrap();
        fs::create_dir_all(dirs.root().join("a/b/c")).unwrap();
        fs::write(dirs.root().join("a/b/c/y"), b"y").unwrap();
        fs::write(dirs.shadow().join("copy"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dirs.root().join("out")).unwrap();
        assert!(dirs.recycle());
        fresh(&dirs);
        assert!(
            outside.path().join("keep").exists(),
            "links are not followed"
        );

        fs::remove_dir(dirs.root().join("tmp")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dirs.root().join("tmp")).unwrap();
        assert!(dirs.recycle());
        fresh(&dirs);
        assert!(
            outside.path().join("keep").exists(),
            "links are not followed"
        );

        let path = dirs.dir.path().to_path_buf();
        drop(dirs);
        assert!(!path.exists(), "dropping removes the directories");
    }
}

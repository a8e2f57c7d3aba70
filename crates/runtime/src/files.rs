//! The filesystem a call sees (SPEC §6): a private, writable `/` with `/tmp`, the shared files
//! under `faasm://`, `/dev/null`, `/dev/zero`, `/dev/random`, `/dev/urandom`, and a read-only
//! `/etc` (see [`crate::guest_env`]). The WASI context also carries the call's argv, its
//! environment, and its stdout and stderr.
//!
//! # Layout
//!
//! | guest name | host directory | fd | |
//! |---|---|---|---|
//! | `/` | `<scratch>/call-XXXX/root` (with `tmp/`) | 3 | private, read-write, deleted after the call |
//! | `faasm:` | the shared files directory (`<data-dir>/files`) | 4 | read-only |
//! | `/dev` | `<scratch>/dev` (four empty files) | 5 | read-only; reads and writes are intercepted |
//! | `/etc` | `<scratch>/etc` (`hosts`, `passwd`, `resolv.conf`, `localtime`) | 6 | read-only |
//! | `/usr/local/lib` | the Python interpreter's library | 7 | Python calls only; read-only |
//! | (hidden) | `<scratch>/call-XXXX/faasm` | 7 (Python: 8) | the call's private copies of `faasm://` files |
//!
//! wasi-libc resolves a path against the preopen with the longest matching prefix, so
//! `faasm://data/x` (and `faasm:/data/x`) opens `data/x` in the shared directory, `/dev/null`
//! opens `null` in the devices directory, and everything else (relative paths too: the cwd is
//! `/`) lands in the call's own root. The preopens confine every path (wasmtime-wasi resolves
//! beneath the preopened directory: `..` and links leading out fail with `EPERM`, and links to
//! absolute paths cannot be made).
//!
//! # Global read, local write
//!
//! The shared directory is preopened read-only. `path_open`, `path_filestat_get`,
//! `path_create_directory`, `path_unlink_file` and `path_remove_directory` are interposed
//! (the linker shadows wasmtime-wasi's definitions and calls its ABI functions after
//! choosing the descriptor): an open of a `faasm://` path for writing (`FD_WRITE`, `O_CREAT`,
//! `O_TRUNC`) first copies the shared file (unless truncated) into the hidden per-call
//! directory and opens that copy instead; from then on the call sees its own copy (opens and
//! `stat` prefer it). The shared file never changes. The hidden directory is the last preopen
//! and `fd_prestat_get` reports it as absent, so wasi-libc never learns about it. Writes
//! through a directory descriptor opened under `faasm://` get no copy: the read-only preopen
//! refuses them. `fd_close` and `fd_renumber` are interposed to keep track of which
//! descriptors are still the preopens.
//!
//! # Devices
//!
//! A preopened directory cannot hold a real device, so `/dev/*` are empty read-only files and
//! `fd_read`, `fd_pread`, `fd_write` and `fd_pwrite` are interposed for descriptors opened from
//! them: `urandom`/`random` fill the buffers from WASI's `random_get` (the host's secure
//! generator), `zero` with zeros, `null` reads end-of-file; writes to any of them are accepted
//! and dropped.
//!
//! # Scratch cap
//!
//! What a call's directories hold is capped ([`crate::CallLimits::scratch_bytes`]): the
//! interposed calls that create entries or grow files (`path_open` with `O_CREAT`, the copy of
//! a `faasm://` file, `path_create_directory`, `path_link`, `path_symlink`, `fd_write`,
//! `fd_pwrite`, `fd_filestat_set_size`) first reserve what they add (each entry
//! [`ENTRY_BYTES`], plus the bytes a write appends past a file's end) and answer `ENOSPC`,
//! writing nothing, past the cap. Removals are not tracked: the running total is an upper
//! bound, measured again (the directories, plus files removed but still open) before a
//! reservation is refused.
//!
//! # Cost
//!
//! Nothing is created until the guest first touches the filesystem (wasi-libc asks for the
//! preopens with `fd_prestat_get` at startup only when the program links file functions): a
//! call starts with a WASI context without preopens, and the first WASI call naming one of
//! descriptors 3–7 (3–8 for Python; every function taking a descriptor is interposed for
//! this: a snapshot has wasi-libc's table of preopens already filled in, so its first use may
//! be any of them) swaps in one with them (both share [`GuestClock`], so guest time does not
//! jump). Call directories come from a small pool that a background thread
//! keeps filled; after the call that thread empties them and puts them back in the pool (or
//! deletes them, if that fails or a directory grew). A call that uses files pays for four
//! `open`s, not for `mkdir`/`rmdir` (tens of µs each on a journaling filesystem).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Instant;

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::{Errno, Fd, Filetype};
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, WasiCtxBuilder};
use wiggle::GuestMemory;

use crate::CallLimits;
use crate::call::CallState;
use crate::capped_pipe::CappedPipe;
use crate::guest_env::{self, ETC_PREOPEN};

/// The guest name of the shared files' preopen: `faasm://x` and `faasm:/x` both resolve to it.
pub(crate) const FAASM_PREOPEN: &str = "faasm:";

const WASI: &str = "wasi_snapshot_preview1";
/// Descriptors of the preopens, in the order they are added (0–2 are stdio).
const ROOT_FD: u32 = 3;
const FAASM_FD: u32 = 4;
const DEV_FD: u32 = 5;
/// `/etc`: like the preopens after it, nothing is interposed for it (it is read-only).
const ETC_FD: u32 = 6;
/// Python calls only: the interpreter's standard library and `pyfaasm`.
const LIBRARY_FD: u32 = ETC_FD + 1;
/// The guest name of the Python library's preopen.
const LIBRARY_PREOPEN: &str = "/usr/local/lib";
/// Call directories kept ready by the background thread.
const POOL: usize = 8;

// WASI preview 1 flag bits (wasi_snapshot_preview1.witx).
const O_CREAT: i32 = 1;
const O_DIRECTORY: i32 = 2;
const O_EXCL: i32 = 4;
const O_TRUNC: i32 = 8;
const RIGHT_FD_READ: i64 = 1 << 1;
const RIGHT_FD_WRITE: i64 = 1 << 6;
const FDFLAG_APPEND: i32 = 1;
const FDFLAG_NONBLOCK: i32 = 4;
/// The most buffers one read or write may pass (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;
/// The most bytes one read of a device returns.
const DEVICE_READ_MAX: usize = 1 << 20;
/// What a file, directory or link costs a call's scratch besides its bytes: a block, so that
/// empty files cannot take the host's inodes for free either.
const ENTRY_BYTES: u64 = 4096;

/// What `/dev/<name>` behaves as.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Device {
    Null,
    Zero,
    Random,
}

impl Device {
    const NAMES: [(&str, Device); 4] = [
        ("null", Device::Null),
        ("zero", Device::Zero),
        ("random", Device::Random),
        ("urandom", Device::Random),
    ];

    fn named(name: &str) -> Option<Device> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, device)| device)
    }
}

/// The guests' monotonic clock: time since a guest first read it in this process. One origin
/// for the context a call starts with and the one swapped in when its filesystem appears, so
/// guest time never goes backwards (wasmtime-wasi's default clock starts at each context's
/// creation).
#[derive(Clone, Copy)]
struct GuestClock;

impl GuestClock {
    fn origin() -> Instant {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        *ORIGIN.get_or_init(Instant::now)
    }
}

impl HostMonotonicClock for GuestClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(Self::origin().elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A call's files: how to build its WASI context, and (once the guest touched the filesystem)
/// its scratch directories and what its descriptors 3–7 and device descriptors are.
pub(crate) struct CallFiles {
    shared: PathBuf,
    argv: Vec<String>,
    env: &'static [(String, String)],
    /// The Python library directory, for Python calls.
    library: Option<PathBuf>,
    stdout: CappedPipe,
    /// `None` until the filesystem is set up.
    dirs: Option<CallDirs>,
    /// Whether the preopens are still what their descriptors are (the guest may close or
    /// renumber them). The Python library needs no tracking: nothing is interposed for it.
    root: bool,
    faasm: bool,
    dev: bool,
    shadow: bool,
    /// Whether anything was written to the hidden directory (else `faasm://` needs no lookup).
    shadow_used: bool,
    devices: Vec<(u32, Device)>,
    /// The descriptors `path_open` gave the guest (other than devices), and whether each
    /// appends: the only ones whose writes can land in the call's scratch.
    opened: Vec<(u32, bool)>,
    /// The most bytes the call's directories may hold (see [`reserve`]).
    scratch_limit: u64,
    /// What they hold at most: measured, plus what was reserved since (removals are not
    /// tracked, so this only grows until the next measurement).
    scratch_used: u64,
}

impl CallFiles {
    /// A call with `argv`, whose stdout and stderr go to `stdout`, and which reads the shared
    /// files in `shared`; its environment is Faasm's.
    pub(crate) fn new(shared: PathBuf, argv: Vec<String>, stdout: CappedPipe) -> Self {
        Self {
            shared,
            argv,
            env: guest_env::c_env(),
            library: None,
            stdout,
            dirs: None,
            root: false,
            faasm: false,
            dev: false,
            shadow: false,
            shadow_used: false,
            devices: Vec::new(),
            opened: Vec::new(),
            scratch_limit: CallLimits::default().scratch_bytes,
            scratch_used: 0,
        }
    }

    /// Caps what the call's directories may hold at `bytes`.
    pub(crate) fn with_scratch_limit(mut self, bytes: u64) -> Self {
        self.scratch_limit = bytes;
        self
    }

    /// A Python call: the interpreter's `library` preopened read-only at [`LIBRARY_PREOPEN`]
    /// (before the hidden one), and `env` as its environment.
    pub(crate) fn with_python(
        mut self,
        library: PathBuf,
        env: &'static [(String, String)],
    ) -> Self {
        self.library = Some(library);
        self.env = env;
        self
    }

    /// The hidden directory's descriptor: the last preopen.
    fn shadow_fd(&self) -> u32 {
        if self.library.is_some() {
            LIBRARY_FD + 1
        } else {
            LIBRARY_FD
        }
    }

    /// The WASI context a call starts with: no preopens yet.
    pub(crate) fn wasi(&self) -> WasiP1Ctx {
        self.builder().build_p1()
    }

    fn builder(&self) -> WasiCtxBuilder {
        let mut builder = WasiCtxBuilder::new();
        // As Faasm does, C functions are told that stdout and stderr are terminals (`isatty`);
        // Python ones are not (CPython would then colour its tracebacks).
        let stdout = self.stdout.terminal(self.library.is_none());
        // Not `allow_blocking_current_thread`: besides file operations it makes a guest's
        // sleep (`poll_oneoff`) block the executor thread that other calls share.
        builder
            .args(&self.argv)
            .envs(self.env)
            .stdout(stdout.clone())
            .stderr(stdout)
            .monotonic_clock(GuestClock);
        builder
    }

    /// Takes call directories and builds the context with the preopens.
    fn mount(&mut self) -> wasmtime::Result<WasiP1Ctx> {
        let scratch = scratch()?;
        let dirs = scratch.take()?;
        if !self.shared.is_dir() {
            fs::create_dir_all(&self.shared)?;
        }
        let mut builder = self.builder();
        // The order fixes the descriptors: ROOT_FD, FAASM_FD, DEV_FD, ETC_FD, [LIBRARY_FD],
        // shadow.
        builder
            .preopened_dir(dirs.root(), "/", FsPerms::ReadWrite)?
            .preopened_dir(&self.shared, FAASM_PREOPEN, FsPerms::ReadOnly)?
            .preopened_dir(&scratch.dev, "/dev", FsPerms::ReadOnly)?
            .preopened_dir(&scratch.etc, ETC_PREOPEN, FsPerms::ReadOnly)?;
        if let Some(library) = &self.library {
            builder.preopened_dir(library, LIBRARY_PREOPEN, FsPerms::ReadOnly)?;
        }
        builder.preopened_dir(dirs.shadow(), "/.faasm-local", FsPerms::ReadWrite)?;
        self.dirs = Some(dirs);
        (self.root, self.faasm, self.dev, self.shadow) = (true, true, true, true);
        Ok(builder.build_p1())
    }

    fn is(&self, fd: u32, preopen: u32) -> bool {
        fd == preopen
            && match preopen {
                ROOT_FD => self.root,
                FAASM_FD => self.faasm,
                DEV_FD => self.dev,
                _ => false,
            }
    }

    /// Whether `fd` is still the hidden directory.
    fn is_shadow(&self, fd: u32) -> bool {
        fd == self.shadow_fd() && self.shadow
    }

    fn device(&self, fd: u32) -> Option<Device> {
        self.devices
            .iter()
            .find(|(d, _)| *d == fd)
            .map(|&(_, device)| device)
    }

    /// Forgets what `fd` was (it was closed, or another descriptor was moved onto it).
    fn forget(&mut self, fd: u32) {
        match fd {
            ROOT_FD => self.root = false,
            FAASM_FD => self.faasm = false,
            DEV_FD => self.dev = false,
            fd if fd == self.shadow_fd() => self.shadow = false,
            _ => {}
        }
        self.devices.retain(|(d, _)| *d != fd);
        self.opened.retain(|(d, _)| *d != fd);
    }

    fn set_append(&mut self, fd: u32, append: bool) {
        if let Some(entry) = self.opened.iter_mut().find(|(d, _)| *d == fd) {
            entry.1 = append;
        }
    }

    /// Adds `bytes` to what the scratch holds, unless that passes the limit.
    fn try_reserve(&mut self, bytes: u64) -> bool {
        match self.scratch_used.checked_add(bytes) {
            Some(used) if used <= self.scratch_limit => {
                self.scratch_used = used;
                true
            }
            _ => false,
        }
    }

    /// Whether `fd` appends, if `path_open` gave it to the guest.
    fn opened(&self, fd: u32) -> Option<bool> {
        self.opened
            .iter()
            .find(|(d, _)| *d == fd)
            .map(|&(_, append)| append)
    }

    fn renumbered(&mut self, from: u32, to: u32) {
        if from == to {
            return;
        }
        let device = self.device(from);
        let opened = self.opened(from);
        self.forget(to);
        self.forget(from);
        if let Some(device) = device {
            self.devices.push((to, device));
        }
        if let Some(append) = opened {
            self.opened.push((to, append));
        }
    }

    fn shared_path(&self, segments: &[String]) -> PathBuf {
        join(&self.shared, segments)
    }

    fn shadow_path(&self, segments: &[String]) -> Option<PathBuf> {
        Some(join(&self.dirs.as_ref()?.shadow(), segments))
    }

    fn shadow_kind(&self, segments: &[String]) -> Kind {
        match (&self.dirs, self.shadow_used) {
            (Some(dirs), true) => kind(&dirs.shadow(), segments),
            _ => Kind::Missing,
        }
    }

    /// Where a `path_open` of a `faasm://` path goes: the shared directory, or the call's
    /// own copy (which [`CallFiles::make_own`] makes first if the open writes). `Err` is the
    /// errno to answer with.
    fn faasm_open(
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
    fn own_bytes(&self, segments: &[String], copy: bool) -> u64 {
        let copied = match fs::symlink_metadata(self.shared_path(segments)) {
            Ok(meta) if copy && meta.is_file() => meta.len(),
            _ => 0,
        };
        ENTRY_BYTES * segments.len() as u64 + copied
    }

    /// Prepares the call's own copy of a `faasm://` path: its parents, and the shared file's
    /// bytes if `copy`.
    fn make_own(&mut self, segments: &[String], copy: bool) -> io::Result<()> {
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
    fn shadow_parents(&self, segments: &[String]) -> io::Result<()> {
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
    fn faasm_stat(&self, segments: &[String]) -> u32 {
        match self.shadow_kind(segments) {
            Kind::File | Kind::Other => self.shadow_fd(),
            Kind::Dir if kind(&self.shared, segments) != Kind::Dir => self.shadow_fd(),
            _ => FAASM_FD,
        }
    }
}

impl Drop for CallFiles {
    fn drop(&mut self) {
        if let Some(dirs) = self.dirs.take() {
            match SCRATCH.get() {
                Some(scratch) => scratch.discard(dirs),
                None => drop(dirs),
            }
        }
    }
}

fn io_errno(err: io::Error) -> Errno {
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
enum FaasmOpen {
    /// The shared file (read-only).
    Shared,
    /// The call's existing copy.
    Own,
    /// The call's copy, to be made first.
    MakeOwn { copy: bool },
}

/// What a path names, found without following links.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Missing,
    File,
    Dir,
    /// A link or something else: left to wasmtime-wasi, which keeps it inside the preopen.
    Other,
}

fn kind(base: &Path, segments: &[String]) -> Kind {
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

fn join(base: &Path, segments: &[String]) -> PathBuf {
    let mut path = base.to_path_buf();
    path.extend(segments);
    path
}

/// The segments of a path relative to a preopen, with `.` and `..` resolved lexically;
/// `None` if it is absolute, climbs out, or is not UTF-8 (wasmtime-wasi then refuses it).
fn segments(path: &str) -> Option<Vec<String>> {
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

// ----- call directories and the scratch root -----

/// One call's directories: `root/` (the guest's `/`, with `tmp/`) and `faasm/` (its private
/// copies of shared files), in a temp directory removed when this is dropped.
struct CallDirs {
    dir: tempfile::TempDir,
    /// The sizes of `root`, `root/tmp` and `faasm` as made (a directory that held many
    /// entries stays bigger, so a reused one must be the same size).
    sizes: [u64; 3],
}

impl CallDirs {
    fn create(parent: &Path) -> io::Result<CallDirs> {
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

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn shadow(&self) -> PathBuf {
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
struct Scratch {
    dir: PathBuf,
    dev: PathBuf,
    etc: PathBuf,
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

fn scratch() -> io::Result<&'static Scratch> {
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
    fn take(&self) -> io::Result<CallDirs> {
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

// ----- the interposed WASI functions -----

/// Calls wasmtime-wasi's implementation of a WASI function (its ABI-level function, as the
/// linker's glue would) with the guest's memory and the call's current WASI context.
macro_rules! wasi_call {
    ($caller:expr, $func:ident($($arg:expr),* $(,)?) $(.$await:ident)?) => {{
        let (state, mut guest) = $crate::files::wasi_parts($caller)?;
        wasmtime_wasi::p1::wasi_snapshot_preview1::$func(&mut state.wasi, &mut guest $(, $arg)*)
            $(.$await)?
    }};
}
pub(crate) use wasi_call;

/// The call's state and the guest's memory, as wasmtime-wasi's functions take them.
pub(crate) fn wasi_parts<'a>(
    caller: &'a mut Caller<'_, CallState>,
) -> wasmtime::Result<(&'a mut CallState, GuestMemory<'a>)> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (data, state) = memory.data_and_store_mut(caller);
    state.wasi.set_hostcall_fuel(fuel);
    Ok((state, GuestMemory::Unshared(data)))
}

/// Sets up the filesystem the first time the guest names a descriptor that would be one of
/// its preopens.
fn ensure_mounted(caller: &mut Caller<'_, CallState>, fd: i32) -> wasmtime::Result<()> {
    let state = caller.data_mut();
    if state.files.dirs.is_some()
        || !(ROOT_FD as i32..=state.files.shadow_fd() as i32).contains(&fd)
    {
        return Ok(());
    }
    let wasi = state
        .files
        .mount()
        .map_err(|e| wasmtime::format_err!("cannot set up the call's filesystem: {e:#}"))?;
    state.wasi = wasi;
    Ok(())
}

fn memory_of<'a>(caller: &'a mut Caller<'_, CallState>) -> Option<&'a mut [u8]> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Some(memory.data_mut(caller)),
        _ => None,
    }
}

/// The UTF-8 path at `ptr..ptr+len` in guest memory, as preopen-relative segments.
fn guest_segments(caller: &mut Caller<'_, CallState>, ptr: i32, len: i32) -> Option<Vec<String>> {
    let memory = memory_of(caller)?;
    let start = ptr as u32 as usize;
    let bytes = memory.get(start..start.checked_add(len as u32 as usize)?)?;
    segments(std::str::from_utf8(bytes).ok()?)
}

/// The segments of a path relative to the `faasm:` preopen, if `fd` is that preopen.
fn faasm_segments(
    caller: &mut Caller<'_, CallState>,
    fd: i32,
    ptr: i32,
    len: i32,
) -> Option<Vec<String>> {
    if !caller.data().files.is(fd as u32, FAASM_FD) {
        return None;
    }
    guest_segments(caller, ptr, len)
}

fn read_u32(memory: &[u8], at: usize) -> Option<u32> {
    let bytes = memory.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The (offset, length) of each buffer of an iovec array, checked to lie in `memory`.
fn iovecs(memory: &[u8], iovs: i32, count: i32) -> Result<Vec<(usize, usize)>, Errno> {
    let count = count as u32 as usize;
    if count > IOV_MAX {
        return Err(Errno::Inval);
    }
    let base = iovs as u32 as usize;
    (0..count)
        .map(|i| {
            let at = base.checked_add(i * 8)?;
            let buf = read_u32(memory, at)? as usize;
            let len = read_u32(memory, at.checked_add(4)?)? as usize;
            (buf.checked_add(len)? <= memory.len()).then_some((buf, len))
        })
        .collect::<Option<_>>()
        .ok_or(Errno::Fault)
}

/// Reserves `bytes` of the call's scratch for what a WASI call is about to create or write;
/// `false` (the call answers `ENOSPC` and writes nothing) if that would pass the limit. The
/// running total only grows, so before refusing, the scratch is measured again (the guest may
/// have removed files since).
async fn reserve(caller: &mut Caller<'_, CallState>, bytes: u64) -> wasmtime::Result<bool> {
    // Nothing new (an overwrite) is never refused, even if a measurement found more than the
    // limit (allocated blocks can exceed what was reserved).
    if bytes == 0 || caller.data_mut().files.try_reserve(bytes) {
        return Ok(true);
    }
    let used = scratch_usage(caller).await?;
    let files = &mut caller.data_mut().files;
    files.scratch_used = used;
    Ok(files.try_reserve(bytes))
}

/// What the call's scratch holds now: the entries and bytes of its directories, and the files
/// it removed but still has open (their blocks are freed only when they are closed).
async fn scratch_usage(caller: &mut Caller<'_, CallState>) -> wasmtime::Result<u64> {
    let files = &caller.data().files;
    let Some(dirs) = &files.dirs else {
        return Ok(0);
    };
    let tops = [dirs.root(), dirs.shadow()];
    let opened: Vec<u32> = files.opened.iter().map(|&(fd, _)| fd).collect();
    let mut used = tokio::task::spawn_blocking(move || disk_usage(&tops)).await?;
    for fd in opened {
        let (state, mut guest) = wasi_parts(caller)?;
        if let Ok(stat) = state.wasi.fd_filestat_get(&mut guest, Fd::from(fd)).await
            && stat.filetype == Filetype::RegularFile
            && stat.nlink == 0
        {
            used = used.saturating_add(ENTRY_BYTES + stat.size);
        }
    }
    Ok(used)
}

/// What the entries under `tops` cost: [`ENTRY_BYTES`] each, plus each file's bytes (apparent
/// or allocated, whichever is larger; once per inode). Links are not followed.
fn disk_usage(tops: &[PathBuf]) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut inodes = HashSet::new();
    let mut pending = tops.to_vec();
    let mut total = 0u64;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            total = total.saturating_add(ENTRY_BYTES);
            if meta.is_dir() {
                pending.push(entry.path());
            } else if inodes.insert((meta.dev(), meta.ino())) {
                total = total.saturating_add(meta.len().max(meta.blocks().saturating_mul(512)));
            }
        }
    }
    total
}

/// A write that may grow a file.
#[derive(Clone, Copy)]
enum Write {
    /// `len` bytes at the descriptor's position (`fd_write`).
    AtCursor(u64),
    /// `len` bytes at `offset` (`fd_pwrite`).
    At { offset: u64, len: u64 },
    /// Setting the size (`fd_filestat_set_size`).
    Size(u64),
}

/// Reserves what `write` adds to the call's scratch if `fd` is a regular file the guest
/// opened (nothing for stdio, devices and directories); `false`: `ENOSPC`.
async fn room_to_write(
    caller: &mut Caller<'_, CallState>,
    fd: i32,
    write: Write,
) -> wasmtime::Result<bool> {
    let Some(append) = caller.data().files.opened(fd as u32) else {
        return Ok(true);
    };
    let fd = Fd::from(fd as u32);
    let (state, mut guest) = wasi_parts(caller)?;
    let size = match state.wasi.fd_filestat_get(&mut guest, fd).await {
        Ok(stat) if stat.filetype == Filetype::RegularFile => stat.size,
        // Not a file, or an error that wasmtime-wasi's own call will answer with.
        _ => return Ok(true),
    };
    // As wasmtime-wasi writes: appending ignores the offset.
    let end = match write {
        Write::Size(new) => new,
        Write::AtCursor(len) | Write::At { len, .. } if append => size.saturating_add(len),
        Write::At { offset, len } => offset.saturating_add(len),
        Write::AtCursor(len) => match state.wasi.fd_tell(&mut guest, fd) {
            Ok(position) => position.saturating_add(len),
            Err(_) => return Ok(true),
        },
    };
    reserve(caller, end.saturating_sub(size)).await
}

/// The length of the first non-empty buffer of an iovec array: what one `fd_write` of
/// wasmtime-wasi writes (0 if the array is bad; the write then fails).
fn first_buffer_len(caller: &mut Caller<'_, CallState>, iovs: i32, count: i32) -> u64 {
    let Some(memory) = memory_of(caller) else {
        return 0;
    };
    iovecs(memory, iovs, count)
        .ok()
        .and_then(|buffers| buffers.into_iter().map(|(_, len)| len).find(|&len| len > 0))
        .map_or(0, |len| len as u64)
}

/// `fd_read`/`fd_pread` of a device: fills the buffers, stores the count at `out`.
fn device_read(
    caller: &mut Caller<'_, CallState>,
    device: Device,
    iovs: i32,
    count: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    let Some(memory) = memory_of(caller) else {
        wasmtime::bail!("missing required memory export");
    };
    let buffers = match iovecs(memory, iovs, count) {
        Ok(buffers) => buffers,
        Err(errno) => return Ok(errno as i32),
    };
    let mut total: u32 = 0;
    for (buf, len) in buffers {
        // A short read, as Linux gives for big reads of /dev/urandom.
        let len = len.min(DEVICE_READ_MAX - total as usize);
        match device {
            Device::Null => break,
            Device::Zero => {
                if let Some(memory) = memory_of(caller) {
                    memory[buf..buf + len].fill(0);
                }
            }
            Device::Random => {
                let errno = wasi_call!(caller, random_get(buf as i32, len as i32))?;
                if errno != 0 {
                    return Ok(errno);
                }
            }
        }
        total += len as u32;
    }
    store_u32(caller, out, total)
}

/// `fd_write`/`fd_pwrite` of a device: everything is written.
fn device_write(
    caller: &mut Caller<'_, CallState>,
    iovs: i32,
    count: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    let Some(memory) = memory_of(caller) else {
        wasmtime::bail!("missing required memory export");
    };
    let buffers = match iovecs(memory, iovs, count) {
        Ok(buffers) => buffers,
        Err(errno) => return Ok(errno as i32),
    };
    let total = buffers
        .iter()
        .fold(0u32, |sum, &(_, len)| sum.saturating_add(len as u32));
    store_u32(caller, out, total)
}

fn store_u32(caller: &mut Caller<'_, CallState>, at: i32, value: u32) -> wasmtime::Result<i32> {
    let Some(memory) = memory_of(caller) else {
        wasmtime::bail!("missing required memory export");
    };
    let at = at as u32 as usize;
    match at.checked_add(4).and_then(|end| memory.get_mut(at..end)) {
        Some(slot) => {
            slot.copy_from_slice(&value.to_le_bytes());
            Ok(0)
        }
        None => Ok(Errno::Fault as i32),
    }
}

/// Shadows wasmtime-wasi's definitions of the functions above with the interposed ones.
/// Call after `wasmtime_wasi::p1::add_to_linker_async`.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = add_shims(linker);
    linker.allow_shadowing(false);
    result
}

/// Shadows WASI functions that take descriptors with ones that first set up the call's
/// filesystem if a descriptor names one of its preopens, then call wasmtime-wasi's.
macro_rules! mount_first {
    (
        $linker:ident,
        async $name:ident($($arg:ident: $ty:ty),*) fds($($fd:ident),*) $(reserve($bytes:expr))?
    ) => {
        $linker.func_wrap_async(
            WASI,
            stringify!($name),
            |mut caller: Caller<'_, CallState>, ($($arg,)*): ($($ty,)*)| {
                Box::new(async move {
                    $(ensure_mounted(&mut caller, $fd)?;)*
                    $(
                        if !reserve(&mut caller, $bytes).await? {
                            return Ok(Errno::Nospc as i32);
                        }
                    )?
                    wasi_call!(&mut caller, $name($($arg),*).await)
                })
            },
        )?;
    };
    ($linker:ident, $name:ident($($arg:ident: $ty:ty),*) fds($($fd:ident),*)) => {
        $linker.func_wrap(
            WASI,
            stringify!($name),
            |mut caller: Caller<'_, CallState>, $($arg: $ty),*| -> wasmtime::Result<i32> {
                $(ensure_mounted(&mut caller, $fd)?;)*
                wasi_call!(&mut caller, $name($($arg),*))
            },
        )?;
    };
}

fn add_shims(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    // A call starts without its filesystem; a snapshot of a Proto-Faaslet has wasi-libc's
    // table of preopens already filled in, so any of these may be the guest's first use.
    mount_first!(linker, async fd_advise(fd: i32, offset: i64, len: i64, advice: i32) fds(fd));
    mount_first!(linker, fd_allocate(fd: i32, offset: i64, len: i64) fds(fd));
    mount_first!(linker, async fd_datasync(fd: i32) fds(fd));
    mount_first!(linker, async fd_fdstat_get(fd: i32, out: i32) fds(fd));
    mount_first!(linker, fd_fdstat_set_rights(fd: i32, base: i64, inheriting: i64) fds(fd));
    mount_first!(linker, async fd_filestat_get(fd: i32, out: i32) fds(fd));
    mount_first!(
        linker,
        async fd_filestat_set_times(fd: i32, atime: i64, mtime: i64, flags: i32) fds(fd)
    );
    mount_first!(
        linker,
        async fd_readdir(fd: i32, buf: i32, len: i32, cookie: i64, out: i32) fds(fd)
    );
    mount_first!(linker, async fd_seek(fd: i32, offset: i64, whence: i32, out: i32) fds(fd));
    mount_first!(linker, async fd_sync(fd: i32) fds(fd));
    mount_first!(linker, fd_tell(fd: i32, out: i32) fds(fd));
    mount_first!(
        linker,
        async path_filestat_set_times(
            fd: i32,
            flags: i32,
            path: i32,
            len: i32,
            atime: i64,
            mtime: i64,
            fst: i32
        ) fds(fd)
    );
    mount_first!(
        linker,
        async path_link(
            old_fd: i32,
            flags: i32,
            old: i32,
            old_len: i32,
            new_fd: i32,
            new: i32,
            new_len: i32
        ) fds(old_fd, new_fd) reserve(ENTRY_BYTES)
    );
    mount_first!(
        linker,
        async path_readlink(fd: i32, path: i32, len: i32, buf: i32, buf_len: i32, out: i32)
            fds(fd)
    );
    mount_first!(
        linker,
        async path_rename(fd: i32, old: i32, old_len: i32, new_fd: i32, new: i32, new_len: i32)
            fds(fd, new_fd)
    );
    mount_first!(
        linker,
        async path_symlink(old: i32, old_len: i32, fd: i32, new: i32, new_len: i32) fds(fd)
            reserve(ENTRY_BYTES + u64::from(old_len as u32))
    );
    linker.func_wrap(
        WASI,
        "fd_fdstat_set_flags",
        |mut caller: Caller<'_, CallState>, fd: i32, flags: i32| -> wasmtime::Result<i32> {
            ensure_mounted(&mut caller, fd)?;
            let errno = wasi_call!(&mut caller, fd_fdstat_set_flags(fd, flags))?;
            if errno == 0 {
                let append = flags & FDFLAG_APPEND != 0;
                caller.data_mut().files.set_append(fd as u32, append);
            }
            Ok(errno)
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_filestat_set_size",
        |mut caller: Caller<'_, CallState>, (fd, size): (i32, i64)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                if !room_to_write(&mut caller, fd, Write::Size(size as u64)).await? {
                    return Ok(Errno::Nospc as i32);
                }
                wasi_call!(&mut caller, fd_filestat_set_size(fd, size).await)
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_prestat_get",
        |mut caller: Caller<'_, CallState>, fd: i32, out: i32| -> wasmtime::Result<i32> {
            ensure_mounted(&mut caller, fd)?;
            if caller.data().files.is_shadow(fd as u32) {
                return Ok(Errno::Badf as i32);
            }
            wasi_call!(&mut caller, fd_prestat_get(fd, out))
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_prestat_dir_name",
        |mut caller: Caller<'_, CallState>,
         fd: i32,
         path: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            ensure_mounted(&mut caller, fd)?;
            if caller.data().files.is_shadow(fd as u32) {
                return Ok(Errno::Badf as i32);
            }
            wasi_call!(&mut caller, fd_prestat_dir_name(fd, path, len))
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "path_open",
        |mut caller: Caller<'_, CallState>,
         (fd, lookup, path, path_len, oflags, rights, inheriting, fdflags, out): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i64,
            i64,
            i32,
            i32,
        )| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                let (mut target, mut oflags, mut rights, mut fdflags) =
                    (fd, oflags, rights, fdflags);
                let mut device = None;
                let files = &caller.data().files;
                if files.is(fd as u32, FAASM_FD) {
                    if let Some(segments) = guest_segments(&mut caller, path, path_len) {
                        let files = &caller.data().files;
                        match files.faasm_open(&segments, oflags, rights) {
                            Ok(FaasmOpen::Shared) => {}
                            Ok(FaasmOpen::Own) => target = files.shadow_fd() as i32,
                            Ok(FaasmOpen::MakeOwn { copy }) => {
                                let bytes = files.own_bytes(&segments, copy);
                                if !reserve(&mut caller, bytes).await? {
                                    return Ok(Errno::Nospc as i32);
                                }
                                let files = &mut caller.data_mut().files;
                                if let Err(e) = files.make_own(&segments, copy) {
                                    return Ok(io_errno(e) as i32);
                                }
                                target = files.shadow_fd() as i32;
                            }
                            Err(errno) => return Ok(errno as i32),
                        }
                    }
                } else if files.is(fd as u32, DEV_FD) && oflags & O_DIRECTORY == 0 {
                    device = match guest_segments(&mut caller, path, path_len).as_deref() {
                        Some([name]) => Device::named(name),
                        _ => None,
                    };
                    if device.is_some() {
                        // Open the placeholder read-only; reads and writes are ours.
                        rights = (rights & !RIGHT_FD_WRITE) | RIGHT_FD_READ;
                        oflags &= !(O_CREAT | O_EXCL | O_TRUNC);
                        fdflags &= FDFLAG_NONBLOCK;
                    }
                }
                if oflags & O_CREAT != 0 && !reserve(&mut caller, ENTRY_BYTES).await? {
                    return Ok(Errno::Nospc as i32);
                }
                let errno = wasi_call!(
                    &mut caller,
                    path_open(
                        target, lookup, path, path_len, oflags, rights, inheriting, fdflags, out
                    )
                    .await
                )?;
                if errno == 0 {
                    let opened = memory_of(&mut caller)
                        .and_then(|memory| read_u32(memory, out as u32 as usize));
                    if let Some(opened) = opened {
                        let files = &mut caller.data_mut().files;
                        files.forget(opened);
                        match device {
                            Some(device) => files.devices.push((opened, device)),
                            None => files.opened.push((opened, fdflags & FDFLAG_APPEND != 0)),
                        }
                    }
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "path_filestat_get",
        |mut caller: Caller<'_, CallState>,
         (fd, lookup, path, path_len, out): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                let mut target = fd;
                if caller.data().files.shadow_used
                    && let Some(segments) = faasm_segments(&mut caller, fd, path, path_len)
                {
                    target = caller.data().files.faasm_stat(&segments) as i32;
                }
                wasi_call!(
                    &mut caller,
                    path_filestat_get(target, lookup, path, path_len, out).await
                )
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "path_create_directory",
        |mut caller: Caller<'_, CallState>, (fd, path, path_len): (i32, i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                let mut target = fd;
                // A new directory under `faasm://` is private, with the parents it needs.
                let mut own = None;
                if let Some(segments) = faasm_segments(&mut caller, fd, path, path_len)
                    && !segments.is_empty()
                    && caller.data().files.shadow
                {
                    let files = &caller.data().files;
                    if kind(&files.shared, &segments) != Kind::Missing
                        || files.shadow_kind(&segments) != Kind::Missing
                    {
                        return Ok(Errno::Exist as i32);
                    }
                    own = Some(segments);
                }
                let bytes = match &own {
                    Some(segments) => caller.data().files.own_bytes(segments, false),
                    None => ENTRY_BYTES,
                };
                if !reserve(&mut caller, bytes).await? {
                    return Ok(Errno::Nospc as i32);
                }
                if let Some(segments) = own {
                    let files = &mut caller.data_mut().files;
                    if let Err(e) = files.shadow_parents(&segments) {
                        return Ok(io_errno(e) as i32);
                    }
                    files.shadow_used = true;
                    target = files.shadow_fd() as i32;
                }
                wasi_call!(
                    &mut caller,
                    path_create_directory(target, path, path_len).await
                )
            })
        },
    )?;
    for (name, want) in [
        ("path_unlink_file", Kind::File),
        ("path_remove_directory", Kind::Dir),
    ] {
        linker.func_wrap_async(
            WASI,
            name,
            move |mut caller: Caller<'_, CallState>, (fd, path, path_len): (i32, i32, i32)| {
                Box::new(async move {
                    ensure_mounted(&mut caller, fd)?;
                    let mut target = fd;
                    // Only the call's own entries can be removed; the shared ones are refused
                    // by the read-only preopen.
                    if caller.data().files.shadow_used
                        && let Some(segments) = faasm_segments(&mut caller, fd, path, path_len)
                    {
                        let files = &caller.data().files;
                        let own = match files.shadow_kind(&segments) {
                            Kind::Missing => false,
                            Kind::Dir => {
                                want == Kind::Dir && kind(&files.shared, &segments) != Kind::Dir
                            }
                            _ => want == Kind::File,
                        };
                        if own {
                            target = files.shadow_fd() as i32;
                        }
                    }
                    if want == Kind::File {
                        wasi_call!(&mut caller, path_unlink_file(target, path, path_len).await)
                    } else {
                        wasi_call!(
                            &mut caller,
                            path_remove_directory(target, path, path_len).await
                        )
                    }
                })
            },
        )?;
    }
    linker.func_wrap_async(
        WASI,
        "fd_read",
        |mut caller: Caller<'_, CallState>, (fd, iovs, count, out): (i32, i32, i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                match caller.data().files.device(fd as u32) {
                    Some(device) => device_read(&mut caller, device, iovs, count, out),
                    None => wasi_call!(&mut caller, fd_read(fd, iovs, count, out).await),
                }
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_pread",
        |mut caller: Caller<'_, CallState>,
         (fd, iovs, count, offset, out): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                match caller.data().files.device(fd as u32) {
                    Some(device) => device_read(&mut caller, device, iovs, count, out),
                    None => wasi_call!(&mut caller, fd_pread(fd, iovs, count, offset, out).await),
                }
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_write",
        |mut caller: Caller<'_, CallState>, (fd, iovs, count, out): (i32, i32, i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                if caller.data().files.device(fd as u32).is_some() {
                    return device_write(&mut caller, iovs, count, out);
                }
                let len = first_buffer_len(&mut caller, iovs, count);
                if !room_to_write(&mut caller, fd, Write::AtCursor(len)).await? {
                    return Ok(Errno::Nospc as i32);
                }
                wasi_call!(&mut caller, fd_write(fd, iovs, count, out).await)
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_pwrite",
        |mut caller: Caller<'_, CallState>,
         (fd, iovs, count, offset, out): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                if caller.data().files.device(fd as u32).is_some() {
                    return device_write(&mut caller, iovs, count, out);
                }
                let len = first_buffer_len(&mut caller, iovs, count);
                let write = Write::At {
                    offset: offset as u64,
                    len,
                };
                if !room_to_write(&mut caller, fd, write).await? {
                    return Ok(Errno::Nospc as i32);
                }
                wasi_call!(&mut caller, fd_pwrite(fd, iovs, count, offset, out).await)
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_close",
        |mut caller: Caller<'_, CallState>, (fd,): (i32,)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                let errno = wasi_call!(&mut caller, fd_close(fd).await)?;
                if errno == 0 {
                    caller.data_mut().files.forget(fd as u32);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_renumber",
        |mut caller: Caller<'_, CallState>, (from, to): (i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, from)?;
                ensure_mounted(&mut caller, to)?;
                let errno = wasi_call!(&mut caller, fd_renumber(from, to).await)?;
                if errno == 0 {
                    caller.data_mut().files.renumbered(from as u32, to as u32);
                }
                Ok(errno)
            })
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

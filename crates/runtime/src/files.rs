//! The filesystem a call sees (SPEC §6): a private, writable `/` with `/tmp`, the shared files
//! under `faasm://`, and `/dev/null`, `/dev/zero`, `/dev/random`, `/dev/urandom`.
//!
//! # Layout
//!
//! | guest name | host directory | fd | |
//! |---|---|---|---|
//! | `/` | `<scratch>/call-XXXX/root` (with `tmp/`) | 3 | private, read-write, deleted after the call |
//! | `faasm:` | the shared files directory (`<data-dir>/files`) | 4 | read-only |
//! | `/dev` | `<scratch>/dev` (four empty files) | 5 | read-only; reads and writes are intercepted |
//! | (hidden) | `<scratch>/call-XXXX/faasm` | 6 | the call's private copies of `faasm://` files |
//!
//! wasi-libc resolves a path against the preopen with the longest matching prefix, so
//! `faasm://data/x` (and `faasm:/data/x`) opens `data/x` in the shared directory, `/dev/null`
//! opens `null` in the devices directory, and everything else (relative paths too: the cwd is
//! `/`) lands in the call's own root. The preopens confine every path (wasmtime-wasi opens
//! beneath the preopened directory: `..`, absolute symlinks and symlinks escaping it fail).
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
//! and `fd_prestat_get` reports it as absent, so wasi-libc never learns about it.
//!
//! # Devices
//!
//! A preopened directory cannot hold a real device, so `/dev/*` are empty read-only files and
//! `fd_read`, `fd_pread`, `fd_write` and `fd_pwrite` are interposed for descriptors opened from
//! them: `urandom`/`random` fill the buffers from WASI's `random_get` (the host's secure
//! generator), `zero` with zeros, `null` reads end-of-file; writes to any of them are accepted
//! and dropped.
//!
//! # Cost
//!
//! Nothing is created until the guest first touches the filesystem (wasi-libc asks for the
//! preopens with `fd_prestat_get` at startup only when the program links file functions): a
//! call starts with a WASI context without preopens, and the first `fd_prestat_get` (or
//! `path_*` call on a descriptor ≥ 3) swaps in one with them. Call directories come from a
//! small pool that a background thread keeps filled, and are deleted by that thread after the
//! call, so a call that uses files pays for four `open`s, not for `mkdir`/`rmdir`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Instant;

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::Errno;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as abi;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, WasiCtxBuilder};
use wiggle::GuestMemory;

use crate::call::CallState;

/// The guest name of the shared files' preopen: `faasm://x` and `faasm:/x` both resolve to it.
pub(crate) const FAASM_PREOPEN: &str = "faasm:";

const WASI: &str = "wasi_snapshot_preview1";
/// Descriptors of the preopens, in the order they are added (0–2 are stdio).
const ROOT_FD: u32 = 3;
const FAASM_FD: u32 = 4;
const DEV_FD: u32 = 5;
const SHADOW_FD: u32 = 6;
/// Call directories kept ready by the background thread.
const POOL: usize = 8;

// WASI preview 1 flag bits (wasi_snapshot_preview1.witx).
const O_CREAT: i32 = 1;
const O_DIRECTORY: i32 = 2;
const O_EXCL: i32 = 4;
const O_TRUNC: i32 = 8;
const RIGHT_FD_READ: i64 = 1 << 1;
const RIGHT_FD_WRITE: i64 = 1 << 6;
const FDFLAG_NONBLOCK: i32 = 4;

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

/// The monotonic clock of a call: the same origin for the context built at the start and the
/// one swapped in when the filesystem appears, so guest time never goes backwards.
#[derive(Clone, Copy)]
struct CallClock(Instant);

impl HostMonotonicClock for CallClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A call's files: how to build its WASI context, and (once the guest touched the filesystem)
/// its scratch directories and what its descriptors 3–6 and device descriptors are.
pub(crate) struct CallFiles {
    shared: PathBuf,
    configure: Box<dyn Fn(&mut WasiCtxBuilder) + Send + Sync>,
    clock: CallClock,
    /// `None` until the filesystem is set up.
    dirs: Option<CallDirs>,
    /// Whether descriptors 3–6 are still the preopens (the guest may close or renumber them).
    root: bool,
    faasm: bool,
    dev: bool,
    shadow: bool,
    /// Whether anything was written to the hidden directory (else `faasm://` needs no lookup).
    shadow_used: bool,
    devices: Vec<(u32, Device)>,
}

impl CallFiles {
    /// `configure` sets everything but the filesystem (arguments, stdio); it runs again when
    /// the filesystem is added.
    pub(crate) fn new(
        shared: PathBuf,
        configure: impl Fn(&mut WasiCtxBuilder) + Send + Sync + 'static,
    ) -> Self {
        Self {
            shared,
            configure: Box::new(configure),
            clock: CallClock(Instant::now()),
            dirs: None,
            root: false,
            faasm: false,
            dev: false,
            shadow: false,
            shadow_used: false,
            devices: Vec::new(),
        }
    }

    /// The WASI context a call starts with: no preopens yet.
    pub(crate) fn wasi(&self) -> WasiP1Ctx {
        self.builder().build_p1()
    }

    fn builder(&self) -> WasiCtxBuilder {
        let mut builder = WasiCtxBuilder::new();
        (self.configure)(&mut builder);
        // Local files: blocking the thread for a moment is cheaper than a trip through
        // tokio's blocking pool for every read.
        builder
            .monotonic_clock(self.clock)
            .allow_blocking_current_thread(true);
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
        // The order fixes the descriptors: ROOT_FD, FAASM_FD, DEV_FD, SHADOW_FD.
        builder
            .preopened_dir(dirs.root(), "/", FsPerms::ReadWrite)?
            .preopened_dir(&self.shared, FAASM_PREOPEN, FsPerms::ReadOnly)?
            .preopened_dir(&scratch.dev, "/dev", FsPerms::ReadOnly)?
            .preopened_dir(dirs.shadow(), "/.faasm-local", FsPerms::ReadWrite)?;
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
                SHADOW_FD => self.shadow,
                _ => false,
            }
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
            SHADOW_FD => self.shadow = false,
            _ => {}
        }
        self.devices.retain(|(d, _)| *d != fd);
    }

    fn renumbered(&mut self, from: u32, to: u32) {
        if from == to {
            return;
        }
        let device = self.device(from);
        self.forget(to);
        self.forget(from);
        if let Some(device) = device {
            self.devices.push((to, device));
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
    /// own copy (made now if the open writes). `Err` is the errno to answer with.
    fn faasm_open(&mut self, segments: &[String], oflags: i32, rights: i64) -> Result<u32, Errno> {
        if segments.is_empty() || !self.shadow {
            return Ok(FAASM_FD);
        }
        let writes = rights & RIGHT_FD_WRITE != 0 || oflags & (O_CREAT | O_TRUNC | O_EXCL) != 0;
        match self.shadow_kind(segments) {
            Kind::File | Kind::Other => return Ok(SHADOW_FD),
            Kind::Dir if writes || kind(&self.shared, segments) != Kind::Dir => {
                return Ok(SHADOW_FD);
            }
            Kind::Dir => return Ok(FAASM_FD),
            Kind::Missing if !writes || oflags & O_DIRECTORY != 0 => return Ok(FAASM_FD),
            Kind::Missing => {}
        }
        let shared = kind(&self.shared, segments);
        match shared {
            // Writing a directory or through a link: let the read-only preopen refuse it.
            Kind::Dir | Kind::Other => return Ok(FAASM_FD),
            Kind::File if oflags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL => {
                return Err(Errno::Exist);
            }
            Kind::File | Kind::Missing => {}
        }
        self.shadow_parents(segments).map_err(io_errno)?;
        if shared == Kind::File && oflags & O_TRUNC == 0 {
            self.copy_to_shadow(segments).map_err(io_errno)?;
        }
        self.shadow_used = true;
        Ok(SHADOW_FD)
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

    /// Where a `path_filestat_get` of a `faasm://` path goes.
    fn faasm_stat(&self, segments: &[String]) -> u32 {
        match self.shadow_kind(segments) {
            Kind::File | Kind::Other => SHADOW_FD,
            Kind::Dir if kind(&self.shared, segments) != Kind::Dir => SHADOW_FD,
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
struct CallDirs(tempfile::TempDir);

impl CallDirs {
    fn create(parent: &Path) -> io::Result<CallDirs> {
        let dir = tempfile::Builder::new()
            .prefix("call-")
            .tempdir_in(parent)?;
        fs::create_dir(dir.path().join("root"))?;
        fs::create_dir(dir.path().join("root/tmp"))?;
        fs::create_dir(dir.path().join("faasm"))?;
        Ok(CallDirs(dir))
    }

    fn root(&self) -> PathBuf {
        self.0.path().join("root")
    }

    fn shadow(&self) -> PathBuf {
        self.0.path().join("faasm")
    }
}

/// The process's scratch directory (`$TMPDIR/faasm-scratch-XXXX`): the devices and the pool
/// of unused call directories, served by one background thread that also deletes used ones.
struct Scratch {
    dir: PathBuf,
    dev: PathBuf,
    ready: Mutex<Vec<CallDirs>>,
    jobs: mpsc::Sender<Job>,
}

enum Job {
    Refill,
    Discard(CallDirs),
}

static SCRATCH: OnceLock<Scratch> = OnceLock::new();

fn scratch() -> io::Result<&'static Scratch> {
    if let Some(scratch) = SCRATCH.get() {
        return Ok(scratch);
    }
    let dir = tempfile::Builder::new()
        .prefix("faasm-scratch-")
        .tempdir()?
        .keep();
    let dev = dir.join("dev");
    let made = (|| {
        fs::create_dir(&dev)?;
        for (name, _) in Device::NAMES {
            fs::File::create(dev.join(name))?;
        }
        Ok::<_, io::Error>(())
    })();
    if let Err(e) = made {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    let (jobs, queue) = mpsc::channel();
    let mut created = Some(Scratch {
        dir: dir.clone(),
        dev,
        ready: Mutex::new(Vec::new()),
        jobs,
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
                .spawn(move || serve_jobs(queue))?;
        }
    }
    Ok(scratch)
}

fn serve_jobs(queue: mpsc::Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Discard(dirs) => drop(dirs),
            Job::Refill => {
                let Some(scratch) = SCRATCH.get() else {
                    continue;
                };
                while scratch.ready.lock().expect("pool lock").len() < POOL {
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
    }
}

impl Scratch {
    fn take(&self) -> io::Result<CallDirs> {
        let ready = self.ready.lock().expect("pool lock").pop();
        let _ = self.jobs.send(Job::Refill);
        match ready {
            Some(dirs) => Ok(dirs),
            None => CallDirs::create(&self.dir),
        }
    }

    fn discard(&self, dirs: CallDirs) {
        if let Err(mpsc::SendError(Job::Discard(dirs))) = self.jobs.send(Job::Discard(dirs)) {
            drop(dirs);
        }
    }
}

// ----- the interposed WASI functions -----

/// Calls wasmtime-wasi's implementation of a WASI function (its ABI-level function, as the
/// linker's glue would) with the guest's memory and the call's current WASI context.
macro_rules! wasi_call {
    ($caller:expr, $func:ident($($arg:expr),* $(,)?) $(.$await:ident)?) => {{
        let caller: &mut Caller<'_, CallState> = $caller;
        let fuel = caller.as_context_mut().hostcall_fuel();
        let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
            wasmtime::bail!("missing required memory export");
        };
        let (data, state) = memory.data_and_store_mut(caller);
        state.wasi.set_hostcall_fuel(fuel);
        let mut guest = GuestMemory::Unshared(data);
        abi::$func(&mut state.wasi, &mut guest $(, $arg)*)$(.$await)?
    }};
}

/// Sets up the filesystem the first time the guest names a descriptor that would be one of
/// its preopens.
fn ensure_mounted(caller: &mut Caller<'_, CallState>, fd: i32) -> wasmtime::Result<()> {
    let state = caller.data_mut();
    if state.files.dirs.is_some() || !(3..=6).contains(&fd) {
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

fn read_u32(memory: &[u8], at: usize) -> Option<u32> {
    let bytes = memory.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The (offset, length) of each buffer of an iovec array, checked to lie in `memory`.
fn iovecs(memory: &[u8], iovs: i32, count: i32) -> Option<Vec<(usize, usize)>> {
    let base = iovs as u32 as usize;
    (0..count as u32 as usize)
        .map(|i| {
            let at = base.checked_add(i.checked_mul(8)?)?;
            let buf = read_u32(memory, at)? as usize;
            let len = read_u32(memory, at.checked_add(4)?)? as usize;
            (buf.checked_add(len)? <= memory.len()).then_some((buf, len))
        })
        .collect()
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
    let Some(buffers) = iovecs(memory, iovs, count) else {
        return Ok(Errno::Fault as i32);
    };
    let mut total: u32 = 0;
    for (buf, len) in buffers {
        let len = len.min((u32::MAX - total) as usize);
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
    let Some(buffers) = iovecs(memory, iovs, count) else {
        return Ok(Errno::Fault as i32);
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

fn add_shims(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        WASI,
        "fd_prestat_get",
        |mut caller: Caller<'_, CallState>, fd: i32, out: i32| -> wasmtime::Result<i32> {
            ensure_mounted(&mut caller, fd)?;
            if caller.data().files.is(fd as u32, SHADOW_FD) {
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
            if caller.data().files.is(fd as u32, SHADOW_FD) {
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
                        match caller
                            .data_mut()
                            .files
                            .faasm_open(&segments, oflags, rights)
                        {
                            Ok(fd) => target = fd as i32,
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
                        if let Some(device) = device {
                            files.devices.push((opened, device));
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
                let files = &caller.data().files;
                if files.is(fd as u32, FAASM_FD) && files.shadow_used {
                    if let Some(segments) = guest_segments(&mut caller, path, path_len) {
                        target = caller.data().files.faasm_stat(&segments) as i32;
                    }
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
                if caller.data().files.is(fd as u32, FAASM_FD) {
                    if let Some(segments) = guest_segments(&mut caller, path, path_len)
                        && !segments.is_empty()
                        && caller.data().files.shadow
                    {
                        let files = &mut caller.data_mut().files;
                        if kind(&files.shared, &segments) != Kind::Missing
                            || files.shadow_kind(&segments) != Kind::Missing
                        {
                            return Ok(Errno::Exist as i32);
                        }
                        if let Err(e) = files.shadow_parents(&segments) {
                            return Ok(io_errno(e) as i32);
                        }
                        files.shadow_used = true;
                        target = SHADOW_FD as i32;
                    }
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
                    let files = &caller.data().files;
                    if files.is(fd as u32, FAASM_FD) && files.shadow_used {
                        // Only the call's own entries can be removed; the shared ones are
                        // refused by the read-only preopen.
                        if let Some(segments) = guest_segments(&mut caller, path, path_len) {
                            let files = &caller.data().files;
                            let own = match files.shadow_kind(&segments) {
                                Kind::Missing => false,
                                Kind::Dir => {
                                    want == Kind::Dir && kind(&files.shared, &segments) != Kind::Dir
                                }
                                _ => want == Kind::File,
                            };
                            if own {
                                target = SHADOW_FD as i32;
                            }
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
                match caller.data().files.device(fd as u32) {
                    Some(_) => device_write(&mut caller, iovs, count, out),
                    None => wasi_call!(&mut caller, fd_write(fd, iovs, count, out).await),
                }
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_pwrite",
        |mut caller: Caller<'_, CallState>,
         (fd, iovs, count, offset, out): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                match caller.data().files.device(fd as u32) {
                    Some(_) => device_write(&mut caller, iovs, count, out),
                    None => {
                        wasi_call!(&mut caller, fd_pwrite(fd, iovs, count, offset, out).await)
                    }
                }
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_close",
        |mut caller: Caller<'_, CallState>, (fd,): (i32,)| {
            Box::new(async move {
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

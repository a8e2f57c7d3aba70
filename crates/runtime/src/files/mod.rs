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
//!
//! # Where each job lives
//!
//! | module | job |
//! |---|---|
//! | [`layout`] | the descriptors and guest names of the preopens, the WASI context with them (also the zygote's), the guests' clock |
//! | [`overlay`] | `faasm://` paths: where an open, `stat` or removal goes, the call's private copies, [`CallFiles::read_file`] |
//! | [`devices`] | `/dev/null`, `/dev/zero`, `/dev/random`, `/dev/urandom` |
//! | [`scratch`] | the process's scratch directory, the pool of call directories |
//! | [`cap`] | the scratch cap: reservations, measuring what a call holds |
//! | [`guest`] | the guest's memory, and calling wasmtime-wasi's own functions |
//! | [`shims`] | the interposed WASI functions, linked over wasmtime-wasi's |

mod cap;
mod devices;
mod guest;
mod layout;
mod overlay;
mod scratch;
mod shims;

use std::path::PathBuf;

use wasmtime_wasi::p1::WasiP1Ctx;

use crate::CallLimits;
use crate::capped_pipe::CappedPipe;
use crate::guest_env;

use devices::Device;
pub(crate) use guest::{wasi_call, wasi_parts};
pub(crate) use layout::preopen_call_dirs;
use layout::{DEV_FD, FAASM_FD, ROOT_FD};
use scratch::CallDirs;
pub(crate) use shims::add_to_linker;

// WASI preview 1 flag bits (wasi_snapshot_preview1.witx).
const O_CREAT: i32 = 1;
const O_DIRECTORY: i32 = 2;
const O_EXCL: i32 = 4;
const O_TRUNC: i32 = 8;
const RIGHT_FD_READ: i64 = 1 << 1;
const RIGHT_FD_WRITE: i64 = 1 << 6;
const FDFLAG_APPEND: i32 = 1;
const FDFLAG_NONBLOCK: i32 = 4;
/// What a file, directory or link costs a call's scratch besides its bytes: a block, so that
/// empty files cannot take the host's inodes for free either.
const ENTRY_BYTES: u64 = 4096;

/// Where a store's data keeps the files part: the projections it links through. The part owns
/// the call's WASI context (built by [`CallFiles::wasi`], swapped for one with the preopens on
/// first use) and links WASI preview 1 over it.
pub(crate) trait FilesView: Send + 'static {
    fn files(&mut self) -> &mut CallFiles;
    fn wasi(&mut self) -> &mut WasiP1Ctx;
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
}

impl Drop for CallFiles {
    fn drop(&mut self) {
        if let Some(dirs) = self.dirs.take() {
            scratch::give_back(dirs);
        }
    }
}

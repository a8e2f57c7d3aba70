//! The layout of a call's filesystem: which directory each descriptor is and under which
//! guest name (the table in [`super`]), the WASI context with them, and the clock both the
//! context a call starts with and the one with the preopens share. The zygote preopens the
//! same directories through [`preopen_call_dirs`], so the table of preopens wasi-libc builds
//! in a zygote is the one its calls see.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, WasiCtxBuilder};

use super::{CallFiles, scratch};
use crate::guest_env::ETC_PREOPEN;

/// The guest name of the shared files' preopen: `faasm://x` and `faasm:/x` both resolve to it.
pub(crate) const FAASM_PREOPEN: &str = "faasm:";

/// Descriptors of the preopens, in the order they are added (0–2 are stdio).
pub(super) const ROOT_FD: u32 = 3;
pub(super) const FAASM_FD: u32 = 4;
pub(super) const DEV_FD: u32 = 5;
/// `/etc`: like the preopens after it, nothing is interposed for it (it is read-only).
const ETC_FD: u32 = 6;
/// Python calls only: the interpreter's standard library and `pyfaasm`.
const LIBRARY_FD: u32 = ETC_FD + 1;
/// The guest name of the Python library's preopen.
const LIBRARY_PREOPEN: &str = "/usr/local/lib";

/// Preopens descriptors 3 to 6 (`/` over `root`, `faasm:` over `shared`, `/dev` over `dev`,
/// `/etc` over `etc`), in the order that gives them those numbers: for calls and zygotes.
pub(crate) fn preopen_call_dirs(
    builder: &mut WasiCtxBuilder,
    root: &Path,
    shared: &Path,
    dev: &Path,
    etc: &Path,
) -> wasmtime::Result<()> {
    for (host, guest, perms) in [
        (root, "/", FsPerms::ReadWrite),
        (shared, FAASM_PREOPEN, FsPerms::ReadOnly),
        (dev, "/dev", FsPerms::ReadOnly),
        (etc, ETC_PREOPEN, FsPerms::ReadOnly),
    ] {
        builder
            .preopened_dir(host, guest, perms)
            .map_err(|e| e.context(format!("preopening {guest}")))?;
    }
    Ok(())
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

impl CallFiles {
    /// The hidden directory's descriptor: the last preopen.
    pub(super) fn shadow_fd(&self) -> u32 {
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
    pub(super) fn mount(&mut self) -> wasmtime::Result<WasiP1Ctx> {
        let scratch = scratch::scratch()?;
        let dirs = scratch.take()?;
        if !self.shared.is_dir() {
            fs::create_dir_all(&self.shared)?;
        }
        let mut builder = self.builder();
        // The order fixes the descriptors: ROOT_FD, FAASM_FD, DEV_FD, ETC_FD, [LIBRARY_FD],
        // shadow.
        preopen_call_dirs(
            &mut builder,
            &dirs.root(),
            &self.shared,
            &scratch.dev,
            &scratch.etc,
        )?;
        if let Some(library) = &self.library {
            builder.preopened_dir(library, LIBRARY_PREOPEN, FsPerms::ReadOnly)?;
        }
        builder.preopened_dir(dirs.shadow(), "/.faasm-local", FsPerms::ReadWrite)?;
        self.dirs = Some(dirs);
        (self.root, self.faasm, self.dev, self.shadow) = (true, true, true, true);
        Ok(builder.build_p1())
    }
}

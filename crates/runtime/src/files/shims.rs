//! The interposed WASI functions: every function taking a descriptor sets up the call's
//! filesystem first if the descriptor would be one of its preopens; the path functions route
//! `faasm://` paths through the overlay; reads and writes answer devices and reserve scratch.

use wasmtime::{Caller, Linker};
use wasmtime_wasi::p1::types::Errno;

use super::FilesView;
use super::cap::{Write, reserve, room_to_write};
use super::devices::{Device, device_read, device_write};
use super::guest::{iovecs, memory_of, read_u32, wasi_call};
use super::layout::{DEV_FD, FAASM_FD, ROOT_FD};
use super::overlay::{FaasmOpen, Kind, io_errno, kind, segments};
use super::{
    ENTRY_BYTES, FDFLAG_APPEND, FDFLAG_NONBLOCK, O_CREAT, O_DIRECTORY, O_EXCL, O_TRUNC,
    RIGHT_FD_READ, RIGHT_FD_WRITE,
};

const WASI: &str = "wasi_snapshot_preview1";

/// Sets up the filesystem the first time the guest names a descriptor that would be one of
/// its preopens.
fn ensure_mounted<T: FilesView>(caller: &mut Caller<'_, T>, fd: i32) -> wasmtime::Result<()> {
    let state = caller.data_mut();
    if state.files().dirs.is_some()
        || !(ROOT_FD as i32..=state.files().shadow_fd() as i32).contains(&fd)
    {
        return Ok(());
    }
    let wasi = state
        .files()
        .mount()
        .map_err(|e| wasmtime::format_err!("cannot set up the call's filesystem: {e:#}"))?;
    *state.wasi() = wasi;
    Ok(())
}

/// The UTF-8 path at `ptr..ptr+len` in guest memory, as preopen-relative segments.
fn guest_segments<T: FilesView>(
    caller: &mut Caller<'_, T>,
    ptr: i32,
    len: i32,
) -> Option<Vec<String>> {
    let memory = memory_of(caller)?;
    let start = ptr as u32 as usize;
    let bytes = memory.get(start..start.checked_add(len as u32 as usize)?)?;
    segments(std::str::from_utf8(bytes).ok()?)
}

/// The segments of a path relative to the `faasm:` preopen, if `fd` is that preopen.
fn faasm_segments<T: FilesView>(
    caller: &mut Caller<'_, T>,
    fd: i32,
    ptr: i32,
    len: i32,
) -> Option<Vec<String>> {
    if !caller.data_mut().files().is(fd as u32, FAASM_FD) {
        return None;
    }
    guest_segments(caller, ptr, len)
}

/// The length of the first non-empty buffer of an iovec array: what one `fd_write` of
/// wasmtime-wasi writes (0 if the array is bad; the write then fails).
fn first_buffer_len<T: FilesView>(caller: &mut Caller<'_, T>, iovs: i32, count: i32) -> u64 {
    let Some(memory) = memory_of(caller) else {
        return 0;
    };
    iovecs(memory, iovs, count)
        .ok()
        .and_then(|buffers| buffers.into_iter().map(|(_, len)| len).find(|&len| len > 0))
        .map_or(0, |len| len as u64)
}

/// Which way [`transfer`] moves bytes.
#[derive(Clone, Copy, PartialEq)]
enum Transfer {
    Read,
    Write,
}

/// `fd_read`, `fd_pread` (`offset` given), `fd_write` and `fd_pwrite`: a device's descriptor
/// is answered by [`super::devices`]; a write first reserves what it may add to the scratch
/// (`ENOSPC` past the cap); then wasmtime-wasi's own function does the rest.
#[allow(clippy::too_many_arguments)]
async fn transfer<T: FilesView>(
    caller: &mut Caller<'_, T>,
    way: Transfer,
    fd: i32,
    iovs: i32,
    count: i32,
    offset: Option<i64>,
    out: i32,
) -> wasmtime::Result<i32> {
    ensure_mounted(caller, fd)?;
    match (way, caller.data_mut().files().device(fd as u32)) {
        (Transfer::Read, Some(device)) => return device_read(caller, device, iovs, count, out),
        (Transfer::Write, Some(_)) => return device_write(caller, iovs, count, out),
        (Transfer::Read, None) => {}
        (Transfer::Write, None) => {
            let len = first_buffer_len(caller, iovs, count);
            let write = match offset {
                None => Write::AtCursor(len),
                Some(offset) => Write::At {
                    offset: offset as u64,
                    len,
                },
            };
            if !room_to_write(caller, fd, write).await? {
                return Ok(Errno::Nospc as i32);
            }
        }
    }
    match (way, offset) {
        (Transfer::Read, None) => wasi_call!(caller, fd_read(fd, iovs, count, out).await),
        (Transfer::Read, Some(at)) => wasi_call!(caller, fd_pread(fd, iovs, count, at, out).await),
        (Transfer::Write, None) => wasi_call!(caller, fd_write(fd, iovs, count, out).await),
        (Transfer::Write, Some(at)) => {
            wasi_call!(caller, fd_pwrite(fd, iovs, count, at, out).await)
        }
    }
}

/// Links WASI preview 1: wasmtime-wasi's functions over the call's context, shadowed by the
/// interposed ones.
pub(crate) fn add_to_linker<T: FilesView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, |state: &mut T| state.wasi())?;
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
            |mut caller: Caller<'_, T>, ($($arg,)*): ($($ty,)*)| {
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
            |mut caller: Caller<'_, T>, $($arg: $ty),*| -> wasmtime::Result<i32> {
                $(ensure_mounted(&mut caller, $fd)?;)*
                wasi_call!(&mut caller, $name($($arg),*))
            },
        )?;
    };
}

fn add_shims<T: FilesView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
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
        |mut caller: Caller<'_, T>, fd: i32, flags: i32| -> wasmtime::Result<i32> {
            ensure_mounted(&mut caller, fd)?;
            let errno = wasi_call!(&mut caller, fd_fdstat_set_flags(fd, flags))?;
            if errno == 0 {
                let append = flags & FDFLAG_APPEND != 0;
                caller.data_mut().files().set_append(fd as u32, append);
            }
            Ok(errno)
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_filestat_set_size",
        |mut caller: Caller<'_, T>, (fd, size): (i32, i64)| {
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
        |mut caller: Caller<'_, T>, fd: i32, out: i32| -> wasmtime::Result<i32> {
            ensure_mounted(&mut caller, fd)?;
            if caller.data_mut().files().is_shadow(fd as u32) {
                return Ok(Errno::Badf as i32);
            }
            wasi_call!(&mut caller, fd_prestat_get(fd, out))
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_prestat_dir_name",
        |mut caller: Caller<'_, T>, fd: i32, path: i32, len: i32| -> wasmtime::Result<i32> {
            ensure_mounted(&mut caller, fd)?;
            if caller.data_mut().files().is_shadow(fd as u32) {
                return Ok(Errno::Badf as i32);
            }
            wasi_call!(&mut caller, fd_prestat_dir_name(fd, path, len))
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "path_open",
        |mut caller: Caller<'_, T>,
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
                let files = caller.data_mut().files();
                if files.is(fd as u32, FAASM_FD) {
                    if let Some(segments) = guest_segments(&mut caller, path, path_len) {
                        let files = caller.data_mut().files();
                        match files.faasm_open(&segments, oflags, rights) {
                            Ok(FaasmOpen::Shared) => {}
                            Ok(FaasmOpen::Own) => target = files.shadow_fd() as i32,
                            Ok(FaasmOpen::MakeOwn { copy }) => {
                                let bytes = files.own_bytes(&segments, copy);
                                if !reserve(&mut caller, bytes).await? {
                                    return Ok(Errno::Nospc as i32);
                                }
                                let files = caller.data_mut().files();
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
                        let files = caller.data_mut().files();
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
        |mut caller: Caller<'_, T>,
         (fd, lookup, path, path_len, out): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                let mut target = fd;
                if caller.data_mut().files().shadow_used
                    && let Some(segments) = faasm_segments(&mut caller, fd, path, path_len)
                {
                    target = caller.data_mut().files().faasm_stat(&segments) as i32;
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
        |mut caller: Caller<'_, T>, (fd, path, path_len): (i32, i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                let mut target = fd;
                // A new directory under `faasm://` is private, with the parents it needs.
                let mut own = None;
                if let Some(segments) = faasm_segments(&mut caller, fd, path, path_len)
                    && !segments.is_empty()
                    && caller.data_mut().files().shadow
                {
                    let files = caller.data_mut().files();
                    if kind(&files.shared, &segments) != Kind::Missing
                        || files.shadow_kind(&segments) != Kind::Missing
                    {
                        return Ok(Errno::Exist as i32);
                    }
                    own = Some(segments);
                }
                let bytes = match &own {
                    Some(segments) => caller.data_mut().files().own_bytes(segments, false),
                    None => ENTRY_BYTES,
                };
                if !reserve(&mut caller, bytes).await? {
                    return Ok(Errno::Nospc as i32);
                }
                if let Some(segments) = own {
                    let files = caller.data_mut().files();
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
            move |mut caller: Caller<'_, T>, (fd, path, path_len): (i32, i32, i32)| {
                Box::new(async move {
                    ensure_mounted(&mut caller, fd)?;
                    let mut target = fd;
                    // Only the call's own entries can be removed; the shared ones are refused
                    // by the read-only preopen.
                    if caller.data_mut().files().shadow_used
                        && let Some(segments) = faasm_segments(&mut caller, fd, path, path_len)
                    {
                        let files = caller.data_mut().files();
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
    for (name, way) in [("fd_read", Transfer::Read), ("fd_write", Transfer::Write)] {
        linker.func_wrap_async(
            WASI,
            name,
            move |mut caller: Caller<'_, T>, (fd, iovs, count, out): (i32, i32, i32, i32)| {
                Box::new(
                    async move { transfer(&mut caller, way, fd, iovs, count, None, out).await },
                )
            },
        )?;
    }
    for (name, way) in [("fd_pread", Transfer::Read), ("fd_pwrite", Transfer::Write)] {
        linker.func_wrap_async(
            WASI,
            name,
            move |mut caller: Caller<'_, T>,
                  (fd, iovs, count, offset, out): (i32, i32, i32, i64, i32)| {
                Box::new(async move {
                    transfer(&mut caller, way, fd, iovs, count, Some(offset), out).await
                })
            },
        )?;
    }
    linker.func_wrap_async(
        WASI,
        "fd_close",
        |mut caller: Caller<'_, T>, (fd,): (i32,)| {
            Box::new(async move {
                ensure_mounted(&mut caller, fd)?;
                let errno = wasi_call!(&mut caller, fd_close(fd).await)?;
                if errno == 0 {
                    caller.data_mut().files().forget(fd as u32);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        WASI,
        "fd_renumber",
        |mut caller: Caller<'_, T>, (from, to): (i32, i32)| {
            Box::new(async move {
                ensure_mounted(&mut caller, from)?;
                ensure_mounted(&mut caller, to)?;
                let errno = wasi_call!(&mut caller, fd_renumber(from, to).await)?;
                if errno == 0 {
                    caller.data_mut().files().renumbered(from as u32, to as u32);
                }
                Ok(errno)
            })
        },
    )?;
    Ok(())
}

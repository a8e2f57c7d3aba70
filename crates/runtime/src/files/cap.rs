//! The scratch cap (see "Scratch cap" in [`super`]): what the interposed calls reserve before
//! they create entries or grow files, and measuring what a call's directories hold before a
//! reservation is refused.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use wasmtime::Caller;
use wasmtime_wasi::p1::types::{Fd, Filetype};
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1 as _;

use super::ENTRY_BYTES;
use super::FilesView;
use super::guest::wasi_parts;

/// Reserves `bytes` of the call's scratch for what a WASI call is about to create or write;
/// `false` (the call answers `ENOSPC` and writes nothing) if that would pass the limit. The
/// running total only grows, so before refusing, the scratch is measured again (the guest may
/// have removed files since).
pub(super) async fn reserve<T: FilesView>(
    caller: &mut Caller<'_, T>,
    bytes: u64,
) -> wasmtime::Result<bool> {
    // Nothing new (an overwrite) is never refused, even if a measurement found more than the
    // limit (allocated blocks can exceed what was reserved).
    if bytes == 0 || caller.data_mut().files().try_reserve(bytes) {
        return Ok(true);
    }
    let used = scratch_usage(caller).await?;
    let files = caller.data_mut().files();
    files.scratch_used = used;
    Ok(files.try_reserve(bytes))
}

/// What the call's scratch holds now: the entries and bytes of its directories, and the files
/// it removed but still has open (their blocks are freed only when they are closed).
async fn scratch_usage<T: FilesView>(caller: &mut Caller<'_, T>) -> wasmtime::Result<u64> {
    let files = caller.data_mut().files();
    let Some(dirs) = &files.dirs else {
        return Ok(0);
    };
    let tops = [dirs.root(), dirs.shadow()];
    let opened: Vec<u32> = files.opened.iter().map(|&(fd, _)| fd).collect();
    let mut used = tokio::task::spawn_blocking(move || disk_usage(&tops)).await?;
    for fd in opened {
        let (wasi, mut guest) = wasi_parts(caller)?;
        if let Ok(stat) = wasi.fd_filestat_get(&mut guest, Fd::from(fd)).await
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
pub(super) enum Write {
    /// `len` bytes at the descriptor's position (`fd_write`).
    AtCursor(u64),
    /// `len` bytes at `offset` (`fd_pwrite`).
    At { offset: u64, len: u64 },
    /// Setting the size (`fd_filestat_set_size`).
    Size(u64),
}

/// Reserves what `write` adds to the call's scratch if `fd` is a regular file the guest
/// opened (nothing for stdio, devices and directories); `false`: `ENOSPC`.
pub(super) async fn room_to_write<T: FilesView>(
    caller: &mut Caller<'_, T>,
    fd: i32,
    write: Write,
) -> wasmtime::Result<bool> {
    let Some(append) = caller.data_mut().files().opened(fd as u32) else {
        return Ok(true);
    };
    let fd = Fd::from(fd as u32);
    let (wasi, mut guest) = wasi_parts(caller)?;
    let size = match wasi.fd_filestat_get(&mut guest, fd).await {
        Ok(stat) if stat.filetype == Filetype::RegularFile => stat.size,
        // Not a file, or an error that wasmtime-wasi's own call will answer with.
        _ => return Ok(true),
    };
    // As wasmtime-wasi writes: appending ignores the offset.
    let end = match write {
        Write::Size(new) => new,
        Write::AtCursor(len) | Write::At { len, .. } if append => size.saturating_add(len),
        Write::At { offset, len } => offset.saturating_add(len),
        Write::AtCursor(len) => match wasi.fd_tell(&mut guest, fd) {
            Ok(position) => position.saturating_add(len),
            Err(_) => return Ok(true),
        },
    };
    reserve(caller, end.saturating_sub(size)).await
}

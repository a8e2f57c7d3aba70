//! Snapshots of a Python interpreter: its linear memory and mutable globals, captured from an
//! instance after it ran (the interpreter initialised, a function's module imported) and put
//! back into a fresh instance before a call.
//!
//! # File format
//!
//! One file per snapshot, written once under a temporary name and renamed into place, never
//! changed afterwards (calls map it copy-on-write):
//!
//! | offset | content |
//! |---|---|
//! | 0 | header: [`MAGIC`], the memory size in wasm pages (u64), the globals count (u32), then each global: its export name (u16 length + bytes), type tag (u8), 16 value bytes |
//! | [`HEADER`] | the memory, byte for byte; all-zero 64 KiB pages are left as holes |

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use wasmtime::{AsContextMut, Extern, Instance, Memory, Store, Val};

use super::memory::map_image;
use super::resident::{ResidentCopies, ResidentLimits};
use crate::parts::CallState;

const MAGIC: &[u8; 8] = b"FAASMPY1";
/// The header's size: one host page, so the memory that follows can be mapped from the file.
const HEADER: usize = 4096;
const WASM_PAGE: usize = 64 << 10;
/// The prefix of the exports `wasmtime-wizer`'s instrumentation gives mutable globals.
pub(crate) const GLOBAL_EXPORT_PREFIX: &str = "__wizer_global_";

/// A snapshot on disk, open for mapping.
pub(crate) struct MemoryImage {
    file: File,
    pages: u64,
    globals: Vec<(String, Val)>,
    /// Copies of the memory kept from earlier instances, if any are kept.
    resident: Option<Arc<ResidentCopies>>,
}

impl MemoryImage {
    /// The snapshot at `path`, or `None` if there is none or it is unusable (then it is made
    /// again).
    pub(crate) fn open(path: &Path, limits: ResidentLimits) -> Option<MemoryImage> {
        let mut file = File::open(path).ok()?;
        let mut header = vec![0; HEADER];
        file.read_exact(&mut header).ok()?;
        let (pages, globals) = parse_header(&header)?;
        let expected = HEADER as u64 + pages * WASM_PAGE as u64;
        (file.metadata().ok()?.len() == expected).then(|| Self::new(file, pages, globals, limits))
    }

    fn new(file: File, pages: u64, globals: Vec<(String, Val)>, limits: ResidentLimits) -> Self {
        let len = pages as usize * WASM_PAGE;
        let resident = ResidentCopies::new(&file, HEADER as u64, len, limits);
        Self {
            file,
            pages,
            globals,
            resident,
        }
    }

    /// Writes the memory and mutable globals of `instance` to `path` and opens the result.
    pub(crate) fn capture(
        store: &mut Store<CallState>,
        instance: &Instance,
        path: &Path,
        limits: ResidentLimits,
    ) -> std::io::Result<MemoryImage> {
        let mut globals = Vec::new();
        let exports: Vec<(String, Extern)> = instance
            .exports(store.as_context_mut())
            .filter(|export| export.name().starts_with(GLOBAL_EXPORT_PREFIX))
            .map(|export| (export.name().to_owned(), export.into_extern()))
            .collect();
        for (name, export) in exports {
            if let Extern::Global(global) = export {
                globals.push((name, global.get(&mut *store)));
            }
        }
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| std::io::Error::other("the interpreter exports no memory"))?;
        let data = memory.data(&*store);
        let pages = (data.len() / WASM_PAGE) as u64;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        temp.write_all(&encode_header(pages, &globals)?)?;
        temp.as_file().set_len((HEADER + data.len()) as u64)?;
        // All-zero pages stay holes: they read back as zeros and take no disk space.
        for (i, page) in data.chunks(WASM_PAGE).enumerate() {
            if page.iter().any(|&b| b != 0) {
                temp.seek(SeekFrom::Start((HEADER + i * WASM_PAGE) as u64))?;
                temp.write_all(page)?;
            }
        }
        temp.as_file().sync_data()?;
        let file = temp.persist(path).map_err(|e| e.error)?;
        Ok(Self::new(file, pages, globals, limits))
    }

    /// Puts the snapshot into `instance`, a fresh instance of the interpreter on the Python
    /// engine: grows its memory to the snapshot's size (through the call's memory cap), moves
    /// a resident copy in or maps the snapshot over it, and sets its mutable globals. Answers
    /// the memory and whether it is a resident copy (its pages already in place).
    pub(crate) fn apply(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
    ) -> wasmtime::Result<(Memory, bool)> {
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| wasmtime::format_err!("the interpreter exports no memory"))?;
        let current = memory.size(&*store);
        if self.pages < current {
            wasmtime::bail!(
                "snapshot of {} pages is smaller than a new instance",
                self.pages
            );
        }
        memory.grow(&mut *store, self.pages - current)?;
        let len = usize::try_from(self.pages)? * WASM_PAGE;
        let base = memory.data_ptr(&*store);
        // SAFETY: the memory is one the Python engine's `ImageMemoryCreator` made (only that
        // engine runs the interpreter), it is `len` bytes long now, no guest code has run in
        // it yet, and snapshot files are never modified once written.
        let resident = unsafe {
            let moved = self.resident.as_ref().is_some_and(|r| r.move_into(base));
            if !moved {
                map_image(base, len, &self.file, HEADER as u64)?;
            }
            moved
        };
        if let Some(copies) = &self.resident {
            copies.lease(base);
        }
        for (name, value) in &self.globals {
            let global = instance
                .get_global(&mut *store, name)
                .ok_or_else(|| wasmtime::format_err!("the interpreter has no global {name}"))?;
            global.set(&mut *store, *value)?;
        }
        Ok((memory, resident))
    }

    /// The snapshot's memory size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.pages as usize * WASM_PAGE
    }
}

fn encode_header(pages: u64, globals: &[(String, Val)]) -> std::io::Result<Vec<u8>> {
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&pages.to_le_bytes());
    header.extend_from_slice(&(globals.len() as u32).to_le_bytes());
    for (name, value) in globals {
        let (tag, bits) = match *value {
            Val::I32(x) => (0, u128::from(x as u32)),
            Val::I64(x) => (1, u128::from(x as u64)),
            Val::F32(x) => (2, u128::from(x)),
            Val::F64(x) => (3, u128::from(x)),
            Val::V128(x) => (4, x.as_u128()),
            _ => return Err(std::io::Error::other("a reference-typed mutable global")),
        };
        header.extend_from_slice(&(name.len() as u16).to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        header.push(tag);
        header.extend_from_slice(&bits.to_le_bytes());
    }
    if header.len() > HEADER {
        return Err(std::io::Error::other(
            "too many globals for a snapshot header",
        ));
    }
    header.resize(HEADER, 0);
    Ok(header)
}

fn parse_header(header: &[u8]) -> Option<(u64, Vec<(String, Val)>)> {
    let mut rest = header.strip_prefix(MAGIC)?;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let pages = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let mut globals = Vec::new();
    for _ in 0..count {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?);
        let name = std::str::from_utf8(take(len.into())?).ok()?.to_owned();
        let tag = take(1)?[0];
        let bits = u128::from_le_bytes(take(16)?.try_into().ok()?);
        let value = match tag {
            0 => Val::I32(bits as u32 as i32),
            1 => Val::I64(bits as u64 as i64),
            2 => Val::F32(bits as u32),
            3 => Val::F64(bits as u64),
            4 => Val::V128(bits.into()),
            _ => return None,
        };
        globals.push((name, value));
    }
    Some((pages, globals))
}

//! The linear memories of Python calls: plain anonymous reservations that a call's memory
//! image can be mapped over, copy-on-write, from a file.
//!
//! wasmtime's own copy-on-write images come from a compiled module's data segments, so with
//! them every Python function would need its own compiled copy of the 100 MB interpreter. The
//! Python engine instead creates its memories here ([`ImageMemoryCreator`]) and the runtime
//! maps a function's snapshot file over a fresh memory ([`map_image`]) before the guest runs:
//! one compiled interpreter for every function, and each call pays only for the pages it
//! touches, as with wasmtime's images.

use std::ffi::c_void;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use rustix::mm::{Advice, MapFlags, MprotectFlags, ProtFlags};
use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

use super::resident;

/// Creates [`ReservedMemory`]s.
pub(crate) struct ImageMemoryCreator;

/// A memory that never moves: `capacity` bytes (plus the guard) reserved, the first `size`
/// readable and writable, the rest inaccessible.
struct ReservedMemory {
    base: *mut u8,
    /// The whole mapping, guard included.
    mapped: usize,
    capacity: usize,
    size: usize,
}

// SAFETY: the memory is a plain mapping owned by this value; wasmtime synchronises access.
unsafe impl Send for ReservedMemory {}
// SAFETY: as above; `&ReservedMemory` gives no access to the bytes.
unsafe impl Sync for ReservedMemory {}

// SAFETY: `new_memory` returns zeroed memory of at least `minimum` bytes that never moves, with
// `reserved_size_in_bytes` reserved (so the maximum fits) and the guard after it unmapped
// (inaccessible), as the trait requires for code compiled without bounds checks.
unsafe impl MemoryCreator for ImageMemoryCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let capacity = reserved_size_in_bytes
            .or(maximum)
            .ok_or("a Python memory needs a reservation or a maximum")?;
        if minimum > capacity {
            return Err(format!(
                "memory of {minimum} bytes does not fit its {capacity} byte reservation"
            ));
        }
        let mapped = capacity
            .checked_add(guard_size_in_bytes)
            .ok_or("memory reservation overflows")?;
        let base = reserve_aligned(mapped)
            .map_err(|e| format!("reserving {mapped} bytes of memory: {e}"))?;
        let mut memory = ReservedMemory {
            base,
            mapped,
            capacity,
            size: 0,
        };
        memory.grow_to(minimum).map_err(|e| format!("{e:#}"))?;
        Ok(Box::new(memory))
    }
}

// SAFETY: `as_ptr` is the base of a mapping that lives as long as `self` and never moves;
// `byte_size` bytes from it are accessible.
unsafe impl LinearMemory for ReservedMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.capacity {
            wasmtime::bail!(
                "memory cannot grow past its {} byte reservation",
                self.capacity
            );
        }
        if new_size > self.size {
            // SAFETY: the range lies inside this value's reservation.
            unsafe {
                rustix::mm::mprotect(
                    self.base.add(self.size).cast(),
                    new_size - self.size,
                    MprotectFlags::READ | MprotectFlags::WRITE,
                )?;
            }
            self.size = new_size;
        }
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.base
    }
}

impl Drop for ReservedMemory {
    fn drop(&mut self) {
        resident::release(self.base);
        // SAFETY: the mapping is this value's own and nothing refers to it any more.
        if let Err(e) = unsafe { rustix::mm::munmap(self.base.cast(), self.mapped) } {
            tracing::warn!("unmapping a Python call's memory: {e}");
        }
    }
}

/// Where mappings are aligned: a huge page, so that moving a snapshot copy from one memory to
/// another ([`resident`]) moves whole page tables rather than each page's entry.
const ALIGN: usize = 2 << 20;

/// A new inaccessible reservation of `len` bytes (a multiple of the page size) at an
/// [`ALIGN`]ed address.
pub(crate) fn reserve_aligned(len: usize) -> std::io::Result<*mut u8> {
    let padded = len
        .checked_add(ALIGN)
        .ok_or_else(|| std::io::Error::other("reservation overflows"))?;
    // SAFETY: a new private anonymous mapping at an address the kernel chooses.
    let raw = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            padded,
            ProtFlags::empty(),
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    }?
    .cast::<u8>();
    let head = (ALIGN - raw as usize % ALIGN) % ALIGN;
    // SAFETY: both trimmed ends lie in the mapping just made, which nothing uses yet.
    unsafe {
        if head > 0 {
            rustix::mm::munmap(raw.cast(), head)?;
        }
        rustix::mm::munmap(raw.add(head + len).cast(), ALIGN - head)?;
        Ok(raw.add(head))
    }
}

/// Replaces the first `len` bytes of the memory at `base` with a private, copy-on-write mapping
/// of `file` from `offset`: reads come from the file's pages, writes go to the call's own copies
/// and never reach the file.
///
/// # Safety
///
/// `base..base + len` must be accessible bytes of a memory made by [`ImageMemoryCreator`] that
/// no one is reading or writing now, and `len` and `offset` multiples of the page size. The
/// file must never change while a mapping of it exists (images are written once, then renamed
/// into place).
pub(crate) unsafe fn map_image(
    base: *mut u8,
    len: usize,
    file: &File,
    offset: u64,
) -> std::io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller vouches for the range; MAP_FIXED replaces pages this memory owns.
    unsafe {
        rustix::mm::mmap(
            base.cast::<c_void>(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | MapFlags::FIXED,
            file,
            offset,
        )?;
    }
    Ok(())
}

/// The host page size the page lists below count in.
const HOST_PAGE: usize = 4096;

/// The pages of `base..base + len` that hold private copies now: those the guest wrote since the
/// image was mapped (read from `/proc/self/pagemap`: present and not file-backed).
pub(crate) fn written_pages(base: *const u8, len: usize) -> std::io::Result<Vec<Range<usize>>> {
    const PRESENT: u64 = 1 << 63;
    const FILE_OR_SHARED: u64 = 1 << 61;
    let pagemap = File::open("/proc/self/pagemap")?;
    let first = base as usize / HOST_PAGE;
    let count = len / HOST_PAGE;
    let mut entries = vec![0u8; count * 8];
    pagemap.read_exact_at(&mut entries, (first * 8) as u64)?;
    let mut written: Vec<Range<usize>> = Vec::new();
    for (page, entry) in entries.chunks_exact(8).enumerate() {
        let entry = u64::from_le_bytes(entry.try_into().expect("8 bytes"));
        if entry & PRESENT == 0 || entry & FILE_OR_SHARED != 0 {
            continue;
        }
        match written.last_mut() {
            Some(run) if run.end == page => run.end += 1,
            _ => written.push(page..page + 1),
        }
    }
    Ok(written)
}

/// Makes private copies of `pages` (host pages from `base`) now, before the guest runs.
///
/// Copying a page on the guest's first write costs more than the copy: if the guest read the
/// page first, the kernel must flush the read-only mapping from every core that may cache it,
/// an inter-processor interrupt per page. Populating the pages a call is known to write up
/// front takes each in one pass with nothing to flush.
///
/// # Safety
///
/// As for [`map_image`]: `pages` lie in the accessible part of a memory made by
/// [`ImageMemoryCreator`].
pub(crate) unsafe fn populate_written(
    base: *mut u8,
    pages: &[Range<usize>],
) -> std::io::Result<()> {
    for run in pages {
        // SAFETY: the caller vouches for the range; populating only faults pages in.
        unsafe {
            rustix::mm::madvise(
                base.add(run.start * HOST_PAGE).cast(),
                run.len() * HOST_PAGE,
                Advice::LinuxPopulateWrite,
            )?;
        }
    }
    Ok(())
}

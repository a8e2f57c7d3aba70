//! Resident copies of a snapshot, kept from one call to the next.
//!
//! A call's memory starts as its snapshot mapped copy-on-write ([`super::memory::map_image`]):
//! each page it reads faults in from the file, each page it writes is copied, and when the call
//! ends all of it is unmapped again, so the next call pays the same faults and copies. Instead,
//! when a call's memory is dropped its mapping of the snapshot is moved out of it (`mremap`, page
//! tables and all), the pages the call made private are put back to the snapshot's bytes (found
//! with the `PAGEMAP_SCAN` ioctl, copied from a read-only mapping of the file) and the copy is
//! kept; the next call of the same snapshot moves it into its new memory with every page it
//! used already in place. Up to [`ResidentLimits::keep_bytes`] of restored pages stay private
//! in a copy; past that they are dropped back to the file's pages.
//!
//! Needs Linux 6.7 (`PAGEMAP_SCAN`); without it every call maps the snapshot afresh.

use std::collections::HashMap;
use std::ffi::c_void;
use std::fs::File;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use rustix::mm::{Advice, MapFlags, MremapFlags, ProtFlags};

use super::memory::reserve_aligned;

/// How many resident copies are kept and how much of each stays private.
#[derive(Debug, Clone, Copy)]
pub struct ResidentLimits {
    /// Idle copies kept across all Python functions of the process (0: none, every call maps
    /// its snapshot afresh). Each holds the pages its calls touched (a few MB).
    pub idle_copies: usize,
    /// Bytes of a copy's restored pages kept private (copied back in place); written pages
    /// beyond it return to the snapshot file's pages and are copied again when next written.
    pub keep_bytes: usize,
}

impl Default for ResidentLimits {
    fn default() -> Self {
        Self {
            idle_copies: 8,
            keep_bytes: 16 << 20,
        }
    }
}

/// The idle copies of one snapshot.
pub(crate) struct ResidentCopies {
    /// The snapshot's memory bytes, mapped read-only and shared: what restoring copies from.
    pristine: *const u8,
    len: usize,
    limits: ResidentLimits,
    idle: Mutex<Vec<IdleCopy>>,
}

// SAFETY: `pristine` is a read-only mapping owned by this value, only read.
unsafe impl Send for ResidentCopies {}
// SAFETY: as above.
unsafe impl Sync for ResidentCopies {}

/// A private mapping of a snapshot, `len` bytes at `addr`, restored to the snapshot's bytes.
struct IdleCopy {
    addr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this value and not accessed through it.
unsafe impl Send for IdleCopy {}

impl Drop for IdleCopy {
    fn drop(&mut self) {
        IDLE.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the mapping is this copy's own.
        if let Err(e) = unsafe { rustix::mm::munmap(self.addr.cast(), self.len) } {
            tracing::warn!("unmapping a resident Python memory: {e}");
        }
    }
}

/// Idle copies in the process, against [`ResidentLimits::idle_copies`].
static IDLE: AtomicUsize = AtomicUsize::new(0);

/// The memories now holding a snapshot, by base address: where their copy goes when dropped.
static LEASES: LazyLock<Mutex<HashMap<usize, Arc<ResidentCopies>>>> =
    LazyLock::new(Default::default);

impl ResidentCopies {
    /// Copies of the `len` snapshot bytes at `offset` in `file`, or `None` if none are to be
    /// kept (no idle copies allowed, or the kernel cannot scan for written pages).
    pub(crate) fn new(
        file: &File,
        offset: u64,
        len: usize,
        limits: ResidentLimits,
    ) -> Option<Arc<Self>> {
        if limits.idle_copies == 0 || len == 0 || PAGEMAP.is_none() {
            return None;
        }
        // SAFETY: a new read-only shared mapping of the file at an address the kernel chooses;
        // snapshot files never change once written.
        let pristine = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                file,
                offset,
            )
        }
        .inspect_err(|e| tracing::debug!("mapping a Python snapshot read-only: {e}"))
        .ok()?;
        Some(Arc::new(Self {
            pristine: pristine.cast(),
            len,
            limits,
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// Moves an idle copy into the first `len` bytes of the memory at `base`, if there is one,
    /// and answers whether it did (if not, the caller maps the snapshot).
    ///
    /// # Safety
    ///
    /// `base..base + len` must be the accessible start of a memory made by
    /// [`super::memory::ImageMemoryCreator`] that no one is using now.
    pub(crate) unsafe fn move_into(self: &Arc<Self>, base: *mut u8) -> bool {
        let copy = self.idle.lock().pop();
        copy.is_some_and(|copy| {
            // SAFETY: both ranges are `len` bytes of mappings we own; MREMAP_FIXED replaces
            // the memory's pages with the copy's.
            let moved = unsafe {
                rustix::mm::mremap_fixed(
                    copy.addr.cast(),
                    self.len,
                    self.len,
                    MremapFlags::MAYMOVE,
                    base.cast(),
                )
            };
            match moved {
                Ok(_) => {
                    // Moved away: nothing left to unmap.
                    IDLE.fetch_sub(1, Ordering::Relaxed);
                    std::mem::forget(copy);
                    true
                }
                Err(e) => {
                    tracing::debug!("moving a resident Python memory in: {e}");
                    false
                }
            }
        })
    }

    /// Notes that the memory at `base` holds this snapshot (moved in, or mapped from the file),
    /// so that its mapping is kept when it is dropped.
    pub(crate) fn lease(self: &Arc<Self>, base: *mut u8) {
        LEASES.lock().insert(base as usize, self.clone());
    }

    /// Keeps the snapshot mapping at `base` (a memory being dropped) as an idle copy, if there
    /// is room for one.
    fn keep(&self, base: *mut u8) {
        if IDLE.fetch_add(1, Ordering::Relaxed) >= self.limits.idle_copies {
            IDLE.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let copy = match self.take_out(base) {
            Ok(copy) => copy,
            Err(e) => {
                IDLE.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!("keeping a resident Python memory: {e}");
                return;
            }
        };
        match self.restore(&copy) {
            Ok(()) => self.idle.lock().push(copy),
            Err(e) => tracing::debug!("restoring a resident Python memory: {e}"),
        }
    }

    /// Moves the mapping at `base` to a place of its own.
    fn take_out(&self, base: *mut u8) -> std::io::Result<IdleCopy> {
        let addr = reserve_aligned(self.len)?;
        // SAFETY: `base..base + len` is the snapshot mapping of a memory being dropped, and
        // `addr` a reservation of ours that MREMAP_FIXED replaces.
        if let Err(e) = unsafe {
            rustix::mm::mremap_fixed(
                base.cast(),
                self.len,
                self.len,
                MremapFlags::MAYMOVE,
                addr.cast(),
            )
        } {
            // SAFETY: the reservation is ours and unused.
            let _ = unsafe { rustix::mm::munmap(addr.cast(), self.len) };
            return Err(e.into());
        }
        Ok(IdleCopy {
            addr,
            len: self.len,
        })
    }

    /// Puts the pages a call made private back to the snapshot's bytes.
    fn restore(&self, copy: &IdleCopy) -> std::io::Result<()> {
        let mut kept = 0;
        for run in private_pages(copy.addr, copy.len)? {
            // SAFETY: `run` lies in the copy (the scan covered only it) and in the pristine
            // mapping of the same length; the copy is ours alone.
            unsafe {
                let at = copy.addr.add(run.start);
                if kept + run.len() <= self.limits.keep_bytes {
                    std::ptr::copy_nonoverlapping(self.pristine.add(run.start), at, run.len());
                    kept += run.len();
                } else {
                    rustix::mm::madvise(at.cast(), run.len(), Advice::LinuxDontNeed)?;
                }
            }
        }
        Ok(())
    }
}

impl Drop for ResidentCopies {
    fn drop(&mut self) {
        // SAFETY: the mapping is this value's own; the idle copies go with it.
        let _ = unsafe { rustix::mm::munmap(self.pristine as *mut c_void, self.len) };
    }
}

/// Called as the memory at `base` is dropped: keeps its snapshot mapping if it holds one.
pub(crate) fn release(base: *mut u8) {
    let copies = LEASES.lock().remove(&(base as usize));
    if let Some(copies) = copies {
        copies.keep(base);
    }
}

/// `/proc/self/pagemap`, if it answers `PAGEMAP_SCAN`.
static PAGEMAP: LazyLock<Option<File>> = LazyLock::new(|| {
    let pagemap = File::open("/proc/self/pagemap").ok()?;
    scan(&pagemap, 0..0, &mut [PageRegion::default()]).ok()?;
    Some(pagemap)
});

/// `struct pm_scan_arg` of `<linux/fs.h>`.
#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: libc::c_ulong = (3 << 30)
    | ((size_of::<PmScanArg>() as libc::c_ulong) << 16)
    | ((b'f' as libc::c_ulong) << 8)
    | 16;
const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_PFNZERO: u64 = 1 << 5;

/// Scans `range` for present pages backed by neither the file nor the zero page (the private
/// copies of written pages); answers how many regions it filled and where it stopped.
fn scan(
    pagemap: &File,
    range: Range<u64>,
    regions: &mut [PageRegion],
) -> std::io::Result<(usize, u64)> {
    let mut arg = PmScanArg {
        size: size_of::<PmScanArg>() as u64,
        flags: 0,
        start: range.start,
        end: range.end,
        walk_end: 0,
        vec: regions.as_mut_ptr() as u64,
        vec_len: regions.len() as u64,
        max_pages: 0,
        category_inverted: PAGE_IS_FILE | PAGE_IS_PFNZERO,
        category_mask: PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_PFNZERO,
        category_anyof_mask: 0,
        return_mask: PAGE_IS_PRESENT,
    };
    // SAFETY: the argument and the regions it points to are valid for the call; the kernel
    // writes at most `vec_len` regions and `walk_end`.
    let filled = unsafe { libc::ioctl(pagemap.as_raw_fd(), PAGEMAP_SCAN, &mut arg) };
    if filled < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((filled as usize, arg.walk_end))
}

/// The private pages of `addr..addr + len`, as byte ranges from `addr`.
fn private_pages(addr: *mut u8, len: usize) -> std::io::Result<Vec<Range<usize>>> {
    let pagemap = PAGEMAP
        .as_ref()
        .ok_or_else(|| std::io::Error::other("PAGEMAP_SCAN is not available"))?;
    let (start, end) = (addr as u64, addr as u64 + len as u64);
    let mut regions = [PageRegion::default(); 64];
    let mut pages = Vec::new();
    let mut from = start;
    while from < end {
        let (filled, walk_end) = scan(pagemap, from..end, &mut regions)?;
        pages.extend(
            regions[..filled]
                .iter()
                .map(|r| (r.start - start) as usize..(r.end - start) as usize),
        );
        if filled < regions.len() || walk_end <= from {
            break;
        }
        from = walk_end;
    }
    Ok(pages)
}

//! The devices (see "Devices" in [`super`]): `/dev/*` are empty read-only files, and reads and
//! writes of descriptors opened from them are answered here.

use wasmtime::Caller;

use super::FilesView;
use super::guest::{buffers, memory_of, store_u32, wasi_call};

/// The most bytes one read of a device returns.
const DEVICE_READ_MAX: usize = 1 << 20;

/// What `/dev/<name>` behaves as.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Device {
    Null,
    Zero,
    Random,
}

impl Device {
    pub(super) const NAMES: [(&str, Device); 4] = [
        ("null", Device::Null),
        ("zero", Device::Zero),
        ("random", Device::Random),
        ("urandom", Device::Random),
    ];

    pub(super) fn named(name: &str) -> Option<Device> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, device)| device)
    }
}

/// `fd_read`/`fd_pread` of a device: fills the buffers, stores the count at `out`.
pub(super) fn device_read<T: FilesView>(
    caller: &mut Caller<'_, T>,
    device: Device,
    iovs: i32,
    count: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    let buffers = match buffers(caller, iovs, count)? {
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
pub(super) fn device_write<T: FilesView>(
    caller: &mut Caller<'_, T>,
    iovs: i32,
    count: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    let buffers = match buffers(caller, iovs, count)? {
        Ok(buffers) => buffers,
        Err(errno) => return Ok(errno as i32),
    };
    let total = buffers
        .iter()
        .fold(0u32, |sum, &(_, len)| sum.saturating_add(len as u32));
    store_u32(caller, out, total)
}

//! Clock sleeps (SPEC §7): a guest waiting in WASI's `poll_oneoff` (what wasi-libc's `sleep`,
//! `usleep`, `nanosleep` and `clock_nanosleep` call) hands its worker back while it waits, as a
//! guest awaiting a chained call does, so sleepers cannot keep other calls from running.
//! wasmtime-wasi does the polling; this only wraps it in [`crate::chain::idle`]. A sleep ends on
//! time (then queues for a worker again) and is cut short by the call's timeout like any wait.
//!
//! `sched_yield` stays wasmtime-wasi's no-op: a guest spinning on it is a busy guest, which
//! epoch yields already share its thread with others.

use wasmtime::{Caller, Linker};

use super::chain::ChainView;
use crate::files::{FilesView, wasi_call};

/// Shadows wasmtime-wasi's `poll_oneoff`. Call after `wasmtime_wasi::p1::add_to_linker_async`.
pub(super) fn add_to_linker<T: ChainView + FilesView>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = linker
        .func_wrap_async(
            "wasi_snapshot_preview1",
            "poll_oneoff",
            |mut caller: Caller<'_, T>, (subs, events, count, out): (i32, i32, i32, i32)| {
                Box::new(async move {
                    let host = caller.data_mut().chaining().host().cloned();
                    let poll = async {
                        wasi_call!(&mut caller, poll_oneoff(subs, events, count, out).await)
                    };
                    crate::chain::idle(host.as_ref(), poll).await
                })
            },
        )
        .map(drop);
    linker.allow_shadowing(false);
    result
}

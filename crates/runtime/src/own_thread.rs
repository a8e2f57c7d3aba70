//! Running async runtime work (instantiating, calling guests) from synchronous code.

use std::future::Future;

/// Runs `work` to completion on a new thread with its own current-thread executor and waits for
/// it, so it can be called from any context: a blocking pool thread, or a test calling a
/// synchronous `Runtime` method from inside an async function.
pub(crate) fn block_on<T: Send>(
    work: impl Future<Output = Result<T, String>> + Send,
) -> Result<T, String> {
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            let executor = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start an executor: {e}"))?;
            executor.block_on(work)
        });
        match run.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

//! Runs the host's futures (instantiating and evaluating rules) to their end
//! for synchronous callers: the command line, rule loading, and library
//! users without an async runtime.

/// Polls `future` to its end, blocking the calling thread.
///
/// WASI's clocks need a tokio runtime, so the future runs inside one:
/// wasmtime-wasi's shared runtime. A thread that may be driving another
/// runtime's tasks must not block on it, so from inside a runtime the
/// future runs on a thread of its own.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return wasmtime_wasi::runtime::in_tokio(future);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| wasmtime_wasi::runtime::in_tokio(future))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

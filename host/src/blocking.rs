//! Where the host's futures (instantiating and evaluating rules) run when an
//! async worker is the wrong place for them: to their end for synchronous
//! callers (the command line, rule loading, library users without an async
//! runtime), and on a blocking thread for evaluations that run long.

use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::task::JoinError;

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

/// Where an evaluation ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// On the async worker that started it, without ever waiting.
    Worker,
    /// On a blocking thread of the current runtime.
    Blocking,
}

/// How long an evaluation may hold its async worker in its first poll
/// before its generation counts as running long: about a rule's first
/// slice (see [`crate::sandbox`]).
const LONG_ON_WORKER: Duration = Duration::from_millis(2);

/// How an evaluation ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Where it ended.
    pub lane: Lane,
    /// How long it held the async worker that started it.
    pub on_worker: Duration,
}

impl Run {
    /// Whether the evaluation showed that its rules can hold a worker for
    /// long: it moved to a blocking thread, or its first poll took longer
    /// than a rule's first slice (one long instruction, which no epoch
    /// check interrupts).
    pub fn ran_long(&self) -> bool {
        self.lane == Lane::Blocking || self.on_worker > LONG_ON_WORKER
    }
}

/// Runs `future`, an evaluation, on the current runtime: polled once on the
/// calling async worker, where a quick evaluation ends, and finished on a
/// blocking thread if that poll leaves it running, or from the start when
/// `start_blocking` says so.
///
/// An evaluation still running after its first poll has a rule that
/// computed past its first slice (see [`crate::sandbox`]) or waits in a
/// host call. Left on the worker, it would take a turn of a millisecond
/// between every step of the other requests queued there, and a few such
/// evaluations would slow every request on the worker to tens of
/// milliseconds. On a blocking thread the operating system shares the CPU
/// between it and the workers instead, as between any threads.
///
/// Fails only when the evaluation panicked or the runtime is shutting down.
pub async fn run_evaluation<F>(
    future: F,
    start_blocking: bool,
) -> Result<(F::Output, Run), JoinError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Box::pin(future);
    let mut on_worker = Duration::ZERO;
    if !start_blocking {
        let started = Instant::now();
        let first_poll =
            std::future::poll_fn(|context| Poll::Ready(future.as_mut().poll(context))).await;
        on_worker = started.elapsed();
        if let Poll::Ready(output) = first_poll {
            let run = Run {
                lane: Lane::Worker,
                on_worker,
            };
            return Ok((output, run));
        }
    }
    let runtime = tokio::runtime::Handle::current();
    let output = tokio::task::spawn_blocking(move || runtime.block_on(future)).await?;
    let run = Run {
        lane: Lane::Blocking,
        on_worker,
    };
    Ok((output, run))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Lane, run_evaluation};

    #[tokio::test]
    async fn an_evaluation_that_ends_in_its_first_poll_stays_on_the_worker() {
        let (answer, run) = run_evaluation(async { 7 }, false).await.unwrap();
        assert_eq!((answer, run.lane), (7, Lane::Worker));
        assert!(!run.ran_long());
    }

    #[tokio::test]
    async fn a_generation_known_to_run_long_starts_on_a_blocking_thread() {
        let (answer, run) = run_evaluation(async { 7 }, true).await.unwrap();
        assert_eq!((answer, run.lane), (7, Lane::Blocking));
    }

    /// Before, an evaluation that yielded stayed on its worker, so that the
    /// computing it did between yields held up every other task there; the
    /// test runtime has a single worker.
    #[tokio::test]
    async fn an_evaluation_still_running_after_its_first_poll_leaves_the_worker() {
        let computes_long = async {
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(400));
        };
        let started = Instant::now();
        let evaluation = tokio::spawn(run_evaluation(computes_long, false));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let other_task_resumed_after = started.elapsed();
        let (_, run) = evaluation.await.unwrap().unwrap();
        assert_eq!(run.lane, Lane::Blocking);
        assert!(run.ran_long());
        assert!(
            other_task_resumed_after < Duration::from_millis(400),
            "the worker was held for {other_task_resumed_after:?}"
        );
    }

    /// One long instruction (a `memory.fill` of a large memory) passes no
    /// epoch check, so the evaluation can end in its first poll after
    /// holding the worker for milliseconds; that counts as running long too.
    #[tokio::test]
    async fn a_first_poll_that_holds_the_worker_for_long_counts_as_running_long() {
        let one_long_step = async { std::thread::sleep(Duration::from_millis(20)) };
        let (_, run) = run_evaluation(one_long_step, false).await.unwrap();
        assert_eq!(run.lane, Lane::Worker);
        assert!(run.ran_long(), "{run:?}");
    }

    #[tokio::test]
    async fn a_panic_on_the_blocking_thread_is_an_error_not_a_crash() {
        let panics = async {
            tokio::task::yield_now().await;
            panic!("the evaluation panicked");
        };
        let error = run_evaluation(panics, false).await.unwrap_err();
        assert!(error.is_panic());
    }
}

//! Where the host's futures (instantiating and evaluating rules) run when an
//! async worker is the wrong place for them: to their end for synchronous
//! callers (the command line, rule loading, library users without an async
//! runtime), and on a blocking thread for evaluations that run long.

use std::task::Poll;
use std::time::Duration;

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

/// CPU time above which an evaluation counts as running long. Evaluations
/// of ordinary rules take tens to hundreds of microseconds. This is CPU
/// time, not wall-clock time, so that a healthy evaluation the operating
/// system preempted on a busy machine does not count; and it is well above
/// the few milliseconds a page fault can cost on a busy machine (6.5 ms
/// seen once under load), since one such evaluation moves a whole
/// generation to blocking threads.
const LONG_EVALUATION_CPU: Duration = Duration::from_millis(20);

/// How an evaluation ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Where it ended.
    pub lane: Lane,
    /// The CPU time its polls took, on the worker and the blocking thread.
    pub cpu: Duration,
}

impl Run {
    /// Whether the evaluation used more CPU time than ordinary rules ever
    /// do: a rule computed long, or spent milliseconds in one step (a
    /// `memory.fill` of a large memory) that no epoch check interrupts.
    pub fn ran_long(&self) -> bool {
        self.cpu > LONG_EVALUATION_CPU
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
    let mut worker_cpu = Duration::ZERO;
    if !start_blocking {
        let started = thread_cpu_time();
        let first_poll =
            std::future::poll_fn(|context| Poll::Ready(future.as_mut().poll(context))).await;
        worker_cpu = thread_cpu_time().saturating_sub(started);
        if let Poll::Ready(output) = first_poll {
            let run = Run {
                lane: Lane::Worker,
                cpu: worker_cpu,
            };
            return Ok((output, run));
        }
    }
    let runtime = tokio::runtime::Handle::current();
    let (output, blocking_cpu) = tokio::task::spawn_blocking(move || {
        let started = thread_cpu_time();
        let output = runtime.block_on(future);
        (output, thread_cpu_time().saturating_sub(started))
    })
    .await?;
    let run = Run {
        lane: Lane::Blocking,
        cpu: worker_cpu + blocking_cpu,
    };
    Ok((output, run))
}

/// The CPU time the calling thread has used so far.
fn thread_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Lane, run_evaluation, thread_cpu_time};

    /// Computes until the thread has used `cpu` of CPU time.
    fn burn_cpu(cpu: Duration) {
        let started = thread_cpu_time();
        while thread_cpu_time() - started < cpu {
            std::hint::black_box(0u64);
        }
    }

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
            burn_cpu(Duration::from_millis(400));
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
    /// Waiting costs no CPU, so a healthy evaluation that waited does not.
    #[tokio::test]
    async fn a_first_poll_that_holds_the_worker_for_long_counts_as_running_long() {
        let one_long_step = async { burn_cpu(Duration::from_millis(40)) };
        let (_, run) = run_evaluation(one_long_step, false).await.unwrap();
        assert_eq!(run.lane, Lane::Worker);
        assert!(run.ran_long(), "{run:?}");
        let waits = async { tokio::time::sleep(Duration::from_millis(20)).await };
        let (_, run) = run_evaluation(waits, false).await.unwrap();
        assert_eq!(run.lane, Lane::Blocking);
        assert!(!run.ran_long(), "{run:?}");
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

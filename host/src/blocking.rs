//! Where the host's futures (instantiating and evaluating rules) run when an
//! async worker is the wrong place for them: to their end for synchronous
//! callers (the command line, rule loading, library users without an async
//! runtime), and on a blocking thread for evaluations that compute long.

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
    /// On the async worker that started it.
    Worker,
    /// On a blocking thread of the current runtime.
    Blocking,
}

/// CPU time a poll of an evaluation may take and still leave it on its
/// worker when it does not finish. A rule yields once it has computed for
/// its first slice of one to two milliseconds (see [`crate::sandbox`]); an
/// evaluation that waits in a host call (a WASI sleep) or was preempted
/// yields after microseconds of CPU time.
const COMPUTING_POLL_CPU: Duration = Duration::from_micros(500);

/// Runs `future`, an evaluation, on the current runtime: on the calling
/// async worker, where nearly every evaluation ends within its first poll,
/// until a poll that leaves it running has computed for more than
/// [`COMPUTING_POLL_CPU`]; the rest then runs on a blocking thread.
///
/// Left on the worker, an evaluation that computes long would take a turn
/// of a millisecond between every step of the other requests queued there,
/// and a few of them would slow every request on the worker to tens of
/// milliseconds. On a blocking thread the operating system shares the CPU
/// between it and the workers instead, as between any threads. One that
/// waits stays on the worker, which costs nothing while it waits, rather
/// than holding a thread of its own.
///
/// Fails only when the evaluation panicked or the runtime is shutting down.
pub async fn run_evaluation<F>(future: F) -> Result<(F::Output, Lane), JoinError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Box::pin(future);
    let on_worker = std::future::poll_fn(|context| {
        let started = thread_cpu_time();
        let poll = future.as_mut().poll(context);
        let computed = thread_cpu_time().saturating_sub(started);
        match poll {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending if computed > COMPUTING_POLL_CPU => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    if let Some(output) = on_worker {
        return Ok((output, Lane::Worker));
    }
    let runtime = tokio::runtime::Handle::current();
    let output = tokio::task::spawn_blocking(move || runtime.block_on(future)).await?;
    Ok((output, Lane::Blocking))
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
        let (answer, lane) = run_evaluation(async { 7 }).await.unwrap();
        assert_eq!((answer, lane), (7, Lane::Worker));
    }

    /// Before, an evaluation that yielded stayed on its worker, so that the
    /// computing it did between yields held up every other task there; the
    /// test runtime has a single worker.
    #[tokio::test]
    async fn an_evaluation_that_computes_past_a_slice_leaves_the_worker() {
        let computes_long = async {
            burn_cpu(Duration::from_millis(2));
            tokio::task::yield_now().await;
            burn_cpu(Duration::from_millis(400));
        };
        let started = Instant::now();
        let evaluation = tokio::spawn(run_evaluation(computes_long));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let other_task_resumed_after = started.elapsed();
        let (_, lane) = evaluation.await.unwrap().unwrap();
        assert_eq!(lane, Lane::Blocking);
        assert!(
            other_task_resumed_after < Duration::from_millis(400),
            "the worker was held for {other_task_resumed_after:?}"
        );
    }

    /// Before, every evaluation that waited took a blocking thread of its
    /// own: a burst of sleeping rules made hundreds of threads.
    #[tokio::test]
    async fn an_evaluation_that_waits_stays_on_the_worker() {
        let waits = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tokio::task::yield_now().await;
            7
        };
        let (answer, lane) = run_evaluation(waits).await.unwrap();
        assert_eq!((answer, lane), (7, Lane::Worker));
    }

    #[tokio::test]
    async fn a_panic_on_the_blocking_thread_is_an_error_not_a_crash() {
        let panics = async {
            burn_cpu(Duration::from_millis(2));
            tokio::task::yield_now().await;
            panic!("the evaluation panicked");
        };
        let error = run_evaluation(panics).await.unwrap_err();
        assert!(error.is_panic());
    }
}

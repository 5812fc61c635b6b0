//! Waiting for the cloud: poll fast first and back off, report what is awaited (status,
//! elapsed), end at a deadline, and name the cause when giving up.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::report::{Event, Reporter};

/// What one poll saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll<T> {
    /// Done, with the result.
    Ready(T),
    /// Not yet; the status to show (e.g. `"creating"`).
    Pending(String),
    /// It will never get there; the cause (stopped-task reason, service event, …).
    Failed(String),
}

/// Poll intervals: `first`, then multiplied by `factor` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub factor: f64,
}

impl Default for Backoff {
    /// 50 ms, ×1.6, at most 10 s: an emulator answers in milliseconds, AWS in minutes.
    fn default() -> Self {
        Self {
            first: Duration::from_millis(50),
            max: Duration::from_secs(10),
            factor: 1.6,
        }
    }
}

impl Backoff {
    fn next(&self, current: Duration) -> Duration {
        current.mul_f64(self.factor).min(self.max)
    }
}

/// A wait: what for (said in every report and error) and how long at most.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitFor {
    pub what: String,
    pub timeout: Duration,
    pub backoff: Backoff,
}

impl WaitFor {
    pub fn new(what: impl Into<String>, timeout: Duration) -> Self {
        Self {
            what: what.into(),
            timeout,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

/// Why a wait ended without its result.
#[derive(Debug, thiserror::Error)]
pub enum WaitError<E: std::error::Error + 'static> {
    #[error("gave up waiting for {what} after {elapsed:?}; last status: {last_status}")]
    TimedOut {
        what: String,
        elapsed: Duration,
        last_status: String,
    },
    #[error("{what} failed after {elapsed:?}: {cause}")]
    Failed {
        what: String,
        elapsed: Duration,
        cause: String,
    },
    #[error("checking on {what}")]
    Check {
        what: String,
        #[source]
        source: E,
    },
}

/// Polls `check` until it is ready, fails, errors, or the deadline passes. Every pending poll
/// is reported with its status and the elapsed time. Uses tokio's clock, so tests run it
/// with `start_paused` and no real sleeping.
pub async fn wait_for<T, E, F, Fut>(
    wait: &WaitFor,
    reporter: &dyn Reporter,
    mut check: F,
) -> Result<T, WaitError<E>>
where
    E: std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    let start = Instant::now();
    let deadline = start + wait.timeout;
    let mut interval = wait.backoff.first;
    loop {
        let outcome = check().await.map_err(|source| WaitError::Check {
            what: wait.what.clone(),
            source,
        })?;
        let elapsed = start.elapsed();
        match outcome {
            Poll::Ready(value) => {
                reporter.report(Event::Waited {
                    what: wait.what.clone(),
                    elapsed,
                });
                return Ok(value);
            }
            Poll::Failed(cause) => {
                return Err(WaitError::Failed {
                    what: wait.what.clone(),
                    elapsed,
                    cause,
                })
            }
            Poll::Pending(status) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(WaitError::TimedOut {
                        what: wait.what.clone(),
                        elapsed,
                        last_status: status,
                    });
                }
                reporter.report(Event::Waiting {
                    what: wait.what.clone(),
                    status,
                    elapsed,
                });
                // Never sleep past the deadline: the last poll happens at it.
                tokio::time::sleep(interval.min(deadline - now)).await;
                interval = wait.backoff.next(interval);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::report::RecordingReporter;

    #[tokio::test(start_paused = true)]
    async fn returns_when_ready_and_reports_progress() {
        let reporter = RecordingReporter::default();
        let mut polls = 0;
        let wait = WaitFor::new("log group", Duration::from_secs(60));
        let value = wait_for(&wait, &reporter, || {
            polls += 1;
            let n = polls;
            async move {
                Ok::<_, Infallible>(if n < 3 {
                    Poll::Pending(format!("poll {n}"))
                } else {
                    Poll::Ready(n)
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
        let events = reporter.events();
        assert_eq!(events.len(), 3);
        assert!(matches!(&events[1], Event::Waiting { status, .. } if status == "poll 2"));
        assert!(matches!(&events[2], Event::Waited { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_and_gives_up_at_the_deadline_with_the_last_status() {
        let start = Instant::now();
        let mut polls = 0u32;
        let wait = WaitFor::new("cluster", Duration::from_secs(30));
        let err = wait_for(&wait, &crate::NullReporter, || {
            polls += 1;
            async { Ok::<Poll<()>, Infallible>(Poll::Pending("creating".into())) }
        })
        .await
        .unwrap_err();
        match err {
            WaitError::TimedOut {
                what, last_status, ..
            } => {
                assert_eq!(what, "cluster");
                assert_eq!(last_status, "creating");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        // Backoff: far fewer polls than a fixed 50 ms interval would make (600).
        assert!(polls < 30, "polled {polls} times");
        assert!(polls > 5, "polled {polls} times");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_names_its_cause() {
        let wait = WaitFor::new("task", Duration::from_secs(30));
        let err = wait_for(&wait, &crate::NullReporter, || async {
            Ok::<Poll<()>, Infallible>(Poll::Failed("Essential container exited".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "task failed after 0ns: Essential container exited"
        );
    }
}

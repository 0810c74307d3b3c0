//! Sending one message within the delivery deadline: wait for a rate-limit slot, try, and on a
//! transient failure back off (exponential, with jitter) and try again; on a 429 wait the
//! service's retry-after. Whatever cannot be done before the deadline is given up at once, so
//! the webhook can answer Alertmanager 503 in time.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use super::NotifyError;
use super::ratelimit::{Bucket, RateLimiter};

/// Exponential backoff with "equal jitter": each delay is half the current step plus a random
/// part of the other half, so that receivers retrying the same outage do not march in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
    max: Duration,
    random: RandomState,
    n: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(4))
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            step: initial,
            max,
            random: RandomState::new(),
            n: 0,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        self.n += 1;
        // A random fraction in [0, 1) from the process' random hash keys: no extra dependency.
        let fraction = (self.random.hash_one(self.n) >> 11) as f64 / (1u64 << 53) as f64;
        let half = self.step / 2;
        let delay = half + half.mul_f64(fraction);
        self.step = (self.step * 2).min(self.max);
        delay
    }
}

/// How a message is paced: its destination's own bucket (which a 429 holds back) and the
/// buckets it shares with other destinations (a bot's overall limit).
#[derive(Clone, Debug)]
pub struct Pacing {
    pub own: Bucket,
    pub shared: Vec<Bucket>,
}

impl Pacing {
    pub fn new(own: Bucket) -> Pacing {
        Pacing {
            own,
            shared: Vec::new(),
        }
    }
    fn all(&self) -> Vec<Bucket> {
        let mut all = Vec::with_capacity(1 + self.shared.len());
        all.push(self.own.clone());
        all.extend(self.shared.iter().cloned());
        all
    }
}

/// What happened on the way, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Another attempt starts after a transient failure (`reason`).
    Retrying { reason: String },
    /// A 429; the next attempt waits `retry_after`.
    RateLimited { retry_after: Duration },
}

/// Sends with `attempt` until it succeeds, fails permanently, or the deadline leaves no room for
/// another try. The error of a deadline is `Transient` and names the last failure.
pub async fn send<F, Fut>(
    limiter: &RateLimiter,
    pacing: &Pacing,
    deadline: Instant,
    backoff: &mut Backoff,
    mut attempt: F,
    mut observe: impl FnMut(Event),
) -> Result<(), NotifyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), NotifyError>>,
{
    let buckets = pacing.all();
    // What to answer when time runs out: the last failure says more than the limiter's refusal.
    let mut last: Option<NotifyError> = None;
    loop {
        let now = Instant::now();
        let slot = match limiter.reserve(&buckets, now, deadline) {
            Ok(slot) => slot,
            Err(late) => {
                return Err(last.unwrap_or_else(|| {
                    NotifyError::Transient(format!(
                        "rate limit: the next free slot is {:.1} s away, past the delivery deadline",
                        (late.earliest - now).as_secs_f64()
                    ))
                }));
            }
        };
        tokio::time::sleep_until(slot.into()).await;
        limiter.sent_at(&buckets, slot, Instant::now());
        if let Some(NotifyError::Transient(reason)) = &last {
            observe(Event::Retrying {
                reason: reason.clone(),
            });
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = tokio::time::timeout(remaining, attempt())
            .await
            .unwrap_or_else(|_| {
                Err(NotifyError::Transient(
                    "no answer before the delivery deadline".into(),
                ))
            });
        let err = match result {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        match &err {
            NotifyError::Permanent { .. } => return Err(err),
            NotifyError::RateLimited { retry_after, .. } => {
                let until = Instant::now() + *retry_after;
                limiter.hold_until(&pacing.own, until);
                observe(Event::RateLimited {
                    retry_after: *retry_after,
                });
                if until > deadline {
                    return Err(NotifyError::Transient(format!(
                        "{err}, past the delivery deadline"
                    )));
                }
            }
            NotifyError::Transient(reason) => {
                let delay = backoff.next_delay();
                if Instant::now() + delay >= deadline {
                    return Err(err);
                }
                tracing::debug!(%reason, ?delay, "backing off before the next attempt");
                tokio::time::sleep(delay).await;
            }
        }
        last = Some(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::ratelimit::Rate;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        let steps = [100u64, 200, 400, 800, 800, 800];
        for (d, step) in delays.iter().zip(steps) {
            let step = Duration::from_millis(step);
            assert!(
                *d >= step / 2 && *d <= step,
                "{d:?} outside [{:?}, {step:?}]",
                step / 2
            );
        }
        // Jitter: two backoffs do not produce the same sequence.
        let mut c = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let other: Vec<Duration> = (0..6).map(|_| c.next_delay()).collect();
        assert_ne!(delays, other);
    }

    fn pacing() -> Pacing {
        Pacing::new(Bucket::new("test", Rate::per_second(1000)))
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(40));
        let r = send(
            &RateLimiter::new(),
            &pacing(),
            deadline,
            &mut backoff,
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(NotifyError::Transient("HTTP 502".into()))
                } else {
                    Ok(())
                }
            },
            |e| events.push(e),
        )
        .await;
        assert_eq!(r, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[0], Event::Retrying { reason, .. } if reason == "HTTP 502"));
    }

    #[tokio::test]
    async fn a_permanent_failure_is_tried_once() {
        let calls = AtomicU32::new(0);
        let r = send(
            &RateLimiter::new(),
            &pacing(),
            Instant::now() + Duration::from_secs(30),
            &mut Backoff::default(),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(NotifyError::permanent("chat not found"))
            },
            |_| {},
        )
        .await;
        assert_eq!(r, Err(NotifyError::permanent("chat not found")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_retry_after_past_the_deadline_gives_up_at_once() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let r = send(
            &RateLimiter::new(),
            &pacing(),
            started + Duration::from_secs(5),
            &mut Backoff::default(),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(NotifyError::RateLimited {
                    retry_after: Duration::from_secs(60),
                    reason: "HTTP 429: retry after 60 s".into(),
                })
            },
            |_| {},
        )
        .await;
        assert_eq!(
            r,
            Err(NotifyError::Transient(
                "rate limited (HTTP 429: retry after 60 s), past the delivery deadline".into()
            ))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "it did not wait"
        );
    }

    #[tokio::test]
    async fn a_hung_attempt_ends_at_the_deadline() {
        let r = send(
            &RateLimiter::new(),
            &pacing(),
            Instant::now() + Duration::from_millis(200),
            &mut Backoff::default(),
            std::future::pending::<Result<(), NotifyError>>,
            |_| {},
        )
        .await;
        assert_eq!(
            r,
            Err(NotifyError::Transient(
                "no answer before the delivery deadline".into()
            ))
        );
    }
}

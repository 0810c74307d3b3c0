//! Sending one message within the delivery deadline: wait for a rate-limit slot, try, and on a
//! transient failure back off (exponential, with jitter) and try again; on a 429 wait the
//! service's retry-after. Whatever cannot be done before the deadline is given up at once, so
//! the webhook can answer Alertmanager 503 in time — except an attempt already waiting for its
//! answer: that one is handed back ([`Failure::InFlight`]), because the message may have
//! arrived, and only its answer can say so.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
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
    /// Every bucket a message counts against, its own first.
    pub fn all(&self) -> Vec<Bucket> {
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

/// Why [`send`] stopped without a success.
pub enum Failure<Fut> {
    /// Nothing is on its way: the error says why. A deadline is `Transient` and names the last
    /// failure.
    Failed(NotifyError),
    /// The deadline came while this attempt was waiting for its answer. The service may already
    /// have delivered the message: the caller decides whether to await the answer or drop it.
    InFlight(Pin<Box<Fut>>),
}

impl<Fut> Failure<Fut> {
    /// The error to report when the caller does not wait for an attempt in flight.
    pub fn into_error(self) -> NotifyError {
        match self {
            Failure::Failed(e) => e,
            Failure::InFlight(_) => {
                NotifyError::Transient("no answer before the delivery deadline".into())
            }
        }
    }
}

/// Sends with `attempt` until it succeeds, fails permanently, or the deadline leaves no room for
/// another try.
pub async fn send<F, Fut>(
    limiter: &RateLimiter,
    pacing: &Pacing,
    deadline: Instant,
    backoff: &mut Backoff,
    mut attempt: F,
    mut observe: impl FnMut(Event),
) -> Result<(), Failure<Fut>>
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
                return Err(Failure::Failed(last.unwrap_or_else(|| {
                    NotifyError::Transient(format!(
                        "rate limit: the next free slot is {:.1} s away, past the delivery deadline",
                        (late.earliest - now).as_secs_f64()
                    ))
                })));
            }
        };
        tokio::time::sleep_until(slot.into()).await;
        limiter.sent_at(&buckets, slot, Instant::now());
        if Instant::now() >= deadline {
            // Woken too late to start: nothing went out.
            return Err(Failure::Failed(last.unwrap_or_else(|| {
                NotifyError::Transient("no time left before the delivery deadline".into())
            })));
        }
        if let Some(NotifyError::Transient(reason)) = &last {
            observe(Event::Retrying {
                reason: reason.clone(),
            });
        }
        let mut in_flight = Box::pin(attempt());
        let Ok(result) = tokio::time::timeout_at(deadline.into(), in_flight.as_mut()).await else {
            return Err(Failure::InFlight(in_flight));
        };
        let err = match result {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        match &err {
            // Refusals are not retried here: the same request gets the same answer until an
            // operator or a release changes something; Alertmanager's retries wait for that.
            NotifyError::Refused(_) | NotifyError::Bug(_) => return Err(Failure::Failed(err)),
            NotifyError::RateLimited { retry_after, .. } => {
                let until = Instant::now() + *retry_after;
                limiter.hold_until(&pacing.own, until);
                observe(Event::RateLimited {
                    retry_after: *retry_after,
                });
                if until > deadline {
                    return Err(Failure::Failed(NotifyError::Transient(format!(
                        "{err}, past the delivery deadline"
                    ))));
                }
            }
            NotifyError::Transient(reason) => {
                let delay = backoff.next_delay();
                if Instant::now() + delay >= deadline {
                    return Err(Failure::Failed(err));
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
        .await
        .map_err(Failure::into_error);
        assert_eq!(r, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[0], Event::Retrying { reason, .. } if reason == "HTTP 502"));
    }

    #[tokio::test]
    async fn a_refusal_is_tried_once() {
        let calls = AtomicU32::new(0);
        let r = send(
            &RateLimiter::new(),
            &pacing(),
            Instant::now() + Duration::from_secs(30),
            &mut Backoff::default(),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(NotifyError::Refused("chat not found".into()))
            },
            |_| {},
        )
        .await
        .map_err(Failure::into_error);
        assert_eq!(r, Err(NotifyError::Refused("chat not found".into())));
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
        .await
        .map_err(Failure::into_error);
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
    async fn an_attempt_awaiting_its_answer_at_the_deadline_is_handed_back() {
        let r = send(
            &RateLimiter::new(),
            &pacing(),
            Instant::now() + Duration::from_millis(100),
            &mut Backoff::default(),
            || async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            },
            |_| {},
        )
        .await;
        let Err(Failure::InFlight(attempt)) = r else {
            panic!("the attempt was not handed back");
        };
        assert_eq!(attempt.await, Ok(()), "its answer is still there to await");
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
        .await
        .map_err(Failure::into_error);
        assert_eq!(
            r,
            Err(NotifyError::Transient(
                "no answer before the delivery deadline".into()
            ))
        );
    }
}

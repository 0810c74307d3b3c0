//! Send-rate limits of the chat services, kept on our side so that a burst of alerts is paced
//! instead of being answered with 429s.
//!
//! Each limit is a bucket run by GCRA (the "generic cell rate algorithm": one timestamp per bucket,
//! the theoretical arrival time of the next message). A message counts against several buckets at
//! once (Telegram: the whole bot, the chat, and for groups the 20/min group limit); it may go at
//! the earliest instant all of them allow. Unlike a queue (teloxide's `Throttle`), a reservation
//! says *when* a message may go before waiting, so a caller with a deadline can give up at once
//! and answer Alertmanager 503 instead of sleeping past it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: `burst` messages at once, then one every `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub interval: Duration,
    pub burst: u32,
}

impl Rate {
    /// `n` messages a second, evenly spaced: never more than `n` in any one-second window.
    pub const fn per_second(n: u32) -> Rate {
        Rate {
            // Rounded up, so that n intervals never fit in less than a second.
            interval: Duration::from_nanos(1_000_000_000_u64.div_ceil(n as u64)),
            burst: 1,
        }
    }
    /// A burst of `burst`, then one message every `interval`. In any window of length `w` at most
    /// `burst + w / interval` messages go (strictly less when `w` is not a multiple).
    pub const fn with_burst(interval: Duration, burst: u32) -> Rate {
        Rate { interval, burst }
    }
    /// How far ahead of the steady pace a bucket may run.
    fn tolerance(&self) -> Duration {
        self.interval * self.burst.saturating_sub(1)
    }
}

/// One limit a message counts against, e.g. `("telegram chat -100123", 1/s)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    pub rate: Rate,
}

impl Bucket {
    pub fn new(key: impl Into<String>, rate: Rate) -> Bucket {
        Bucket {
            key: key.into(),
            rate,
        }
    }
}

/// The published limits (Telegram Bot API FAQ, Slack incoming webhooks docs).
pub mod limits {
    use super::Rate;
    use std::time::Duration;
    /// "avoid sending more than one message per second" in one chat.
    pub const TELEGRAM_CHAT: Rate = Rate::per_second(1);
    /// "bots are not able to send more than 20 messages per minute to the same group": a burst of
    /// 11, then one every 6 s, which never puts more than 20 into any 60 s window yet lets one
    /// notification split into ~10 messages go out within the delivery deadline.
    pub const TELEGRAM_GROUP: Rate = Rate::with_burst(Duration::from_secs(6), 11);
    /// "no more than 30 messages per second" overall for one bot.
    pub const TELEGRAM_BOT: Rate = Rate::per_second(30);
    /// "1 message per second" per incoming webhook.
    pub const SLACK_WEBHOOK: Rate = Rate::per_second(1);
}

/// The buckets shared by every sender of one process. Keys are the configured destinations, so the
/// map stays as small as the configuration.
#[derive(Debug, Default)]
pub struct RateLimiter {
    /// Per key: the theoretical arrival time of the next message.
    tat: Mutex<HashMap<String, Instant>>,
}

/// The slot a message may not take: the earliest instant it could go lies past the caller's
/// deadline. Nothing was reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLate {
    pub earliest: Instant,
}

impl RateLimiter {
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// Reserves the earliest slot at or after `now` that every bucket allows, if it is no later
    /// than `deadline`. The caller then waits until the returned instant and sends.
    pub fn reserve(
        &self,
        buckets: &[Bucket],
        now: Instant,
        deadline: Instant,
    ) -> Result<Instant, TooLate> {
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let slot = earliest(&tat, buckets, now);
        if slot > deadline {
            return Err(TooLate { earliest: slot });
        }
        for b in buckets {
            let t = tat.entry(b.key.clone()).or_insert(slot);
            *t = (*t).max(slot) + b.rate.interval;
        }
        Ok(slot)
    }

    /// The earliest instant at or after `now` that every bucket allows, reserving nothing: how
    /// long a message would wait for its slot.
    pub fn earliest(&self, buckets: &[Bucket], now: Instant) -> Instant {
        let tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        earliest(&tat, buckets, now)
    }

    /// A message reserved for `slot` actually left at `sent` (the task woke late, the machine was
    /// busy): the next message of each bucket goes no sooner than one interval after `sent`, so
    /// our own lateness never shortens the gap the service sees.
    pub fn sent_at(&self, buckets: &[Bucket], slot: Instant, sent: Instant) {
        if sent <= slot {
            return;
        }
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        for b in buckets {
            let floor = sent + b.rate.interval;
            let t = tat.entry(b.key.clone()).or_insert(floor);
            *t = (*t).max(floor);
        }
    }

    /// Holds back every message of `bucket` until `until` (the service answered 429 with a
    /// retry-after), so that other senders to the same destination wait too.
    pub fn hold_until(&self, bucket: &Bucket, until: Instant) {
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let floor = until + bucket.rate.tolerance();
        let t = tat.entry(bucket.key.clone()).or_insert(floor);
        *t = (*t).max(floor);
    }
}

fn earliest(tat: &HashMap<String, Instant>, buckets: &[Bucket], now: Instant) -> Instant {
    let mut slot = now;
    for b in buckets {
        if let Some(&t) = tat.get(&b.key) {
            let earliest = t.checked_sub(b.rate.tolerance()).unwrap_or(now);
            slot = slot.max(earliest);
        }
    }
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn chat() -> Bucket {
        Bucket::new("chat", limits::TELEGRAM_CHAT)
    }

    #[test]
    fn one_message_a_second_per_chat() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        let far = t0 + 100 * S;
        assert_eq!(l.reserve(&[chat()], t0, far), Ok(t0));
        assert_eq!(l.reserve(&[chat()], t0, far), Ok(t0 + S));
        assert_eq!(l.reserve(&[chat()], t0, far), Ok(t0 + 2 * S));
        // A message long after the last one goes at once.
        assert_eq!(l.reserve(&[chat()], t0 + 10 * S, far), Ok(t0 + 10 * S));
    }

    #[test]
    fn a_group_gets_at_most_twenty_a_minute_and_one_a_second() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        let far = t0 + 1000 * S;
        let group = [
            Bucket::new("chat -1", limits::TELEGRAM_CHAT),
            Bucket::new("group -1", limits::TELEGRAM_GROUP),
        ];
        let slots: Vec<Instant> = (0..60)
            .map(|_| l.reserve(&group, t0, far).unwrap())
            .collect();
        // The first ten go one a second (the chat limit), so a split notification is quick.
        for (i, s) in slots[..10].iter().enumerate() {
            assert_eq!(*s, t0 + i as u32 * S);
        }
        for (i, w) in slots.windows(2).enumerate() {
            assert!(
                w[1] - w[0] >= S,
                "messages {i} and {} closer than 1 s",
                i + 1
            );
        }
        // No 60 s window holds more than 20 messages.
        for (i, s) in slots.iter().enumerate() {
            let in_window = slots[i..].iter().take_while(|t| **t < *s + 60 * S).count();
            assert!(
                in_window <= 20,
                "{in_window} messages in the minute from message {i}"
            );
        }
    }

    #[test]
    fn the_bot_wide_limit_spans_chats() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        let far = t0 + 100 * S;
        let bot = Bucket::new("bot", limits::TELEGRAM_BOT);
        // 31 chats, one message each, all at once: the bot limit spaces them 1/30 s apart.
        let slots: Vec<Instant> = (0..31)
            .map(|i| {
                let b = [
                    Bucket::new(format!("chat {i}"), limits::TELEGRAM_CHAT),
                    bot.clone(),
                ];
                l.reserve(&b, t0, far).unwrap()
            })
            .collect();
        assert_eq!(slots[0], t0);
        assert!(
            slots[30] >= t0 + S,
            "the 31st message must not go within the first second"
        );
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], limits::TELEGRAM_BOT.interval);
        }
    }

    #[test]
    fn a_slot_past_the_deadline_is_refused_and_not_reserved() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        assert_eq!(l.reserve(&[chat()], t0, t0), Ok(t0));
        let err = l.reserve(&[chat()], t0, t0 + S / 2).unwrap_err();
        assert_eq!(err.earliest, t0 + S);
        // The refusal took nothing: the next caller with time to spare gets the same slot.
        assert_eq!(l.reserve(&[chat()], t0, t0 + 5 * S), Ok(t0 + S));
    }

    #[test]
    fn the_earliest_slot_is_told_without_reserving_it() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        assert_eq!(l.earliest(&[chat()], t0), t0);
        assert_eq!(l.reserve(&[chat()], t0, t0), Ok(t0));
        assert_eq!(l.earliest(&[chat()], t0), t0 + S);
        assert_eq!(l.earliest(&[chat()], t0), t0 + S, "nothing was reserved");
        assert_eq!(l.reserve(&[chat()], t0, t0 + 5 * S), Ok(t0 + S));
    }

    #[test]
    fn a_429_holds_the_bucket() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        l.hold_until(&chat(), t0 + 7 * S);
        assert_eq!(l.reserve(&[chat()], t0, t0 + 60 * S), Ok(t0 + 7 * S));
        assert_eq!(l.reserve(&[chat()], t0, t0 + 60 * S), Ok(t0 + 8 * S));
    }

    #[test]
    fn a_message_that_left_late_pushes_the_next_one_back() {
        let l = RateLimiter::new();
        let t0 = Instant::now();
        let late = Duration::from_millis(300);
        assert_eq!(l.reserve(&[chat()], t0, t0 + 60 * S), Ok(t0));
        l.sent_at(&[chat()], t0, t0 + late);
        assert_eq!(l.reserve(&[chat()], t0, t0 + 60 * S), Ok(t0 + S + late));
        // On time: the schedule stands.
        l.sent_at(&[chat()], t0 + S + late, t0 + S + late);
        assert_eq!(l.reserve(&[chat()], t0, t0 + 60 * S), Ok(t0 + 2 * S + late));
    }
}

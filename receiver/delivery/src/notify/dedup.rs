//! Which alerts each destination already received, so that Alertmanager's retry of a partly
//! delivered notification, or the same notification from a second Alertmanager of a cluster,
//! reaches no one twice.
//!
//! An entry is one alert as delivered to one destination: (destination, groupKey, alert status,
//! fingerprint, startsAt, endsAt). A resolved alert differs from its firing self in status and
//! endsAt, so the resolved message is never taken for a duplicate.
//!
//! The window: a reminder (`repeat_interval`) repeats the very same alerts, so it cannot be told
//! from a retry by its content, only by its time. The window is each notification's own: the
//! webhook URL that gen-config writes carries it (`?dedup_window=5m15s`, computed from the
//! `group_interval` in the same file, which also refuses a `repeat_interval` not longer), so the
//! two cannot drift apart. Without it, [`vpsmon_common::webhook::default_dedup_window`].
//!
//! Memory is bounded twice: an entry is forgotten when its window has passed, and when more
//! than `capacity` entries are held the oldest recorded go first. An entry costs about 40 bytes:
//! a 64-bit hash of the key (random per process, so nobody can aim for a collision) and a
//! 32-bit expiry.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default cap: ~2 MB, the alerts of a busy hour for a fleet of hundreds of servers.
pub const DEFAULT_CAPACITY: usize = 50_000;

/// A recorded delivery, as a hash. Make one with [`Dedup::key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(u64);

/// The window a webhook asked for in its query string (`dedup_window=5m15s`): `None` when it
/// did not. Anything else in the query, or a window that does not parse, is an error that names
/// it: a typo must not silently fall back to the default window.
pub fn window_from_query(query: Option<&str>) -> Result<Option<Duration>, String> {
    let param = vpsmon_common::webhook::DEDUP_WINDOW_PARAM;
    let mut window = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != param {
            return Err(format!(
                "unknown query parameter {name:?} in the webhook URL: the only one is {param}"
            ));
        }
        let d = humantime::parse_duration(value)
            .ok()
            .filter(|d| !d.is_zero() && *d <= vpsmon_common::webhook::DEDUP_WINDOW_MAX)
            .ok_or_else(|| {
                format!(
                    "invalid {param}={value:?} in the webhook URL: expected a duration from 1s to 24h, like 5m15s"
                )
            })?;
        window = Some(d);
    }
    Ok(window)
}

#[derive(Debug)]
pub struct Dedup {
    ttl: Duration,
    capacity: usize,
    hasher: RandomState,
    /// Expiries are whole seconds since `epoch`: a second's precision is plenty for a window of
    /// minutes, and it halves the entry.
    epoch: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    expires: HashMap<Key, u32>,
    /// Recording order (and expiry order while every notification has the same window).
    order: VecDeque<(u32, Key)>,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup::new(
            vpsmon_common::webhook::default_dedup_window(),
            DEFAULT_CAPACITY,
        )
    }
}

impl Dedup {
    /// `ttl`: the window of a notification that names none.
    pub fn new(ttl: Duration, capacity: usize) -> Dedup {
        Dedup {
            ttl,
            capacity: capacity.max(1),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The key of anything hashable, e.g. `(destination, group_key, status, fingerprint, ...)`.
    pub fn key(&self, parts: impl Hash) -> Key {
        Key(self.hasher.hash_one(parts))
    }

    fn secs(&self, at: Instant) -> u32 {
        let s = at.saturating_duration_since(self.epoch).as_secs();
        u32::try_from(s).unwrap_or(u32::MAX)
    }

    /// True if `key` was recorded less than `ttl` before `now`.
    pub fn contains(&self, key: Key, now: Instant) -> bool {
        let now = self.secs(now);
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expires.get(&key).is_some_and(|&exp| exp > now)
    }

    /// Records `keys` as delivered at `now`, for `window` (the default when `None`).
    pub fn record(
        &self,
        keys: impl IntoIterator<Item = Key>,
        now: Instant,
        window: Option<Duration>,
    ) {
        let now_s = self.secs(now);
        let exp = self.secs(now + window.unwrap_or(self.ttl)).max(now_s + 1);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            inner.expires.insert(key, exp);
            inner.order.push_back((exp, key));
        }
        inner.evict(now_s, self.capacity);
    }

    /// How many deliveries are remembered (for the metrics and tests).
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expires.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn evict(&mut self, now: u32, capacity: usize) {
        // An entry with a short window behind one with a long window waits for it to go: it is
        // already expired for `contains`, and the cap still bounds the memory.
        while let Some(&(exp, key)) = self.order.front() {
            if exp > now && self.expires.len() <= capacity {
                break;
            }
            self.order.pop_front();
            // A key recorded again later has a later expiry and a later place in `order`; only
            // its last record removes it.
            if self.expires.get(&key) == Some(&exp) {
                self.expires.remove(&key);
            }
        }
        // Re-recorded keys leave stale records behind; keep the queue from growing on them.
        if self.order.len() > 2 * capacity.max(self.expires.len()) {
            let expires = &self.expires;
            self.order
                .retain(|(exp, key)| expires.get(key) == Some(exp));
        }
        if self.expires.capacity() > 4 * self.expires.len().max(1024) {
            self.expires.shrink_to_fit();
            self.order.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn remembers_within_the_window_and_forgets_after() {
        let d = Dedup::new(60 * S, 100);
        let t0 = Instant::now();
        let k = d.key(("tg -1", "{}:{alertname=\"A\"}", "firing", "fp1"));
        assert!(!d.contains(k, t0));
        d.record([k], t0, None);
        assert!(d.contains(k, t0));
        assert!(d.contains(k, t0 + 59 * S));
        assert!(!d.contains(k, t0 + 61 * S));
        // Expired entries are dropped on the next record.
        d.record([d.key("other")], t0 + 61 * S, None);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn resolved_is_not_the_firing_alert() {
        let d = Dedup::new(60 * S, 100);
        let t0 = Instant::now();
        let firing = d.key(("tg -1", "g", "firing", "fp1", "2026-01-01T00:00:00Z", ""));
        let resolved = d.key((
            "tg -1",
            "g",
            "resolved",
            "fp1",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:05:00Z",
        ));
        d.record([firing], t0, None);
        assert!(!d.contains(resolved, t0));
    }

    #[test]
    fn the_cap_drops_the_oldest_first() {
        let d = Dedup::new(3600 * S, 3);
        let t0 = Instant::now();
        let keys: Vec<Key> = (0..5).map(|i| d.key(i)).collect();
        for (i, k) in keys.iter().enumerate() {
            d.record([*k], t0 + i as u32 * S, None);
        }
        assert_eq!(d.len(), 3);
        let now = t0 + 5 * S;
        assert!(!d.contains(keys[0], now));
        assert!(!d.contains(keys[1], now));
        assert!(keys[2..].iter().all(|k| d.contains(*k, now)));
    }

    #[test]
    fn re_recording_keeps_the_later_expiry() {
        let d = Dedup::new(10 * S, 100);
        let t0 = Instant::now();
        let k = d.key("a");
        d.record([k], t0, None);
        d.record([k], t0 + 5 * S, None);
        // The first record's expiry passes, the second still holds.
        d.record([d.key("b")], t0 + 11 * S, None);
        assert!(d.contains(k, t0 + 11 * S));
        assert!(!d.contains(k, t0 + 16 * S));
    }

    #[test]
    fn a_notification_s_own_window_wins_over_the_default() {
        let d = Dedup::new(3600 * S, 100);
        let t0 = Instant::now();
        let (short, long) = (d.key("short"), d.key("long"));
        d.record([long], t0, None);
        d.record([short], t0, Some(25 * S));
        assert!(d.contains(short, t0 + 24 * S));
        assert!(
            !d.contains(short, t0 + 26 * S),
            "a reminder after the window goes out"
        );
        assert!(d.contains(long, t0 + 26 * S));
    }

    #[test]
    fn the_window_comes_from_the_query_or_is_refused_by_name() {
        assert_eq!(window_from_query(None), Ok(None));
        assert_eq!(window_from_query(Some("")), Ok(None));
        assert_eq!(
            window_from_query(Some("dedup_window=5m15s")),
            Ok(Some(315 * S))
        );
        assert_eq!(
            window_from_query(Some("dedup_windw=5m")),
            Err("unknown query parameter \"dedup_windw\" in the webhook URL: the only one is dedup_window".into())
        );
        for bad in [
            "dedup_window=soon",
            "dedup_window=0s",
            "dedup_window=2d",
            "dedup_window",
        ] {
            let err = window_from_query(Some(bad)).unwrap_err();
            assert!(err.starts_with("invalid dedup_window="), "{bad}: {err}");
        }
    }

    #[test]
    fn memory_stays_bounded_under_churn() {
        let d = Dedup::new(3600 * S, 1000);
        let t0 = Instant::now();
        for i in 0..100_000u32 {
            d.record([d.key(i)], t0, None);
        }
        assert_eq!(d.len(), 1000);
        let inner = d.inner.lock().unwrap();
        assert!(inner.order.len() <= 2000);
        assert!(inner.expires.capacity() <= 4 * 1024);
    }
}

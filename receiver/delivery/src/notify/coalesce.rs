//! Storms across many Alertmanager groups (issue 18). gen-config groups alerts by
//! `[alertname, agent]`, so when 50 agents stop at once Alertmanager sends 50 notifications of
//! one alert each, and a Telegram group takes 20 messages a minute: one message each, they
//! cannot all arrive within a deadline. Notifications to one destination already wait their
//! turn (its lock, then its next send slot); here, whoever's turn it is looks at everyone
//! waiting, and when they hold more alerts between them than the destination's
//! `digest_threshold` (counting the alerts it got over the last minute too, when more than one
//! is waiting), the next slot carries them all, rendered as one notification: a digest when
//! they are more than the threshold, else their alerts in full, packed into few messages.
//!
//! - Below the threshold nothing changes: each notification goes on its own, in its turn, with
//!   its own silence buttons and charts.
//! - The one whose turn it is waits for the destination's next send slot before it decides —
//!   the time its message would wait anyway — so those who arrive meanwhile join the digest.
//! - A storm lasts while its backlog does: after a digest, each turn carries everyone waiting
//!   (fewer than the threshold too) until a turn finds its notification waiting alone, so the
//!   tail of a storm does not trickle out one message per slot.
//! - Nothing is lost: each webhook gets the fate of the messages that carried its alerts: 200
//!   once the service accepted them, their failure otherwise (503, and Alertmanager retries;
//!   de-duplication then sends only what is missing). The carried send runs under the earliest
//!   deadline among them, so no webhook is answered later than its own.
//! - Alerts the destination has already, or that another waiting copy brings too (two
//!   Alertmanagers of a cluster), are left out and counted as de-duplicated.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedMutexGuard, oneshot};

use super::{Dispatcher, FailKind, Fate, Pending, Target};
use crate::payload::{Kv, Notification, Status};

/// The notifications waiting for one destination, in the order they came.
#[derive(Default)]
pub(super) struct Waiting {
    queue: Mutex<VecDeque<Ticket>>,
    next_id: AtomicU64,
    /// A digest went, and no turn since found its notification waiting alone.
    storm: AtomicBool,
    /// When alerts went to the destination, and how many, over the last [`RECENT`].
    sent: Mutex<VecDeque<(Instant, usize)>>,
}

/// How far back alerts already sent count toward a storm: a group chat's limit is counted per
/// minute, and a storm that trickles in (Alertmanager flushes groups as Prometheus finds each
/// agent down) never has many notifications waiting at the same instant.
const RECENT: Duration = Duration::from_secs(60);

/// One notification waiting, and where to send its fate.
struct Ticket {
    id: u64,
    n: Notification,
    deadline: Instant,
    answer: oneshot::Sender<Fate>,
}

impl Waiting {
    fn join(&self, n: &Notification, deadline: Instant) -> (u64, oneshot::Receiver<Fate>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, fate) = oneshot::channel();
        self.lock().push_back(Ticket {
            id,
            n: n.clone(),
            deadline,
            answer,
        });
        (id, fate)
    }

    /// Takes ticket `id` out if it is still waiting (nobody is carrying it).
    fn withdraw(&self, id: u64) -> bool {
        let mut queue = self.lock();
        let before = queue.len();
        queue.retain(|t| t.id != id);
        queue.len() < before
    }

    fn take_all(&self) -> Vec<Ticket> {
        self.lock().drain(..).collect()
    }

    /// Puts tickets back at the front, in their order, for their own turn.
    fn put_back(&self, tickets: Vec<Ticket>) {
        let mut queue = self.lock();
        for t in tickets.into_iter().rev() {
            queue.push_front(t);
        }
    }

    /// Alerts sent over the last [`RECENT`] before `now`.
    fn recent(&self, now: Instant) -> usize {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        while sent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RECENT)
        {
            sent.pop_front();
        }
        sent.iter().map(|(_, n)| n).sum()
    }

    fn note_sent(&self, alerts: usize) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.push_back((Instant::now(), alerts));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Ticket>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fate of a notification whose carrier was dropped before it answered.
fn carrier_gone() -> Fate {
    Fate::Failed {
        kind: FailKind::Transient,
        reason: "the delivery carrying this notification was cancelled; the retry sends what did not arrive".into(),
    }
}

impl Dispatcher {
    /// Delivers `n` to `target` in its turn, together with the notifications waiting with it
    /// when they make a storm ([module docs](self)).
    pub(super) async fn deliver_coalesced(
        &self,
        target: &Arc<Target>,
        n: &Notification,
        deadline: Instant,
        threshold: usize,
    ) -> Fate {
        let (id, mut fate) = target.waiting.join(n, deadline);
        tokio::select! {
            biased;
            // Someone else's turn carried it.
            f = &mut fate => f.unwrap_or_else(|_| carrier_gone()),
            () = tokio::time::sleep_until(deadline.into()) => {
                if target.waiting.withdraw(id) {
                    self.still_busy(target)
                } else {
                    // Being carried, under a deadline no later than ours.
                    fate.await.unwrap_or_else(|_| carrier_gone())
                }
            }
            busy = Arc::clone(&target.busy).lock_owned() => {
                match fate.try_recv() {
                    Ok(f) => f,
                    Err(oneshot::error::TryRecvError::Closed) => carrier_gone(),
                    Err(oneshot::error::TryRecvError::Empty) => {
                        self.carry(target, busy, id, threshold).await;
                        fate.await.unwrap_or_else(|_| carrier_gone())
                    }
                }
            }
        }
    }

    /// Ticket `own`'s turn: sends it alone, or everyone waiting as one notification when they
    /// hold more than `threshold` alerts between them (or a storm is still going); answers
    /// every ticket it carries.
    async fn carry(
        &self,
        target: &Arc<Target>,
        busy: OwnedMutexGuard<()>,
        own: u64,
        threshold: usize,
    ) {
        let mut waiting = Vec::new();
        self.gather(target, &mut waiting);
        // Wait for the next send slot, as the first message would anyway: whoever comes
        // meanwhile goes out in it too. A slot past the deadline is left to the send to refuse.
        if let (Some(pacing), Some(deadline)) = (
            target.notify.pacing(),
            waiting.iter().map(|(t, _)| t.deadline).min(),
        ) {
            let slot = self.limiter.earliest(&pacing.all(), Instant::now());
            if slot > Instant::now() && slot <= deadline {
                tokio::time::sleep_until(slot.into()).await;
                self.gather(target, &mut waiting);
            }
        }
        let alerts: HashSet<_> = waiting
            .iter()
            .flat_map(|(_, p)| p.keys.iter().map(|k| k.0))
            .collect();
        let recent = target.waiting.recent(Instant::now());
        let storm = if alerts.len() > threshold {
            true
        } else if waiting.len() <= 1 {
            false
        } else {
            target.waiting.storm.load(Ordering::Relaxed) || recent + alerts.len() > threshold
        };
        target.waiting.storm.store(storm, Ordering::Relaxed);
        let (carried, rest): (Vec<_>, Vec<_>) = if storm {
            (waiting, Vec::new())
        } else {
            waiting.into_iter().partition(|(t, _)| t.id == own)
        };
        // The others wait for their own turn, unless their deadline has passed meanwhile (their
        // owner found them taken and awaits an answer).
        let now = Instant::now();
        let (late, rest): (Vec<_>, Vec<_>) = rest.into_iter().partition(|(t, _)| t.deadline <= now);
        for (t, _) in late {
            let _ = t.answer.send(self.still_busy(target));
        }
        target
            .waiting
            .put_back(rest.into_iter().map(|(t, _)| t).collect());
        let Some(deadline) = carried.iter().map(|(t, _)| t.deadline).min() else {
            return;
        };
        let (tickets, parts): (Vec<Ticket>, Vec<Pending>) = carried.into_iter().unzip();
        let pending = self.merge(target, parts);
        if tickets.len() > 1 {
            tracing::info!(
                destination = %target.label,
                notifications = tickets.len(),
                alerts = pending.n.alerts.len(),
                "notifications waiting for the same send slot go out together"
            );
        }
        let alerts = pending.n.alerts.len();
        let fate = self.send_pending(target, busy, pending, deadline).await;
        if matches!(fate, Fate::Done) {
            target.waiting.note_sent(alerts);
        }
        for t in tickets {
            let _ = t.answer.send(fate.clone());
        }
    }

    /// Takes every waiting ticket into `into` with what its destination still lacks; a ticket
    /// lacking nothing is answered at once.
    fn gather(&self, target: &Target, into: &mut Vec<(Ticket, Pending)>) {
        for t in target.waiting.take_all() {
            let pending = self.pending(target, &t.n);
            if pending.n.alerts.is_empty() {
                self.note_skipped(target, &pending);
                let _ = t.answer.send(Fate::Done);
            } else {
                into.push((t, pending));
            }
        }
    }

    /// One notification of all `parts`' alerts, each alert once; a single part as it is.
    fn merge(&self, target: &Target, mut parts: Vec<Pending>) -> Pending {
        let mut seen = HashSet::new();
        for p in &mut parts {
            let before = p.n.alerts.len();
            let (alerts, keys) = std::mem::take(&mut p.n.alerts)
                .into_iter()
                .zip(std::mem::take(&mut p.keys))
                .filter(|(_, k)| seen.insert(k.0))
                .unzip();
            (p.n.alerts, p.keys) = (alerts, keys);
            p.skipped += before - p.n.alerts.len();
            self.note_skipped(target, p);
        }
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let mut n = parts[0].n.clone();
        n.group_key = format!(
            "{} and {} more groups",
            parts[0].n.group_key,
            parts.len() - 1
        );
        n.truncated_alerts = parts.iter().map(|p| p.n.truncated_alerts).sum();
        let mut receivers: Vec<&str> = Vec::new();
        for p in &parts {
            if !receivers.contains(&p.n.receiver.as_str()) {
                receivers.push(&p.n.receiver);
            }
        }
        n.receiver = receivers.join(", ");
        // What the groups share is what the digest can say of all of them.
        for p in &parts[1..] {
            retain_common(&mut n.group_labels, &p.n.group_labels);
            retain_common(&mut n.common_labels, &p.n.common_labels);
            retain_common(&mut n.common_annotations, &p.n.common_annotations);
            if n.external_url.is_empty() {
                n.external_url = p.n.external_url.clone();
            }
        }
        let mut keys = Vec::new();
        n.alerts.clear();
        for p in parts {
            n.alerts.extend(p.n.alerts);
            keys.extend(p.keys);
        }
        n.status = if n.alerts.iter().any(|a| a.status == Status::Firing) {
            Status::Firing
        } else {
            Status::Resolved
        };
        // Each alert keeps its own notification's window, in `keys`.
        n.dedup_window = None;
        Pending {
            n,
            keys,
            skipped: 0,
        }
    }
}

/// Keeps the pairs of `kv` that `other` has too.
fn retain_common(kv: &mut Kv, other: &Kv) {
    kv.retain(|k, v| other.get(k) == Some(v));
}

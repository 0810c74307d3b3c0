//! The allowlist: only Telegram user ids in `ALLOWED_USERS` get answers. Anyone else gets
//! [`NOT_AUTHORIZED`] in a private chat, at most once an hour, and a log line with their id (so an
//! admin can add them), nothing else. In a group the bot stays silent to strangers: every reply
//! there would eat the group's 20 messages a minute, which the alerts need.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use teloxide::types::User;

use super::Context;

pub const NOT_AUTHORIZED: &str = "Not authorized.";

/// How long a refused user hears nothing more after one "Not authorized.".
pub const REFUSAL_QUIET: Duration = Duration::from_secs(3600);
/// Users remembered at once. A flood of new accounts past this gets no replies at all (silence
/// is the safe side) until the oldest expire.
const REFUSAL_CAPACITY: usize = 10_000;

/// When each refused user was last told (and logged).
#[derive(Debug, Default)]
pub struct Refusals {
    told: Mutex<HashMap<i64, Instant>>,
}

impl Refusals {
    /// Whether `user` is to be told (and logged) now: the first refusal in [`REFUSAL_QUIET`].
    fn first_in_a_while(&self, user: i64, now: Instant) -> bool {
        let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = told.get(&user)
            && now.duration_since(*at) < REFUSAL_QUIET
        {
            return false;
        }
        if told.len() >= REFUSAL_CAPACITY {
            told.retain(|_, at| now.duration_since(*at) < REFUSAL_QUIET);
            if told.len() >= REFUSAL_CAPACITY {
                return false;
            }
        }
        told.insert(user, now);
        true
    }
}

/// Whether `user` may use the bot.
pub fn allowed(ctx: &Context, user: &User) -> bool {
    ctx.allowed.contains(&(user.id.0 as i64))
}

/// What a refused `user` gets: `true` once in [`REFUSAL_QUIET`] (the caller then answers
/// [`NOT_AUTHORIZED`]); the refusal is logged that once too, so a stranger cannot flood the log
/// either.
pub fn refuse(ctx: &Context, user: &User) -> bool {
    let id = user.id.0 as i64;
    let tell = ctx.refusals.first_in_a_while(id, Instant::now());
    if tell {
        tracing::warn!(
            user_id = id,
            username = user.username.as_deref().unwrap_or(""),
            "Telegram bot: not authorized (add the id to ALLOWED_USERS to allow; \
             further refusals of this user are silent for an hour)"
        );
    }
    tell
}

/// How a user is named in silences and messages: `@username (id)`, else `First (id)`.
pub fn who(user: &User) -> String {
    match &user.username {
        Some(u) => format!("@{u} ({})", user.id.0),
        None => format!("{} ({})", user.first_name, user.id.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_refusal_an_hour_per_user_and_bounded_memory() {
        let r = Refusals::default();
        let t0 = Instant::now();
        assert!(r.first_in_a_while(7, t0));
        assert!(!r.first_in_a_while(7, t0 + Duration::from_secs(3599)));
        assert!(r.first_in_a_while(8, t0), "another user is told");
        assert!(r.first_in_a_while(7, t0 + REFUSAL_QUIET));
        for id in 0..REFUSAL_CAPACITY as i64 {
            r.first_in_a_while(1_000 + id, t0);
        }
        assert!(r.told.lock().unwrap().len() <= REFUSAL_CAPACITY);
        assert!(!r.first_in_a_while(99, t0), "full: silent");
        assert!(
            r.first_in_a_while(99, t0 + REFUSAL_QUIET * 2),
            "expired entries make room"
        );
    }
}

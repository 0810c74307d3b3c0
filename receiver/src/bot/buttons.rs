//! Silence buttons on alert messages: "Silence 1h / 4h / 24h" under a firing alert. The button
//! carries the alerts' fingerprints (`s:<duration>:<fp>[,<fp>…]`, within Telegram's 64 bytes),
//! so a press needs no state in the receiver: the alerts are looked up in Alertmanager, a
//! silence matching each firing one's labels is created, and the message is edited to say who
//! silenced it and until when. Alerts that have resolved since are said to be, and the buttons
//! go away.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions,
};

use crate::payload::{Notification, Status};
use crate::promapi::alertmanager::{AlertFilter, Matcher, NewSilence};

use super::{Context, alerts, auth};

/// The buttons' durations, as labelled.
pub const DURATIONS: [(&str, u64); 3] = [("1h", 3600), ("4h", 4 * 3600), ("24h", 24 * 3600)];
/// Telegram's limit on `callback_data`.
const DATA_LIMIT: usize = 64;
const PREFIX: &str = "s:";

/// Every alert, silenced and inhibited ones too: a press must tell "resolved" from "hidden".
const ANY_ACTIVE: AlertFilter = AlertFilter {
    active: true,
    silenced: true,
    inhibited: true,
};

/// The keyboard for a message about these firing alerts' fingerprints; `None` when there are
/// none, or too many to fit one button (the message then says to use /silence).
pub fn keyboard<S: AsRef<str>>(fingerprints: &[S]) -> Option<InlineKeyboardMarkup> {
    if fingerprints.is_empty() {
        return None;
    }
    let fps: Vec<&str> = fingerprints.iter().map(AsRef::as_ref).collect();
    let row: Option<Vec<InlineKeyboardButton>> = DURATIONS
        .iter()
        .map(|(label, _)| {
            let data = format!("{PREFIX}{label}:{}", fps.join(","));
            (data.len() <= DATA_LIMIT)
                .then(|| InlineKeyboardButton::callback(format!("Silence {label}"), data))
        })
        .collect();
    Some(InlineKeyboardMarkup::new([row?]))
}

/// The fingerprints of the firing alerts among `indices` of `n` (one message's alerts): what
/// its silence buttons silence. Empty for a resolved notification.
pub fn firing_fingerprints(n: &Notification, indices: &[usize]) -> Vec<String> {
    indices
        .iter()
        .filter_map(|i| n.alerts.get(*i))
        .filter(|a| a.status == Status::Firing && !a.fingerprint.is_empty())
        .map(|a| a.fingerprint.clone())
        .collect()
}

/// `(duration, fingerprints)` from a button's data.
pub fn parse(data: &str) -> Option<(Duration, Vec<String>)> {
    let rest = data.strip_prefix(PREFIX)?;
    let (label, fps) = rest.split_once(':')?;
    let secs = DURATIONS.iter().find(|(l, _)| *l == label)?.1;
    let fps: Vec<String> = fps.split(',').map(str::to_string).collect();
    (!fps.iter().any(String::is_empty)).then_some((Duration::from_secs(secs), fps))
}

/// Handles a button press: allowlist, then silence, edit, answer.
pub async fn press(bot: &Bot, ctx: &Context, q: CallbackQuery) {
    let answer =
        if !auth::allowed(ctx, &q.from) {
            auth::NOT_AUTHORIZED.to_string()
        } else {
            match q.data.as_deref().and_then(parse) {
                None => "This button is not one of this receiver's.".to_string(),
                Some((duration, fps)) => silence(bot, ctx, &q, duration, &fps)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "Telegram bot: silence button failed");
                        super::truncate(&e, 200)
                    }),
            }
        };
    if let Err(e) = bot.answer_callback_query(q.id).text(answer).await {
        tracing::warn!(error = %e, "Telegram bot: answerCallbackQuery failed");
    }
}

/// Creates the silences; `Ok` is the short answer shown to the presser.
async fn silence(
    bot: &Bot,
    ctx: &Context,
    q: &CallbackQuery,
    duration: Duration,
    fps: &[String],
) -> Result<String, String> {
    let all = ctx.am.alerts(ANY_ACTIVE).await.map_err(|e| e.to_string())?;
    let firing: Vec<_> = all
        .iter()
        .filter(|a| fps.contains(&a.fingerprint))
        .collect();
    let who = auth::who(&q.from);
    let msg = q.message.as_ref().and_then(|m| m.regular_message());
    if firing.is_empty() {
        // Resolved: say so, and take the buttons away.
        if let Some(m) = msg {
            let _ = bot.edit_message_reply_markup(m.chat.id, m.id).await;
        }
        return Ok("This alert has resolved: nothing to silence.".into());
    }
    let ends_at = Utc::now() + TimeDelta::from_std(duration).unwrap_or(TimeDelta::hours(1));
    for a in &firing {
        let silence = NewSilence {
            matchers: a.labels.iter().map(|(k, v)| Matcher::equal(k, v)).collect(),
            starts_at: Utc::now(),
            ends_at,
            created_by: format!("telegram {who}"),
            comment: format!("silenced from the alert message by {who}"),
        };
        let id = ctx
            .am
            .create_silence(&silence)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(silence = %id, alert = %a.alertname(), by = %who, "Telegram bot: silence button");
    }
    let note = format!("🔕 Silenced by {who} until {}", alerts::local(ctx, ends_at));
    if let Some(m) = msg {
        let text = format!("{}\n\n{note}", m.text().unwrap_or(""));
        // As the alert was sent: no preview card for its Prometheus link.
        let mut edit = bot
            .edit_message_text(m.chat.id, m.id, text)
            .link_preview_options(LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            });
        if let Some(e) = m.entities() {
            // The original formatting stays: appended text shifts no offset.
            edit = edit.entities(e.to_vec());
        }
        if let Err(e) = edit.await {
            tracing::warn!(error = %e, "Telegram bot: cannot edit the silenced alert's message");
        }
    }
    Ok(format!(
        "Silenced for {}.",
        humantime::format_duration(duration)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_data_round_trips_within_64_bytes() {
        let fps = ["0123456789abcdef", "fedcba9876543210", "00112233aabbccdd"];
        let k = keyboard(&fps).unwrap();
        let row = &k.inline_keyboard[0];
        assert_eq!(row.len(), 3);
        assert_eq!(row[2].text, "Silence 24h");
        let teloxide::types::InlineKeyboardButtonKind::CallbackData(d) = &row[2].kind else {
            panic!("{row:?}")
        };
        assert!(d.len() <= 64);
        let (dur, got) = parse(d).unwrap();
        assert_eq!(dur, Duration::from_secs(86400));
        assert_eq!(got, fps);
        assert!(keyboard(&[fps[0]; 4]).is_none(), "four do not fit");
        assert!(keyboard::<&str>(&[]).is_none());
        assert_eq!(parse("s:2h:abc"), None);
        assert_eq!(parse("x"), None);
    }
}

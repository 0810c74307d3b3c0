//! Silence buttons on alert messages: "Silence 1h / 4h / 24h" under a firing alert. A press
//! needs no state in the receiver: the button carries each alert's fingerprint and a tag, an
//! HMAC-SHA256 (keyed from the bot token) of that fingerprint with the alert's labels as the
//! message showed them (`s:<duration>:<fp+tag>[,<fp+tag>…]`, base64url, within Telegram's 64
//! bytes). On a press the alerts are looked up in Alertmanager, and an alert is silenced only
//! if it is still firing there with exactly the labels its tag was made for; then the message is
//! edited to say who silenced it and until when. So a message made from a forged webhook, whose
//! fingerprint names a real alert under other labels, silences nothing: "That alert is not
//! firing". Alerts that have resolved since are said to be, and the buttons go away.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions,
};
use vpsmon_common::Secret;

use crate::promapi::alertmanager::{AlertFilter, Matcher, NewSilence};
use vpsmon_receiver_delivery::payload::{Kv, Notification, Status};

use super::{Context, alerts, auth};

/// The buttons' durations, as labelled.
pub const DURATIONS: [(&str, u64); 3] = [("1h", 3600), ("4h", 4 * 3600), ("24h", 24 * 3600)];
/// Telegram's limit on `callback_data`.
const DATA_LIMIT: usize = 64;
const PREFIX: &str = "s:";
/// Bytes of the tag per alert: 40 bits, and a wrong guess costs an allowlisted user's press and
/// a log line. Fingerprint (8) + tag (5) is 18 base64url characters, so three alerts fit.
const TAG: usize = 5;
const FP: usize = 8;

/// Every alert, silenced and inhibited ones too: a press must tell "resolved" from "hidden".
const ANY_ACTIVE: AlertFilter = AlertFilter {
    active: true,
    silenced: true,
    inhibited: true,
};

/// A firing alert a message shows: what its button may silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Alertmanager's fingerprint, 16 hex digits.
    pub fingerprint: String,
    pub labels: Kv,
}

/// The key the buttons are signed with: HMAC-SHA256(bot token, a fixed label). It is the same
/// after a restart and in every replica with the same token, and a new token retires the old
/// buttons (a press then answers "not firing").
#[derive(Clone)]
pub struct ButtonKey([u8; 32]);

impl fmt::Debug for ButtonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ButtonKey(<redacted>)")
    }
}

impl ButtonKey {
    pub fn from_token(token: &Secret) -> ButtonKey {
        let mut mac = <Hmac<Sha256>>::new_from_slice(token.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"vpsmon silence buttons v1");
        ButtonKey(mac.finalize().into_bytes().into())
    }

    /// The tag of one alert: its fingerprint and every label, each length-prefixed so that no
    /// two label sets encode alike.
    fn tag(&self, fp: &[u8; FP], labels: &Kv) -> [u8; TAG] {
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(fp);
        for (k, v) in labels {
            for part in [k, v] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part.as_bytes());
            }
        }
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG];
        tag.copy_from_slice(&full[..TAG]);
        tag
    }
}

fn fp_bytes(fingerprint: &str) -> Option<[u8; FP]> {
    if fingerprint.len() != 2 * FP {
        return None;
    }
    let mut out = [0; FP];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(fingerprint.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The keyboard for a message about these firing alerts; `None` when there are none, when one
/// has no usable fingerprint, or when there are too many to fit one button (the message then
/// says to use /silence).
pub fn keyboard(key: &ButtonKey, targets: &[Target]) -> Option<InlineKeyboardMarkup> {
    if targets.is_empty() {
        return None;
    }
    let signed: Option<Vec<String>> = targets
        .iter()
        .map(|t| {
            let fp = fp_bytes(&t.fingerprint)?;
            let mut raw = fp.to_vec();
            raw.extend_from_slice(&key.tag(&fp, &t.labels));
            Some(B64.encode(raw))
        })
        .collect();
    let signed = signed?.join(",");
    let row: Option<Vec<InlineKeyboardButton>> = DURATIONS
        .iter()
        .map(|(label, _)| {
            let data = format!("{PREFIX}{label}:{signed}");
            (data.len() <= DATA_LIMIT)
                .then(|| InlineKeyboardButton::callback(format!("Silence {label}"), data))
        })
        .collect();
    Some(InlineKeyboardMarkup::new([row?]))
}

/// The firing alerts among `indices` of `n` (one message's alerts): what its silence buttons
/// silence. Empty for a resolved notification.
pub fn firing_targets(n: &Notification, indices: &[usize]) -> Vec<Target> {
    indices
        .iter()
        .filter_map(|i| n.alerts.get(*i))
        .filter(|a| a.status == Status::Firing && !a.fingerprint.is_empty())
        .map(|a| Target {
            fingerprint: a.fingerprint.clone(),
            labels: a.labels.clone(),
        })
        .collect()
}

/// A pressed button: the duration, and each alert's fingerprint (hex) with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pressed {
    pub duration: Duration,
    alerts: Vec<(String, [u8; TAG])>,
}

impl Pressed {
    /// The fingerprints the button names, as Alertmanager writes them.
    pub fn fingerprints(&self) -> Vec<String> {
        self.alerts.iter().map(|(fp, _)| fp.clone()).collect()
    }
}

/// A button's data, or `None` if it is not one this receiver makes.
pub fn parse(data: &str) -> Option<Pressed> {
    let rest = data.strip_prefix(PREFIX)?;
    let (label, signed) = rest.split_once(':')?;
    let secs = DURATIONS.iter().find(|(l, _)| *l == label)?.1;
    let alerts = signed
        .split(',')
        .map(|one| {
            let raw = B64.decode(one).ok()?;
            (raw.len() == FP + TAG).then(|| {
                let fp: String = raw[..FP].iter().map(|b| format!("{b:02x}")).collect();
                let mut tag = [0; TAG];
                tag.copy_from_slice(&raw[FP..]);
                (fp, tag)
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Pressed {
        duration: Duration::from_secs(secs),
        alerts,
    })
}

/// Handles a button press: allowlist, then silence, edit, answer.
pub async fn press(bot: &Bot, ctx: &Context, q: CallbackQuery) {
    let answer = if !auth::allowed(ctx, &q.from) {
        // The answer is a pop-up for the presser alone, so it costs the chat nothing.
        auth::refuse(ctx, &q.from);
        auth::NOT_AUTHORIZED.to_string()
    } else {
        match (q.data.as_deref().and_then(parse), &ctx.buttons) {
            (Some(pressed), Some(key)) => silence(bot, ctx, key, &q, &pressed)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "Telegram bot: silence button failed");
                    super::truncate(&e, 200)
                }),
            _ => "This button is not one of this receiver's.".to_string(),
        }
    };
    if let Err(e) = bot.answer_callback_query(q.id).text(answer).await {
        tracing::warn!(error = %e, "Telegram bot: answerCallbackQuery failed");
    }
}

/// The answer to a button whose alerts are firing, but none with the labels it was made for.
pub const NOT_FIRING: &str = "That alert is not firing: nothing silenced.";

/// Creates the silences; `Ok` is the short answer shown to the presser.
async fn silence(
    bot: &Bot,
    ctx: &Context,
    key: &ButtonKey,
    q: &CallbackQuery,
    pressed: &Pressed,
) -> Result<String, String> {
    let all = ctx.am.alerts(ANY_ACTIVE).await.map_err(|e| e.to_string())?;
    let (mut firing, mut mismatched) = (Vec::new(), 0);
    for (fp, tag) in &pressed.alerts {
        let Some(a) = all.iter().find(|a| &a.fingerprint == fp) else {
            continue;
        };
        // Alertmanager's alert must carry exactly the labels the message showed.
        match fp_bytes(fp) {
            Some(raw) if key.tag(&raw, &a.labels) == *tag => firing.push(a),
            _ => mismatched += 1,
        }
    }
    let who = auth::who(&q.from);
    if mismatched > 0 {
        tracing::warn!(
            by = %who,
            alerts = mismatched,
            "Telegram bot: a silence button names firing alerts under other labels than its \
             message showed (a forged alert message, or a bot token changed since); not silenced"
        );
    }
    let msg = q.message.as_ref().and_then(|m| m.regular_message());
    if firing.is_empty() {
        if mismatched > 0 {
            return Ok(NOT_FIRING.into());
        }
        // Resolved: say so, and take the buttons away.
        if let Some(m) = msg {
            let _ = bot.edit_message_reply_markup(m.chat.id, m.id).await;
        }
        return Ok("This alert has resolved: nothing to silence.".into());
    }
    let duration = pressed.duration;
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

    fn target(fp: &str, agent: &str) -> Target {
        Target {
            fingerprint: fp.into(),
            labels: [("alertname", "HighCPU"), ("agent", agent)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn data(k: &InlineKeyboardMarkup, i: usize) -> &str {
        let teloxide::types::InlineKeyboardButtonKind::CallbackData(d) =
            &k.inline_keyboard[0][i].kind
        else {
            panic!("{k:?}")
        };
        d
    }

    #[test]
    fn button_data_round_trips_within_64_bytes() {
        let key = ButtonKey::from_token(&Secret::new("123:token"));
        let fps = ["0123456789abcdef", "fedcba9876543210", "00112233aabbccdd"];
        let targets: Vec<Target> = fps.iter().map(|f| target(f, "web1")).collect();
        let k = keyboard(&key, &targets).unwrap();
        let row = &k.inline_keyboard[0];
        assert_eq!(row.len(), 3);
        assert_eq!(row[2].text, "Silence 24h");
        let d = data(&k, 2);
        assert!(d.len() <= 64, "{d}");
        let pressed = parse(d).unwrap();
        assert_eq!(pressed.duration, Duration::from_secs(86400));
        assert_eq!(pressed.fingerprints(), fps);
        assert!(
            keyboard(&key, &vec![targets[0].clone(); 4]).is_none(),
            "four do not fit"
        );
        assert!(keyboard(&key, &[]).is_none());
        assert!(keyboard(&key, &[target("not-hex", "web1")]).is_none());
        assert_eq!(parse("s:2h:abc"), None);
        assert_eq!(
            parse("s:1h:0123456789abcdef"),
            None,
            "the old, untagged form"
        );
        assert_eq!(parse("x"), None);
    }

    #[test]
    fn the_tag_binds_the_fingerprint_to_the_labels_and_the_token() {
        let key = ButtonKey::from_token(&Secret::new("123:token"));
        let t = target("0123456789abcdef", "web1");
        let pressed = parse(data(&keyboard(&key, std::slice::from_ref(&t)).unwrap(), 0)).unwrap();
        let (fp, tag) = &pressed.alerts[0];
        let raw = fp_bytes(fp).unwrap();
        assert_eq!(key.tag(&raw, &t.labels), *tag);
        assert_ne!(key.tag(&raw, &target(fp, "web2").labels), *tag);
        let other = ButtonKey::from_token(&Secret::new("123:other"));
        assert_ne!(other.tag(&raw, &t.labels), *tag);
        assert_eq!(format!("{key:?}"), "ButtonKey(<redacted>)");
    }
}

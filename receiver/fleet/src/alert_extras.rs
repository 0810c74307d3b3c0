//! What the fleet view adds to delivery's Telegram alert messages, through delivery's
//! [`MessageHook`]: under a message about firing alerts, the signed "Silence 1h / 4h / 24h"
//! buttons ([`crate::bot::buttons`], pressed in the bot); after it, for firing alerts from the
//! built-in resource rules, their chart as a photo ([`crate::bot::alert_chart`]), made from
//! Prometheus only when delivery gets to send it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono_tz::Tz;
use teloxide::types::ReplyMarkup;
use vpsmon_receiver_delivery::config::Config;
use vpsmon_receiver_delivery::notify::BoxFuture;
use vpsmon_receiver_delivery::notify::telegram::{Additions, MessageHook, Photo};
use vpsmon_receiver_delivery::payload::Notification;

use crate::bot::alert_chart::{self, ChartRequest};
use crate::bot::buttons::{self, ButtonKey};
use crate::promapi::PrometheusClient;

/// The hook: the key the buttons are signed with, and where the charts' data is.
pub struct AlertExtras {
    buttons: ButtonKey,
    prom: PrometheusClient,
    tz: Tz,
}

impl AlertExtras {
    /// `None` without a Telegram bot token (no Telegram messages, no buttons to sign).
    pub fn from_config(config: &Config) -> Option<Arc<dyn MessageHook>> {
        let tg = config.telegram.as_ref()?;
        Some(Arc::new(AlertExtras {
            buttons: ButtonKey::from_token(&tg.token),
            prom: PrometheusClient::for_config(config),
            tz: config.timezone,
        }))
    }
}

impl MessageHook for AlertExtras {
    fn decorate(&self, n: &Notification, messages: &[&[usize]]) -> Vec<Additions> {
        // An alert split over two messages is charted once.
        let mut charted = Vec::new();
        messages
            .iter()
            .map(|indices| Additions {
                // "Silence 1h / 4h / 24h" under a firing alert; the bot handles the presses.
                reply_markup: buttons::keyboard(
                    &self.buttons,
                    &buttons::firing_targets(n, indices),
                )
                .map(ReplyMarkup::InlineKeyboard),
                photos: alert_chart::requests(n, indices, &mut charted)
                    .into_iter()
                    .map(|request| {
                        Arc::new(ChartPhoto {
                            prom: self.prom.clone(),
                            tz: self.tz,
                            request,
                        }) as Arc<dyn Photo>
                    })
                    .collect(),
            })
            .collect()
    }
}

/// One alert's chart, drawn when delivery sends it.
struct ChartPhoto {
    prom: PrometheusClient,
    tz: Tz,
    request: ChartRequest,
}

impl Photo for ChartPhoto {
    fn name(&self) -> String {
        let labels: &BTreeMap<String, String> = &self.request.labels;
        labels.get("alertname").cloned().unwrap_or_default()
    }

    fn make(&self) -> BoxFuture<'_, Result<(Vec<u8>, String), String>> {
        Box::pin(async move {
            alert_chart::alert_chart(
                &self.prom,
                self.tz,
                &self.request.labels,
                &self.request.generator_url,
            )
            .await
            .map_err(|e| e.to_string())
        })
    }
}

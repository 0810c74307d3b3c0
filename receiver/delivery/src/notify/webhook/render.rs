//! The generic webhook's messages: each alert as plain text (`webhook.txt`, overridable in
//! `templates_dir` like the others), packed into messages of at most `max_length` characters,
//! then put into the configured body template. Its placeholders:
//! - `{{ text }}`: the message's alerts, one after another, blank-line separated;
//! - `{{ title }}`: `FIRING: HighCPU` (one alert name) or `FIRING: 3 alerts`, `RESOLVED: …`;
//! - `{{ status }}`: `firing` or `resolved`; `{{ count }}`: the alerts in this message.
//!
//! With a JSON content type every placeholder is escaped as a JSON string's content, so
//! `{"content": "{{ text }}"}` stays valid JSON whatever an alert says; otherwise values go in
//! as they are.

use serde::Serialize;

use super::config::BODY_TEMPLATE as BODY;
use super::template::TEMPLATE;
use crate::payload::{Notification, Status};
use crate::render::{Part, RenderContext, RenderError};

/// What the body template sees.
#[derive(Serialize)]
struct BodyView<'a> {
    text: &'a str,
    title: String,
    status: &'static str,
    count: usize,
}

/// The alerts' texts packed into messages of at most `max` characters. An alert longer than one
/// message by itself is cut at character boundaries into consecutive messages.
pub fn pack(texts: Vec<String>, max: usize) -> Vec<Part<String>> {
    let mut parts: Vec<Part<String>> = Vec::new();
    let mut current = Part {
        body: String::new(),
        alert_indices: Vec::new(),
    };
    const SEP: &str = "\n\n";
    for (i, text) in texts.into_iter().enumerate() {
        let len = text.chars().count();
        let used = current.body.chars().count();
        if !current.body.is_empty() && used + SEP.len() + len <= max {
            current.body.push_str(SEP);
            current.body.push_str(&text);
            current.alert_indices.push(i);
            continue;
        }
        if !current.body.is_empty() {
            parts.push(std::mem::replace(
                &mut current,
                Part {
                    body: String::new(),
                    alert_indices: Vec::new(),
                },
            ));
        }
        let chars: Vec<char> = text.chars().collect();
        let mut pieces = chars.chunks(max).map(|c| c.iter().collect::<String>());
        if let Some(first) = pieces.next() {
            current.body = first;
            current.alert_indices = vec![i];
        }
        for piece in pieces {
            parts.push(std::mem::replace(
                &mut current,
                Part {
                    body: piece,
                    alert_indices: vec![i],
                },
            ));
        }
    }
    if !current.body.is_empty() {
        parts.push(current);
    }
    parts
}

/// The request bodies for `n`, in order, with the alerts each carries.
pub fn render(
    n: &Notification,
    ctx: &RenderContext,
    body: &tera::Tera,
    max_length: usize,
) -> Result<Vec<Part<String>>, RenderError> {
    let texts = n
        .alerts
        .iter()
        .map(|a| {
            ctx.render_alert(TEMPLATE, n, a)
                .map(|t| t.trim().to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let parts = pack(texts, max_length);
    ctx.count_split("webhook", parts.len());
    parts
        .into_iter()
        .map(|p| {
            let alerts: Vec<_> = p
                .alert_indices
                .iter()
                .filter_map(|i| n.alerts.get(*i))
                .collect();
            let status = if alerts.iter().any(|a| a.status == Status::Firing) {
                "firing"
            } else {
                "resolved"
            };
            let mut names: Vec<&str> = alerts.iter().map(|a| a.name()).collect();
            names.dedup();
            let title = match names.as_slice() {
                [one] => format!("{}: {one}", status.to_ascii_uppercase()),
                _ => format!("{}: {} alerts", status.to_ascii_uppercase(), alerts.len()),
            };
            let view = BodyView {
                text: &p.body,
                title,
                status,
                count: alerts.len(),
            };
            let context =
                tera::Context::from_serialize(view).map_err(|e| RenderError::template(BODY, e))?;
            let text = body
                .render(BODY, &context)
                .map_err(|e| RenderError::template(BODY, e))?;
            Ok(Part {
                body: text,
                alert_indices: p.alert_indices,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::config::body_template;
    use super::*;

    #[test]
    fn alerts_are_packed_and_a_long_one_is_cut() {
        let parts = pack(vec!["a".repeat(3), "b".repeat(3), "c".repeat(7)], 8);
        let bodies: Vec<(&str, Vec<usize>)> = parts
            .iter()
            .map(|p| (p.body.as_str(), p.alert_indices.clone()))
            .collect();
        assert_eq!(bodies, [("aaa\n\nbbb", vec![0, 1]), ("ccccccc", vec![2])]);
        let parts = pack(vec!["é".repeat(10)], 4);
        let bodies: Vec<&str> = parts.iter().map(|p| p.body.as_str()).collect();
        assert_eq!(bodies, ["éééé", "éééé", "éé"]);
        assert!(parts.iter().all(|p| p.alert_indices == [0]));
    }

    #[test]
    fn json_bodies_escape_the_placeholders() {
        let t = body_template(r#"{"content": "{{ text }}"}"#, "application/json").unwrap();
        let mut c = tera::Context::new();
        c.insert("text", "say \"hi\"\n<b>");
        let out = t.render(BODY, &c).unwrap();
        assert_eq!(out, r#"{"content": "say \"hi\"\n<b>"}"#);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["content"], "say \"hi\"\n<b>");
    }

    #[test]
    fn a_bad_body_template_is_named() {
        let e = body_template("{{ text ", "text/plain").unwrap_err();
        assert!(e.contains("body"), "{e}");
    }
}

//! The Cloudflare v4 API call: `GET {api}/accounts/{account_id}/cfd_tunnel/{tunnel_id}` with
//! `Authorization: Bearer <token>`. Every reply is the v4 envelope
//! `{"success":bool,"errors":[{"code":..,"message":..}],"messages":[],"result":{...}}`.

use std::time::Duration;

use serde::Deserialize;
use vpsmon_common::Secret;

use super::failover::Status;

/// The default API base URL.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";

/// What one call told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The API answered with the tunnel.
    Tunnel {
        status: Status,
        name: String,
        connections: u64,
    },
    /// No status: the `code` label of `vpsmon_cloudflare_api_errors_total` and a message for
    /// the log.
    Failed { code: String, detail: String },
}

#[derive(Deserialize)]
struct Envelope {
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ApiMessage {
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct TunnelResult {
    status: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    connections: Vec<serde_json::Value>,
}

fn failed(code: impl Into<String>, detail: impl Into<String>) -> Reply {
    Reply::Failed {
        code: code.into(),
        detail: detail.into(),
    }
}

/// "[10000] Authentication error; [...]" from an envelope's errors.
fn describe_errors(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no errors listed".into();
    }
    errors
        .iter()
        .map(|e| format!("[{}] {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Interprets one HTTP reply. The error `code` is the HTTP status for HTTP errors (bounded, and
/// present even when a proxy answers instead of the API); Cloudflare's own error codes go in
/// the detail, which is logged.
pub fn interpret(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> Reply {
    let envelope: Option<Envelope> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&http_status) {
        let mut detail = match &envelope {
            Some(env) => describe_errors(&env.errors),
            None => format!("{} bytes that are not the API's JSON envelope", body.len()),
        };
        if let Some(r) = retry_after {
            detail.push_str(&format!(" (Retry-After: {r})"));
        }
        return failed(
            http_status.to_string(),
            format!("HTTP {http_status}: {detail}"),
        );
    }
    let Some(env) = envelope else {
        return failed(
            "invalid_response",
            "the body is not the API's JSON envelope",
        );
    };
    if !env.success {
        return failed(
            "invalid_response",
            format!("success=false: {}", describe_errors(&env.errors)),
        );
    }
    let Some(result) = env.result else {
        return failed("invalid_response", "success=true but no result");
    };
    let tunnel: TunnelResult = match serde_json::from_value(result) {
        Ok(t) => t,
        Err(e) => return failed("invalid_response", format!("result: {e}")),
    };
    match Status::parse(&tunnel.status) {
        Some(status) => Reply::Tunnel {
            status,
            name: tunnel.name,
            connections: tunnel.connections.len() as u64,
        },
        None => failed(
            "invalid_response",
            format!("unknown tunnel status {:?}", tunnel.status),
        ),
    }
}

/// One call. Never fails: every problem is a [`Reply::Failed`].
pub async fn fetch(
    client: &reqwest::Client,
    api_url: &str,
    account_id: &str,
    tunnel_id: &str,
    token: &Secret,
    timeout: Duration,
) -> Reply {
    let url = format!(
        "{}/accounts/{account_id}/cfd_tunnel/{tunnel_id}",
        api_url.trim_end_matches('/')
    );
    let mut auth =
        match reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
            Ok(v) => v,
            Err(_) => {
                return failed(
                    "invalid_token",
                    "the token file holds characters a header cannot",
                );
            }
        };
    auth.set_sensitive(true);
    let call = async {
        let resp = client
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>(interpret(status, retry_after.as_deref(), &body))
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => failed("timeout", format!("no answer within {timeout:?}")),
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) if e.is_timeout() => failed("timeout", format!("no answer within {timeout:?}")),
        // without_url: the URL holds no secret, but the message is shorter and the same for all.
        Ok(Err(e)) => failed(
            "connect",
            format!("{url}: {}", error_chain(&e.without_url())),
        ),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interprets_the_v4_envelope() {
        let ok = br#"{"success":true,"errors":[],"messages":[],"result":{"id":"c1744f8b","name":"web","status":"healthy","connections":[{"colo_name":"DFW","is_pending_reconnect":false},{"colo_name":"ORD","is_pending_reconnect":false}]}}"#;
        assert_eq!(
            interpret(200, None, ok),
            Reply::Tunnel {
                status: Status::Healthy,
                name: "web".into(),
                connections: 2
            }
        );
        // (HTTP status, Retry-After, body, code label, detail)
        type Case<'a> = (u16, Option<&'a str>, &'a [u8], &'a str, &'a str);
        let cases: [Case<'_>; 6] = [
            (
                401,
                None,
                br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#,
                "401",
                "HTTP 401: [10000] Authentication error",
            ),
            (
                429,
                Some("30"),
                br#"{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}],"messages":[],"result":null}"#,
                "429",
                "HTTP 429: [971] Please wait and consider throttling your request speed (Retry-After: 30)",
            ),
            (
                502,
                None,
                b"<html>Bad gateway</html>",
                "502",
                "HTTP 502: 24 bytes that are not the API's JSON envelope",
            ),
            (200, None, b"{", "invalid_response", "the body is not the API's JSON envelope"),
            (
                200,
                None,
                br#"{"success":true,"errors":[],"messages":[],"result":{"status":"sleepy"}}"#,
                "invalid_response",
                "unknown tunnel status \"sleepy\"",
            ),
            (
                200,
                None,
                br#"{"success":false,"errors":[{"code":7003,"message":"Could not route"}],"messages":[],"result":null}"#,
                "invalid_response",
                "success=false: [7003] Could not route",
            ),
        ];
        for (status, retry, body, code, detail) in cases {
            assert_eq!(
                interpret(status, retry, body),
                failed(code, detail),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

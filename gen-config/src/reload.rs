//! `--reload-url`: ask Prometheus to re-read prometheus.yml and the rules (POST /-/reload).

use std::time::Duration;

/// The reload endpoint for a base URL; a URL that already ends in /-/reload is used as is.
pub fn endpoint(url: &str) -> String {
    if url.ends_with("/-/reload") {
        url.to_owned()
    } else {
        format!("{}/-/reload", url.trim_end_matches('/'))
    }
}

/// POSTs the reload and describes the outcome in one line either way.
pub async fn reload(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let endpoint = endpoint(url);
    let resp = client.post(&endpoint).send().await.map_err(|e| {
        format!(
            "reloading Prometheus failed: POST {endpoint}: {}",
            error_chain(&e)
        )
    })?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(format!(
            "reloaded Prometheus: POST {endpoint} -> HTTP {status}"
        ))
    } else {
        let body: String = body.trim().chars().take(300).collect();
        Err(format!(
            "reloading Prometheus failed: POST {endpoint} -> HTTP {status}: {body}"
        ))
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client builds")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

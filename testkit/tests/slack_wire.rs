//! The fake Slack webhook answers as Slack does: `ok`, one-word errors, 429 with Retry-After.

use std::time::Duration;

use serde_json::json;
use testkit::slack::{FakeSlack, SlackFault};

mod common;

async fn post(url: &str, body: &str) -> (u16, Option<String>, String) {
    common::answer(
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned()),
    )
    .await
}

#[tokio::test]
async fn a_valid_post_gets_ok_and_is_recorded() {
    let slack = FakeSlack::start().await;
    assert!(slack.webhook_url().contains("/services/T"));
    let body = json!({"text": "FIRING HighCPU &lt;web-1&gt;", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*HighCPU*"}}]});
    let (s, _, answer) = post(&slack.webhook_url(), &body.to_string()).await;
    assert_eq!((s, answer.as_str()), (200, "ok"));
    let posts = slack.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body, body);
    assert_eq!(
        posts[0].text.as_deref(),
        Some("FIRING HighCPU &lt;web-1&gt;")
    );
}

#[tokio::test]
async fn bad_payloads_and_unknown_webhooks_get_slacks_error_words() {
    let slack = FakeSlack::start().await;
    let url = slack.webhook_url();
    assert_eq!(
        post(&url, "{not json").await,
        (400, None, "invalid_payload".into())
    );
    assert_eq!(
        post(&url, r#"{"username":"x"}"#).await,
        (400, None, "no_text".into())
    );
    let other = format!("{}/services/T1/B1/revoked", slack.base_url());
    assert_eq!(
        post(&other, r#"{"text":"x"}"#).await,
        (404, None, "no_service".into())
    );
    assert!(slack.posts().is_empty());
    assert_eq!(slack.requests().len(), 3);
}

#[tokio::test]
async fn scripted_faults_answer_in_order() {
    let slack = FakeSlack::start().await;
    let url = slack.webhook_url();
    slack.push_fault(SlackFault::RateLimited {
        retry_after_secs: 3,
    });
    slack.push_fault(SlackFault::ServerError(500));
    slack.push_fault(SlackFault::ServerError(503));
    slack.push_fault(SlackFault::ChannelNotFound);
    slack.push_fault(SlackFault::ChannelIsArchived);
    slack.push_fault(SlackFault::NoService);
    slack.push_fault(SlackFault::ActionProhibited);
    slack.push_fault(SlackFault::InvalidPayload);
    let body = r#"{"text":"x"}"#;
    assert_eq!(
        post(&url, body).await,
        (429, Some("3".into()), "rate_limited".into())
    );
    assert_eq!(post(&url, body).await, (500, None, "rollup_error".into()));
    assert_eq!(
        post(&url, body).await,
        (503, None, "Service Unavailable".into())
    );
    assert_eq!(
        post(&url, body).await,
        (404, None, "channel_not_found".into())
    );
    assert_eq!(
        post(&url, body).await,
        (410, None, "channel_is_archived".into())
    );
    assert_eq!(post(&url, body).await, (404, None, "no_service".into()));
    assert_eq!(
        post(&url, body).await,
        (403, None, "action_prohibited".into())
    );
    assert_eq!(
        post(&url, body).await,
        (400, None, "invalid_payload".into())
    );
    assert_eq!(post(&url, body).await, (200, None, "ok".into()));
    assert_eq!(slack.posts().len(), 1);
}

#[tokio::test]
async fn an_outage_then_recovery() {
    let slack = FakeSlack::start().await;
    slack.fail_until(Duration::from_secs(2), SlackFault::ServerError(500));
    let url = slack.webhook_url();
    assert_eq!(post(&url, r#"{"text":"x"}"#).await.0, 500);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(post(&url, r#"{"text":"x"}"#).await.0, 200);
    let posts = slack.wait_for_posts(1, Duration::from_secs(5)).await;
    assert_eq!(posts.len(), 1);
}

#[tokio::test]
async fn a_timeout_outlasts_the_client() {
    let slack = FakeSlack::start().await;
    slack.push_fault(SlackFault::Timeout(Duration::from_secs(3)));
    let err = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(slack.webhook_url())
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(slack.posts().is_empty());
}

#[tokio::test]
async fn the_enforced_rate_limit_answers_429_to_a_burst() {
    let slack = FakeSlack::start().await;
    slack.enforce_rate_limit(true);
    let url = slack.webhook_url();
    let burst = (0..10).map(|i| {
        let url = url.clone();
        async move { post(&url, &json!({ "text": format!("{i}") }).to_string()).await }
    });
    let answers = futures::future::join_all(burst).await;
    let limited = answers
        .iter()
        .filter(|a| **a == (429, Some("1".into()), "rate_limited".into()))
        .count();
    assert!(limited > 0, "{answers:?}");
    let posts = slack.posts();
    assert_eq!(posts.len() + limited, 10);
    for pair in posts.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(900));
    }
}

#[tokio::test]
async fn visible_text_shows_what_a_slack_user_reads() {
    let slack = FakeSlack::start().await;
    let url = slack.webhook_url();
    post(
        &url,
        &json!({"text": "FIRING &lt;script&gt; on <http://prom:9090/graph|web-1>"}).to_string(),
    )
    .await;
    post(
        &url,
        &json!({"text": "FIRING <script> on web-1"}).to_string(),
    )
    .await;
    let seen: Vec<String> = slack
        .posts()
        .iter()
        .map(|p| p.visible_text().unwrap())
        .collect();
    assert_eq!(
        seen,
        vec!["FIRING <script> on web-1", "FIRING script on web-1"]
    );
}

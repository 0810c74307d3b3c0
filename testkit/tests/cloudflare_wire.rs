//! The fake Cloudflare API plays a scripted sequence of tunnel states and errors in
//! Cloudflare's envelope, checking the bearer token like the real API.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::cloudflare::{CfReply, FakeCloudflare, FakeCloudflared};

mod common;

const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const TUNNEL: &str = "f70ff985-a4ef-4643-bbbc-4a0ed4fc8415";

async fn get(
    cf: &FakeCloudflare,
    path: &str,
    token: Option<&str>,
) -> (u16, Option<String>, String) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", cf.api_base()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    common::answer(req).await
}

fn tunnel_path() -> String {
    format!("/accounts/{ACCOUNT}/cfd_tunnel/{TUNNEL}")
}

fn error_body(code: u32, message: &str) -> Value {
    json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})
}

#[tokio::test]
async fn the_script_plays_in_order_and_the_last_reply_repeats() {
    let cf = FakeCloudflare::start().await;
    cf.set_name(ACCOUNT, TUNNEL, "vps-tokyo");
    cf.script(
        ACCOUNT,
        TUNNEL,
        vec![
            CfReply::status("healthy", 4),
            CfReply::status("down", 0),
            CfReply::TooManyRequests,
            CfReply::ServerError(500),
            CfReply::BadToken,
            CfReply::status("degraded", 1),
        ],
    );
    let token = Some(cf.token().to_owned());
    let mut seen = Vec::new();
    for _ in 0..8 {
        let (status, _, body) = get(&cf, &tunnel_path(), token.as_deref()).await;
        seen.push((status, body));
    }

    let healthy: Value = serde_json::from_str(&seen[0].1).unwrap();
    assert_eq!(seen[0].0, 200);
    assert_eq!(healthy["success"], json!(true));
    assert_eq!(healthy["errors"], json!([]));
    let t = &healthy["result"];
    assert_eq!(t["id"], json!(TUNNEL));
    assert_eq!(t["account_tag"], json!(ACCOUNT));
    assert_eq!(t["name"], json!("vps-tokyo"));
    assert_eq!(t["status"], json!("healthy"));
    assert_eq!(t["connections"].as_array().unwrap().len(), 4);
    assert_eq!(t["connections"][0]["colo_name"], json!("fra06"));

    let down: Value = serde_json::from_str(&seen[1].1).unwrap();
    assert_eq!(down["result"]["status"], json!("down"));
    assert_eq!(down["result"]["connections"], json!([]));
    assert!(down["result"]["conns_inactive_at"].is_string());

    assert_eq!(seen[2].0, 429);
    assert_eq!(
        serde_json::from_str::<Value>(&seen[2].1).unwrap(),
        error_body(
            971,
            "Please wait and consider throttling your request speed"
        )
    );
    assert_eq!((seen[3].0, seen[3].1.as_str()), (500, "error code: 500"));
    assert_eq!(seen[4].0, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&seen[4].1).unwrap(),
        error_body(10000, "Authentication error")
    );
    for (status, body) in &seen[5..] {
        assert_eq!(*status, 200);
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["result"]["status"], json!("degraded"));
    }
    assert_eq!(cf.polls(ACCOUNT, TUNNEL), 8);
}

#[tokio::test]
async fn the_token_is_checked_and_unknown_tunnels_are_404() {
    let cf = FakeCloudflare::start_with_token("good").await;
    cf.script(ACCOUNT, TUNNEL, vec![CfReply::status("healthy", 2)]);
    let (s, _, body) = get(&cf, &tunnel_path(), None).await;
    assert_eq!(s, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        error_body(
            9106,
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
        )
    );
    let (s, _, body) = get(&cf, &tunnel_path(), Some("bad")).await;
    assert_eq!(s, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        error_body(10000, "Authentication error")
    );
    let (s, _, body) = get(
        &cf,
        &format!("/accounts/{ACCOUNT}/cfd_tunnel/nope"),
        Some("good"),
    )
    .await;
    assert_eq!(s, 404);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errors"][0]["code"], json!(7003));
    assert_eq!(
        cf.polls(ACCOUNT, TUNNEL),
        0,
        "refused requests do not advance the script"
    );

    let reqs = cf.requests();
    assert_eq!(
        reqs.iter()
            .map(|r| (r.authorization_present, r.authorized, r.status))
            .collect::<Vec<_>>(),
        vec![(false, false, 400), (true, false, 401), (true, true, 404)]
    );
    assert_eq!(reqs[0].path, format!("/client/v4{}", tunnel_path()));
}

#[tokio::test]
async fn rate_limit_with_retry_after_and_a_held_request() {
    let cf = FakeCloudflare::start().await;
    cf.script(
        ACCOUNT,
        TUNNEL,
        vec![
            CfReply::TooManyRequestsRetryAfter(30),
            CfReply::Timeout(Duration::from_secs(3)),
            CfReply::Forbidden,
            CfReply::status("inactive", 0),
        ],
    );
    let (s, retry, _) = get(&cf, &tunnel_path(), Some(cf.token())).await;
    assert_eq!((s, retry.as_deref()), (429, Some("30")));
    let err = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .get(format!("{}{}", cf.api_base(), tunnel_path()))
        .bearer_auth(cf.token())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let (s, _, _) = get(&cf, &tunnel_path(), Some(cf.token())).await;
    assert_eq!(s, 403);
    let (s, _, body) = get(&cf, &tunnel_path(), Some(cf.token())).await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["status"], json!("inactive"));
    assert_eq!(v["result"]["conns_active_at"], Value::Null);
}

#[tokio::test]
async fn the_connections_endpoint_reports_the_last_status_without_advancing() {
    let cf = FakeCloudflare::start().await;
    cf.script(
        ACCOUNT,
        TUNNEL,
        vec![CfReply::status("healthy", 3), CfReply::status("down", 0)],
    );
    let conns = format!("{}/connections", tunnel_path());
    get(&cf, &tunnel_path(), Some(cf.token())).await;
    let (s, _, body) = get(&cf, &conns, Some(cf.token())).await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"][0]["conns"].as_array().unwrap().len(), 3);
    let (_, _, body) = get(&cf, &tunnel_path(), Some(cf.token())).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["result"]["status"],
        json!("down")
    );
    let (_, _, body) = get(&cf, &conns, Some(cf.token())).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["result"],
        json!([])
    );
    assert_eq!(cf.polls(ACCOUNT, TUNNEL), 2);
}

#[tokio::test]
async fn cloudflared_ready_endpoint() {
    let cfd = FakeCloudflared::start(4).await;
    let r = reqwest::get(format!("{}/ready", cfd.url())).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["status"].clone(), v["readyConnections"].clone()),
        (json!(200), json!(4))
    );
    cfd.set_ready_connections(0);
    let r = reqwest::get(format!("{}/ready", cfd.url())).await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["readyConnections"], json!(0));
}

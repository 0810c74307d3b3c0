//! Helpers shared by the fakes' wire tests.

/// Sends a request and returns what a client sees: status, `Retry-After`, body text.
pub async fn answer(req: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, r.text().await.unwrap())
}

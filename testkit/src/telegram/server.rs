//! The HTTP side of the fake: `/bot<token>/<method>` routing, parameter decoding (query string,
//! JSON, form-urlencoded, multipart), fault injection and the Bot API response envelope.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::TgError;
use super::{Fault, Inner, Scope, TgRequest, UploadedFile, methods};
use crate::server::{detach, parse_urlencoded, percent_decode};

/// Telegram accepts uploads up to 50 MB; axum's default limit (2 MB) would reject real photos.
const BODY_LIMIT: usize = 50 * 1024 * 1024;

pub(crate) fn app(inner: Arc<Inner>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(detach_unless_polling))
        .with_state(inner)
}

/// Every call runs to the end even if its client hangs up (a send may still deliver), except a
/// long poll: nobody will read its answer, and keeping it would end the client's next poll with
/// a 409 Conflict that no real client ever sees. Its log entry keeps status 0.
async fn detach_unless_polling(req: Request, next: Next) -> Response {
    let method = req.uri().path().rsplit('/').next().unwrap_or("");
    if method.eq_ignore_ascii_case("getUpdates") {
        return next.run(req).await;
    }
    detach(req, next).await
}

async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let at = Instant::now();
    let path = req.uri().path().to_owned();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();

    // /bot<token>/<method>; anything else is Telegram's 404.
    let Some((token, method_as_sent)) = split_path(&path) else {
        let err = TgError::new(404, "Not Found");
        // The path may hold a token; the log a failing test prints must not.
        let shown = match path.strip_prefix("/bot") {
            Some(rest) => format!("/bot<token>{}", rest.find('/').map_or("", |i| &rest[i..])),
            None => path,
        };
        record(
            &inner,
            TgRequest {
                method: shown.clone(),
                method_as_sent: shown,
                params: Value::Null,
                files: vec![],
                content_type,
                status: err.code,
                error: Some(err.description.clone()),
                at,
            },
        );
        return err.into_response();
    };
    let method = methods::canonical(&method_as_sent);

    let outcome: Result<(Value, Vec<UploadedFile>), TgError> = if token != inner.token {
        // A token without the `<id>:` shape is not routed at all by Telegram: 404.
        Err(if token.contains(':') {
            TgError::new(401, "Unauthorized")
        } else {
            TgError::new(404, "Not Found")
        })
    } else {
        read_params(req, &content_type).await
    };
    let (params, files, read_error) = match outcome {
        Ok((params, files)) => (params, files, None),
        Err(err) => (Value::Null, vec![], Some(err)),
    };
    // Decide the fault, and register a long poll, before the request shows in the log: a test
    // that waited for a poll to be logged can rely on it being the current poller.
    let lower = method.to_ascii_lowercase();
    let plan = match read_error {
        Some(err) => Err(err),
        None => {
            let chat = params
                .get("chat_id")
                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()));
            let fault = inner.lock().faults.next(|scope| match scope {
                Scope::Sends => lower != "getupdates",
                Scope::Method(m) => *m == lower,
                Scope::Chat(c) => chat == Some(*c),
            });
            match fault {
                Some(fault) => Ok(Plan::Fault(fault)),
                None if lower == "getupdates" => {
                    methods::start_poll(&inner, &params).map(Plan::Poll)
                }
                None => Ok(Plan::Call),
            }
        }
    };
    // Recorded on arrival (status 0 until answered), so a test can see a long poll or a request
    // held by a Timeout fault while it is in flight.
    let index = record(
        &inner,
        TgRequest {
            method: method.clone(),
            method_as_sent,
            params: params.clone(),
            files: files.clone(),
            content_type,
            status: 0,
            error: None,
            at,
        },
    );
    let result = match plan {
        Err(err) => Err(err),
        Ok(Plan::Call) => methods::call(&inner, &lower, &params, &files).await,
        Ok(Plan::Poll(poll)) => methods::wait_poll(&inner, poll).await,
        Ok(Plan::Fault(Fault::SlowSuccess(hold))) => {
            tokio::time::sleep(hold).await;
            methods::call(&inner, &lower, &params, &files).await
        }
        Ok(Plan::Fault(fault)) => {
            if let Fault::Timeout(hold) = fault {
                tokio::time::sleep(hold).await;
            }
            Err(TgError::from_fault(&fault))
        }
    };
    {
        let mut st = inner.lock();
        let r = &mut st.requests[index];
        match &result {
            Ok(_) => r.status = 200,
            Err(err) => {
                r.status = err.code;
                r.error = Some(err.description.clone());
            }
        }
    }
    inner.notify.notify_waiters();
    match result {
        Ok(result) => axum::Json(json!({ "ok": true, "result": result })).into_response(),
        Err(err) => err.into_response(),
    }
}

/// What a request will get.
enum Plan {
    Call,
    Poll(methods::Poll),
    Fault(Fault),
}

/// Appends a request to the log; returns its index.
fn record(inner: &Inner, request: TgRequest) -> usize {
    let index = {
        let mut st = inner.lock();
        st.requests.push(request);
        st.requests.len() - 1
    };
    inner.notify.notify_waiters();
    index
}

/// `/bot<token>/<method>` → (token, method), percent-decoded.
fn split_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/bot")?;
    let (token, method) = rest.split_once('/')?;
    if method.is_empty() || method.contains('/') {
        return None;
    }
    Some((percent_decode(token), percent_decode(method)))
}

/// Reads every parameter the way the Bot API does: the query string, then the body as JSON,
/// form-urlencoded or multipart (files kept apart).
async fn read_params(
    req: Request,
    content_type: &str,
) -> Result<(Value, Vec<UploadedFile>), TgError> {
    let mut params = Map::new();
    if let Some(q) = req.uri().query() {
        for (k, v) in parse_urlencoded(q) {
            params.insert(k, Value::String(v));
        }
    }
    let mut files = Vec::new();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "multipart/form-data" => {
            let mut mp = Multipart::from_request(req, &())
                .await
                .map_err(|e| TgError::bad(format!("can't parse multipart body: {e}")))?;
            while let Some(field) = mp
                .next_field()
                .await
                .map_err(|e| TgError::bad(format!("can't parse multipart body: {e}")))?
            {
                let name = field.name().unwrap_or("").to_owned();
                let filename = field.file_name().map(str::to_owned);
                let field_type = field.content_type().map(str::to_owned);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| TgError::bad(format!("can't read multipart field: {e}")))?;
                if filename.is_some() {
                    files.push(UploadedFile {
                        field: name,
                        filename,
                        content_type: field_type,
                        bytes: bytes.to_vec(),
                    });
                } else {
                    params.insert(
                        name,
                        Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                    );
                }
            }
        }
        _ => {
            let body = axum::body::to_bytes(Body::new(req.into_body()), BODY_LIMIT)
                .await
                .map_err(|e| TgError::bad(format!("can't read request body: {e}")))?;
            if mime == "application/json" && !body.is_empty() {
                // Telegram ignores a body it cannot read and then misses the parameters.
                if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&body) {
                    params.extend(obj);
                }
            } else if mime == "application/x-www-form-urlencoded" {
                for (k, v) in parse_urlencoded(&String::from_utf8_lossy(&body)) {
                    params.insert(k, Value::String(v));
                }
            }
        }
    }
    Ok((Value::Object(params), files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_forms_decode() {
        assert_eq!(
            split_path("/bot1:AB/SendMessage"),
            Some(("1:AB".into(), "SendMessage".into()))
        );
        assert_eq!(split_path("/bot1:AB/"), None);
        assert_eq!(split_path("/foo"), None);
        assert_eq!(
            parse_urlencoded("chat_id=-100&text=a+b%26c%3C"),
            vec![
                ("chat_id".into(), "-100".into()),
                ("text".into(), "a b&c<".into())
            ]
        );
    }
}

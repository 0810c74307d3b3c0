//! The Bot API's error answer: `{"ok":false,"error_code":…,"description":…}` (or the front
//! proxy's HTML page), shared by the method handlers and the server that answers with it.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Fault;

/// An error answer in the Bot API's envelope.
#[derive(Debug, Clone)]
pub(crate) struct TgError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u32>,
    /// `parameters.migrate_to_chat_id`.
    pub migrate_to: Option<i64>,
    /// Answer with the front-end proxy's HTML page instead of JSON.
    pub html: bool,
}

impl TgError {
    pub(crate) fn new(code: u16, description: impl Into<String>) -> TgError {
        TgError {
            code,
            description: description.into(),
            retry_after: None,
            migrate_to: None,
            html: false,
        }
    }

    /// 400 `Bad Request: <what>`, the form of every validation error.
    pub(crate) fn bad(what: impl std::fmt::Display) -> TgError {
        TgError::new(400, format!("Bad Request: {what}"))
    }

    pub(crate) fn retry_after(secs: u32) -> TgError {
        TgError {
            retry_after: Some(secs),
            ..TgError::new(429, format!("Too Many Requests: retry after {secs}"))
        }
    }

    pub(crate) fn from_fault(fault: &Fault) -> TgError {
        match fault {
            Fault::TooManyRequests { retry_after } => TgError::retry_after(*retry_after),
            Fault::ServerError(code) => TgError::new(*code, reason(*code)),
            Fault::BadGatewayHtml => TgError {
                html: true,
                ..TgError::new(502, "Bad Gateway")
            },
            Fault::HtmlPage(code) => TgError {
                html: true,
                ..TgError::new(*code, reason(*code))
            },
            Fault::Timeout(_) => TgError::new(504, "Gateway Timeout"),
            // Handled before answering; never turned into an error.
            Fault::SlowSuccess(_) => TgError::new(500, "Internal Server Error"),
            Fault::Error { code, description } => TgError::new(*code, description.clone()),
            Fault::Forbidden(description) => TgError::new(403, description.clone()),
        }
    }
}

fn reason(code: u16) -> String {
    StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Internal Server Error")
        .to_owned()
}

impl IntoResponse for TgError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.html {
            // What Telegram's nginx front answers when the Bot API server behind it is down.
            let page = format!(
                "<html>\r\n<head><title>{0} {1}</title></head>\r\n<body>\r\n<center><h1>{0} {1}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n",
                self.code, self.description
            );
            return (status, [(header::CONTENT_TYPE, "text/html")], page).into_response();
        }
        let mut body = json!({
            "ok": false,
            "error_code": self.code,
            "description": self.description,
        });
        if let Some(secs) = self.retry_after {
            body["parameters"] = json!({ "retry_after": secs });
        }
        if let Some(chat) = self.migrate_to {
            body["parameters"] = json!({ "migrate_to_chat_id": chat });
        }
        (status, axum::Json(body)).into_response()
    }
}

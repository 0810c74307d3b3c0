//! Safe chat actions, the agent's side (issue 19): named commands from `--actions.config`, run
//! on a signed `POST /api/actions/{name}` and listed on a signed `GET /api/actions` (for the
//! bot's `/actions` and previews), each request audited and counted.
//!
//! Owns: the action list (`config`), running a command (`run`), the signature, nonce and
//! timestamp checks, the audit log and `vpsmon_action_runs_total`. May import `common` (the
//! signature's canonical form, secret files) and `http`'s error shape; `http` mounts
//! [`router`] only when actions are configured, and nothing else here is reachable without it.
//!
//! A request is checked in this order, and the first failure is its refusal: the signature
//! headers are there, the timestamp is within ±30 s, the signature is right for the action key,
//! the nonce is new, the action exists, the body names its parameters and each matches. Only
//! then does anything run.

pub mod config;
pub mod run;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use vpsmon_common::action_sig::{self, MAX_SKEW_SECS};
use vpsmon_common::{SecretError, SecretFile};

use config::{Action, ActionsConfigError, Arg, ParamType};

/// Shortest action key accepted: 32 bytes, what `openssl rand -hex 16` gives.
pub const MIN_KEY_LEN: usize = 32;
/// Nonces remembered at most; past it requests are refused until old ones expire (a flood of
/// validly signed requests needs the key, and then failing closed is right).
const MAX_NONCES: usize = 10_000;
/// Actions running at once; more are refused as busy.
const MAX_RUNNING: usize = 4;

/// Why the actions could not be set up; each names its flag.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ActionsConfigError),
    #[error("--actions.key-file: {0}")]
    Key(SecretError),
    #[error(
        "--actions.key-file: {} holds a key shorter than {MIN_KEY_LEN} bytes \
         (make one with `openssl rand -hex 32`)", .0.display()
    )]
    ShortKey(PathBuf),
    #[error("--actions.key-file is required with --actions.config")]
    NoKey,
    #[error("--actions.audit-log is required with --actions.config")]
    NoAudit,
    #[error("--actions.audit-log: cannot open {}: {source}", path.display())]
    Audit {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    action: String,
    result: String,
}

/// The configured actions and what checking and recording a request needs.
pub struct Actions {
    actions: BTreeMap<String, Action>,
    key: SecretFile,
    audit_path: PathBuf,
    audit: Mutex<File>,
    nonces: Nonces,
    /// Unix seconds when the actions were loaded: the nonces of earlier requests are not known.
    started: i64,
    running: Arc<tokio::sync::Semaphore>,
    runs: Family<RunLabels, Counter>,
    registry: Registry,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("actions", &self.actions.keys().collect::<Vec<_>>())
            .field("key", &self.key)
            .field("audit", &self.audit_path)
            .finish_non_exhaustive()
    }
}

impl Actions {
    /// Loads the action list, the key and the audit log; `None` without `--actions.config`.
    pub fn from_flags(
        config: Option<&Path>,
        key_file: Option<&Path>,
        audit_log: Option<&Path>,
    ) -> Result<Option<Actions>, SetupError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let actions = config::load(config)?;
        let key_file = key_file.ok_or(SetupError::NoKey)?;
        let key = SecretFile::open(key_file).map_err(SetupError::Key)?;
        if key.current().expose().len() < MIN_KEY_LEN {
            return Err(SetupError::ShortKey(key_file.to_owned()));
        }
        let audit_path = audit_log.ok_or(SetupError::NoAudit)?.to_owned();
        let audit = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&audit_path)
                .map_err(|source| SetupError::Audit {
                    path: audit_path.clone(),
                    source,
                })?
        };
        let runs = Family::<RunLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "vpsmon_action_runs",
            "Action requests by action and result: ok, failed (non-zero exit), timeout, error \
             (could not start), refused",
            runs.clone(),
        );
        Ok(Some(Actions {
            actions,
            key,
            audit_path,
            audit: Mutex::new(audit),
            nonces: Nonces::new(MAX_NONCES),
            started: now_secs(),
            running: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING)),
            runs,
            registry,
        }))
    }

    /// For the start-up log line.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}), key from {}, audit log {}",
            self.actions.len(),
            self.actions.keys().cloned().collect::<Vec<_>>().join(", "),
            self.key.path().display(),
            self.audit_path.display()
        )
    }

    /// `vpsmon_action_runs_total`, as OpenMetrics lines without `# EOF`.
    pub fn encode_metrics(&self, out: &mut String) {
        let _ = prometheus_client::encoding::text::encode_registry(out, &self.registry);
    }

    fn record(&self, entry: &AuditEntry<'_>) {
        let action = match self.actions.contains_key(entry.action) {
            true => entry.action,
            // Not the URL's name: anyone could fill the label set with made-up ones.
            false => "",
        };
        // A list that was answered ran nothing; a refused one is counted like any refusal.
        if entry.result != LISTED {
            self.runs
                .get_or_create(&RunLabels {
                    action: action.to_owned(),
                    result: entry.result.to_owned(),
                })
                .inc();
        }
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        let mut file = self.audit.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::error!(path = %self.audit_path.display(), error = %e, "cannot write the audit log");
        }
        tracing::info!(
            action = entry.action,
            result = entry.result,
            reason = entry.reason.as_deref(),
            requested_by = entry.requested_by,
            "action request"
        );
    }
}

/// The nonces seen, each until its timestamp leaves the window; at most `max` of them.
struct Nonces {
    max: usize,
    seen: Mutex<HashMap<String, i64>>,
}

impl Nonces {
    fn new(max: usize) -> Nonces {
        Nonces {
            max,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the nonce is new and remembers it. Called only for correctly signed requests, so
    /// only the key's holder can fill the store.
    fn claim(&self, nonce: &str, timestamp: i64, now: i64) -> Result<(), Refusal> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains_key(nonce) {
            return Err(Refusal::unauthorized("replayed nonce"));
        }
        if seen.len() >= self.max {
            // An expired nonce's timestamp is out of the window: it cannot come back.
            seen.retain(|_, expires| *expires >= now);
            if seen.len() >= self.max {
                return Err(Refusal::busy(
                    "too many recent requests, try again in a minute",
                ));
            }
        }
        seen.insert(nonce.to_owned(), timestamp + MAX_SKEW_SECS);
        Ok(())
    }
}

/// The audit result of an answered `GET /api/actions`.
const LISTED: &str = "listed";

/// One audit-log line.
#[derive(Debug, serde::Serialize)]
struct AuditEntry<'a> {
    time: String,
    /// `run` (`POST /api/actions/{name}`) or `list` (`GET /api/actions`, whose action is "").
    request: &'static str,
    requested_by: Option<&'a str>,
    action: &'a str,
    params: Option<&'a BTreeMap<String, String>>,
    result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    exit_code: Option<i32>,
    duration_ms: Option<u128>,
    output_bytes: Option<u64>,
}

impl<'a> AuditEntry<'a> {
    /// The entry of a request just received: refused until it proves otherwise.
    fn refused(request: &'static str, action: &'a str) -> AuditEntry<'a> {
        AuditEntry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            request,
            requested_by: None,
            action,
            params: None,
            result: "refused",
            reason: None,
            exit_code: None,
            duration_ms: None,
            output_bytes: None,
        }
    }
}

/// A refused request: its status and the reason the audit log and the answer give.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: String,
}

impl Refusal {
    fn unauthorized(reason: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            reason: reason.into(),
        }
    }
    fn bad(reason: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }
    fn busy(reason: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": "refused", "reason": self.reason });
        (self.status, Json(body)).into_response()
    }
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    #[serde(default)]
    params: BTreeMap<String, String>,
    /// Who asked through the bot (`telegram:123456 @alice`), for the audit log.
    requested_by: String,
}

/// The routes, for `http::app` to merge when actions are configured.
pub fn router(actions: Arc<Actions>) -> Router {
    Router::new()
        .route("/api/actions", get(list))
        .route("/api/actions/{name}", post(handler))
        .with_state(actions)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Refusal> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refusal::unauthorized(format!("missing {name} header")))
}

/// The signature, timestamp and nonce checks.
fn authenticate(
    actions: &Actions,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    let signature = header(headers, action_sig::SIGNATURE_HEADER)?;
    let timestamp = header(headers, action_sig::TIMESTAMP_HEADER)?;
    let nonce = header(headers, action_sig::NONCE_HEADER)?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| Refusal::unauthorized("timestamp is not Unix seconds"))?;
    let now = now_secs();
    // abs_diff: any i64 a client sends, without overflow.
    if ts.abs_diff(now) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(Refusal::unauthorized(format!(
            "timestamp {}s from the agent's clock (at most {MAX_SKEW_SECS}s)",
            now.saturating_sub(ts)
        )));
    }
    // The nonces seen before a restart are gone, so a request signed before it could be
    // replayed after it: anything signed before this process started is refused.
    if ts < actions.started {
        return Err(Refusal::unauthorized(
            "timestamp before this agent started (a request from before a restart)",
        ));
    }
    let nonce_ok = |n: &str| {
        (16..=64).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !nonce_ok(nonce) {
        return Err(Refusal::unauthorized(
            "nonce must be 16 to 64 of A-Z a-z 0-9 - _",
        ));
    }
    let key = actions.key.current();
    // Empty: the key file was deleted or emptied, which revokes it; short: a bad rotation.
    if key.expose().len() < MIN_KEY_LEN {
        return Err(Refusal::busy("no usable action key on this agent"));
    }
    if !action_sig::verify(
        key.expose().as_bytes(),
        signature,
        method.as_str(),
        path,
        timestamp,
        nonce,
        body,
    ) {
        return Err(Refusal::unauthorized("bad signature"));
    }
    actions.nonces.claim(nonce, ts, now)
}

/// The argv with each parameter's value in place, or why the parameters are refused.
fn bind(action: &Action, params: &BTreeMap<String, String>) -> Result<Vec<String>, Refusal> {
    if let Some(p) = params.keys().find(|p| !action.params.contains_key(*p)) {
        return Err(Refusal::bad(format!("unknown parameter {p:?}")));
    }
    for (name, spec) in &action.params {
        let value = params
            .get(name)
            .ok_or_else(|| Refusal::bad(format!("missing parameter {name:?}")))?;
        if !spec.regex.is_match(value) {
            return Err(Refusal::bad(format!(
                "parameter {name:?} does not match ^(?:{})$",
                spec.regex
                    .as_str()
                    .trim_start_matches("^(?:")
                    .trim_end_matches(")$")
            )));
        }
        if spec.kind == ParamType::Integer && value.parse::<i64>().is_err() {
            return Err(Refusal::bad(format!(
                "parameter {name:?} is not an integer"
            )));
        }
    }
    Ok(action
        .argv
        .iter()
        .map(|a| match a {
            Arg::Literal(s) => s.clone(),
            Arg::Param(p) => params[p].clone(),
        })
        .collect())
}

/// `GET /api/actions`: the configured actions as the bot shows them, signed like a run (with
/// an empty body), refused and audited the same way otherwise.
async fn list(
    State(actions): State<Arc<Actions>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut entry = AuditEntry::refused("list", "");
    let checked = match body {
        Ok(body) if body.is_empty() => authenticate(&actions, &method, uri.path(), &headers, &body),
        _ => Err(Refusal::bad("a list request has an empty body")),
    };
    if let Err(r) = checked {
        entry.reason = Some(r.reason.clone());
        actions.record(&entry);
        return r.into_response();
    }
    entry.result = LISTED;
    actions.record(&entry);
    let list: Vec<_> = actions
        .actions
        .values()
        .map(|a| {
            let params: Vec<_> = a
                .params
                .iter()
                .map(|(name, p)| {
                    serde_json::json!({
                        "name": name,
                        "type": match p.kind {
                            ParamType::String => "string",
                            ParamType::Integer => "integer",
                        },
                        "regex": p.regex.as_str(),
                    })
                })
                .collect();
            serde_json::json!({
                "name": a.name,
                "description": a.description,
                "params": params,
                "timeout_seconds": a.timeout.as_secs_f64(),
                "all_agents": a.all_agents,
            })
        })
        .collect();
    Json(serde_json::json!({ "actions": list })).into_response()
}

async fn handler(
    State(actions): State<Arc<Actions>>,
    UrlPath(name): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut entry = AuditEntry::refused("run", &name);
    let refuse = |entry: &mut AuditEntry<'_>, refusal: Refusal| {
        entry.reason = Some(refusal.reason.clone());
        actions.record(entry);
        refusal.into_response()
    };
    // Too large (the http layer's body limit) or cut off: refused and audited like the rest.
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let r = Refusal {
                status: e.status(),
                reason: format!("body: {}", e.body_text()),
            };
            return refuse(&mut entry, r);
        }
    };
    if let Err(r) = authenticate(&actions, &method, uri.path(), &headers, &body) {
        return refuse(&mut entry, r);
    }
    let request: RunRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(&mut entry, Refusal::bad(format!("body: {e}"))),
    };
    entry.requested_by = Some(&request.requested_by);
    entry.params = Some(&request.params);
    let Some(action) = actions.actions.get(&name) else {
        let r = Refusal {
            status: StatusCode::NOT_FOUND,
            reason: format!("unknown action {name:?}"),
        };
        return refuse(&mut entry, r);
    };
    let argv = match bind(action, &request.params) {
        Ok(argv) => argv,
        Err(r) => return refuse(&mut entry, r),
    };
    // Owned and moved into the thread: a client that hangs up does not free the slot early.
    let Ok(permit) = Arc::clone(&actions.running).try_acquire_owned() else {
        let r = Refusal::busy(format!("{MAX_RUNNING} actions are running already"));
        return refuse(&mut entry, r);
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (user, timeout, cap) = (action.user.clone(), action.timeout, action.max_output);
    // A thread of its own: the runtime's small blocking pool serves /api/health.
    std::thread::spawn(move || {
        let outcome = run::run(&argv, &user, timeout, cap);
        drop(permit);
        let _ = tx.send(outcome);
    });
    let outcome = rx
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("the action's thread panicked")));
    match outcome {
        Err(e) => {
            let reason = format!("cannot start: {e}");
            entry.result = "error";
            entry.reason = Some(reason.clone());
            actions.record(&entry);
            let body = serde_json::json!({ "error": "cannot_start", "reason": reason });
            (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
        }
        Ok(o) => {
            entry.result = if o.timed_out {
                "timeout"
            } else if o.exit_code == Some(0) {
                "ok"
            } else {
                "failed"
            };
            entry.exit_code = o.exit_code;
            entry.duration_ms = Some(o.duration.as_millis());
            entry.output_bytes = Some(o.output_bytes);
            actions.record(&entry);
            Json(serde_json::json!({
                "action": name,
                "exit_code": o.exit_code,
                "signal": o.signal,
                "duration_seconds": o.duration.as_secs_f64(),
                "output": o.output,
                "output_bytes": o.output_bytes,
                "truncated": o.truncated,
                "killed": o.timed_out,
            }))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<(), Refusal>) -> Option<String> {
        r.err().map(|r| r.reason)
    }

    #[test]
    fn a_nonce_is_accepted_once_and_the_store_stays_bounded() {
        let nonces = Nonces::new(2);
        assert_eq!(reason(nonces.claim("a", 1000, 1000)), None);
        assert_eq!(
            reason(nonces.claim("a", 1000, 1010)).as_deref(),
            Some("replayed nonce")
        );
        assert_eq!(reason(nonces.claim("b", 1010, 1010)), None);
        // Full, and nothing has expired: refused rather than forgetting a live nonce.
        assert_eq!(
            reason(nonces.claim("c", 1010, 1020)).as_deref(),
            Some("too many recent requests, try again in a minute")
        );
        // "a" (timestamp 1000) is out of the ±30 s window at 1031: it makes room.
        assert_eq!(reason(nonces.claim("c", 1031, 1031)), None);
        assert_eq!(
            reason(nonces.claim("b", 1010, 1031)).as_deref(),
            Some("replayed nonce")
        );
    }
}

//! The bot's client of the agents' actions (issue 19): `GET /api/actions` and
//! `POST /api/actions/{name}` on each agent's exporter, signed with that agent's action key
//! (`vpsmon_common::action_sig`, the form the exporter checks). The key is read from its file
//! at each request (so a rotated or deleted file takes effect at once) and never logged or put
//! in an error. Requests in flight at once, over all agents, are bounded (`concurrency` in the
//! actions file, default 8).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use vpsmon_common::action_sig;
use vpsmon_receiver_delivery::config::actions::{ActionAgent, ActionsConfig};

/// How long a list may take, and connecting to an agent.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A run waits for the action's own timeout (the agent kills it then) and this much more.
const RUN_GRACE: Duration = Duration::from_secs(30);
/// An action's timeout when the list did not say (the agent's maximum).
pub const MAX_ACTION_TIMEOUT: Duration = Duration::from_secs(600);
/// The largest answer read from an agent. An agent caps an action's output at 1 MiB at most
/// (`max_output`), which JSON escaping can grow up to six times; a larger answer is not one an
/// exporter sends, and is refused rather than held in memory.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// One parameter of an action, as the agent lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ParamInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Anchored: `^(?:…)$`.
    pub regex: String,
}

impl ParamInfo {
    /// The regex as it was configured, without the anchoring the agent added.
    pub fn pattern(&self) -> &str {
        self.regex
            .strip_prefix("^(?:")
            .and_then(|r| r.strip_suffix(")$"))
            .unwrap_or(&self.regex)
    }
}

/// One action, as `GET /api/actions` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActionInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub params: Vec<ParamInfo>,
    pub timeout_seconds: f64,
    #[serde(default)]
    pub all_agents: bool,
}

#[derive(Deserialize)]
struct ListAnswer {
    actions: Vec<ActionInfo>,
}

/// What a run produced, as the agent answers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunResult {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_seconds: f64,
    /// Already valid UTF-8 (the agent replaced invalid bytes with U+FFFD); not escaped.
    pub output: String,
    #[serde(default)]
    pub truncated: bool,
    /// Killed at its timeout.
    #[serde(default)]
    pub killed: bool,
}

/// Why a request to an agent gave no answer. Never holds the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActionError {
    #[error("no usable action key (its file {0} is missing, empty or unreadable)")]
    NoKey(String),
    #[error("not reachable: {0}")]
    Unreachable(String),
    #[error("no answer in time ({0} s)")]
    Timeout(u64),
    #[error("refused by the agent ({status}): {reason}")]
    Refused { status: u16, reason: String },
    #[error("unexpected answer ({status}): {detail}")]
    Bad { status: u16, detail: String },
}

/// Signs and sends requests to the agents of the actions file.
#[derive(Debug, Clone)]
pub struct ActionClient {
    http: reqwest::Client,
    agents: Arc<Vec<ActionAgent>>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl ActionClient {
    pub fn new(config: &ActionsConfig) -> ActionClient {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would send the signed request somewhere it was not signed for.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        ActionClient {
            http,
            agents: Arc::new(config.agents.clone()),
            slots: Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1))),
        }
    }

    pub fn agents(&self) -> &[ActionAgent] {
        &self.agents
    }

    /// The actions the agent lists.
    pub async fn list(&self, agent: &ActionAgent) -> Result<Vec<ActionInfo>, ActionError> {
        let (status, body) = self
            .send(
                agent,
                reqwest::Method::GET,
                "/api/actions",
                Vec::new(),
                LIST_TIMEOUT,
            )
            .await?;
        let list: ListAnswer = serde_json::from_slice(&body).map_err(|e| ActionError::Bad {
            status,
            detail: e.to_string(),
        })?;
        Ok(list.actions)
    }

    /// Runs `action` on the agent and waits for its result: at most `timeout` (the action's own)
    /// and a grace period.
    pub async fn run(
        &self,
        agent: &ActionAgent,
        action: &str,
        params: &BTreeMap<String, String>,
        requested_by: &str,
        timeout: Duration,
    ) -> Result<RunResult, ActionError> {
        let body = serde_json::json!({ "params": params, "requested_by": requested_by });
        let (status, body) = self
            .send(
                agent,
                reqwest::Method::POST,
                &format!("/api/actions/{action}"),
                body.to_string().into_bytes(),
                timeout.min(MAX_ACTION_TIMEOUT) + RUN_GRACE,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| ActionError::Bad {
            status,
            detail: e.to_string(),
        })
    }

    /// One signed request; a success status and its body, else why not.
    async fn send(
        &self,
        agent: &ActionAgent,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), ActionError> {
        let key = agent.key.current();
        if key.is_empty() {
            return Err(ActionError::NoKey(agent.key.path().display().to_string()));
        }
        let _slot = self.slots.acquire().await.ok();
        let nonce = action_sig::nonce().map_err(|e| ActionError::Unreachable(e.to_string()))?;
        // Signed when sent, not when queued: a wait for a slot must not age the timestamp.
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = action_sig::sign(
            key.expose().as_bytes(),
            method.as_str(),
            path,
            &timestamp,
            &nonce,
            &body,
        );
        let request = self
            .http
            .request(method, format!("{}{path}", agent.url))
            .header(action_sig::TIMESTAMP_HEADER, timestamp)
            .header(action_sig::NONCE_HEADER, nonce)
            .header(action_sig::SIGNATURE_HEADER, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body);
        let mut resp = request.send().await.map_err(|e| fail(&e, timeout))?;
        let status = resp.status().as_u16();
        let too_large = || ActionError::Bad {
            status,
            detail: format!("an answer larger than {} MiB, not read", MAX_ANSWER >> 20),
        };
        if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(&e, timeout))? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            return Ok((status, bytes));
        }
        #[derive(Deserialize)]
        struct Refusal {
            reason: String,
        }
        Err(match serde_json::from_slice::<Refusal>(&bytes) {
            Ok(r) => ActionError::Refused {
                status,
                reason: r.reason,
            },
            Err(_) => ActionError::Bad {
                status,
                detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            },
        })
    }
}

/// A transport error as a short reason: the innermost cause ("Connection refused (os error
/// 111)"), which says more than reqwest's "error sending request".
fn fail(e: &reqwest::Error, timeout: Duration) -> ActionError {
    if e.is_timeout() {
        return ActionError::Timeout(timeout.as_secs());
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    ActionError::Unreachable(cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use vpsmon_common::SecretFile;

    /// A compromised agent that answers every request with `len` bytes (chunked, so with no
    /// Content-Length to refuse up front): the client stops reading past [`MAX_ANSWER`].
    async fn oversized_agent(len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = conn.read(&mut request).await;
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                transfer-encoding: chunked\r\n\r\n";
                    if conn.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b' '; 1 << 20];
                    let mut sent = 0;
                    while sent < len {
                        let n = chunk.len().min(len - sent);
                        let framed =
                            [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
                        if conn.write_all(&framed).await.is_err() {
                            return;
                        }
                        sent += n;
                    }
                    let _ = conn.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_cap_is_refused_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("action.key");
        std::fs::write(&key, "k".repeat(64)).unwrap();
        let agent = |url: String| ActionAgent {
            name: "web1".into(),
            url,
            key: SecretFile::open(&key).unwrap(),
            labels: BTreeMap::new(),
        };
        let client = ActionClient::new(&ActionsConfig {
            users: vec![1],
            file: None,
            concurrency: 2,
            agents: Vec::new(),
        });
        let err = client
            .list(&agent(oversized_agent(MAX_ANSWER + (1 << 20)).await))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ActionError::Bad {
                status: 200,
                detail: "an answer larger than 16 MiB, not read".into()
            }
        );
        // Under the cap the answer is read whole (and then found not to be a list).
        let err = client
            .list(&agent(oversized_agent(1 << 20).await))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ActionError::Bad { status: 200, detail } if detail.contains("EOF")),
            "{err:?}"
        );
    }
}

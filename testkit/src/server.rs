//! What every fake shares: a loopback HTTP server on its own thread, scripted faults, and a way
//! to wait for what a fake received.
//!
//! Each fake runs on a dedicated thread with its own tokio runtime, so it keeps answering while
//! the test thread blocks (a `std::thread::sleep`, a `Proc::wait_exit`) or runs a
//! single-threaded `#[tokio::test]` runtime busy with something else.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, oneshot};

/// A running fake: stops and joins its thread on drop.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds a loopback port no test has been given for something else, and serves `app` until
    /// dropped.
    pub(crate) fn start(name: &str, app: Router) -> Server {
        let listener = crate::procs::bind_loopback();
        listener.set_nonblocking(true).expect("set_nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("fake-{name}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake server runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    // Not graceful on purpose: a request held by a Timeout fault must not keep
                    // the test from ending.
                    tokio::select! {
                        r = axum::serve(listener, app) => { r.expect("fake server"); }
                        _ = stopped => {}
                    }
                });
                rt.shutdown_background();
            })
            .expect("spawn fake server thread");
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs each request to completion even when the client hangs up, as a real server does: a
/// request held past the client's timeout is still answered, recorded and (for a slow
/// success) delivered.
/// Use as `axum::middleware::from_fn(detach)`.
pub(crate) async fn detach(req: Request, next: Next) -> Response {
    tokio::spawn(next.run(req))
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A moment given either as an `Instant` or as a duration from now.
pub trait Until {
    fn instant(self) -> Instant;
}

impl Until for Instant {
    fn instant(self) -> Instant {
        self
    }
}

impl Until for Duration {
    fn instant(self) -> Instant {
        Instant::now() + self
    }
}

/// Scripted faults: a queue consumed one per matching call, and outage windows during which
/// every matching call fails. `S` says which calls a fault applies to (the Telegram fake scopes
/// by method or chat; the others use `()`).
pub(crate) struct FaultPlan<S, F> {
    queue: VecDeque<(S, F)>,
    outages: Vec<(Instant, S, F)>,
}

impl<S, F> Default for FaultPlan<S, F> {
    fn default() -> Self {
        FaultPlan {
            queue: VecDeque::new(),
            outages: Vec::new(),
        }
    }
}

impl<S, F: Clone> FaultPlan<S, F> {
    pub(crate) fn push(&mut self, scope: S, fault: F) {
        self.queue.push_back((scope, fault));
    }

    pub(crate) fn fail_until(&mut self, until: Instant, scope: S, fault: F) {
        self.outages.push((until, scope, fault));
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.outages.clear();
    }

    /// The fault for a call, if any: an active outage first, else the first queued fault whose
    /// scope `matches` the call.
    pub(crate) fn next(&mut self, matches: impl Fn(&S) -> bool) -> Option<F> {
        let now = Instant::now();
        self.outages.retain(|(until, _, _)| now < *until);
        if let Some((_, _, fault)) = self.outages.iter().find(|(_, s, _)| matches(s)) {
            return Some(fault.clone());
        }
        let pos = self.queue.iter().position(|(s, _)| matches(s))?;
        self.queue.remove(pos).map(|(_, f)| f)
    }
}

/// Waits until `check` yields Some, woken by `notify` (and re-checked every 100 ms in case a
/// wake-up raced). Panics after `timeout` with `describe()` so the failing test shows what the
/// fake did get.
pub(crate) async fn wait_until<T>(
    notify: &Arc<Notify>,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
    describe: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(v) = check() {
            return v;
        }
        let now = Instant::now();
        if now >= deadline {
            panic!("timed out after {timeout:?}: {}", describe());
        }
        let step = (deadline - now).min(Duration::from_millis(100));
        let _ = tokio::time::timeout(step, notified).await;
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
pub(crate) fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

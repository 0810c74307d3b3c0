//! One HTTP/1.1 server loop for every binary, hardened against clients that hold sockets open.
//!
//! `axum::serve` never times out a connection, so idle sockets pile up until `accept` fails with
//! EMFILE and nobody is served. Here:
//! - a request's header must arrive within [`Limits::header_timeout`] (an idle keep-alive
//!   connection is closed after the same time),
//! - a request's whole body must arrive within [`Limits::body_timeout`] (reading it then fails
//!   with [`BodyTimeout`]),
//! - at most [`Limits::max_connections`] connections are open: past that, the oldest connection
//!   with no request in progress is closed to make room, so a well-behaved client is still served
//!   while others sit idle (and the process never reaches its open-files limit),
//! - an `accept` error backs off instead of spinning, and a stop lets requests in progress finish.
//!
//! With a [`FastRoute`] ([`serve_with`]), its requests skip the router, and up to 8 connections
//! at a time are served on a thread of their own that answers them without the runtime (the
//! fast lane, `serve/lane.rs`), handing anything else to hyper.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

mod lane;

/// A connection's read buffer, which also bounds a request's header. hyper's default (~400 KB)
/// lets each connection hold that much of a body not yet read (hyper reads ahead of the handler),
/// so a few hundred waiting uploads would hold a hundred MB.
const READ_BUFFER: usize = 32 * 1024;

/// What a server tolerates from its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; kept well below the usual 1,024 open files, leaving room for
    /// the process's own files and outgoing connections.
    pub max_connections: usize,
    /// Time to receive a request's header, and the longest a keep-alive connection stays idle.
    pub header_timeout: Duration,
    /// Time to receive a request's whole body, from the end of its header.
    pub body_timeout: Duration,
    /// How long a fast lane's connection, once it has had an answer, may wait for the first
    /// byte of its next request (then the header timeout runs). Longer than a scrape interval
    /// (15 s to 1 min), so that a scraper keeps one connection instead of opening one per scrape.
    pub keep_alive: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(120),
        }
    }
}

/// The error reading a request body gives when its [`Limits::body_timeout`] has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}s", .0.as_secs_f64())]
pub struct BodyTimeout(pub Duration);

impl BodyTimeout {
    /// Whether `error` (or any error in its chain) is a body timeout, so that a handler can
    /// answer 408 instead of a generic 400.
    pub fn is_in(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut e = Some(error);
        while let Some(err) = e {
            if err.is::<BodyTimeout>() {
                return true;
            }
            e = err.source();
        }
        false
    }
}

/// A response being made by a [`FastRoute`].
pub type FastAnswer = Pin<Box<dyn Future<Output = axum::response::Response> + Send>>;

/// One route answered without the router: a server's hot path (the exporter's `GET /metrics`,
/// scraped every 15 s), where the router's matching and layers cost a tenth of the request.
/// It sees every request first and takes only the ones it answers in full; the rest, and
/// anything it does not expect, go to the app as before.
pub trait FastRoute: Send + Sync + 'static {
    /// The answer to the request `head` when this route takes it, else `None`. Runs on the
    /// runtime: it must not block.
    fn answer(&self, head: &Head<'_>) -> Option<FastAnswer>;

    /// The same answer, made on a fast-lane thread (see `lane`), which it may block while it
    /// waits. Called within the runtime's context (its timers and `Handle::current` work).
    fn answer_blocking(&self, head: &Head<'_>) -> Option<axum::http::Response<Bytes>>;

    /// The headers [`FastRoute::answer_blocking`] reads: a lane keeps only these in
    /// [`Head::headers`] (copying each header costs an allocation).
    fn headers(&self) -> &'static [axum::http::HeaderName];
}

/// What a [`FastRoute`] sees of a request.
#[derive(Debug)]
pub struct Head<'a> {
    pub method: &'a axum::http::Method,
    pub uri: &'a axum::http::Uri,
    pub headers: &'a axum::http::HeaderMap,
    /// Whether a body follows the header (a `Content-Length` above 0, or chunks).
    pub has_body: bool,
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then stops accepting,
/// closes idle connections and waits for the requests in progress to be answered.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, None, limits, shutdown).await
}

/// [`serve`], with `fast` asked before `app` on every request.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    fast: Option<Arc<dyn FastRoute>>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let open = Arc::new(Mutex::new(Open::default()));
    let lanes = Arc::new(lane::Lanes::default());
    let mut tasks = JoinSet::new();
    let mut last_accept_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // EMFILE and the like: retrying at once would spin a core.
                    if last_accept_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(error = %e, "accept failed; backing off");
                        last_accept_warning = Some(Instant::now());
                    }
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        let Some(conn) = open.lock().unwrap().admit(limits.max_connections) else {
            // Every connection is answering a request: refuse this one rather than exceed the cap.
            tracing::debug!("connection limit reached; closing a new connection");
            continue;
        };
        let registered = Registered {
            open: Arc::clone(&open),
            conn,
        };
        let slot = fast.as_ref().and_then(|_| lanes.take());
        let (stream, handed) = match (fast.as_ref(), slot) {
            (Some(route), Some(slot)) => {
                match to_lane(stream, route, &registered, limits, &stopping, slot) {
                    Ok(handed) => (None, Some(handed)),
                    Err(stream) => (stream, None),
                }
            }
            _ => (Some(stream), None),
        };
        let (app, fast, stopping) = (app.clone(), fast.clone(), stopping.clone());
        tasks.spawn(async move {
            // A lane's connection is the lane's until it ends or hands over to hyper.
            let io = match (stream, handed) {
                (Some(stream), _) => Prefixed::new(stream, Vec::new()),
                (None, Some(handed)) => match handed.await {
                    Ok(Some(off)) => match back(off.stream) {
                        Some(stream) => Prefixed::new(stream, off.read),
                        None => return,
                    },
                    _ => return,
                },
                (None, None) => return,
            };
            connection(io, app, fast, limits, registered, stopping).await;
        });
    }
    let _ = stop.send(true);
    // Idle lanes block in `recv`: shut them down; a lane answering finishes, then sees the stop.
    for conn in open.lock().unwrap().conns.values() {
        if conn.busy.load(Ordering::Acquire) == 0 {
            conn.shut_lane();
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Moves `stream` to a fast-lane thread; the receiver gets the connection back if hyper is to
/// serve the rest of it. `Err` holds the stream to serve on the runtime instead (`None` if it
/// was lost on the way, which only a failing `fcntl` can do).
fn to_lane(
    stream: TcpStream,
    route: &Arc<dyn FastRoute>,
    registered: &Registered,
    limits: Limits,
    stopping: &watch::Receiver<bool>,
    slot: lane::Slot,
) -> Result<tokio::sync::oneshot::Receiver<Option<lane::HandOff>>, Option<TcpStream>> {
    let std_stream = stream.into_std().map_err(|_| None)?;
    if std_stream.set_nonblocking(false).is_err() {
        return Err(back(std_stream));
    }
    let (done, handed) = tokio::sync::oneshot::channel();
    let lane = lane::Lane {
        route: Arc::clone(route),
        conn: Arc::clone(&registered.conn.1),
        limits,
        stopping: stopping.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    lane::start(std_stream, lane, slot, done).map_err(back)?;
    Ok(handed)
}

/// A socket back on the runtime, if it can be.
fn back(stream: std::net::TcpStream) -> Option<TcpStream> {
    stream
        .set_nonblocking(true)
        .and_then(|()| TcpStream::from_std(stream))
        .ok()
}

/// Errors of one incoming connection (it was reset before we took it), not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Conn {
    /// Requests being answered (until their response body is written).
    busy: AtomicUsize,
    /// Asks the connection to close now.
    evict: Notify,
    /// A duplicate of the socket while a fast lane serves it: shut down to close the lane.
    lane: Mutex<Option<std::net::TcpStream>>,
}

impl Conn {
    /// Closes the connection if a lane serves it (its blocked read then returns).
    fn shut_lane(&self) {
        if let Some(s) = self.lane.lock().unwrap().as_ref() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Open {
    next_id: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
}

impl Open {
    /// Registers a new connection, first evicting the oldest idle one when at `max`; `None`
    /// when every open connection is busy.
    fn admit(&mut self, max: usize) -> Option<(u64, Arc<Conn>)> {
        if self.conns.len() >= max.max(1) {
            let idle = self
                .conns
                .iter()
                .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id)?;
            if let Some(c) = self.conns.remove(&idle) {
                c.evict.notify_one();
                c.shut_lane();
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let conn = Arc::new(Conn::default());
        self.conns.insert(id, Arc::clone(&conn));
        Some((id, conn))
    }
}

/// Removes its connection from [`Open`] when the connection's task ends, however it ends.
struct Registered {
    open: Arc<Mutex<Open>>,
    conn: (u64, Arc<Conn>),
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.open.lock().unwrap().conns.remove(&self.conn.0);
    }
}

/// Counts a request as in progress for as long as it lives.
struct Busy(Arc<Conn>);

impl Busy {
    fn new(conn: &Arc<Conn>) -> Busy {
        conn.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(conn))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn connection(
    stream: Prefixed,
    app: Router,
    fast: Option<Arc<dyn FastRoute>>,
    limits: Limits,
    registered: Registered,
    mut stopping: watch::Receiver<bool>,
) {
    let conn = Arc::clone(&registered.conn.1);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::new(&conn);
        let fast = fast.as_ref().and_then(|f| {
            f.answer(&Head {
                method: request.method(),
                uri: request.uri(),
                headers: request.headers(),
                has_body: !http_body::Body::is_end_stream(request.body()),
            })
        });
        let app = app.clone();
        async move {
            let response = match fast {
                Some(answer) => answer.await,
                None => {
                    let request =
                        request.map(|b| Body::new(DeadlineBody::new(b, limits.body_timeout)));
                    app.oneshot(request).await?
                }
            };
            // The request stays busy until its response body is written (hyper drops the body
            // then), so a long /metrics answer is never evicted half-way.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &busy;
                    frame
                }))
            }))
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(READ_BUFFER)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(http);
    let mut closing = false;
    loop {
        tokio::select! {
            result = http.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = registered.conn.1.evict.notified() => break,
            _ = stopping.wait_for(|s| *s), if !closing => {
                // Finishes the request in progress, if any, then closes.
                closing = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
}

/// A request body that fails with [`BodyTimeout`] once its deadline has passed.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's socket, with the bytes a fast lane read from it before handing it over
/// served first.
struct Prefixed {
    read: Bytes,
    stream: TcpStream,
}

impl Prefixed {
    fn new(stream: TcpStream, read: Vec<u8>) -> Prefixed {
        Prefixed {
            read: Bytes::from(read),
            stream,
        }
    }
}

impl tokio::io::AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.read.is_empty() {
            let n = this.read.len().min(buf.remaining());
            buf.put_slice(&this.read.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

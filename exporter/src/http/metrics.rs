//! `GET /metrics`: one collection shared by every scrape that arrives while it runs
//! (single-flight), and a cap on the requests in flight so a scrape storm gets 503 instead of
//! piling up. A scrape is answered on its connection's fast-lane thread when it has one
//! ([`MetricsRoute`], `vpsmon_common::serve`'s lanes), collecting right there; otherwise the
//! collection runs as its own task on the runtime thread (reading /proc does not block; only
//! statvfs can, and that is awaited, see [`Scraper::scrape_async`]).
//!
//! gzip is done here rather than by tower-http's streaming layer: one `GzEncoder` pass over the
//! finished body costs about half as much CPU, and scrapes sharing a collection share its gzip.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::{Compress, Compression, FlushCompress, Status};
use tokio::sync::watch;
use vpsmon_common::serve::{FastAnswer, FastRoute, Head};

use super::{AppState, HttpError};
use crate::collector::{OPENMETRICS_CONTENT_TYPE, Scraper, TEXT_CONTENT_TYPE, to_text_format};

/// A collection as the server runs it.
pub type Collecting = Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;

/// What produces a metrics body. The real one is [`Scraper`]; tests plug in one they can hold.
pub trait Collect: Send + Sync + 'static {
    /// One full collection as an OpenMetrics body. May block.
    fn collect(&self) -> Vec<u8>;

    /// The collection as the server runs it, in a task of its (single-threaded) runtime. The
    /// default runs [`Collect::collect`] on the blocking pool, since it may block.
    fn collect_async(self: Arc<Self>) -> Collecting {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || self.collect())
                .await
                .expect("the collection panicked")
        })
    }
}

impl Collect for Scraper {
    fn collect(&self) -> Vec<u8> {
        self.scrape()
    }

    /// Collects on the runtime thread: a hand-off to the blocking pool and back cost about as
    /// much CPU as the collection itself. What could block (statvfs of a hung mount) is awaited.
    fn collect_async(self: Arc<Self>) -> Collecting {
        Box::pin(async move { self.scrape_async().await })
    }
}

/// One collection's body (OpenMetrics), and what scrapes asked for made from it once: its
/// gzip, its Prometheus text format 0.0.4, and that one's gzip.
#[derive(Debug)]
pub struct Scrape {
    plain: Bytes,
    /// `None` if deflate failed (it cannot on a buffer; then the body goes out plain).
    gzip: OnceLock<Option<Bytes>>,
    text: OnceLock<Bytes>,
    text_gzip: OnceLock<Option<Bytes>>,
}

impl Scrape {
    fn new(plain: Vec<u8>) -> Scrape {
        Scrape {
            plain: Bytes::from(plain),
            gzip: OnceLock::new(),
            text: OnceLock::new(),
            text_gzip: OnceLock::new(),
        }
    }

    fn body(&self, format: Format) -> Bytes {
        match format {
            Format::OpenMetrics => self.plain.clone(),
            Format::Text => self
                .text
                .get_or_init(|| Bytes::from(to_text_format(&self.plain)))
                .clone(),
        }
    }

    /// gzip level 1: most of the size win (the text is repetitive) for little CPU.
    fn gzip(&self, format: Format) -> Option<Bytes> {
        let cell = match format {
            Format::OpenMetrics => &self.gzip,
            Format::Text => &self.text_gzip,
        };
        cell.get_or_init(|| gzip(&self.body(format)).map(Bytes::from))
            .clone()
    }
}

/// The exposition formats /metrics answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text => TEXT_CONTENT_TYPE,
        }
    }
}

/// The format `Accept` asks for, as node_exporter (client_golang's expfmt) negotiates:
/// OpenMetrics only when `application/openmetrics-text` (version absent, 0.0.1 or 1.0.0) is
/// accepted with a higher quality than `text/plain` (version absent or 0.0.4), ties going to
/// the one listed first; anything else (no header, `*/*`) gets the text format 0.0.4.
fn negotiate(headers: &HeaderMap) -> Format {
    let mut best: Option<(f32, Format)> = None;
    let ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for range in ranges {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let mut q = 1.0f32;
        let mut version = None;
        for p in parts {
            if let Some(v) = p.strip_prefix("q=") {
                q = v.parse().unwrap_or(0.0);
            } else if let Some(v) = p.strip_prefix("version=") {
                version = Some(v.trim_matches('"'));
            }
        }
        let format = if media.eq_ignore_ascii_case("application/openmetrics-text")
            && matches!(version, None | Some("0.0.1" | "1.0.0"))
        {
            Format::OpenMetrics
        } else if media.eq_ignore_ascii_case("text/plain")
            && matches!(version, None | Some("0.0.4"))
        {
            Format::Text
        } else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, format));
        }
    }
    best.map_or(Format::Text, |(_, f)| f)
}

/// One deflate state reused by every scrape: allocating zlib's ~300 KiB of state anew for each
/// scrape churned the heap (RSS grew by about 2 MB over a thousand gzip scrapes).
static COMPRESSOR: Mutex<Option<Compress>> = Mutex::new(None);

/// `data` as a gzip member (RFC 1952), level 1.
fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut guard = COMPRESSOR.lock().unwrap_or_else(|e| e.into_inner());
    let c = guard.get_or_insert_with(|| Compress::new_gzip(Compression::fast(), 15));
    c.reset();
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    // Each round either finishes or fills the spare capacity, which then doubles: bounded.
    loop {
        let read = c.total_in() as usize;
        match c.compress_vec(&data[read..], &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Some(out),
            Ok(_) => out.reserve(out.capacity().max(4096)),
            Err(e) => {
                tracing::warn!(error = %e, "gzip failed, answering uncompressed");
                return None;
            }
        }
    }
}

/// The result of one collection as the waiters see it; `None` until it is done.
type Flight = watch::Receiver<Option<Arc<Scrape>>>;

struct Inner {
    in_flight: usize,
    current: Option<Flight>,
}

/// Shared by all requests: the in-flight count and the collection now running, under one lock so
/// that "counted" and "joined the running collection" happen together.
pub struct Gate {
    max: usize,
    inner: Mutex<Inner>,
}

/// A counted request; uncounts itself when dropped (also when the client goes away).
pub struct Permit<'a> {
    gate: &'a Gate,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.lock().in_flight -= 1;
    }
}

impl Gate {
    /// `max` requests at once; 0 means no limit.
    pub fn new(max: usize) -> Gate {
        Gate {
            max,
            inner: Mutex::new(Inner {
                in_flight: 0,
                current: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot panic halfway; a poisoned lock still holds sane counts.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests now being served by /metrics and /api/health.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    fn admit(inner: &mut Inner, max: usize) -> Result<(), HttpError> {
        if max != 0 && inner.in_flight >= max {
            return Err(HttpError::TooManyRequests { max });
        }
        inner.in_flight += 1;
        Ok(())
    }

    /// Counts a request that does not collect metrics (/api/health), or refuses it.
    pub fn permit(&self) -> Result<Permit<'_>, HttpError> {
        Self::admit(&mut self.lock(), self.max)?;
        Ok(Permit { gate: self })
    }

    /// Counts a scrape and returns the collection it shares: the running one, or a new one
    /// started as a task.
    fn join(
        self: &Arc<Self>,
        collector: &Arc<dyn Collect>,
    ) -> Result<(Permit<'_>, Flight), HttpError> {
        let mut inner = self.lock();
        Self::admit(&mut inner, self.max)?;
        let permit = Permit { gate: self };
        if let Some(flight) = &inner.current {
            return Ok((permit, flight.clone()));
        }
        let (tx, rx) = watch::channel(None);
        inner.current = Some(rx.clone());
        drop(inner);
        let done = Done(Arc::clone(self));
        let collection = Arc::clone(collector).collect_async();
        // A task of its own: the collection finishes and clears the slot even if every waiting
        // client went away.
        tokio::spawn(async move {
            let body = Arc::new(Scrape::new(collection.await));
            // Clear first: a scrape arriving after this point wants fresh numbers.
            drop(done);
            let _ = tx.send(Some(body));
        });
        Ok((permit, rx))
    }
}

impl Gate {
    /// [`Gate::join`] for a thread that may block: a running collection is waited for (within
    /// the request timeout); otherwise this thread collects, and scrapes arriving meanwhile
    /// share what it finds. Needs the runtime's context (for the timeout).
    fn join_blocking(
        self: &Arc<Self>,
        collector: &Arc<dyn Collect>,
    ) -> Result<Joined<'_>, HttpError> {
        let mut inner = self.lock();
        Self::admit(&mut inner, self.max)?;
        let permit = Permit { gate: self };
        if let Some(flight) = &inner.current {
            let mut flight = flight.clone();
            drop(inner);
            let runtime = tokio::runtime::Handle::current();
            let waited = runtime.block_on(tokio::time::timeout(super::REQUEST_TIMEOUT, async {
                flight
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|s| s.clone())
            }));
            return match waited {
                Ok(Some(scrape)) => Ok(Joined::Ready(permit, scrape)),
                Ok(None) => Err(HttpError::Internal("the collection did not finish".into())),
                Err(_) => Ok(Joined::TimedOut),
            };
        }
        let (tx, rx) = watch::channel(None);
        inner.current = Some(rx);
        drop(inner);
        let done = Done(Arc::clone(self));
        let start = std::time::Instant::now();
        let scrape = Arc::new(Scrape::new(collector.collect()));
        drop(done);
        let _ = tx.send(Some(Arc::clone(&scrape)));
        if start.elapsed() > super::REQUEST_TIMEOUT {
            return Ok(Joined::TimedOut);
        }
        Ok(Joined::Ready(permit, scrape))
    }
}

/// What a scrape on a lane got from the gate.
enum Joined<'a> {
    Ready(Permit<'a>, Arc<Scrape>),
    /// The collection took longer than the request timeout (the router's layer answers 503
    /// then; so does the lane).
    TimedOut,
}

/// Clears the gate's running collection when dropped, also when the collection panicked (its
/// waiters then get 500 and the next scrape starts a new one).
struct Done(Arc<Gate>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.lock().current = None;
    }
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    respond(state, Wants::of(&headers)).await
}

/// What a scrape's headers ask for, read before the collection so that the request's headers
/// need not be kept while it runs.
#[derive(Debug, Clone, Copy)]
struct Wants {
    format: Format,
    gzip: bool,
}

impl Wants {
    fn of(headers: &HeaderMap) -> Wants {
        Wants {
            format: negotiate(headers),
            gzip: accepts_gzip(headers),
        }
    }
}

/// Joins (or starts) the collection and answers from it as `wants` asks.
async fn respond(state: AppState, wants: Wants) -> Result<Response, HttpError> {
    let (_permit, mut flight) = state.gate.join(&state.collector)?;
    let scrape = flight
        .wait_for(Option::is_some)
        .await
        .map_err(|_| HttpError::Internal("the collection did not finish".into()))?
        .clone()
        .ok_or_else(|| HttpError::Internal("the collection did not finish".into()))?;
    Ok(answer_from(&scrape, wants).map(Body::from))
}

/// The answer to a scrape that wants `wants`, from its collection.
fn answer_from(scrape: &Scrape, wants: Wants) -> axum::http::Response<Bytes> {
    let format = wants.format;
    let gzipped = if wants.gzip {
        scrape.gzip(format)
    } else {
        None
    };
    let mut response = axum::http::Response::new(Bytes::new());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if gzipped.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static("accept, accept-encoding"),
    );
    *response.body_mut() = gzipped.unwrap_or_else(|| scrape.body(format));
    response
}

/// [`respond`] on a fast-lane thread: the collection runs right here when none is running, and
/// a running one is waited for (within the request timeout).
fn respond_blocking(
    state: &AppState,
    wants: Wants,
) -> Result<axum::http::Response<Bytes>, HttpError> {
    match state.gate.join_blocking(&state.collector)? {
        Joined::Ready(_permit, scrape) => Ok(answer_from(&scrape, wants)),
        Joined::TimedOut => Ok(StatusCode::SERVICE_UNAVAILABLE
            .into_response()
            .map(|_| Bytes::new())),
    }
}

/// `GET /metrics` answered ahead of the router (`vpsmon_common::serve::FastRoute`): the same
/// credentials check, request timeout and answer as the routed handler, without the router's
/// path matching, layers and header-map copy on every scrape. A request with a body (or any
/// other method or path) goes to the router, which refuses or serves it as before.
pub struct MetricsRoute {
    pub state: AppState,
}

impl MetricsRoute {
    /// Whether the route takes `head`; `Err` is the refusal of a scrape without valid
    /// credentials (as the router's auth layer answers it).
    fn takes(&self, head: &Head<'_>) -> Option<Result<Wants, Response>> {
        if head.method != Method::GET || head.uri.path() != "/metrics" || head.has_body {
            return None;
        }
        if let Err(err) = self.state.auth.check(head.headers) {
            tracing::debug!(path = "/metrics", reason = %err, "refused request");
            return Some(Err(err.into_response()));
        }
        Some(Ok(Wants::of(head.headers)))
    }
}

impl FastRoute for MetricsRoute {
    fn answer(&self, head: &Head<'_>) -> Option<FastAnswer> {
        let wants = match self.takes(head)? {
            Ok(wants) => wants,
            Err(refused) => return Some(Box::pin(async move { refused })),
        };
        let state = self.state.clone();
        Some(Box::pin(async move {
            match tokio::time::timeout(super::REQUEST_TIMEOUT, respond(state, wants)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => e.into_response(),
                // As the router's TimeoutLayer answers.
                Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }))
    }

    fn headers(&self) -> &'static [axum::http::HeaderName] {
        static READ: [axum::http::HeaderName; 3] = [
            header::AUTHORIZATION,
            header::ACCEPT,
            header::ACCEPT_ENCODING,
        ];
        &READ
    }

    fn answer_blocking(&self, head: &Head<'_>) -> Option<axum::http::Response<Bytes>> {
        let response = match self.takes(head)? {
            Ok(wants) => match respond_blocking(&self.state, wants) {
                Ok(response) => return Some(response),
                Err(e) => e.into_response(),
            },
            Err(refused) => refused,
        };
        // The refusals' bodies are whole (JSON) and taken at once.
        let (parts, body) = response.into_parts();
        let body = tokio::runtime::Handle::current()
            .block_on(axum::body::to_bytes(body, usize::MAX))
            .unwrap_or_default();
        Some(axum::http::Response::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        accepts_gzip(&h)
    }

    fn format(value: &str) -> Format {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&h)
    }

    #[test]
    fn accept_is_negotiated_as_node_exporter_does() {
        assert_eq!(negotiate(&HeaderMap::new()), Format::Text);
        assert_eq!(format("*/*"), Format::Text);
        assert_eq!(format("text/plain; version=0.0.4"), Format::Text);
        assert_eq!(format("application/openmetrics-text"), Format::OpenMetrics);
        // Prometheus 2.x's default scrape Accept.
        assert_eq!(
            format(
                "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
            ),
            Format::OpenMetrics
        );
        assert_eq!(
            format("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
            Format::Text
        );
        assert_eq!(format("application/openmetrics-text;q=0"), Format::Text);
        assert_eq!(
            format("application/openmetrics-text;version=9.9"),
            Format::Text
        );
    }

    #[test]
    fn accept_encoding_is_read_like_rfc_9110_says() {
        assert!(accept("gzip"));
        assert!(accept("GZIP"));
        assert!(accept("deflate, gzip;q=0.5"));
        assert!(accept("*"));
        assert!(!accept("identity"));
        assert!(!accept("br, deflate"));
        assert!(!accept("gzip;q=0"));
        assert!(!accept("gzip; q=0.0"));
        assert!(!accept_none());
    }

    #[test]
    fn the_reused_compressor_makes_whole_gzip_members() {
        use std::io::Read;
        let bodies = [
            "# TYPE node_load1 gauge\nnode_load1 0.5\n".repeat(3000),
            String::new(),
            "x".to_string(),
            "# EOF\n".repeat(10),
        ];
        for body in &bodies {
            let gz = gzip(body.as_bytes()).unwrap();
            let mut back = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut back)
                .unwrap();
            assert_eq!(&back, body);
        }
    }

    /// The server's real collection with a filesystem whose statvfs hangs until released: the
    /// scrape waits without holding the runtime thread, so /ping answers meanwhile, and a
    /// second scrape shares the waiting collection.
    #[tokio::test(flavor = "current_thread")]
    async fn ping_answers_while_a_scrape_waits_on_a_hung_mount() {
        use std::path::Path;

        use axum::http::{Request, StatusCode};
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        use crate::collector::filesystem::{self, FilesystemCollector, FsStats, StatFn};
        use crate::collector::testutil::{config_for, scraper_of, tree};
        use crate::http::{Auth, Options, app};

        let dir = tree(&[("proc/1/mounts", b"nfs:/a /hung nfs4 rw 0 0\n")]);
        let mut config = config_for(dir.path());
        // Far beyond the test's own steps, so only the release ends the statvfs.
        config
            .options
            .set(&filesystem::MOUNT_TIMEOUT, vec!["60s".into()]);
        let (entered_tx, mut entered_rx) = tokio::sync::mpsc::unbounded_channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let stat: Arc<StatFn> = Arc::new(move |_: &Path| {
            let _ = entered_tx.send(());
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(std::time::Duration::from_secs(120));
            Ok(FsStats {
                size_bytes: 4096,
                ..FsStats::default()
            })
        });
        let scraper = scraper_of(
            "filesystem",
            Box::new(FilesystemCollector::new(&config, stat).unwrap()),
        );
        let options = Options {
            max_requests: 40,
            paths: config.paths.clone(),
            statfs_timeout: filesystem::mount_timeout(&config.options).unwrap(),
        };
        let state = AppState::new(Arc::new(scraper), Auth::default(), options);
        let app = app(state.clone());
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let first = tokio::spawn(app.clone().oneshot(get("/metrics")));
        assert_eq!(entered_rx.recv().await, Some(()));
        let second = tokio::spawn(app.clone().oneshot(get("/metrics")));

        let ping = app.clone().oneshot(get("/ping")).await.unwrap();
        assert_eq!(ping.status(), StatusCode::OK);
        for _ in 0..10_000 {
            if state.in_flight() == 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(state.in_flight(), 2, "the second scrape did not join");

        release_tx.send(()).unwrap();
        let line = "node_filesystem_size_bytes{device=\"nfs:/a\",fstype=\"nfs4\",mountpoint=\"/hung\"} 4096\n";
        for scrape in [first, second] {
            let response = scrape.await.unwrap().unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains(line), "{body}");
        }
        // One collection, so one statvfs, for both scrapes.
        assert!(entered_rx.try_recv().is_err());
    }

    fn accept_none() -> bool {
        accepts_gzip(&HeaderMap::new())
    }
}

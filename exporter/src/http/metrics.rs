//! `GET /metrics`: one collection shared by every scrape that arrives while it runs
//! (single-flight), on the blocking pool because collecting is file I/O, and a cap on the
//! requests in flight so a scrape storm gets 503 instead of piling up.
//!
//! gzip is done here rather than by tower-http's streaming layer: one `GzEncoder` pass over the
//! finished body costs about half as much CPU, and scrapes sharing a collection share its gzip.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flate2::{Compress, Compression, FlushCompress, Status};
use tokio::sync::watch;

use super::{AppState, HttpError};
use crate::collector::{OPENMETRICS_CONTENT_TYPE, Scraper};

/// What produces a metrics body. The real one is [`Scraper`]; tests plug in one they can hold.
pub trait Collect: Send + Sync + 'static {
    /// One full collection as an OpenMetrics body. Blocking; runs on the blocking pool.
    fn collect(&self) -> Vec<u8>;
}

impl Collect for Scraper {
    fn collect(&self) -> Vec<u8> {
        self.scrape()
    }
}

/// One collection's body, and its gzip once a scrape asked for it.
#[derive(Debug)]
pub struct Scrape {
    plain: Bytes,
    /// `None` if deflate failed (it cannot on a buffer; then the body goes out plain).
    gzip: OnceLock<Option<Bytes>>,
}

impl Scrape {
    fn new(plain: Vec<u8>) -> Scrape {
        Scrape {
            plain: Bytes::from(plain),
            gzip: OnceLock::new(),
        }
    }

    /// gzip level 1: most of the size win (the text is repetitive) for little CPU.
    fn gzip(&self) -> Option<Bytes> {
        self.gzip
            .get_or_init(|| gzip(&self.plain).map(Bytes::from))
            .clone()
    }
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
    /// started on the blocking pool.
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
        let gate = Arc::clone(self);
        let collector = Arc::clone(collector);
        // The collection finishes and clears the slot even if every waiting client went away.
        tokio::task::spawn_blocking(move || {
            let body = Arc::new(Scrape::new(collector.collect()));
            // Clear first: a scrape arriving after this point wants fresh numbers.
            gate.lock().current = None;
            let _ = tx.send(Some(body));
        });
        Ok((permit, rx))
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
    let (_permit, mut flight) = state.gate.join(&state.collector)?;
    let scrape = flight
        .wait_for(Option::is_some)
        .await
        .map_err(|_| HttpError::Internal("the collection did not finish".into()))?
        .clone()
        .ok_or_else(|| HttpError::Internal("the collection did not finish".into()))?;
    let content_type = HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE);
    let vary = HeaderValue::from_static("accept-encoding");
    let gzipped = if accepts_gzip(&headers) {
        scrape.gzip()
    } else {
        None
    };
    let response = if let Some(gz) = gzipped {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                (header::VARY, vary),
            ],
            Body::from(gz),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type), (header::VARY, vary)],
            Body::from(scrape.plain.clone()),
        )
            .into_response()
    };
    Ok(response)
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

    fn accept_none() -> bool {
        accepts_gzip(&HeaderMap::new())
    }
}

//! `GET /metrics`: one collection shared by every scrape that arrives while it runs
//! (single-flight), on the blocking pool because collecting is file I/O, and a cap on the
//! requests in flight so a scrape storm gets 503 instead of piling up.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
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

/// The result of one collection as the waiters see it; `None` until it is done.
type Flight = watch::Receiver<Option<Bytes>>;

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
            let body = Bytes::from(collector.collect());
            // Clear first: a scrape arriving after this point wants fresh numbers.
            gate.lock().current = None;
            let _ = tx.send(Some(body));
        });
        Ok((permit, rx))
    }
}

pub async fn handler(State(state): State<AppState>) -> Result<Response, HttpError> {
    let (_permit, mut flight) = state.gate.join(&state.collector)?;
    let body = flight
        .wait_for(Option::is_some)
        .await
        .map_err(|_| HttpError::Internal("the collection did not finish".into()))?
        .clone()
        .unwrap_or_default();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        Body::from(body),
    )
        .into_response())
}

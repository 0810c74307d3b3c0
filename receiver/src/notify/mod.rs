//! Delivery: owned by recv-deliver, who replaces this placeholder. It holds only the interface the
//! HTTP side (server.rs) calls, so that both halves compile while they are built.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use prometheus_client::registry::Registry;

use crate::config::{Config, Destination};
use crate::payload::Notification;
use crate::render::RenderContext;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What became of one notification across all destinations of its route. The HTTP handler turns
/// it into Alertmanager's answer: 200, 422 (final, Alertmanager does not retry), or 503 (retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Permanent { destination: String, reason: String },
    Transient { destination: String, reason: String },
}

/// Delivers one notification to the destinations of a route. `route` is the route's name
/// ([`crate::config::DEFAULT_ROUTE`] for `POST /alerts`); `destinations` is already resolved.
pub trait Deliver: Send + Sync {
    fn deliver<'a>(
        &'a self,
        route: &'a str,
        destinations: &'a [Destination],
        notification: &'a Notification,
    ) -> BoxFuture<'a, Outcome>;
}

/// The delivery counters and histogram, registered into the receiver's one registry.
#[derive(Debug, Clone, Default)]
pub struct NotifyMetrics {}

impl NotifyMetrics {
    pub fn register(_registry: &mut Registry) -> Self {
        NotifyMetrics {}
    }
}

/// Builds the dispatcher for a loaded configuration.
pub fn dispatcher(
    _config: Arc<Config>,
    _render: Arc<RenderContext>,
    _metrics: NotifyMetrics,
) -> Arc<dyn Deliver> {
    Arc::new(NotBuilt)
}

struct NotBuilt;

impl Deliver for NotBuilt {
    fn deliver<'a>(
        &'a self,
        _route: &'a str,
        _destinations: &'a [Destination],
        _notification: &'a Notification,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async {
            Outcome::Transient {
                destination: "all".into(),
                reason: "delivery is not built yet".into(),
            }
        })
    }
}

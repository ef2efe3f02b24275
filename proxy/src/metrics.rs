//! Prometheus metrics: requests by verb and code, latency, in-flight requests, open watches and
//! upgrades, token cache use, authentication failures by reason.
//!
//! Label values are `&'static str` (verbs, codes and reasons are fixed sets), so counting a
//! request allocates nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::body::{Body, BoxError};

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Kubernetes verb (`get`, `list`, `watch`, ...) or `nonresource`.
    pub verb: &'static str,
    /// HTTP status code.
    pub code: u16,
}

/// Labels carrying only a verb.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    /// Kubernetes verb.
    pub verb: &'static str,
}

/// Labels carrying a reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why (stable label).
    pub reason: &'static str,
}

/// Labels carrying a result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Every metric the proxy exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by verb and code.
    pub requests: Family<RequestLabels, Counter>,
    /// Time to response headers, by verb.
    pub latency: Family<VerbLabels, Histogram>,
    /// Requests being handled.
    pub in_flight: Gauge,
    /// Watch responses still streaming.
    pub open_watches: Gauge,
    /// Upgraded connections (exec, attach, port-forward) still open.
    pub open_upgrades: Gauge,
    /// Token cache lookups.
    pub token_cache: Family<ResultLabels, Counter>,
    /// Authentication and authorization failures by reason.
    pub rejections: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kubenova_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<VerbLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let in_flight = Gauge::default();
        let open_watches = Gauge::default();
        let open_upgrades = Gauge::default();
        let token_cache = Family::<ResultLabels, Counter>::default();
        let rejections = Family::<ReasonLabels, Counter>::default();
        registry.register("requests", "Requests by verb and code", requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time until the response headers, by verb",
            latency.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests being handled",
            in_flight.clone(),
        );
        registry.register(
            "open_watches",
            "Watch responses still streaming",
            open_watches.clone(),
        );
        registry.register(
            "open_upgrades",
            "Upgraded connections (exec, attach, port-forward) still open",
            open_upgrades.clone(),
        );
        registry.register(
            "token_cache",
            "Token cache lookups by result",
            token_cache.clone(),
        );
        registry.register(
            "rejections",
            "Requests the proxy refused, by reason",
            rejections.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            open_watches,
            open_upgrades,
            token_cache,
            rejections,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a rejection.
    pub fn reject(&self, reason: &'static str) {
        self.rejections
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }
}

/// Decrements a gauge when dropped.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    /// Increments `gauge` now and decrements it on drop.
    pub fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A body that holds a [`GaugeGuard`] until the body is finished or dropped.
pub struct Tracked {
    inner: Body,
    _guard: Arc<GaugeGuard>,
}

impl Tracked {
    /// Wraps `inner`, keeping `guard` alive as long as it streams.
    pub fn new(inner: Body, guard: GaugeGuard) -> Self {
        Tracked {
            inner,
            _guard: Arc::new(guard),
        }
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

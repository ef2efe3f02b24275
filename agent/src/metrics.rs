//! The agent's Prometheus metrics, registered under `kubenova_agent_*`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Counters, histograms and gauges of both controllers and the elector.
#[derive(Debug)]
pub(crate) struct Metrics {
    reconciles: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
    heals: Family<Labels, Counter>,
    writes: Family<Labels, Counter>,
    in_flight: Family<Labels, Gauge>,
    not_ready: Family<Labels, Gauge>,
    leader: Gauge,
    unconverged: Mutex<HashSet<(&'static str, String)>>,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry` with the prefix `kubenova_agent`.
    pub(crate) fn new(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            reconciles: Family::default(),
            errors: Family::default(),
            durations: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            heals: Family::default(),
            writes: Family::default(),
            in_flight: Family::default(),
            not_ready: Family::default(),
            leader: Gauge::default(),
            unconverged: Mutex::default(),
        };
        let r = registry.sub_registry_with_prefix("kubenova_agent");
        r.register(
            "reconciles",
            "Reconciles finished, by controller and result",
            metrics.reconciles.clone(),
        );
        r.register(
            "reconcile_errors",
            "Reconciles that failed, by controller and error kind",
            metrics.errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            metrics.durations.clone(),
        );
        r.register(
            "heals",
            "Owned objects restored after someone deleted or changed them, by kind",
            metrics.heals.clone(),
        );
        r.register(
            "writes",
            "Writes sent to the apiserver (apply, create, delete, status), by kind",
            metrics.writes.clone(),
        );
        r.register(
            "reconciles_in_flight",
            "Reconciles running now",
            metrics.in_flight.clone(),
        );
        r.register(
            "queue_depth",
            "Objects of the controller that are not converged yet (waiting to be reconciled again)",
            metrics.not_ready.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the Lease and runs the controllers",
            metrics.leader.clone(),
        );
        metrics
    }

    /// Starts timing one reconcile.
    pub(crate) fn start(&self, controller: &'static str) -> ReconcileTimer<'_> {
        self.in_flight
            .get_or_create(&labels(&[("controller", controller)]))
            .inc();
        ReconcileTimer {
            metrics: self,
            controller,
            started: std::time::Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub(crate) fn error(&self, controller: &'static str, kind: &str) {
        self.errors
            .get_or_create(&labels(&[("controller", controller), ("error", kind)]))
            .inc();
    }

    /// Counts a heal.
    pub(crate) fn heal(&self, controller: &'static str, kind: &str) {
        self.heals
            .get_or_create(&labels(&[("controller", controller), ("kind", kind)]))
            .inc();
    }

    /// Counts a write to the apiserver.
    pub(crate) fn write(&self, verb: &str, kind: &str) {
        self.writes
            .get_or_create(&labels(&[("verb", verb), ("kind", kind)]))
            .inc();
    }

    /// Records whether one object has converged.
    pub(crate) fn converged(&self, controller: &'static str, name: &str, done: bool) {
        let mut set = self.unconverged.lock().unwrap_or_else(|p| p.into_inner());
        if done {
            set.remove(&(controller, name.to_owned()));
        } else {
            set.insert((controller, name.to_owned()));
        }
        let count = set.iter().filter(|(c, _)| *c == controller).count();
        self.not_ready
            .get_or_create(&labels(&[("controller", controller)]))
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Sets the leader gauge.
    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }
}

/// Ends the timing of a reconcile when finished (or dropped).
pub(crate) struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    controller: &'static str,
    started: std::time::Instant,
}

impl ReconcileTimer<'_> {
    /// Records the result.
    pub(crate) fn finish(self, result: &str) {
        self.metrics
            .reconciles
            .get_or_create(&labels(&[
                ("controller", self.controller),
                ("result", result),
            ]))
            .inc();
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        let labels = labels(&[("controller", self.controller)]);
        self.metrics.in_flight.get_or_create(&labels).dec();
        self.metrics
            .durations
            .get_or_create(&labels)
            .observe(duration_secs(self.started.elapsed()));
    }
}

fn duration_secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

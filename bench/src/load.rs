//! The workloads: open-loop fixed rate, closed-loop saturation, sequential LISTs, idle watches.

use std::time::{Duration, Instant};

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use hdrhistogram::Histogram;
use http::Response;
use hyper::body::Incoming;
use tokio::task::JoinSet;

use crate::client::{Endpoint, JSON, Sender, exchange};

/// No request of a run may take longer than this (it then counts as an error).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Latencies and counts of one run.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Microseconds.
    pub histogram: Histogram<u64>,
    /// Requests answered 2xx.
    pub ok: u64,
    /// Requests that failed or timed out.
    pub errors: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// Response bytes read.
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: new_histogram(),
            ok: 0,
            errors: 0,
            first_error: None,
            bytes: 0,
            elapsed: Duration::ZERO,
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits: these bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

impl Latency {
    /// Records one outcome that took `took`.
    pub fn record(&mut self, took: Duration, outcome: anyhow::Result<usize>) {
        match outcome {
            Ok(bytes) => {
                self.ok += 1;
                self.bytes += bytes as u64;
                self.histogram
                    .saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
            }
            Err(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }

    /// Adds `other` (another run of the same workload) to this one.
    pub fn merge(&mut self, other: Latency) {
        let _ = self.histogram.add(&other.histogram);
        self.elapsed += other.elapsed;
        self.ok += other.ok;
        self.errors += other.errors;
        self.bytes += other.bytes;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// The `q` quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    /// Successful requests per second of wall time.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

async fn timed(
    sender: &mut Sender,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> anyhow::Result<usize> {
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange(sender, request)).await {
        Ok(outcome) => outcome,
        Err(_) => anyhow::bail!("no answer within {REQUEST_TIMEOUT:?}"),
    }
}

/// Open loop: GETs of `path` at `rate` per second for `duration`, each latency measured from
/// the time the schedule says it should have been sent (so a stall of the server, or of this
/// generator, shows up as latency instead of being left out: no coordinated omission).
pub async fn fixed_rate(
    endpoint: &Endpoint,
    sender: &Sender,
    path: &str,
    rate: u32,
    duration: Duration,
) -> Latency {
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let mut result = Latency::default();
    let mut running = JoinSet::new();
    let start = Instant::now() + Duration::from_millis(5);
    for i in 0..total {
        let intended = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(intended.into()).await;
        let (mut sender, request) = (sender.clone(), endpoint.get(path, JSON));
        running.spawn(async move {
            let outcome = timed(&mut sender, request).await;
            (intended.elapsed(), outcome)
        });
        while let Some(Ok((took, outcome))) = running.try_join_next() {
            result.record(took, outcome);
        }
    }
    while let Some(done) = running.join_next().await {
        if let Ok((took, outcome)) = done {
            result.record(took, outcome);
        }
    }
    result.elapsed = start.elapsed();
    result
}

/// Closed loop: `workers` concurrent loops of GETs of `path` for `duration`, all on the one
/// connection behind `sender`.
pub async fn saturation(
    endpoint: &Endpoint,
    sender: &Sender,
    path: &str,
    workers: usize,
    duration: Duration,
) -> Latency {
    let start = Instant::now();
    let deadline = start + duration;
    let mut running = JoinSet::new();
    for _ in 0..workers {
        let (endpoint, mut sender, path) = (endpoint.clone(), sender.clone(), path.to_owned());
        running.spawn(async move {
            let mut mine = Latency::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let outcome = timed(&mut sender, endpoint.get(&path, JSON)).await;
                mine.record(sent.elapsed(), outcome);
            }
            mine
        });
    }
    let mut result = Latency::default();
    while let Some(done) = running.join_next().await {
        if let Ok(mine) = done {
            result.merge(mine);
        }
    }
    result.elapsed = start.elapsed();
    result
}

/// `iterations` GETs of `path` with `accept`, one after another.
pub async fn sequential(
    endpoint: &Endpoint,
    sender: &Sender,
    path: &str,
    accept: &'static str,
    iterations: u32,
) -> Latency {
    let mut sender = sender.clone();
    let mut result = Latency::default();
    let start = Instant::now();
    for _ in 0..iterations {
        let sent = Instant::now();
        let outcome = timed(&mut sender, endpoint.get(path, accept)).await;
        result.record(sent.elapsed(), outcome);
    }
    result.elapsed = start.elapsed();
    result
}

/// Open watches, kept open (idle) until dropped.
#[derive(Debug)]
pub struct Watches {
    _connections: Vec<Sender>,
    responses: Vec<Response<Incoming>>,
}

impl Watches {
    /// How many are open.
    pub fn len(&self) -> usize {
        self.responses.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.responses.is_empty()
    }
}

/// Opens `count` watches of `path` (which must name a resourceVersion, so nothing is replayed),
/// `per_connection` on each HTTP/2 connection (servers allow a limited number of streams on
/// one connection: hyper's default is 200), and returns once every one has its `200` headers.
pub async fn open_watches(
    endpoint: &Endpoint,
    path: &str,
    count: usize,
    per_connection: usize,
) -> anyhow::Result<Watches> {
    let per_connection = per_connection.max(1);
    let mut connections = Vec::new();
    for _ in 0..count.div_ceil(per_connection) {
        connections.push(endpoint.connect().await?);
    }
    let opens = (0..count).map(|i| {
        let connection = connections[i / per_connection].clone();
        let request = endpoint.get(path, JSON);
        async move {
            let Sender::H2(mut sender) = connection else {
                anyhow::bail!("idle watches are held over HTTP/2 only");
            };
            sender.ready().await?;
            let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
                .await
                .map_err(|_| anyhow::anyhow!("watch not answered within {REQUEST_TIMEOUT:?}"))??;
            if !response.status().is_success() {
                anyhow::bail!("watch answered HTTP {}", response.status());
            }
            anyhow::Ok(response)
        }
    });
    let responses: Vec<Response<Incoming>> = stream::iter(opens)
        .buffer_unordered(64)
        .try_collect()
        .await?;
    Ok(Watches {
        _connections: connections,
        responses,
    })
}

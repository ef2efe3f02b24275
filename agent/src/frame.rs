//! The reconcile frame, written once for every controller: wait for complete caches, time the
//! reconcile, hold the finalizer (for kinds that have one), count and log failures, and decide
//! when an object is looked at again.
//!
//! A controller says what it does for its kind by implementing [`Reconciler`]; [`run`] drives a
//! kube-runtime [`Controller`] with it. Each reconcile runs in a `reconcile` span carrying the
//! controller and the object's key (`<name>` or `<namespace>/<name>`), so every log line of one
//! reconcile, including the apply layer's, names the object.
//!
//! Failures are retried with exponential backoff and jitter per object ([`Backoff`]): the first
//! retry within half a second, doubling up to [`Backoff::MAX`], reset by the next success. A
//! cleanup that is only waiting for something to go (a namespace being deleted) is no failure:
//! it is polled every [`WAITING_POLL`], as deletions finish in seconds and the tests wait on them.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Error as FinalizerError, Event as Finalizer, finalizer};
use kube::{Api, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::{Error, FINALIZER, Shared};

/// How often a cleanup that waits for something to go is looked at again.
pub(crate) const WAITING_POLL: Duration = Duration::from_secs(1);

/// What one controller does for its kind; the frame does the rest.
pub(crate) trait Reconciler: Send + Sync + 'static {
    /// The kind this controller reconciles.
    type Object: Resource<DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static;

    /// The controller's name in metrics and logs (`tenant`, `project`, `app`).
    const CONTROLLER: &'static str;

    /// Whether objects of this kind carry [`FINALIZER`] (and get [`Reconciler::cleanup`]).
    const FINALIZER: bool;

    /// What the controllers share.
    fn shared(&self) -> &Shared;

    /// The API of `object` (namespaced or not), for the finalizer's writes.
    fn api(&self, object: &Self::Object) -> Api<Self::Object>;

    /// Waits until every cache the reconciler reads is complete ("absent" means absent).
    fn ready(&self) -> impl Future<Output = ()> + Send;

    /// Makes the cluster match `object`.
    fn apply(&self, object: &Self::Object) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Removes what was made for `object`, which is being deleted; only with [`Self::FINALIZER`].
    fn cleanup(&self, object: &Self::Object) -> impl Future<Output = Result<Action, Error>> + Send;
}

/// When a reconciled object is looked at again (besides its watches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Requeue {
    /// Converged: at the safety-net resync ([`super::Config::resync`]).
    Resync,
    /// Not converged: after this long (the watches usually come first).
    After(Duration),
}

impl Requeue {
    /// The kube-runtime action, given the configured resync.
    pub(crate) fn action(self, resync: Duration) -> Action {
        Action::requeue(match self {
            Requeue::Resync => resync,
            Requeue::After(delay) => delay,
        })
    }
}

/// A reconciler and its per-object retry state.
struct Frame<R> {
    reconciler: R,
    backoff: Backoff,
}

/// The key an object is logged and backed off under: `<name>` or `<namespace>/<name>`.
pub(crate) fn key<K: Resource>(object: &K) -> String {
    match object.namespace() {
        Some(ns) => format!("{ns}/{}", object.name_any()),
        None => object.name_any(),
    }
}

/// Runs `controller` with `reconciler` until `stop` is cancelled.
pub(crate) async fn run<R: Reconciler>(
    controller: Controller<R::Object>,
    reconciler: R,
    stop: CancellationToken,
) {
    let frame = Arc::new(Frame {
        reconciler,
        backoff: Backoff::default(),
    });
    controller
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile::<R>, error_policy::<R>, frame)
        .for_each(|_| std::future::ready(()))
        .await;
}

#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(controller = R::CONTROLLER, object = %key(&*object))
)]
async fn reconcile<R: Reconciler>(
    object: Arc<R::Object>,
    frame: Arc<Frame<R>>,
) -> Result<Action, Error> {
    let r = &frame.reconciler;
    // Every cache is complete before a reconcile starts, so "absent" really means absent. The
    // controller runs (and drains its triggers) from the start rather than after this wait, so
    // the objects of the first lists never queue up in the triggers.
    r.ready().await;
    let name = key(&*object);
    let timer = r.shared().metrics.start(R::CONTROLLER);
    let result = if R::FINALIZER {
        let api = r.api(&object);
        // A cleanup runs only on the object the apiserver holds under that name: a stale copy
        // (the watch a step behind a deletion, and a new object of the same name made since)
        // would otherwise clean up after, and take the finalizer off, the new one.
        if object.meta().deletion_timestamp.is_some() {
            let live = match api.get_opt(&object.name_any()).await {
                Ok(live) => live,
                Err(e) => return finish(&frame, &name, timer, Err(e.into())),
            };
            if is_stale(
                object.meta().uid.as_deref(),
                live.as_ref().and_then(|l| l.meta().uid.as_deref()),
            ) {
                tracing::debug!(object = %name, "a deleted object's stale copy: nothing to clean up");
                return finish(&frame, &name, timer, Ok(Action::await_change()));
            }
        }
        let result = finalizer(&api, FINALIZER, object, |event| async {
            match event {
                Finalizer::Apply(o) => r.apply(&o).await,
                Finalizer::Cleanup(o) => r.cleanup(&o).await,
            }
        })
        .await;
        match result {
            // Removed already (a second cleanup on a stale copy): nothing left to do.
            Err(FinalizerError::RemoveFinalizer(kube::Error::Api(s))) if s.code == 404 => {
                Ok(Action::await_change())
            }
            other => other.map_err(|e| Error::Finalizer(Box::new(e))),
        }
    } else {
        r.apply(&object).await
    };
    finish(&frame, &name, timer, result)
}

/// Records how a reconcile ended (its time, and a success resets the backoff); returns `result`.
fn finish<R: Reconciler>(
    frame: &Frame<R>,
    name: &str,
    timer: super::metrics::ReconcileTimer<'_>,
    result: Result<Action, Error>,
) -> Result<Action, Error> {
    timer.finish(if result.is_ok() { "ok" } else { "error" });
    if result.is_ok() {
        frame.backoff.reset(name);
    }
    result
}

/// Whether a copy of uid `cached` is stale: the apiserver holds no object of its name, or one
/// with another uid (deleted and made again).
pub(crate) fn is_stale(cached: Option<&str>, live: Option<&str>) -> bool {
    match (cached, live) {
        (_, None) => true,
        (Some(cached), Some(live)) => cached != live,
        // No uid on the copy (never from a watch): trust it.
        (None, Some(_)) => false,
    }
}

fn error_policy<R: Reconciler>(
    object: Arc<R::Object>,
    error: &Error,
    frame: Arc<Frame<R>>,
) -> Action {
    let name = key(&*object);
    if error.is_waiting() {
        tracing::debug!(controller = R::CONTROLLER, object = %name, %error, "cleanup not finished yet");
        return Action::requeue(WAITING_POLL);
    }
    frame
        .reconciler
        .shared()
        .metrics
        .error(R::CONTROLLER, error.kind());
    let delay = frame.backoff.failed(&name);
    tracing::warn!(
        controller = R::CONTROLLER,
        object = %name,
        %error,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Exponential backoff with jitter, per object: consecutive failures of one object wait longer
/// each time, up to [`Backoff::MAX`]; a success forgets them.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// The wait before the first retry, before jitter.
    pub(crate) const BASE: Duration = Duration::from_millis(500);
    /// The longest wait between retries.
    pub(crate) const MAX: Duration = Duration::from_secs(30);

    /// Records one more failure of `key`; returns how long to wait before the retry.
    pub(crate) fn failed(&self, key: &str) -> Duration {
        let attempt = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let n = failures.entry(key.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        delay(attempt, random_unit())
    }

    /// Forgets the failures of `key` (it reconciled fine).
    pub(crate) fn reset(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(key);
    }

    /// How many failures in a row `key` has had.
    #[cfg(test)]
    fn failures(&self, key: &str) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.get(key).copied().unwrap_or(0)
    }
}

/// The wait before retry number `attempt` (1 for the first failure): `BASE * 2^(attempt-1)`
/// capped at `MAX`, of which a random part (`jitter` in `[0, 1)`) of the upper half is taken, so
/// objects that failed together (an apiserver restart) do not all come back at once.
pub(crate) fn delay(attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = Backoff::BASE
        .saturating_mul(1u32 << exponent)
        .min(Backoff::MAX);
    let jitter = jitter.clamp(0.0, 1.0);
    full.mul_f64(0.5 + 0.5 * jitter)
}

/// A number in `[0, 1)`, random enough for jitter (from the standard library's per-hasher
/// random keys; no generator crate needed for this).
fn random_unit() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    // The top 53 bits make an f64 in [0, 1) exactly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_stale_once_its_object_is_gone_or_made_again() {
        assert!(is_stale(Some("a"), None), "gone");
        assert!(is_stale(Some("a"), Some("b")), "deleted and made again");
        assert!(!is_stale(Some("a"), Some("a")), "the same object");
        assert!(!is_stale(None, Some("b")));
    }

    #[test]
    fn the_delay_doubles_from_the_base_up_to_the_cap() {
        // With the largest jitter the delay is the full step.
        let full = |attempt| delay(attempt, 1.0);
        assert_eq!(full(1), Duration::from_millis(500));
        assert_eq!(full(2), Duration::from_secs(1));
        assert_eq!(full(3), Duration::from_secs(2));
        assert_eq!(full(4), Duration::from_secs(4));
        assert_eq!(full(6), Duration::from_secs(16));
        assert_eq!(full(7), Duration::from_secs(30), "32 s is capped");
        assert_eq!(full(9), Backoff::MAX);
        assert_eq!(full(u32::MAX), Backoff::MAX, "no overflow");
        assert_eq!(full(0), Duration::from_millis(500), "0 counts as the first");
    }

    #[test]
    fn jitter_takes_between_half_and_all_of_the_step() {
        let table = [
            (1, 0.0, Duration::from_millis(250)),
            (1, 0.5, Duration::from_millis(375)),
            (3, 0.0, Duration::from_secs(1)),
            (3, 0.5, Duration::from_millis(1500)),
            (20, 0.0, Duration::from_secs(15)),
            (20, 2.0, Duration::from_secs(30)),
            (20, -1.0, Duration::from_secs(15)),
        ];
        for (attempt, jitter, want) in table {
            assert_eq!(
                delay(attempt, jitter),
                want,
                "attempt {attempt}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn random_jitter_stays_in_range_and_varies() {
        let samples: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let first = samples[0];
        assert!(samples.iter().any(|x| *x != first), "{samples:?}");
    }

    #[test]
    fn failures_count_per_object_and_a_success_resets_them() {
        let backoff = Backoff::default();
        let waits: Vec<Duration> = (0..5).map(|_| backoff.failed("acme")).collect();
        assert_eq!(backoff.failures("acme"), 5);
        assert!(waits[0] <= Duration::from_millis(500));
        assert!(waits[4] >= Duration::from_secs(4), "{waits:?}");
        // Another object starts from the beginning.
        assert!(backoff.failed("other") <= Duration::from_millis(500));
        backoff.reset("acme");
        assert_eq!(backoff.failures("acme"), 0);
        assert!(backoff.failed("acme") <= Duration::from_millis(500));
        assert_eq!(backoff.failures("other"), 1);
    }

    #[test]
    fn keys_name_the_namespace_when_there_is_one() {
        use kubenova_api::crd::{App, Tenant};
        let tenant = Tenant::new("acme", Default::default());
        assert_eq!(key(&tenant), "acme");
        let mut app = App::new("web", Default::default());
        app.metadata.namespace = Some("acme-shop".into());
        assert_eq!(key(&app), "acme-shop/web");
    }
}

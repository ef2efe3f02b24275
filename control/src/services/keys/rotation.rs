//! Scheduled rotation of the signing keys (`serve --key-rotation-period`).
//!
//! Every replica runs the same loop. Each step is one write to the Secret guarded by the
//! resourceVersion it read, so when two replicas decide at once one write lands and the other
//! replica re-reads. The times each key was published, activated and deactivated are kept in the
//! Secret's annotation [`SCHEDULE_ANNOTATION`], so a restart or another replica continues where
//! the last one stopped. A rotation takes three steps:
//!
//! 1. **publish**: `period - publish_delay` after the active key became active, a new key is added
//!    to the Secret as `next`. It is in the JWKS at once, but nothing is signed with it yet.
//! 2. **activate**: once `next` has been published for `publish_delay` and the active key is
//!    `period` old, `next` becomes the active key. Every replica (10 s refresh) and every proxy
//!    (`--reload-interval`, 10 s by default) has learnt it by then, so no verifier ever sees a
//!    token signed with a key it does not know, as long as `publish_delay` is longer than both
//!    intervals together.
//! 3. **retire**: a key that stopped signing `keep_for` ago (the longest token lifetime plus the
//!    clock skew) is removed once no unexpired, unrevoked recorded token is signed with it.
//!
//! Keys added or switched by hand (`kubenova-control keys rotate|retire`) join the schedule: a
//! key without recorded times counts from when the loop first sees it.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, Resource as _};
use kube::runtime::events::{Event, EventType, Recorder};
use kubenova_api::SigningKey;
use kubenova_api::crd::IssuedToken;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{ACTIVE, Keys, new_kid, signing_secret, time_now};

/// The annotation of the signing-key Secret that holds the [`Schedule`] (JSON).
pub const SCHEDULE_ANNOTATION: &str = "kubenova.io/key-schedule";

/// When keys rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a key signs before the next one takes over.
    pub period: Duration,
    /// How long a new key is published before it signs.
    pub publish_delay: Duration,
    /// How long a key stays published after it stopped signing: the longest token lifetime
    /// plus the clock skew, so every token it signed has expired by then.
    pub keep_for: Duration,
}

impl Policy {
    /// Checks the three durations against each other; the message names the flag to change.
    pub fn new(
        period: Duration,
        publish_delay: Duration,
        keep_for: Duration,
    ) -> Result<Self, String> {
        if publish_delay < Duration::from_secs(1) {
            return Err("--key-publish-delay must be at least 1s".into());
        }
        if period <= publish_delay {
            return Err(format!(
                "--key-rotation-period ({}s) must be longer than --key-publish-delay ({}s)",
                period.as_secs(),
                publish_delay.as_secs()
            ));
        }
        Ok(Policy {
            period,
            publish_delay,
            keep_for,
        })
    }

    /// How often the loop looks at the Secret: often enough that each step happens within a
    /// small part of the publish delay after it is due.
    pub fn check_every(&self) -> Duration {
        (self.publish_delay / 4).clamp(Duration::from_millis(500), Duration::from_secs(30))
    }
}

/// What the Secret's annotation records: the key waiting to sign, and each live key's times
/// (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// The published key that signs next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Each live key's times, by kid.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyTimes>,
}

/// When one key was published, began and stopped signing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyTimes {
    /// Added to the Secret (and so to the JWKS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<i64>,
    /// Became the active key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<i64>,
    /// Stopped being the active key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated: Option<i64>,
}

/// The one change the loop makes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write times the annotation lacks, or drop those of keys no longer live.
    Record(Schedule),
    /// Add a new key as `next`.
    Publish,
    /// Make `next` the active key.
    Activate(String),
    /// Remove the first of these keys no live token uses (oldest first).
    Retire(Vec<String>),
    /// Nothing is due.
    Wait,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `schedule` with every live key's times filled in (unknown ones count from `now`) and the
/// times of keys no longer live dropped.
pub fn complete(now: i64, active: &str, live: &[&str], schedule: &Schedule) -> Schedule {
    let mut out = Schedule {
        next: schedule
            .next
            .clone()
            .filter(|n| n != active && live.contains(&n.as_str())),
        keys: BTreeMap::new(),
    };
    for kid in live {
        let mut times = schedule.keys.get(*kid).copied().unwrap_or_default();
        if *kid == active {
            times.activated.get_or_insert(now);
            times.deactivated = None;
        } else if out.next.as_deref() == Some(*kid) {
            times.activated = None;
        } else {
            times.deactivated.get_or_insert(now);
        }
        let first_seen = times.activated.unwrap_or(now);
        times.published.get_or_insert(first_seen);
        out.keys.insert((*kid).to_owned(), times);
    }
    out
}

/// The next step for the keys `live` (with `active` among them) under `policy` at `now`.
pub fn plan(now: i64, active: &str, live: &[&str], schedule: &Schedule, policy: &Policy) -> Step {
    let full = complete(now, active, live, schedule);
    if &full != schedule {
        return Step::Record(full);
    }
    let times = |kid: &str| full.keys.get(kid).copied().unwrap_or_default();
    let since = times(active).activated.unwrap_or(now);
    let period = secs(policy.period);
    let delay = secs(policy.publish_delay);
    match &full.next {
        Some(next) => {
            let published = times(next).published.unwrap_or(now);
            if now >= published.saturating_add(delay) && now >= since.saturating_add(period) {
                return Step::Activate(next.clone());
            }
        }
        None if now >= since.saturating_add(period - delay) => return Step::Publish,
        None => {}
    }
    let keep = secs(policy.keep_for);
    let mut old: Vec<(i64, String)> = full
        .keys
        .iter()
        .filter(|(kid, _)| kid.as_str() != active && full.next.as_deref() != Some(kid.as_str()))
        .filter_map(|(kid, t)| t.deactivated.map(|d| (d, kid.clone())))
        .filter(|(d, _)| now >= d.saturating_add(keep))
        .collect();
    if old.is_empty() {
        return Step::Wait;
    }
    old.sort();
    Step::Retire(old.into_iter().map(|(_, kid)| kid).collect())
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabel {
    step: &'static str,
}

/// The rotation's metrics.
#[derive(Debug, Clone, Default)]
struct Metrics {
    steps: Family<StepLabel, Counter>,
    live: Gauge,
    active_since: Gauge,
}

/// The loop that rotates the keys of one management namespace.
pub struct Rotation {
    secrets: Api<Secret>,
    records: Api<IssuedToken>,
    policy: Policy,
    recorder: Recorder,
    metrics: Metrics,
}

impl Rotation {
    /// A rotation of the keys in `secrets` (tokens recorded in `records`), publishing Events
    /// with `recorder` and its metrics into `registry`.
    pub fn new(
        secrets: Api<Secret>,
        records: Api<IssuedToken>,
        policy: Policy,
        recorder: Recorder,
        registry: &mut Registry,
    ) -> Rotation {
        let metrics = Metrics::default();
        registry.register(
            "kubenova_signing_key_rotation_steps",
            "Signing-key rotation steps this replica made (step: published, activated, retired)",
            metrics.steps.clone(),
        );
        registry.register(
            "kubenova_signing_keys_live",
            "Signing keys in the JWKS (the active one, the next one and those still verifying)",
            metrics.live.clone(),
        );
        registry.register(
            "kubenova_signing_key_active_since_seconds",
            "When the active signing key began signing (Unix seconds)",
            metrics.active_since.clone(),
        );
        Rotation {
            secrets,
            records,
            policy,
            recorder,
            metrics,
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.policy.check_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.once().await {
                match &e {
                    kube::Error::Api(status) if status.code == 409 => {
                        tracing::debug!("signing keys changed meanwhile; deciding again")
                    }
                    _ => tracing::warn!(error = %e, "signing-key rotation: will try again"),
                }
            }
        }
    }

    /// Reads the Secret and makes the step that is due, if any.
    async fn once(&self) -> Result<(), kube::Error> {
        let secret = self.secrets.get(signing_secret()).await?;
        let keys = match Keys::from_secret(&secret) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!("signing keys: {e}; not rotating until the Secret is fixed");
                return Ok(());
            }
        };
        let schedule = schedule_of(&secret);
        let active = keys.active.kid().to_owned();
        let live: Vec<&str> = keys.all.keys().map(String::as_str).collect();
        self.metrics
            .live
            .set(i64::try_from(live.len()).unwrap_or(i64::MAX));
        if let Some(since) = schedule.keys.get(&active).and_then(|t| t.activated) {
            self.metrics.active_since.set(since);
        }
        let now = time_now();
        let version = secret.metadata.resource_version.clone().unwrap_or_default();
        match plan(now, &active, &live, &schedule, &self.policy) {
            Step::Wait => Ok(()),
            Step::Record(full) => self.write(&version, &full, serde_json::json!({})).await,
            Step::Publish => {
                let key = match SigningKey::generate(new_kid()) {
                    Ok(key) => key,
                    Err(e) => {
                        tracing::error!("generating a signing key: {e}");
                        return Ok(());
                    }
                };
                let kid = key.kid().to_owned();
                let mut next = schedule.clone();
                next.next = Some(kid.clone());
                next.keys.insert(
                    kid.clone(),
                    KeyTimes {
                        published: Some(now),
                        ..KeyTimes::default()
                    },
                );
                let data = serde_json::json!({ format!("{kid}.pem"): STANDARD.encode(key.to_pkcs8_pem()) });
                self.write(&version, &next, data).await?;
                let note = format!(
                    "published key {kid}; it signs from {}s from now, after key {active}",
                    self.policy.publish_delay.as_secs()
                );
                self.done(&secret, "published", "SigningKeyPublished", note)
                    .await;
                Ok(())
            }
            Step::Activate(kid) => {
                let mut next = schedule.clone();
                next.next = None;
                if let Some(t) = next.keys.get_mut(&kid) {
                    t.activated = Some(now);
                }
                if let Some(t) = next.keys.get_mut(&active) {
                    t.deactivated = Some(now);
                }
                let data = serde_json::json!({ ACTIVE: STANDARD.encode(&kid) });
                self.write(&version, &next, data).await?;
                let note = format!(
                    "new tokens are signed with key {kid}; key {active} verifies for {}s more",
                    self.policy.keep_for.as_secs()
                );
                self.done(&secret, "activated", "SigningKeyRotated", note)
                    .await;
                Ok(())
            }
            Step::Retire(candidates) => {
                let tokens = self.records.list(&ListParams::default()).await?.items;
                let in_use = |kid: &str| {
                    tokens
                        .iter()
                        .filter(|t| t.spec.kid == kid && !t.spec.revoked && t.spec.expires_at > now)
                        .count()
                };
                let Some(kid) = candidates.into_iter().find(|kid| {
                    let live = in_use(kid);
                    if live > 0 {
                        tracing::info!(
                            kid,
                            live,
                            "old signing key kept: unexpired tokens still use it"
                        );
                    }
                    live == 0
                }) else {
                    return Ok(());
                };
                let mut next = schedule.clone();
                next.keys.remove(&kid);
                let data = serde_json::json!({ format!("{kid}.pem"): null });
                self.write(&version, &next, data).await?;
                let note = format!("retired key {kid}: every token it signed has expired");
                self.done(&secret, "retired", "SigningKeyRetired", note)
                    .await;
                Ok(())
            }
        }
    }

    /// Writes `schedule` and `data` into the Secret if it is still at `version`.
    async fn write(
        &self,
        version: &str,
        schedule: &Schedule,
        data: serde_json::Value,
    ) -> Result<(), kube::Error> {
        let schedule = serde_json::to_string(schedule).unwrap_or_default();
        let patch = serde_json::json!({
            "metadata": {
                "resourceVersion": version,
                "annotations": { SCHEDULE_ANNOTATION: schedule },
            },
            "data": data,
        });
        self.secrets
            .patch(
                signing_secret(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map(drop)
    }

    /// Counts the step, logs it and records an Event on the Secret.
    async fn done(&self, secret: &Secret, step: &'static str, reason: &str, note: String) {
        self.metrics.steps.get_or_create(&StepLabel { step }).inc();
        tracing::info!(step, "signing keys: {note}");
        let reference: ObjectReference = secret.object_ref(&());
        let event = Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note),
            action: "Rotate".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, reason, "could not record an Event");
        }
    }
}

/// The schedule recorded on `secret` (empty when there is none or it does not parse: every
/// key then counts from now, which only ever delays a step).
pub fn schedule_of(secret: &Secret) -> Schedule {
    let text = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SCHEDULE_ANNOTATION));
    match text.map(|t| serde_json::from_str(t)) {
        Some(Ok(schedule)) => schedule,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "{SCHEDULE_ANNOTATION} does not parse; counting from now");
            Schedule::default()
        }
        None => Schedule::default(),
    }
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;

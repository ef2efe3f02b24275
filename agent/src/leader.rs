//! Leader election with a `coordination.k8s.io/v1` Lease, so that two replicas are safe: only
//! the holder runs the controllers.
//!
//! The holder renews the Lease every `renew` interval. Another replica takes it over once the
//! Lease has not changed for `duration`, measured on its own clock (the way client-go does it,
//! so clock skew between replicas does not matter). Every write is a replace with the
//! `resourceVersion` last read, so two replicas can never both win the same round. A holder that
//! cannot renew for `duration` stops its controllers before anyone else can take over.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio_util::sync::CancellationToken;

use super::apply::FIELD_MANAGER;

/// One replica's view of the Lease.
pub(crate) struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    renew: Duration,
    /// The last holder and renew time seen, and when (on our clock) that last changed.
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
}

impl Elector {
    pub(crate) fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
        renew: Duration,
    ) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
            renew,
            observed: None,
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: MicroTime) -> LeaseSpec {
        let ours = previous
            .and_then(|s| s.holder_identity.as_deref())
            .is_some_and(|h| h == self.identity);
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.duration.as_secs()).unwrap_or(15)),
            acquire_time: if ours {
                previous.and_then(|s| s.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    /// One round: takes or renews the Lease if we may. Returns whether we hold it now.
    pub(crate) async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None, now)),
            };
            return match self.api.create(&post_params(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let seen = (holder.clone(), spec.renew_time.clone());
        let changed = match &self.observed {
            Some((h, r, _)) => (h, r) != (&seen.0, &seen.1),
            None => true,
        };
        if changed {
            self.observed = Some((seen.0, seen.1, Instant::now()));
        }
        let ours = holder.as_deref() == Some(self.identity.as_str());
        let expired = holder.is_none()
            || self
                .observed
                .as_ref()
                .is_some_and(|(_, _, at)| at.elapsed() > self.duration);
        if !ours && !expired {
            return Ok(false);
        }
        lease.spec = Some(self.spec(Some(&spec), now));
        match self.api.replace(&self.name, &post_params(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until we hold the Lease (or `stop` is cancelled: then `false`).
    pub(crate) async fn acquire(&mut self, stop: &CancellationToken) -> bool {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return true;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: could not read or write the Lease")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(self.renew) => {}
            }
        }
    }

    /// Renews the Lease until `term` is cancelled, or cancels `term` when renewing has failed
    /// for long enough that another replica may take over.
    pub(crate) async fn keep(&mut self, term: &CancellationToken) {
        let mut last_renewed = Instant::now();
        // Stop well before another replica could see the Lease as expired.
        let give_up = self.duration.saturating_sub(self.renew).max(self.renew);
        loop {
            tokio::select! {
                _ = term.cancelled() => return,
                _ = tokio::time::sleep(self.renew) => {}
            }
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = Instant::now(),
                Ok(false) => {
                    tracing::warn!(lease = %self.name, "lost the Lease to another replica");
                    term.cancel();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: could not renew the Lease");
                    if last_renewed.elapsed() > give_up {
                        term.cancel();
                        return;
                    }
                }
            }
        }
    }

    /// Without leader election (one replica by declaration): stamps the Lease as ours every
    /// `renew` until `stop` is cancelled, whoever held it, so that `AgentReady` still sees a live
    /// agent. Never run this beside replicas that do take part in the election.
    pub(crate) async fn heartbeat(&mut self, stop: &CancellationToken) {
        loop {
            if let Err(e) = self.stamp().await {
                tracing::warn!(error = %e, lease = %self.name, "could not stamp the agent's Lease");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.renew) => {}
            }
        }
    }

    async fn stamp(&self) -> Result<(), kube::Error> {
        let now = MicroTime(Timestamp::now());
        match self.api.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(None, now)),
                };
                self.api.create(&post_params(), &lease).await.map(drop)
            }
            Some(mut lease) => {
                lease.spec = Some(self.spec(lease.spec.as_ref(), now));
                self.api
                    .replace(&self.name, &post_params(), &lease)
                    .await
                    .map(drop)
            }
        }
    }

    /// Gives the Lease up (on shutdown), so another replica takes over at once.
    pub(crate) async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self.api.replace(&self.name, &post_params(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.name, "released the Lease"),
            Err(e) => tracing::warn!(error = %e, "could not release the Lease"),
        }
    }
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    }
}

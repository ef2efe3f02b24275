//! Ingress host claims (ADR 0015): which of a tenant's claimed hosts it holds, written into its
//! Capsule Tenant as `spec.ingressOptions.allowedHostnames` (Capsule's webhook then refuses an
//! Ingress with any other host, whatever its path, for every requester) and recorded in the
//! annotation [`HOSTS_ANNOTATION`] on the same object.
//!
//! A claim overlapping a claim another tenant's Capsule Tenant records is not granted (first
//! come, first served). Decisions that change a record are taken one at a time under a
//! process-wide lock, from fresh reads of every Capsule Tenant, and the Capsule Tenant is written
//! before the lock is released: two tenants asking for the same new host at once cannot both
//! get it (the agent writes only as the leader, so there is one such lock per cluster).
//!
//! A claim the tenant dropped stays recorded (but not allowed) while one of its Ingresses
//! still uses a host it covers, so no other tenant can take a host that still routes to it.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt as _};
use kubenova_api::crd::Tenant;
use kubenova_api::hosts;
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

use kubenova_api::conditions::Reason;

use super::Error;

/// The annotation on a Capsule Tenant listing the claims the tenant holds (comma-separated).
pub(crate) const HOSTS_ANNOTATION: &str = "kubenova.io/ingress-hosts";

/// One decision about a record at a time.
static LOCK: Mutex<()> = Mutex::const_new(());

/// What a tenant holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Hosts {
    /// Claims in the spec that the tenant holds: its Ingresses may use these.
    pub(crate) granted: Vec<String>,
    /// Claims no longer in the spec that an Ingress of the tenant still uses (`claim`, the
    /// Ingress `namespace/name`): held, not allowed.
    pub(crate) releasing: Vec<(String, String)>,
    /// Claims in the spec that another tenant holds (`claim`, the tenant, its claim).
    pub(crate) refused: Vec<(String, String, String)>,
}

impl Hosts {
    /// The record: every claim held.
    fn record(&self) -> String {
        let mut held: BTreeSet<&str> = self.granted.iter().map(String::as_str).collect();
        held.extend(self.releasing.iter().map(|(c, _)| c.as_str()));
        held.into_iter().collect::<Vec<_>>().join(",")
    }

    /// Sets the Capsule Tenant's allowed hostnames and the record on `desired` (a Capsule
    /// Tenant manifest). With nothing granted no host is allowed (nor a rule without one).
    pub(crate) fn restrict(&self, desired: &mut Value) {
        let mut exact: Vec<&String> = self
            .granted
            .iter()
            .filter(|c| hosts::wildcard_domain(c).is_none())
            .collect();
        exact.sort();
        let mut allowed = json!({ "allowed": exact });
        if let Some(regex) = hosts::wildcard_regex(&self.granted) {
            allowed["allowedRegex"] = json!(regex);
        }
        desired["spec"]["ingressOptions"]["allowedHostnames"] = allowed;
        desired["metadata"]["annotations"] = json!({ HOSTS_ANNOTATION: self.record() });
    }

    /// `(ok, reason, message)` for the tenant's `IngressHostsReady` condition.
    pub(crate) fn condition(&self) -> (bool, Reason, String) {
        if let Some((claim, other, theirs)) = self.refused.first() {
            return (
                false,
                Reason::HostTaken,
                format!(
                    "ingress host {claim} overlaps {theirs}, which tenant {other} holds; its Ingresses may not use it \
                     until {other} gives it up (remove it from plan.ingressHosts or choose another)"
                ),
            );
        }
        if let Some((claim, ingress)) = self.releasing.first() {
            return (
                false,
                Reason::Releasing,
                format!(
                    "ingress host {claim} is no longer claimed but Ingress {ingress} still uses it; \
                     no other tenant can take it until that Ingress is gone"
                ),
            );
        }
        (
            true,
            Reason::Held,
            if self.granted.is_empty() {
                "the tenant claims no ingress hosts: its Ingresses may use none".to_owned()
            } else {
                format!(
                    "the tenant's Ingresses may use {} and no other tenant's may",
                    self.granted.join(", ")
                )
            },
        )
    }
}

fn parse_record(capsule: &DynamicObject) -> Vec<String> {
    capsule
        .annotations()
        .get(HOSTS_ANNOTATION)
        .map(|r| {
            r.split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Decides what `tenant` holds. `cached` is the cached copy of its Capsule Tenant: when it
/// records exactly the spec's claims nothing can change and no lock is taken. Otherwise the
/// returned guard must be held until the Capsule Tenant (with [`Hosts::restrict`]) is written.
pub(crate) async fn decide(
    tenant: &Tenant,
    cached: Option<&DynamicObject>,
    client: &Client,
    capsule_tenants: &ApiResource,
) -> Result<(Hosts, Option<MutexGuard<'static, ()>>), Error> {
    let name = tenant.name_any();
    let claims = sorted(tenant.spec.plan.ingress_hosts.clone());
    if cached.is_some_and(|c| sorted(parse_record(c)) == claims) {
        return Ok((
            Hosts {
                granted: claims,
                ..Hosts::default()
            },
            None,
        ));
    }
    let guard = LOCK.lock().await;
    let api = Api::<DynamicObject>::all_with(client.clone(), capsule_tenants);
    // Its own record, fresh; the others' only when it asks for a claim it does not hold yet.
    let own = api.get_opt(&name).await?;
    let mine: Vec<String> = own.as_ref().map(parse_record).unwrap_or_default();
    let namespaces: BTreeSet<String> = own
        .as_ref()
        .map(|c| {
            c.data["status"]["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut others: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if claims.iter().any(|c| !mine.contains(c)) {
        for capsule in api.list(&ListParams::default()).await?.items {
            if capsule.name_any() != name {
                others.insert(capsule.name_any(), parse_record(&capsule));
            }
        }
    }
    let mut decided = Hosts::default();
    for claim in &claims {
        if mine.contains(claim) {
            decided.granted.push(claim.clone());
            continue;
        }
        let held = others.iter().find_map(|(other, theirs)| {
            theirs
                .iter()
                .find(|t| hosts::overlap(claim, t))
                .map(|t| (other.clone(), t.clone()))
        });
        match held {
            Some((other, theirs)) => decided.refused.push((claim.clone(), other, theirs)),
            None => decided.granted.push(claim.clone()),
        }
    }
    let dropped: Vec<&String> = mine.iter().filter(|c| !claims.contains(c)).collect();
    if !dropped.is_empty() {
        // Which dropped claims an Ingress of the tenant still uses.
        let ingresses = Api::<Ingress>::all(client.clone())
            .list(&ListParams::default())
            .await?;
        for claim in dropped {
            let user = ingresses.items.iter().find(|ing| {
                ing.namespace().is_some_and(|ns| namespaces.contains(&ns))
                    && ingress_hosts(ing).any(|h| hosts::covers(claim, h))
            });
            if let Some(ing) = user {
                decided.releasing.push((
                    claim.clone(),
                    format!("{}/{}", ing.namespace().unwrap_or_default(), ing.name_any()),
                ));
            }
        }
    }
    if !decided.refused.is_empty() || !decided.releasing.is_empty() {
        tracing::debug!(
            tenant = %name,
            refused = ?decided.refused,
            releasing = ?decided.releasing,
            "ingress host claims not (or not yet) settled"
        );
    }
    Ok((decided, Some(guard)))
}

/// The hosts an Ingress names in its rules and TLS entries.
fn ingress_hosts(ingress: &Ingress) -> impl Iterator<Item = &str> {
    let spec = ingress.spec.as_ref();
    let rules = spec
        .and_then(|s| s.rules.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|r| r.host.as_deref());
    let tls = spec
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten().map(String::as_str));
    rules.chain(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_allows_exactly_the_granted_claims_and_records_the_held_ones() {
        let hosts = Hosts {
            granted: vec!["*.shop.example.com".into(), "a.example.org".into()],
            releasing: vec![("old.example.org".into(), "t-web/old".into())],
            refused: vec![],
        };
        let mut desired = json!({"metadata": {"name": "t"}, "spec": {}});
        hosts.restrict(&mut desired);
        assert_eq!(
            desired["spec"]["ingressOptions"]["allowedHostnames"],
            json!({"allowed": ["a.example.org"], "allowedRegex": r"^([^.]+\.)+(shop\.example\.com)$"})
        );
        assert_eq!(
            desired["metadata"]["annotations"][HOSTS_ANNOTATION],
            "*.shop.example.com,a.example.org,old.example.org"
        );
        let (ok, reason, _) = hosts.condition();
        assert!(!ok);
        assert_eq!(reason, Reason::Releasing);

        let none = Hosts::default();
        let mut desired = json!({"metadata": {"name": "t"}, "spec": {}});
        none.restrict(&mut desired);
        assert_eq!(
            desired["spec"]["ingressOptions"]["allowedHostnames"],
            json!({"allowed": []})
        );
        assert_eq!(desired["metadata"]["annotations"][HOSTS_ANNOTATION], "");
        assert!(none.condition().0);
    }
}

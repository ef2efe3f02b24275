//! Revoking tokens, shared by the REST API (`DELETE /tokens/{jti}`, tenant and project
//! deletion) and the agent (tenants and projects deleted with kubectl). See ADR 0010.
//!
//! Revoking a token also revokes everything it issued, and what those issued, and so on (the
//! records' `issuedByJti`). Kubeconfig tokens are first added to the revocation ConfigMap in
//! the proxy namespace of their cluster (every proxy watches it, refuses the token and ends its
//! open streams); then their records, and API tokens' records, are marked revoked (control
//! refuses API tokens whose record is revoked). A failure part-way leaves nothing marked that
//! the proxies do not know about, and a retry finishes the job.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use kubenova_api::crd::{Cluster, IssuedToken, TokenKind};
use kubenova_api::labels;
use serde_json::json;

/// The revocation ConfigMap's name in each proxy namespace.
pub const REVOCATIONS_CONFIGMAP: &str = "kubenova-revocations";

use kubenova_api::clock::unix_now as now;

/// The records in `all` selected by `root`, plus every record issued (directly or not) by one
/// of them; only those not revoked yet.
pub fn closure(all: &[IssuedToken], root: impl Fn(&IssuedToken) -> bool) -> Vec<&IssuedToken> {
    let mut children: HashMap<&str, Vec<&IssuedToken>> = HashMap::new();
    for r in all {
        if let Some(parent) = r.spec.issued_by_jti.as_deref() {
            children.entry(parent).or_default().push(r);
        }
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<&IssuedToken> = all.iter().filter(|r| root(r)).collect();
    let mut out = Vec::new();
    while let Some(r) = queue.pop() {
        let jti = r.name_any();
        if !seen.insert(jti.clone()) {
            continue;
        }
        if let Some(kids) = children.get(jti.as_str()) {
            queue.extend(kids.iter().copied());
        }
        out.push(r);
    }
    out.retain(|r| !r.spec.revoked);
    out.sort_by_key(|r| r.name_any());
    out
}

/// The kubeconfig tokens among `records`, by cluster: `(jti, exp)`.
pub fn by_cluster(records: &[&IssuedToken]) -> BTreeMap<String, Vec<(String, i64)>> {
    let mut out: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for r in records {
        if let (TokenKind::Kubeconfig, Some(cluster)) = (r.spec.kind, &r.spec.cluster) {
            out.entry(cluster.clone())
                .or_default()
                .push((r.name_any(), r.spec.expires_at));
        }
    }
    out
}

/// Why the revocation ConfigMap could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The cluster refused or could not be reached.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// Other writers kept changing it.
    #[error("the revocation ConfigMap kept changing; try again")]
    Busy,
}

/// Adds `entries` (`jti`, `exp`) to the revocation ConfigMap in `namespace`, dropping entries
/// whose tokens have expired anyway.
pub async fn add_revocations(
    client: &Client,
    namespace: &str,
    entries: &[(String, i64)],
) -> Result<(), WriteError> {
    if entries.is_empty() {
        return Ok(());
    }
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for _ in 0..3 {
        let Some(existing) = api.get_opt(REVOCATIONS_CONFIGMAP).await? else {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(REVOCATIONS_CONFIGMAP.into()),
                    labels: Some(BTreeMap::from([
                        (labels::REVOCATIONS.to_owned(), "true".to_owned()),
                        (
                            labels::MANAGED_BY.to_owned(),
                            labels::MANAGED_BY_VALUE.to_owned(),
                        ),
                    ])),
                    ..ObjectMeta::default()
                },
                data: Some(
                    entries
                        .iter()
                        .map(|(jti, exp)| (jti.clone(), exp.to_string()))
                        .collect(),
                ),
                ..ConfigMap::default()
            };
            match api.create(&PostParams::default(), &cm).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let now = now();
        let mut data = serde_json::Map::new();
        for (key, value) in existing.data.unwrap_or_default() {
            if value.parse::<i64>().is_ok_and(|e| e < now) {
                data.insert(key, serde_json::Value::Null);
            }
        }
        for (jti, exp) in entries {
            data.insert(jti.clone(), serde_json::Value::String(exp.to_string()));
        }
        api.patch(
            REVOCATIONS_CONFIGMAP,
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": data })),
        )
        .await?;
        return Ok(());
    }
    Err(WriteError::Busy)
}

/// Marks one record revoked (`spec.revoked`, then `status.revokedAt`/`revokedBy`).
pub async fn mark_revoked(
    records: &Api<IssuedToken>,
    jti: &str,
    by: &str,
) -> Result<(), kube::Error> {
    records
        .patch(
            jti,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "revoked": true } })),
        )
        .await?;
    records
        .patch_status(
            jti,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "revokedAt": now(), "revokedBy": by } })),
        )
        .await?;
    Ok(())
}

/// The agent's part: revokes every token of `tenant` (or of its `project`) and what they
/// issued, before the Tenant's or Project's finalizer goes, so no token outlives the object
/// and none works for a later object of the same name.
///
/// The agent runs beside the API, with the management cluster's client: the records are
/// read there, and the tenant lives in this same cluster, so its kubeconfig tokens are
/// revoked in this cluster's proxy namespace (the `Cluster` record's, else
/// `default_namespace`). A cluster without the `IssuedToken` CRD never had a token issued.
/// Returns how many tokens were revoked.
pub async fn revoke_scope_here(
    client: &Client,
    default_namespace: &str,
    tenant: &str,
    project: Option<&str>,
    by: &str,
) -> Result<usize, kube::Error> {
    let records: Api<IssuedToken> = Api::all(client.clone());
    let all = match records.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(0),
        Err(e) => return Err(e),
    };
    let selected = closure(&all, |r| {
        r.spec.tenant.as_deref() == Some(tenant)
            && project.is_none_or(|p| r.spec.project.as_deref() == Some(p))
    });
    if selected.is_empty() {
        return Ok(0);
    }
    let clusters: Api<Cluster> = Api::all(client.clone());
    for (cluster, entries) in by_cluster(&selected) {
        let namespace = match clusters.get_opt(&cluster).await {
            Ok(Some(c)) => c.spec.proxy_namespace,
            Ok(None) | Err(kube::Error::Api(_)) => default_namespace.to_owned(),
            Err(e) => return Err(e),
        };
        add_revocations(client, &namespace, &entries)
            .await
            .map_err(|e| match e {
                WriteError::Kube(e) => e,
                WriteError::Busy => kube::Error::Service(e.to_string().into()),
            })?;
    }
    for r in &selected {
        mark_revoked(&records, &r.name_any(), by).await?;
    }
    tracing::info!(
        tenant,
        project,
        tokens = selected.len(),
        "revoked the tokens of a deleted scope"
    );
    Ok(selected.len())
}

#[cfg(test)]
mod tests {
    use kubenova_api::crd::IssuedTokenSpec;

    use super::*;

    fn record(jti: &str, parent: Option<&str>, tenant: Option<&str>, revoked: bool) -> IssuedToken {
        IssuedToken::new(
            jti,
            IssuedTokenSpec {
                kind: TokenKind::Kubeconfig,
                subject: "s".into(),
                tenant: tenant.map(str::to_owned),
                cluster: Some("main".into()),
                issued_by_jti: parent.map(str::to_owned),
                revoked,
                ..IssuedTokenSpec::default()
            },
        )
    }

    #[test]
    fn the_closure_follows_issued_by_and_skips_what_is_revoked() {
        let all = vec![
            record("admin", None, None, false),
            record("owner", Some("admin"), Some("acme"), false),
            record("kc", Some("owner"), Some("acme"), false),
            record("dev", Some("owner"), Some("acme"), true),
            record("grandchild", Some("dev"), Some("acme"), false),
            record("other", Some("admin"), Some("beta"), false),
        ];
        let names = |v: Vec<&IssuedToken>| v.iter().map(|r| r.name_any()).collect::<Vec<_>>();
        assert_eq!(
            names(closure(&all, |r| r.name_any() == "owner")),
            ["grandchild", "kc", "owner"]
        );
        assert_eq!(
            names(closure(&all, |r| r.spec.tenant.as_deref() == Some("beta"))),
            ["other"]
        );
        assert_eq!(closure(&all, |r| r.name_any() == "admin").len(), 5);
        assert_eq!(
            by_cluster(&closure(&all, |r| r.name_any() == "kc"))["main"].len(),
            1
        );
    }
}

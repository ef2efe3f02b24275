//! The API's check of a tenant's ingress host claims against the other tenants' (ADR 0015).

use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt as _};
use kubenova_api::crd::Tenant;
use kubenova_api::hosts;
use serde_json::json;

use crate::rest::error::ApiError;

/// 409 if one of `claims` overlaps a host another tenant of the cluster claims (ADR 0015). The
/// agent settles two such claims made at the same moment: the first it records keeps the host.
pub(super) async fn hosts_free(
    client: &Client,
    cluster: &str,
    tenant: &str,
    claims: &[String],
) -> Result<(), ApiError> {
    if claims.is_empty() {
        return Ok(());
    }
    let others = Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiError::from_kube(cluster, e))?;
    for other in others.items.iter().filter(|o| o.name_any() != tenant) {
        if let Some((mine, theirs)) = hosts::first_overlap(claims, &other.spec.plan.ingress_hosts) {
            let other = other.name_any();
            return Err(ApiError::conflict(format!(
                "ingress host `{mine}` overlaps `{theirs}`, which tenant `{other}` claims; a host belongs to one tenant \
                 (whatever the path): choose another or have `{other}` give it up first"
            ))
            .with_details(json!({
                "kind": "tenant", "name": tenant, "field": "ingressHosts",
                "host": mine, "overlaps": { "tenant": other, "host": theirs },
            })));
        }
    }
    Ok(())
}

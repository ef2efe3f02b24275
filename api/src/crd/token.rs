//! `IssuedToken`: the record of one token the control plane issued (lives in the management
//! cluster, named by the token's `jti`). It never holds the token itself.

// `KubeSchema` expands each struct into a private copy for its schema, which the
// `unreachable_pub` lint reports; the public types themselves are re-exported by `crd`.
#![allow(unreachable_pub)]
// Several printer columns share `type_ = "string"`, which clippy reads as a repeated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::role::Role;

/// What a token is for.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum TokenKind {
    /// A kubeconfig token for the proxy (`aud` = `kubenova-proxy`).
    #[default]
    Kubeconfig,
    /// A token for the REST API (`aud` = `kubenova-api`).
    Api,
}

/// The record of an issued token: who, what scope, until when, and whether it was revoked.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "kubenova.io",
    version = "v1alpha1",
    kind = "IssuedToken",
    plural = "issuedtokens",
    shortname = "kntoken",
    status = "IssuedTokenStatus",
    derive = "PartialEq",
    doc = "The record of a token KubeNova issued (never the token itself); named by its jti.",
    printcolumn(name = "Subject", type_ = "string", json_path = ".spec.subject"),
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.kind"),
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenant"),
    printcolumn(name = "Revoked", type_ = "boolean", json_path = ".spec.revoked"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct IssuedTokenSpec {
    /// `kubeconfig` or `api`.
    pub kind: TokenKind,
    /// The `sub` claim.
    pub subject: String,
    /// The `roles` claim.
    pub roles: Vec<Role>,
    /// The `tenant` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The `project` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The `cluster` claim (kubeconfig tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `iat`, unix seconds.
    pub issued_at: i64,
    /// `exp`, unix seconds.
    pub expires_at: i64,
    /// The subject of the token that asked for this one.
    pub issued_by: String,
    /// The `jti` of the token that asked for this one (absent for the bootstrap admin token).
    /// Revoking that token revokes this one too (ADR 0010).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by_jti: Option<String>,
    /// The signing key's id.
    pub kid: String,
    /// Set once the token is revoked; never unset.
    #[serde(default)]
    #[x_kube(validation = Rule::new("oldSelf == false || self == true").message("a revoked token stays revoked"))]
    pub revoked: bool,
}

/// When the revocation took effect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedTokenStatus {
    /// When the token was revoked, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
}

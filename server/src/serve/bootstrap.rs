//! `serve --bootstrap-admin-secret=<name>`: the first platform admin token, written into a Secret
//! of control's namespace when control starts and that Secret does not exist (ADR 0027). Read
//! with `kubectl get secret`, as Argo CD's initial admin Secret is; whoever may read Secrets in
//! that namespace may read the signing keys too, so this exposes nothing new. The token is issued
//! like every other (an IssuedToken record, revocable by its `jti`); deleting the Secret and
//! restarting control mints a fresh one, and without the flag no Secret is written.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use kubenova_api::Role;
use kubenova_api::crd::{IssuedToken, TokenKind};
use kubenova_control::rest;
use kubenova_control::services::keys::KeyStore;

/// Who the bootstrap token names.
pub(super) const SUBJECT: &str = "bootstrap-admin";
/// The IssuedToken record's `issuedBy` for it.
pub(super) const ISSUED_BY: &str = "kubenova-control serve --bootstrap-admin-secret";

/// Writes the Secret `name` (`token`, `jti`) unless it exists. Another replica writing it first
/// is fine: its token is the one people read (ours stays recorded until it expires).
pub(super) async fn ensure(
    secrets: &Api<Secret>,
    records: &Api<IssuedToken>,
    keys: &KeyStore,
    issuer: &str,
    name: &str,
    ttl_seconds: u64,
) -> anyhow::Result<()> {
    if secrets.get_opt(name).await?.is_some() {
        tracing::info!(
            secret = name,
            "bootstrap admin Secret present; not minting another"
        );
        return Ok(());
    }
    let (token, claims) = rest::tokens::issue(
        records,
        keys,
        issuer,
        rest::tokens::Issue {
            kind: TokenKind::Api,
            subject: SUBJECT.into(),
            roles: vec![Role::Admin],
            tenant: None,
            project: None,
            cluster: None,
            ttl_seconds,
            issued_by: ISSUED_BY.into(),
            issued_by_jti: None,
            not_after: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("minting the bootstrap admin token: {e}"))?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "kubenova-control".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        string_data: Some(BTreeMap::from([
            ("token".to_owned(), token),
            ("jti".to_owned(), claims.jti.clone()),
        ])),
        ..Secret::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            tracing::info!(secret = name, jti = %claims.jti, "bootstrap admin token written");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            tracing::info!(
                secret = name,
                "another replica wrote the bootstrap admin Secret first"
            );
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("writing the Secret {name}: {e}")),
    }
}

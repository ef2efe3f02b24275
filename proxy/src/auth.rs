//! Token verification with a cache, live keys and revocation.
//!
//! A verified token is cached under the SHA-256 of the token until its `exp` (never longer), so
//! the signature is checked once per token, not once per request. Revocation is checked on every
//! request, cached or not, against the set the revocation watcher keeps; key removal empties the
//! cache so a retired key stops working at once.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use kubenova_api::{Claims, Identity, KeySet, Scope, TokenError, Verifier};
use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::body::Reject;
use crate::forward::Impersonation;

/// A verified token: who it is, and what it may touch.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The verified claims.
    pub claims: Claims,
    /// The impersonated Kubernetes identity.
    pub identity: Identity,
    /// The token's scope.
    pub scope: Scope,
    /// The identity's impersonation headers, built once; `None` if it cannot be sent as
    /// headers (requests that would impersonate it are refused).
    pub impersonation: Option<Impersonation>,
}

/// Revoked `jti`s, with their expiry (after which they can be forgotten).
pub type Revoked = DashMap<String, i64>;

struct UntilExp;

impl Expiry<[u8; 32], Arc<Principal>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Principal>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = value.claims.exp.saturating_sub(now());
        Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
    }
}

/// Seconds since the epoch (the workspace's one clock).
pub use kubenova_api::clock::unix_now as now;

/// Verifies tokens.
pub struct Authenticator {
    verifier: Verifier,
    keys: RwLock<Arc<KeySet>>,
    cache: Cache<[u8; 32], Arc<Principal>>,
    revoked: Arc<Revoked>,
    cluster: Option<String>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("cached", &self.cache.entry_count())
            .field("revoked", &self.revoked.len())
            .finish_non_exhaustive()
    }
}

/// The outcome of [`Authenticator::authenticate`], for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Served from the cache.
    Hit,
    /// Verified now.
    Miss,
}

impl Authenticator {
    /// An authenticator accepting tokens from `issuer` for `audience`, signed by `keys`.
    pub fn new(
        verifier: Verifier,
        keys: KeySet,
        revoked: Arc<Revoked>,
        cluster: Option<String>,
    ) -> Self {
        Authenticator {
            verifier,
            keys: RwLock::new(Arc::new(keys)),
            cache: Cache::builder()
                .max_capacity(100_000)
                .expire_after(UntilExp)
                .build(),
            revoked,
            cluster,
        }
    }

    /// Replaces the verification keys. Tokens signed by a key that is gone stop working at once.
    pub fn set_keys(&self, keys: KeySet) {
        let mut current = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let removed = current.kids().iter().any(|kid| !keys.kids().contains(kid));
        *current = Arc::new(keys);
        if removed {
            self.cache.invalidate_all();
        }
    }

    /// The verification keys' ids.
    pub fn kids(&self) -> Vec<String> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).kids()
    }

    /// Verifies `token` (or takes it from the cache) and checks revocation and cluster.
    pub async fn authenticate(&self, token: &str) -> Result<(Arc<Principal>, CacheUse), Reject> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let (principal, used) = match self.cache.get(&key).await {
            Some(p) if p.claims.exp > now() => (p, CacheUse::Hit),
            _ => {
                let keys = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
                let claims = self
                    .verifier
                    .verify(token, &keys, now())
                    .map_err(token_rejection)?;
                let scope = claims
                    .scope()
                    .map_err(|e| token_rejection(TokenError::Claims(e)))?;
                let identity = kubenova_api::identity(&claims)
                    .map_err(|e| Reject::forbidden("platform_role", e.to_string()))?;
                let impersonation = Impersonation::new(&identity);
                let principal = Arc::new(Principal {
                    claims,
                    identity,
                    scope,
                    impersonation,
                });
                self.cache.insert(key, principal.clone()).await;
                (principal, CacheUse::Miss)
            }
        };
        if self.revoked.contains_key(&principal.claims.jti) {
            return Err(Reject::unauthorized(
                "revoked",
                "this token was revoked; ask for a new kubeconfig",
            ));
        }
        if let (Some(expected), Some(actual)) = (&self.cluster, &principal.claims.cluster)
            && expected != actual
        {
            return Err(Reject::unauthorized(
                "cluster",
                format!("this token is for cluster {actual}, not {expected}"),
            ));
        }
        Ok((principal, used))
    }
}

fn token_rejection(e: TokenError) -> Reject {
    Reject::unauthorized(e.reason(), format!("invalid token: {e}"))
}

//! JWT verification, uncached and cached, measured in-process on the proxy's own code:
//! `kubenova_api::Verifier::verify` (an EdDSA signature check plus the claim checks) and
//! `kubenova_proxy::auth::Authenticator::authenticate` on a cache miss (verify, scope, identity,
//! cache insert) and on a cache hit (SHA-256 of the token, cache lookup, revocation check).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubenova_api::claims::PROXY_AUDIENCE;
use kubenova_api::{Claims, JwkSet, KeySet, Role, SigningKey, Verifier};
use kubenova_proxy::auth::{Authenticator, CacheUse, Revoked, now};

/// Time per operation.
#[derive(Debug, Clone, Copy)]
pub struct JwtTimes {
    /// `Verifier::verify`, each token once.
    pub verify: Duration,
    /// `Authenticator::authenticate` on a token it has not seen.
    pub miss: Duration,
    /// `Authenticator::authenticate` on a token it has cached.
    pub hit: Duration,
    /// Distinct tokens verified (misses).
    pub tokens: u32,
    /// Cache hits timed.
    pub hits: u32,
}

fn claims(n: u32) -> Claims {
    let now = now();
    Claims {
        iss: testenv::proxy::ISSUER.into(),
        sub: "bench-user".into(),
        aud: PROXY_AUDIENCE.into(),
        exp: now + 3600,
        nbf: now,
        iat: now,
        jti: format!("bench-jwt-{n}"),
        roles: vec![Role::TenantOwner],
        tenant: Some(crate::setup::TENANT.into()),
        project: None,
        cluster: None,
    }
}

fn per_op(elapsed: Duration, n: u32) -> Duration {
    elapsed / n.max(1)
}

/// Signs `tokens` distinct tokens, then times verifying each, authenticating each once (all
/// misses), and authenticating one of them `hits` times (all hits).
pub async fn run(tokens: u32, hits: u32) -> anyhow::Result<JwtTimes> {
    let key = SigningKey::generate("bench-1")?;
    let jwks = JwkSet {
        keys: vec![key.public_jwk()],
    };
    let signed: Vec<String> = (0..tokens)
        .map(|n| key.sign(&claims(n)))
        .collect::<Result<_, _>>()?;
    let verifier = Verifier::new(testenv::proxy::ISSUER, PROXY_AUDIENCE);
    let keys = KeySet::from_jwks(&jwks)?;

    let started = Instant::now();
    for token in &signed {
        black_box(verifier.verify(black_box(token), &keys, now())?);
    }
    let verify = per_op(started.elapsed(), tokens);

    let auth = Authenticator::new(verifier, keys, Arc::new(Revoked::new()), None);
    let started = Instant::now();
    for token in &signed {
        let (_, used) = auth
            .authenticate(black_box(token))
            .await
            .map_err(|r| anyhow::anyhow!("{}: {}", r.code, r.message))?;
        if used != CacheUse::Miss {
            anyhow::bail!("expected a cache miss");
        }
    }
    let miss = per_op(started.elapsed(), tokens);

    let first = signed
        .first()
        .ok_or_else(|| anyhow::anyhow!("no tokens to time"))?;
    let started = Instant::now();
    for _ in 0..hits {
        let (_, used) = auth
            .authenticate(black_box(first))
            .await
            .map_err(|r| anyhow::anyhow!("{}: {}", r.code, r.message))?;
        if used != CacheUse::Hit {
            anyhow::bail!("expected a cache hit");
        }
    }
    let hit = per_op(started.elapsed(), hits);
    Ok(JwtTimes {
        verify,
        miss,
        hit,
        tokens,
        hits,
    })
}

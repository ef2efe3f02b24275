//! Signing people in through OpenID Connect providers (issue 19, ADR 0023).
//!
//! `--oidc-config` names a YAML file of issuers ([`OidcConfig`]), validated at start: a
//! mistake stops kubenova-control with a message naming the field. Each issuer's discovery
//! document and keys (JWKS) are fetched when first needed, cached, refreshed every
//! [`KEYS_MAX_AGE`] and at once (at most every [`REFRESH_MIN_INTERVAL`]) when an ID token names
//! a key id the cache does not hold, so a provider's key rotation needs no restart.
//!
//! [`Oidc::verify`] checks an ID token: issuer (exactly one configured `issuerUrl`), signature
//! with an allowed algorithm and a key of that issuer, audience (the configured `clientId`),
//! expiry and not-before with the configured clock skew. [`grants`] maps the person's groups to
//! KubeNova roles and scopes through the issuer's `mapping` (pure, unit-tested).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;
use tokio::sync::RwLock;

/// How long fetched keys are used before they are fetched again.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(600);
/// The least time between two fetches of one issuer's keys.
pub const REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// The most a discovery document or JWKS may weigh.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

mod config;

use config::asymmetric;
pub use config::{Grant, IssuerConfig, Mapping, OidcConfig, OidcError, grants};

/// A person an ID token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The issuer's configured name.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    /// The username claim.
    pub username: String,
    /// The groups claim (empty when absent).
    pub groups: Vec<String>,
    /// The ID token's `exp`.
    pub expires_at: i64,
}

/// Why an ID token is refused (each becomes a KN-401 saying so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a JWT.
    #[error("the ID token is not a JWT: {0}")]
    Malformed(String),
    /// `iss` names no configured issuer.
    #[error("the ID token's issuer `{0}` is not one this server trusts")]
    UnknownIssuer(String),
    /// The algorithm is not allowed.
    #[error("the ID token is signed with {0}, which issuer `{1}` is not allowed to use")]
    Algorithm(String, String),
    /// No key of the issuer has that id.
    #[error("the ID token is signed with a key issuer `{0}` does not publish")]
    UnknownKey(String),
    /// Signature, audience or time checks failed.
    #[error("the ID token was refused: {0}")]
    Invalid(String),
    /// The username claim is missing.
    #[error("the ID token has no `{0}` claim (the configured usernameClaim)")]
    NoUsername(String),
    /// The provider could not be reached to check the token.
    #[error("issuer `{0}` could not be reached to check the ID token: {1}")]
    Unreachable(String, String),
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

struct Issuer {
    config: IssuerConfig,
    algorithms: Vec<Algorithm>,
    client: HttpsClient,
    keys: RwLock<Option<Keys>>,
}

/// The configured providers, with their cached keys.
#[derive(Clone)]
pub struct Oidc {
    issuers: Arc<Vec<Issuer>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.issuers.iter().map(|i| &i.config.name))
            .finish()
    }
}

impl Oidc {
    /// The providers of a validated `config`; fetches nothing yet.
    pub fn new(config: OidcConfig) -> Result<Oidc, OidcError> {
        let mut issuers = Vec::new();
        for c in config.issuers {
            let mut roots = rustls::RootCertStore::empty();
            match &c.ca_file {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|source| OidcError::Read {
                        path: path.clone(),
                        source,
                    })?;
                    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem).flatten() {
                        roots.add(cert).map_err(|e| OidcError::Invalid {
                            path: path.clone(),
                            message: format!("caFile: {e}"),
                        })?;
                    }
                    if roots.is_empty() {
                        return Err(OidcError::Invalid {
                            path: path.clone(),
                            message: "caFile: no PEM certificate in it".into(),
                        });
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let tls = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_only()
                .enable_http1()
                .build();
            let algorithms = c
                .algorithms
                .iter()
                .filter_map(|a| asymmetric(a).ok())
                .collect();
            issuers.push(Issuer {
                config: c,
                algorithms,
                client: Client::builder(TokioExecutor::new()).build(connector),
                keys: RwLock::new(None),
            });
        }
        Ok(Oidc {
            issuers: Arc::new(issuers),
        })
    }

    /// The configured providers.
    pub fn issuers(&self) -> impl Iterator<Item = &IssuerConfig> {
        self.issuers.iter().map(|i| &i.config)
    }

    /// The provider named `name`.
    pub fn issuer(&self, name: &str) -> Option<&IssuerConfig> {
        self.issuers().find(|i| i.name == name)
    }

    /// Checks `id_token` and returns whom it vouches for.
    pub async fn verify(&self, id_token: &str, now: i64) -> Result<Person, Refused> {
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|e| Refused::Malformed(e.to_string()))?;
        let iss = unverified_issuer(id_token)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer_url == iss)
            .ok_or_else(|| Refused::UnknownIssuer(iss.clone()))?;
        let name = issuer.config.name.clone();
        if !issuer.algorithms.contains(&header.alg) {
            return Err(Refused::Algorithm(format!("{:?}", header.alg), name));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = issuer.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&issuer.config.issuer_url]);
        validation.set_audience(&[&issuer.config.client_id]);
        validation.leeway = issuer.config.clock_skew_seconds;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
        let claims: Value = jsonwebtoken::decode(id_token, &key, &validation)
            .map_err(|e| Refused::Invalid(in_words(&e, &issuer.config)))?
            .claims;
        let skew = i64::try_from(issuer.config.clock_skew_seconds).unwrap_or(0);
        if claims["iat"].as_i64().is_some_and(|iat| iat > now + skew) {
            return Err(Refused::Invalid("it was issued in the future".into()));
        }
        let text = |claim: &str| claims.get(claim).and_then(Value::as_str).map(str::to_owned);
        let username = text(&issuer.config.username_claim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Refused::NoUsername(issuer.config.username_claim.clone()))?;
        let groups = match claims.get(&issuer.config.groups_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(Person {
            issuer: name,
            subject: text("sub").unwrap_or_default(),
            username,
            groups,
            expires_at: claims["exp"].as_i64().unwrap_or(now),
        })
    }

    /// The mapping of the provider named `issuer`.
    pub fn mapping(&self, issuer: &str) -> &[Mapping] {
        self.issuer(issuer).map_or(&[], |i| i.mapping.as_slice())
    }
}

/// Why `jsonwebtoken` refused a token, in words a person can act on.
fn in_words(e: &jsonwebtoken::errors::Error, issuer: &IssuerConfig) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "it has expired; sign in again".into(),
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf is in the future)".into(),
        ErrorKind::InvalidAudience => format!(
            "it is meant for another application (its audience is not `{}`)",
            issuer.client_id
        ),
        ErrorKind::InvalidIssuer => format!("its issuer is not `{}`", issuer.issuer_url),
        ErrorKind::InvalidSignature => "its signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => "its algorithm does not match its key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("it has no `{claim}` claim"),
        other => format!("{other:?}"),
    }
}

/// The `iss` of a JWT, read before its signature is checked (to pick the issuer whose keys
/// check it; the signature check then covers `iss` too).
fn unverified_issuer(token: &str) -> Result<String, Refused> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Refused::Malformed("it has no payload".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| Refused::Malformed("its payload is not base64url".into()))?;
    let claims: Value = serde_json::from_slice(&bytes)
        .map_err(|_| Refused::Malformed("its payload is not JSON".into()))?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Refused::Malformed("it has no `iss`".into()))
}

impl Issuer {
    /// The decoding key `kid` names, from the cache or fetched anew.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refused> {
        let fresh = |keys: &Keys| keys.fetched.elapsed() < KEYS_MAX_AGE;
        {
            let cached = self.keys.read().await;
            if let Some(keys) = cached.as_ref().filter(|k| fresh(k))
                && let Some(key) = find(&keys.set, kid)
            {
                return key;
            }
        }
        let mut cached = self.keys.write().await;
        let recent = cached
            .as_ref()
            .is_some_and(|k| k.fetched.elapsed() < REFRESH_MIN_INTERVAL);
        if !recent {
            let set = self
                .fetch_keys()
                .await
                .map_err(|e| Refused::Unreachable(self.config.name.clone(), e.to_string()))?;
            *cached = Some(Keys {
                set,
                fetched: Instant::now(),
            });
        }
        let keys = cached
            .as_ref()
            .ok_or_else(|| Refused::UnknownKey(self.config.name.clone()))?;
        find(&keys.set, kid).unwrap_or_else(|| Err(Refused::UnknownKey(self.config.name.clone())))
    }

    async fn fetch_keys(&self) -> Result<JwkSet, OidcError> {
        let base = self.config.issuer_url.trim_end_matches('/');
        let discovery: Value = self
            .get_json(&format!("{base}/.well-known/openid-configuration"))
            .await?;
        if discovery["issuer"].as_str() != Some(self.config.issuer_url.as_str()) {
            return Err(self.fetch_error(format!(
                "its discovery document names issuer {} (configured: {})",
                discovery["issuer"], self.config.issuer_url
            )));
        }
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or_else(|| self.fetch_error("its discovery document has no jwks_uri".into()))?
            .to_owned();
        let jwks: Value = self.get_json(&jwks_uri).await?;
        serde_json::from_value(jwks).map_err(|e| self.fetch_error(format!("{jwks_uri}: {e}")))
    }

    fn fetch_error(&self, message: String) -> OidcError {
        OidcError::Fetch {
            issuer: self.config.name.clone(),
            message,
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, OidcError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| self.fetch_error(format!("`{url}` is not a URL")))?;
        let request = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| self.fetch_error(e.to_string()))?;
        let response = tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .map_err(|_| self.fetch_error(format!("{url}: no answer within 10 s")))?
            .map_err(|e| self.fetch_error(format!("{url}: {e}")))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| self.fetch_error(format!("{url}: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(self.fetch_error(format!("{url}: answered {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| self.fetch_error(format!("{url}: {e}")))
    }
}

/// The key `kid` names in `set` (the only key when the token names none and the set holds one).
fn find(set: &JwkSet, kid: &str) -> Option<Result<DecodingKey, Refused>> {
    let jwk = if kid.is_empty() && set.keys.len() == 1 {
        set.keys.first()
    } else {
        set.find(kid)
    }?;
    Some(DecodingKey::from_jwk(jwk).map_err(|e| Refused::Invalid(format!("its key: {e}"))))
}

#[cfg(test)]
mod tests;

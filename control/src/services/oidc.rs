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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
use kubenova_api::{Claims, Role};
use rustls_pki_types::pem::PemObject as _;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;

/// How long fetched keys are used before they are fetched again.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(600);
/// The least time between two fetches of one issuer's keys.
pub const REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// The most a discovery document or JWKS may weigh.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The file `--oidc-config` names.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcConfig {
    /// The providers people may sign in through.
    pub issuers: Vec<IssuerConfig>,
}

/// One provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuerConfig {
    /// A short name, shown to people and recorded with every token issued through it.
    pub name: String,
    /// The `iss` of its ID tokens, exactly; its discovery document is under it.
    pub issuer_url: String,
    /// The client KubeNova is registered as: ID tokens must carry it in `aud`.
    pub client_id: String,
    /// PEM CA bundle its HTTPS certificate is checked against; default: the Mozilla roots
    /// built into the binary (the images carry no system bundle).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Signature algorithms accepted; default `[RS256]`. Only asymmetric ones may be named.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`; default 60.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u64,
    /// The claim that names the person; default `email`.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim listing the person's groups; default `groups`.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The scopes a client asks for when it signs someone in here (published for the CLI and
    /// the web UI); default `[openid, email, groups]`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Which groups give which KubeNova role.
    pub mapping: Vec<Mapping>,
}

/// A group of the provider and the KubeNova role its members get.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mapping {
    /// The group, as the provider names it in the groups claim.
    pub group: String,
    /// The role.
    pub role: Role,
    /// The tenant, for tenant and project roles.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The project, for `projectDev` (and a project-wide `readOnly`).
    #[serde(default)]
    pub project: Option<String>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_skew() -> u64 {
    60
}
fn default_username_claim() -> String {
    "email".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_scopes() -> Vec<String> {
    ["openid", "email", "groups"].map(String::from).to_vec()
}

/// What is wrong with the configuration, or with fetching a provider's documents.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The file could not be read.
    #[error("--oidc-config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error("--oidc-config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What to fix.
        message: String,
    },
    /// A provider's document could not be fetched or read.
    #[error("OIDC issuer {issuer}: {message}")]
    Fetch {
        /// The issuer's name.
        issuer: String,
        /// What went wrong.
        message: String,
    },
}

impl OidcConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<OidcConfig, OidcError> {
        let text = std::fs::read_to_string(path).map_err(|source| OidcError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| OidcError::Invalid {
            path: path.to_owned(),
            message,
        };
        let config: OidcConfig = serde_yaml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Every mistake a person could make in the file, with the field that holds it.
    pub fn validate(&self) -> Result<(), String> {
        if self.issuers.is_empty() {
            return Err("issuers: name at least one provider".into());
        }
        let mut names = BTreeMap::new();
        for (i, issuer) in self.issuers.iter().enumerate() {
            let at = format!("issuers[{i}]");
            kubenova_api::names::validate_dns1123_label(&format!("{at}.name"), &issuer.name)
                .map_err(|e| e.to_string())?;
            if let Some(j) = names.insert(issuer.name.clone(), i) {
                return Err(format!(
                    "{at}.name: `{}` is also the name of issuers[{j}]",
                    issuer.name
                ));
            }
            let url: Uri = issuer
                .issuer_url
                .parse()
                .map_err(|_| format!("{at}.issuerUrl: not a URL"))?;
            if url.scheme_str() != Some("https") || url.host().is_none() {
                return Err(format!(
                    "{at}.issuerUrl: must be an https URL (OpenID Connect requires it), got `{}`",
                    issuer.issuer_url
                ));
            }
            if url.query().is_some() {
                return Err(format!("{at}.issuerUrl: must not have a query"));
            }
            if issuer.client_id.trim().is_empty() {
                return Err(format!("{at}.clientId: must not be empty"));
            }
            if issuer.algorithms.is_empty() {
                return Err(format!("{at}.algorithms: name at least one, e.g. RS256"));
            }
            for (k, alg) in issuer.algorithms.iter().enumerate() {
                asymmetric(alg).map_err(|why| format!("{at}.algorithms[{k}]: {why}"))?;
            }
            if issuer.clock_skew_seconds > 300 {
                return Err(format!(
                    "{at}.clockSkewSeconds: at most 300 (a larger skew keeps expired tokens usable)"
                ));
            }
            for (field, claim) in [
                ("usernameClaim", &issuer.username_claim),
                ("groupsClaim", &issuer.groups_claim),
            ] {
                if claim.trim().is_empty() {
                    return Err(format!("{at}.{field}: must not be empty"));
                }
            }
            if !issuer.scopes.iter().any(|s| s == "openid") {
                return Err(format!("{at}.scopes: must include `openid`"));
            }
            if issuer.mapping.is_empty() {
                return Err(format!(
                    "{at}.mapping: map at least one group to a role, or nobody can sign in"
                ));
            }
            for (k, m) in issuer.mapping.iter().enumerate() {
                let at = format!("{at}.mapping[{k}]");
                if m.group.trim().is_empty() {
                    return Err(format!("{at}.group: must not be empty"));
                }
                // The same checks as every token's claims: role and scope agree, names are valid.
                grant_claims(&Grant::from(m))
                    .scope()
                    .map_err(|e| format!("{at}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// An algorithm that may verify ID tokens: asymmetric only (`none` and the HMAC ones, whose
/// key would be the client secret, are refused).
fn asymmetric(name: &str) -> Result<Algorithm, String> {
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "PS384" => Ok(Algorithm::PS384),
        "PS512" => Ok(Algorithm::PS512),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "EdDSA" => Ok(Algorithm::EdDSA),
        other => Err(format!(
            "`{other}` is not accepted; use one of RS256, RS384, RS512, PS256, PS384, PS512, \
             ES256, ES384, EdDSA"
        )),
    }
}

/// A role and its scope, as a mapping gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// Its tenant.
    pub tenant: Option<String>,
    /// Its project.
    pub project: Option<String>,
}

impl From<&Mapping> for Grant {
    fn from(m: &Mapping) -> Grant {
        Grant {
            role: m.role,
            tenant: m.tenant.clone(),
            project: m.project.clone(),
        }
    }
}

/// Claims carrying `grant`'s role and scope (and placeholders), to check them with
/// [`Claims::scope`].
fn grant_claims(grant: &Grant) -> Claims {
    Claims {
        iss: "oidc-mapping".into(),
        sub: "oidc-mapping".into(),
        aud: "oidc-mapping".into(),
        exp: 0,
        nbf: 0,
        iat: 0,
        jti: "oidc-mapping".into(),
        roles: vec![grant.role],
        tenant: grant.tenant.clone(),
        project: grant.project.clone(),
        cluster: None,
    }
}

impl Grant {
    /// Platform roles first (in [`Role::ALL`]'s order), then by tenant and project.
    fn order(&self) -> (usize, Option<&str>, Option<&str>) {
        let rank = Role::ALL
            .iter()
            .position(|r| *r == self.role)
            .unwrap_or(Role::ALL.len());
        (rank, self.tenant.as_deref(), self.project.as_deref())
    }
}

/// The grants `groups` earn through `mapping`, sorted, without repeats.
pub fn grants(mapping: &[Mapping], groups: &[String]) -> Vec<Grant> {
    let mut out: Vec<Grant> = mapping
        .iter()
        .filter(|m| groups.contains(&m.group))
        .map(Grant::from)
        .collect();
    out.sort_by(|a, b| a.order().cmp(&b.order()));
    out.dedup();
    out
}

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
mod tests {
    use super::*;

    fn config(yaml: &str) -> Result<(), String> {
        let c: OidcConfig = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        c.validate()
    }

    const GOOD: &str = r#"
issuers:
- name: corp
  issuerUrl: https://dex.example.test/dex
  clientId: kubenova
  mapping:
  - {group: platform, role: admin}
  - {group: acme-owners, role: tenantOwner, tenant: acme}
  - {group: acme-web, role: projectDev, tenant: acme, project: web}
"#;

    #[test]
    fn a_good_configuration_and_its_defaults() {
        config(GOOD).expect("valid");
        let c: OidcConfig = serde_yaml::from_str(GOOD).expect("parses");
        let i = &c.issuers[0];
        assert_eq!(i.algorithms, ["RS256"]);
        assert_eq!(i.clock_skew_seconds, 60);
        assert_eq!(
            (i.username_claim.as_str(), i.groups_claim.as_str()),
            ("email", "groups")
        );
        assert_eq!(i.scopes, ["openid", "email", "groups"]);
    }

    #[test]
    fn mistakes_name_their_field() {
        let cases = [
            ("issuers: []", "issuers: name at least one"),
            (
                &GOOD.replace("https://dex", "http://dex"),
                "issuers[0].issuerUrl: must be an https URL",
            ),
            (
                &GOOD.replace(
                    "clientId: kubenova",
                    "clientId: kubenova\n  algorithms: [HS256]",
                ),
                "issuers[0].algorithms[0]: `HS256` is not accepted",
            ),
            (
                &GOOD.replace(
                    "clientId: kubenova",
                    "clientId: kubenova\n  algorithms: [none]",
                ),
                "issuers[0].algorithms[0]: `none` is not accepted",
            ),
            (
                &GOOD.replace("role: tenantOwner, tenant: acme", "role: tenantOwner"),
                "issuers[0].mapping[1]:",
            ),
            (
                &GOOD.replace("role: admin}", "role: admin, tenant: acme}"),
                "issuers[0].mapping[0]:",
            ),
            (
                &GOOD.replace("tenant: acme, project: web", "tenant: Acme, project: web"),
                "issuers[0].mapping[2]: tenant contains 'A'",
            ),
            (
                &GOOD.replace("role: admin", "role: root"),
                "unknown variant `root`",
            ),
            (
                &GOOD.replace("clientId:", "clientID:"),
                "unknown field `clientID`",
            ),
            (
                &GOOD.replace(
                    "clientId: kubenova",
                    "clientId: kubenova\n  clockSkewSeconds: 3600",
                ),
                "issuers[0].clockSkewSeconds: at most 300",
            ),
            (
                &format!("{GOOD}{}", GOOD.replace("issuers:\n", "")),
                "issuers[1].name: `corp` is also the name of issuers[0]",
            ),
        ];
        for (yaml, want) in cases {
            let err = config(yaml).expect_err(want);
            assert!(err.contains(want), "{want:?} not in {err:?}");
        }
    }

    #[test]
    fn groups_map_to_grants() {
        let c: OidcConfig = serde_yaml::from_str(GOOD).expect("parses");
        let mapping = &c.issuers[0].mapping;
        let g = |names: &[&str]| {
            grants(
                mapping,
                &names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(g(&["everyone"]), vec![]);
        assert_eq!(
            g(&["platform", "platform"]),
            vec![Grant {
                role: Role::Admin,
                tenant: None,
                project: None
            }]
        );
        let both = g(&["acme-web", "acme-owners", "other"]);
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].role, Role::TenantOwner);
        assert_eq!(both[1].project.as_deref(), Some("web"));
    }

    #[test]
    fn the_issuer_is_read_before_the_signature() {
        use base64::Engine as _;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"iss":"https://x.test"}"#)
        );
        assert_eq!(unverified_issuer(&token), Ok("https://x.test".to_owned()));
        assert!(matches!(
            unverified_issuer("a.b.c"),
            Err(Refused::Malformed(_))
        ));
        assert!(matches!(
            unverified_issuer(&format!("{}.{}.s", enc("{}"), enc("{}"))),
            Err(Refused::Malformed(_))
        ));
    }
}

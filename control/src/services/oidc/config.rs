//! The `--oidc-config` file: issuers, their settings and the mapping of groups to roles,
//! validated at start ([`OidcConfig::validate`]), and the grants a person's groups earn
//! ([`grants`]). Pure: nothing here talks to a provider.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::Uri;
use jsonwebtoken::Algorithm;
use kubenova_api::{Claims, Role};
use serde::Deserialize;

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
pub(super) fn asymmetric(name: &str) -> Result<Algorithm, String> {
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

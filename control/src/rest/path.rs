//! Typed path parameters: one struct per route shape, each name a DNS-1123 label checked while
//! it is parsed. A route whose template lacks a field its handler asks for, or a name that is not
//! a label, is a `KN-400` naming the parameter, never a 500.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde_json::json;

use super::error::ApiError;

/// A path extractor of `T`, failing with the KN envelope.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| {
                ApiError::bad_request(format!("in the path: {}", rejection.body_text()))
                    .with_details(json!({ "parameter": "path" }))
            })
    }
}

/// A DNS-1123 label (cluster, tenant, project, app names; token ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Checks `value` as the parameter `field`.
    pub fn parse(field: &str, value: &str) -> Result<Self, String> {
        kubenova_api::names::validate_dns1123_label(field, value)
            .map(|()| Name(value.to_owned()))
            .map_err(|e| e.to_string())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Name::parse("name", &value).map_err(de::Error::custom)
    }
}

/// `/clusters/{c}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterPath {
    /// The cluster.
    pub c: Name,
}

/// `/clusters/{c}/tenants/{t}`.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantPath {
    /// The cluster.
    pub c: Name,
    /// The tenant.
    pub t: Name,
}

/// `/tenants/{t}` (the cluster is looked up).
#[derive(Debug, Clone, Deserialize)]
pub struct TenantRef {
    /// The tenant.
    pub t: Name,
}

/// `/clusters/{c}/tenants/{t}/projects/{p}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectPath {
    /// The cluster.
    pub c: Name,
    /// The tenant.
    pub t: Name,
    /// The project.
    pub p: Name,
}

/// `/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AppPath {
    /// The cluster.
    pub c: Name,
    /// The tenant.
    pub t: Name,
    /// The project.
    pub p: Name,
    /// The app.
    pub a: Name,
}

impl AppPath {
    /// The project part.
    pub fn project(&self) -> ProjectPath {
        ProjectPath {
            c: self.c.clone(),
            t: self.t.clone(),
            p: self.p.clone(),
        }
    }
}

/// `/clusters/{c}/tenants/{t}/projects/{p}/apps/{a}` with `{a}` = `<app>:<action>` (the seed's
/// action URLs).
#[derive(Debug, Clone, Deserialize)]
pub struct AppActionPath {
    /// The cluster.
    pub c: Name,
    /// The tenant.
    pub t: Name,
    /// The project.
    pub p: Name,
    /// `<app>:<action>`.
    pub a: String,
}

/// `/tokens/{jti}`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenPath {
    /// The token id.
    pub jti: Name,
}

/// What a path parameter is called in messages and the OpenAPI document.
pub fn describe(param: &str) -> &'static str {
    match param {
        "c" => "cluster name",
        "t" => "tenant name",
        "p" => "project name",
        "a" => "app name",
        "jti" => "token id",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_labels() {
        let ok: Result<ProjectPath, _> =
            serde_json::from_value(json!({"c": "main", "t": "acme", "p": "shop"}));
        assert!(ok.is_ok());
        for bad in ["UPPER", "-lead", "a.b", "", "a/b", &"n".repeat(64)] {
            let v: Result<ProjectPath, _> =
                serde_json::from_value(json!({"c": "main", "t": bad, "p": "shop"}));
            assert!(v.is_err(), "{bad:?}");
        }
        let missing: Result<AppPath, _> =
            serde_json::from_value(json!({"c": "main", "t": "acme", "p": "shop"}));
        assert!(missing.is_err());
    }
}

//! `GET /api/v1/audit` (admin): the recent audit events of every replica, newest first, with the
//! filters a person looking for something needs (ADR 0026, docs/control.md).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use kubenova_api::names::validate_dns1123_label;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::services::audit::ring::Source;
use crate::services::state::{AppState, MANAGEMENT};

/// The most events one answer holds.
pub const MAX_LIMIT: usize = 1000;
/// Events answered when the query names no limit.
pub const DEFAULT_LIMIT: usize = 100;

/// The query of `GET /api/v1/audit`. Each parameter at most once.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    /// The most events to answer, newest first (default 100, 1 to 1000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only events of this subject (the caller's `sub`, exactly; `anonymous` for requests
    /// without a valid token).
    #[serde(default)]
    pub actor: Option<String>,
    /// Only events about this tenant: its path names the tenant, or the caller's token was
    /// scoped to it.
    #[serde(default)]
    pub tenant: Option<String>,
    /// `success` (status below 400) or `failure` (400 and above: refused or failed).
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Only events at or after this time (RFC 3339, `2026-12-07T06:00:00Z`).
    #[serde(default)]
    pub since: Option<String>,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// A status below 400.
    Success,
    /// A status of 400 or above (refused or failed).
    Failure,
}

/// One audit event, as the audit log wrote it, and where it was read from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When (RFC 3339).
    pub time: String,
    /// The request id.
    pub request_id: String,
    /// The client's own `X-Request-Id`, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// Who (the token's `sub`; `anonymous` without a valid token).
    pub subject: String,
    /// The caller's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The caller's scope: `platform`, `tenant:<t>`, `project:<t>/<p>`, `none`.
    pub scope: String,
    /// The route's action (`tenants.create`).
    pub action: String,
    /// The method and path.
    pub target: String,
    /// The HTTP status.
    pub result: u16,
    /// The `jti` issued or revoked, when one was (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Who minted the caller's token, when not the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_by: Option<String>,
    /// Who a token or kubeconfig was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_to: Option<String>,
    /// The tenant the event is about (from its path, else the caller's scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The control replica that recorded it.
    #[serde(default)]
    pub replica: String,
}

/// Where the events were read from: one ring per replica.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSource {
    /// The replica.
    pub replica: String,
    /// The events it holds now.
    pub events: usize,
    /// Its oldest event's time: nothing older from this replica is readable here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
    /// When its ring was last written (absent for the replica that answered: read from memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

/// The answer of `GET /api/v1/audit`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditList {
    /// The matching events, newest first, at most `limit`.
    pub items: Vec<AuditEntry>,
    /// Whether more events matched than `limit`.
    pub truncated: bool,
    /// How many events each replica keeps readable (`--audit-events`); the complete log is
    /// where `--audit-log` writes it.
    pub per_replica: usize,
    /// The replicas whose events were read.
    pub sources: Vec<AuditSource>,
}

/// The filters, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// At most this many.
    pub limit: usize,
    /// Subject.
    pub actor: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Unix seconds.
    pub since: Option<i64>,
}

const PARAMS: &str = "limit, actor, tenant, outcome, since";

/// Checks the query's parameters as the API documents them.
pub fn filter(pairs: &[(String, String)]) -> Result<Filter, ApiError> {
    let mut out = Filter {
        limit: DEFAULT_LIMIT,
        actor: None,
        tenant: None,
        outcome: None,
        since: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in pairs {
        if seen.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "the query parameter `{key}` is given twice; give it once"
            )));
        }
        seen.push(key);
        match key.as_str() {
            "limit" => {
                out.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "limit",
                            format!("must be a whole number from 1 to {MAX_LIMIT}, not `{value}`"),
                        )
                    })?;
            }
            "actor" => {
                if value.is_empty() || value.len() > 256 {
                    return Err(ApiError::invalid(
                        "actor",
                        "must be a subject of 1 to 256 characters",
                    ));
                }
                out.actor = Some(value.clone());
            }
            "tenant" => {
                validate_dns1123_label("tenant", value)
                    .map_err(|e| ApiError::invalid("tenant", e.to_string()))?;
                out.tenant = Some(value.clone());
            }
            "outcome" => {
                out.outcome = Some(match value.as_str() {
                    "success" => Outcome::Success,
                    "failure" => Outcome::Failure,
                    _ => {
                        return Err(ApiError::invalid(
                            "outcome",
                            format!("must be `success` or `failure`, not `{value}`"),
                        ));
                    }
                });
            }
            "since" => {
                let at = value.parse::<k8s_openapi::jiff::Timestamp>().map_err(|_| {
                    ApiError::invalid(
                        "since",
                        format!(
                            "must be an RFC 3339 time such as 2026-12-07T06:00:00Z, not `{value}`"
                        ),
                    )
                })?;
                out.since = Some(at.as_second());
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{key}`; this endpoint takes {PARAMS}"
                ))
                .with_details(serde_json::json!({ "parameter": key })));
            }
        }
    }
    Ok(out)
}

/// The tenant an event is about: the one its path names, else its caller's scope's.
pub fn tenant_of(target: &str, scope: &str) -> Option<String> {
    let path = target.split_once(' ').map_or(target, |(_, p)| p);
    let mut parts = path.split('/');
    while let Some(part) = parts.next() {
        if part == "tenants"
            && let Some(t) = parts.next().filter(|t| !t.is_empty())
        {
            return Some(t.to_owned());
        }
    }
    let scoped = scope
        .strip_prefix("tenant:")
        .or_else(|| scope.strip_prefix("project:"))?;
    Some(scoped.split('/').next().unwrap_or(scoped).to_owned())
}

fn seconds(time: &str) -> i64 {
    time.parse::<k8s_openapi::jiff::Timestamp>()
        .map(|t| t.as_second())
        .unwrap_or(0)
}

/// Merges every source's events, newest first (events of one second keep their replica's
/// order), keeps those `filter` lets through.
pub fn select(sources: &[Source], filter: &Filter) -> (Vec<AuditEntry>, bool) {
    let mut all: Vec<(i64, usize, AuditEntry)> = Vec::new();
    for source in sources {
        for (index, line) in source.lines.iter().enumerate() {
            let Ok(mut entry) = serde_json::from_str::<AuditEntry>(line) else {
                continue;
            };
            entry.tenant = tenant_of(&entry.target, &entry.scope);
            entry.replica = source.replica.clone();
            let at = seconds(&entry.time);
            let keep = filter.since.is_none_or(|s| at >= s)
                && filter.actor.as_ref().is_none_or(|a| *a == entry.subject)
                && filter
                    .tenant
                    .as_ref()
                    .is_none_or(|t| entry.tenant.as_ref() == Some(t))
                && filter.outcome.is_none_or(|o| match o {
                    Outcome::Success => entry.result < 400,
                    Outcome::Failure => entry.result >= 400,
                });
            if keep {
                all.push((at, index, entry));
            }
        }
    }
    all.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    let truncated = all.len() > filter.limit;
    all.truncate(filter.limit);
    (all.into_iter().map(|(_, _, e)| e).collect(), truncated)
}

/// `GET /api/v1/audit`.
pub async fn list(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<axum::Json<AuditList>, ApiError> {
    let filter = filter(&pairs)?;
    let Some(ring) = state.audit().ring() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this control plane keeps no readable audit events (--audit-events=0); read the audit log where --audit-log writes it",
        ));
    };
    let sources = ring
        .read()
        .await
        .map_err(|e| ApiError::from_kube(MANAGEMENT, e))?;
    let (items, truncated) = select(&sources, &filter);
    let sources = sources
        .iter()
        .map(|s| AuditSource {
            replica: s.replica.clone(),
            events: s.lines.len(),
            oldest: s
                .lines
                .first()
                .and_then(|l| serde_json::from_str::<AuditEntry>(l).ok().map(|e| e.time)),
            updated: s.updated.clone(),
        })
        .collect();
    Ok(axum::Json(AuditList {
        items,
        truncated,
        per_replica: ring.capacity(),
        sources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn line(time: &str, subject: &str, target: &str, scope: &str, result: u16) -> String {
        serde_json::json!({
            "time": time, "requestId": format!("r-{time}-{subject}"), "subject": subject,
            "roles": ["admin"], "scope": scope, "action": "x", "target": target, "result": result,
        })
        .to_string()
    }

    #[test]
    fn the_query_is_checked_as_documented() {
        assert_eq!(filter(&[]).expect("empty").limit, DEFAULT_LIMIT);
        let f = filter(&pairs(&[
            ("limit", "5"),
            ("actor", "alice"),
            ("tenant", "acme"),
            ("outcome", "failure"),
            ("since", "2026-12-07T06:00:00Z"),
        ]))
        .expect("valid");
        assert_eq!(f.limit, 5);
        assert_eq!(f.outcome, Some(Outcome::Failure));
        assert_eq!(f.since, Some(1_796_623_200));
        let status = |q: &[(&str, &str)]| filter(&pairs(q)).expect_err("refused").status;
        assert_eq!(status(&[("limit", "0")]), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            status(&[("limit", "1001")]),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(&[("limit", "ten")]),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(&[("outcome", "ok")]),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(&[("since", "yesterday")]),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(&[("tenant", "Not_A_Name")]),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status(&[("actor", "")]), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(&[("user", "alice")]), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(&[("limit", "1"), ("limit", "2")]),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn the_tenant_comes_from_the_path_else_the_scope() {
        let t = |target, scope| tenant_of(target, scope);
        assert_eq!(
            t(
                "POST /api/v1/clusters/main/tenants/acme/projects",
                "platform"
            ),
            Some("acme".into())
        );
        assert_eq!(
            t("GET /api/v1/tenants/acme/usage", "platform"),
            Some("acme".into())
        );
        assert_eq!(t("POST /api/v1/clusters/main/tenants", "platform"), None);
        assert_eq!(t("POST /api/v1/tokens", "tenant:acme"), Some("acme".into()));
        assert_eq!(
            t("DELETE /api/v1/tokens/x", "project:acme/web"),
            Some("acme".into())
        );
        assert_eq!(t("POST /api/v1/tokens", "none"), None);
    }

    #[test]
    fn events_of_every_replica_newest_first_filtered() {
        let sources = vec![
            Source {
                replica: "a".into(),
                lines: vec![
                    line(
                        "2026-12-07T06:00:00Z",
                        "alice",
                        "POST /api/v1/clusters/main/tenants/acme/projects",
                        "platform",
                        201,
                    ),
                    line(
                        "2026-12-07T06:00:02Z",
                        "bob",
                        "POST /api/v1/tokens",
                        "tenant:acme",
                        403,
                    ),
                    "not json".into(),
                ],
                updated: None,
            },
            Source {
                replica: "b".into(),
                lines: vec![
                    line(
                        "2026-12-07T06:00:01Z",
                        "carol",
                        "POST /api/v1/clusters/main/tenants/zeta/projects",
                        "platform",
                        201,
                    ),
                    line(
                        "2026-12-07T06:00:02Z",
                        "carol",
                        "DELETE /api/v1/tokens/j",
                        "platform",
                        200,
                    ),
                ],
                updated: Some("2026-12-07T06:00:03Z".into()),
            },
        ];
        let all = filter(&[]).expect("filter");
        let (items, truncated) = select(&sources, &all);
        assert!(!truncated);
        let order: Vec<(&str, &str)> = items
            .iter()
            .map(|e| (e.subject.as_str(), e.replica.as_str()))
            .collect();
        assert_eq!(order.len(), 4);
        assert_eq!(order[3], ("alice", "a"));
        assert_eq!(order[2], ("carol", "b"));
        let f = |q: &[(&str, &str)]| {
            select(&sources, &filter(&pairs(q)).expect("filter"))
                .0
                .into_iter()
                .map(|e| e.subject)
                .collect::<Vec<_>>()
        };
        assert_eq!(f(&[("tenant", "acme")]), ["bob", "alice"]);
        assert_eq!(f(&[("outcome", "failure")]), ["bob"]);
        assert_eq!(f(&[("actor", "carol")]), ["carol", "carol"]);
        assert_eq!(
            f(&[("since", "2026-12-07T06:00:02Z"), ("outcome", "success")]),
            ["carol"]
        );
        let (one, truncated) = select(&sources, &filter(&pairs(&[("limit", "1")])).expect("f"));
        assert_eq!(one.len(), 1);
        assert!(truncated);
    }
}

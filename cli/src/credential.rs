//! `kubenova credential`: the client-go exec plugin of `--exec` kubeconfigs (ADR 0025). It
//! prints an `ExecCredential` (`client.authentication.k8s.io/v1`) holding a short-lived proxy
//! token minted from the context's token (the person's session), and caches the token in
//! `$XDG_CACHE_HOME/kubenova/credentials/` (default `~/.cache/kubenova`; files 0600) until
//! shortly before it expires, so kubectl does not ask the server on every call.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::api::{self, Error};
use crate::args::CredentialArgs;
use crate::commands::Env;

/// The exec plugin API version answered (the one `--exec` kubeconfigs name).
pub(crate) const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// A cached proxy token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cached {
    /// The token.
    pub(crate) token: String,
    /// Its id.
    pub(crate) jti: String,
    /// When it was received (unix seconds, this machine's clock).
    pub(crate) received: i64,
    /// When it expires (unix seconds, from the server's `expiresAt`).
    pub(crate) expires: i64,
}

impl Cached {
    /// How long before `expires` a token counts as used up: a fifth of its lifetime, at least
    /// 2 s and at most 60 s, so kubectl never sends one the proxy is about to refuse.
    pub(crate) fn margin(&self) -> i64 {
        ((self.expires - self.received) / 5).clamp(2, 60)
    }

    /// Good for another request at `now`.
    pub(crate) fn fresh(&self, now: i64) -> bool {
        now < self.expires - self.margin()
    }

    /// The `ExecCredential` for kubectl; its `expirationTimestamp` is where the token stops
    /// being fresh, so client-go runs the plugin again then.
    pub(crate) fn exec_credential(&self) -> Value {
        json!({
            "apiVersion": EXEC_API_VERSION,
            "kind": "ExecCredential",
            "spec": {"interactive": false},
            "status": {
                "token": self.token,
                "expirationTimestamp": rfc3339(self.expires - self.margin()),
            },
        })
    }
}

/// `$XDG_CACHE_HOME/kubenova`, else `~/.cache/kubenova`.
pub(crate) fn cache_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(dir).join("kubenova"));
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("kubenova")),
        None => Err(Error::Other(
            "neither XDG_CACHE_HOME nor HOME is set: set XDG_CACHE_HOME".into(),
        )),
    }
}

fn hex16(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for p in parts {
        hash.update(p.as_bytes());
        hash.update([0]);
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cache files of one session start with this (a hash of the server and the session's
/// token: a new sign-in never reads the tokens of an old one, and the token is not in the name).
pub(crate) fn session_prefix(server: &str, token: &str) -> String {
    hex16(&[server, token])
}

fn cache_file(session: &str, scope: &[&str]) -> Result<PathBuf, Error> {
    Ok(cache_dir()?
        .join("credentials")
        .join(format!("{session}-{}.json", hex16(scope))))
}

/// Deletes every cached proxy token of a session (`kubenova logout`); how many.
pub(crate) fn forget_session(session: &str) -> usize {
    let Ok(dir) = cache_dir().map(|d| d.join("credentials")) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(session))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs the plugin: a fresh cached token, or a new one from the server.
pub(crate) async fn run(env: &mut Env, args: CredentialArgs) -> Result<(), Error> {
    let cluster = env.cluster_of(&args.tenant).await?;
    let role = args.role.clone().unwrap_or_default();
    let project = args.project.clone().unwrap_or_default();
    let path = cache_file(&env.session, &[&cluster, &args.tenant, &project, &role])?;
    let now = now();
    if let Some(cached) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Cached>(&t).ok())
        .filter(|c| c.fresh(now))
    {
        println!("{}", cached.exec_credential());
        return Ok(());
    }
    let c = env.client.clone();
    let answer = match &args.project {
        None => {
            let query = crate::api::CredentialsTenantQuery {
                role: args.role.clone(),
            };
            c.credentials_tenant(&cluster, &args.tenant, &query).await
        }
        // readOnly callers may only use the GET form; everyone else the POST form.
        Some(p) if args.role.as_deref() == Some("readOnly") => {
            let query = crate::api::CredentialsProjectByQueryQuery {
                role: args.role.clone(),
            };
            c.credentials_project_by_query(&cluster, &args.tenant, p, &query)
                .await
        }
        Some(p) => {
            let query = crate::api::CredentialsProjectQuery {
                role: args.role.clone(),
            };
            c.credentials_project(&cluster, &args.tenant, p, &query)
                .await
        }
    };
    let answer = match answer {
        Ok(r) => api::json(r).await,
        Err(e) => Err(e),
    }
    .map_err(|e| match e {
        Error::Api { status: 401, .. } => Error::Other(format!(
            "{}\nyour KubeNova session has ended or was revoked: sign in again with `kubenova \
             login --oidc` (context {:?})",
            e.render().trim_end(),
            env.context_name.as_deref().unwrap_or("?")
        )),
        other => other,
    })?;
    let field = |name: &str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Other(format!("the credential answer has no {name}")))
    };
    let expires_at = field("expiresAt")?;
    let cached = Cached {
        token: field("token")?,
        jti: field("jti")?,
        received: now,
        expires: parse_rfc3339(&expires_at).ok_or_else(|| {
            Error::Other(format!(
                "the credential's expiresAt {expires_at:?} is not RFC 3339"
            ))
        })?,
    };
    let text = serde_json::to_string(&cached).map_err(|e| Error::Other(e.to_string()))?;
    // A cache that cannot be written costs a request next time, nothing more.
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        let _ = crate::config::write_private(&path, text.as_bytes());
    }
    println!("{}", cached.exec_credential());
    Ok(())
}

/// `2026-12-07T05:00:00Z` as unix seconds (the server's format: UTC).
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    if !text.ends_with('Z') {
        return None;
    }
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// Unix seconds as RFC 3339 UTC.
pub(crate) fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for secs in [0, 951_782_400, 1_796_619_600, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs), "{secs}");
        }
        assert_eq!(rfc3339(1_796_619_600), "2026-12-07T05:00:00Z");
        assert_eq!(parse_rfc3339("2026-12-07T05:00:00+01:00"), None);
        assert_eq!(parse_rfc3339("2026-13-07T05:00:00Z"), None);
    }

    #[test]
    fn a_token_is_renewed_before_it_expires() {
        let short = Cached {
            token: "t".into(),
            jti: "j".into(),
            received: 1000,
            expires: 1020,
        };
        assert_eq!(short.margin(), 4);
        assert!(short.fresh(1015));
        assert!(!short.fresh(1016));
        let long = Cached {
            expires: 1000 + 3600,
            ..short.clone()
        };
        assert_eq!(long.margin(), 60);
        let v = short.exec_credential();
        assert_eq!(v["apiVersion"], EXEC_API_VERSION);
        assert_eq!(v["kind"], "ExecCredential");
        assert_eq!(v["status"]["token"], "t");
        assert_eq!(v["status"]["expirationTimestamp"], rfc3339(1016));
    }

    #[test]
    fn sessions_do_not_share_cache_files() {
        let a = session_prefix("https://k", "token-a");
        assert_ne!(a, session_prefix("https://k", "token-b"));
        assert_ne!(a, session_prefix("https://other", "token-a"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("token"));
    }
}

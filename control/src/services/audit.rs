//! The audit log: one JSON line per mutating request and per token or kubeconfig issued or
//! revoked, to stdout or a file. It names who did what to which object and how it ended; it
//! never holds a token, a kubeconfig or a request body. The last events of each replica are also
//! kept where admins can read them back ([`ring`], `GET /api/v1/audit`, ADR 0026).

pub mod ring;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

/// The longest client `X-Request-Id` the audit log keeps (as `clientRequestId`).
pub const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The request id header: ours in every answer; a client's copy is only ever recorded apart.
const X_REQUEST_ID: &str = "x-request-id";

/// The `X-Request-Id` a client sent, if it was one value of 1 to [`MAX_CLIENT_REQUEST_ID`]
/// visible ASCII characters. Recorded as `clientRequestId`, never as the request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequestId(pub String);

impl ClientRequestId {
    /// Takes the client's id from `headers`, if it is bounded and printable.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let mut values = headers.get_all(X_REQUEST_ID).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return None;
        };
        let bytes = value.as_bytes();
        let bounded = (1..=MAX_CLIENT_REQUEST_ID).contains(&bytes.len());
        let visible = bytes.iter().all(u8::is_ascii_graphic);
        (bounded && visible).then(|| ClientRequestId(String::from_utf8_lossy(bytes).into_owned()))
    }
}

/// The outermost layer: removes the client's `X-Request-Id` before the request-id layer runs, so
/// that layer always sets one of ours (it keeps any it finds), and keeps the client's, when
/// bounded, as a [`ClientRequestId`] extension for the audit log.
pub async fn take_client_request_id(mut req: Request, next: Next) -> Response {
    let client = ClientRequestId::from_headers(req.headers());
    req.headers_mut().remove(X_REQUEST_ID);
    if let Some(client) = client {
        req.extensions_mut().insert(client);
    }
    next.run(req).await
}

/// One audit record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event<'a> {
    /// RFC 3339 time.
    pub time: String,
    /// The request id (always ours, a UUID).
    pub request_id: &'a str,
    /// The client's own `X-Request-Id`, when it sent a bounded, printable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<&'a str>,
    /// The caller's `sub` (`anonymous` before authentication).
    pub subject: &'a str,
    /// The caller's roles.
    pub roles: Vec<String>,
    /// `platform`, `tenant:<t>` or `project:<t>/<p>`.
    pub scope: String,
    /// The route's action (`tenants.create`).
    pub action: &'a str,
    /// The method and the request path (never the query string).
    pub target: String,
    /// The HTTP status.
    pub result: u16,
    /// What was issued or revoked (a `jti`, never the token), when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Who minted the caller's token, when that was not the caller (`subject`) itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minted_by: Option<&'a str>,
    /// The subject a token or kubeconfig was issued to, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_to: Option<&'a str>,
}

/// Where audit lines go.
#[derive(Clone)]
pub struct Audit {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
    ring: Option<Arc<ring::Ring>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Audit")
    }
}

/// The audit log file could not be opened for appending.
#[derive(Debug, thiserror::Error)]
#[error(
    "audit log {}: {error}; give --audit-log a file this process may create and append to, or `-` for standard output",
    path.display()
)]
pub struct AuditError {
    /// The file.
    pub path: std::path::PathBuf,
    /// Why it could not be opened.
    pub error: std::io::Error,
}

impl Audit {
    /// Lines to standard output.
    pub fn stdout() -> Audit {
        Audit::to(Box::new(std::io::stdout()))
    }

    /// Lines appended to `path`.
    pub fn file(path: &std::path::Path) -> Result<Audit, AuditError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| AuditError {
                path: path.to_owned(),
                error,
            })?;
        Ok(Audit::to(Box::new(file)))
    }

    /// Lines to any writer.
    pub fn to(sink: Box<dyn Write + Send>) -> Audit {
        Audit {
            sink: Arc::new(Mutex::new(sink)),
            ring: None,
        }
    }

    /// Also keeps every event in `ring`, where `GET /api/v1/audit` reads it back.
    pub fn with_ring(mut self, ring: Arc<ring::Ring>) -> Audit {
        self.ring = Some(ring);
        self
    }

    /// The readable store of recent events, when this replica keeps one.
    pub fn ring(&self) -> Option<&Arc<ring::Ring>> {
        self.ring.as_ref()
    }

    /// Writes one event as a JSON line.
    pub fn record(&self, event: &Event<'_>) {
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        if let Some(ring) = &self.ring {
            ring.push(&String::from_utf8_lossy(&line));
        }
        line.push(b'\n');
        let mut sink = match self.sink.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = sink.write_all(&line).and_then(|()| sink.flush()) {
            tracing::error!("cannot write the audit log: {e}");
        }
    }
}

/// Now as RFC 3339 (UTC, seconds).
pub fn rfc3339_now() -> String {
    let secs = super::keys::time_now();
    rfc3339(secs)
}

/// `secs` (unix) as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn one_json_line_per_event() {
        let shared = Shared::default();
        let audit = Audit::to(Box::new(shared.clone()));
        for result in [201, 403] {
            audit.record(&Event {
                time: rfc3339(0),
                request_id: "r1",
                client_request_id: (result == 403).then_some("client-7"),
                subject: "alice",
                roles: vec!["admin".into()],
                scope: "platform".into(),
                action: "tenants.create",
                target: "POST /api/v1/clusters/a/tenants".into(),
                result,
                token_id: None,
                minted_by: None,
                issued_to: None,
            });
        }
        let text = String::from_utf8(shared.0.lock().expect("lock").clone()).expect("utf8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["result"], 403);
        assert_eq!(lines[0]["requestId"], "r1");
        assert!(lines[0].get("clientRequestId").is_none(), "only when sent");
        assert_eq!(lines[1]["clientRequestId"], "client-7");
    }

    #[test]
    fn a_client_request_id_is_kept_only_when_bounded_and_printable() {
        use axum::http::HeaderValue;
        let id = |values: &[&[u8]]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(X_REQUEST_ID, HeaderValue::from_bytes(v).expect("value"));
            }
            ClientRequestId::from_headers(&headers).map(|c| c.0)
        };
        assert_eq!(id(&[b"abc-123"]), Some("abc-123".into()));
        let longest = "x".repeat(MAX_CLIENT_REQUEST_ID);
        assert_eq!(id(&[longest.as_bytes()]), Some(longest.clone()));
        let over = "x".repeat(MAX_CLIENT_REQUEST_ID + 1);
        assert_eq!(id(&[over.as_bytes()]), None, "too long");
        assert_eq!(id(&["x".repeat(5 * 1024).as_bytes()]), None, "5 KB");
        assert_eq!(id(&[b""]), None, "empty");
        assert_eq!(id(&[b"a b"]), None, "a space");
        assert_eq!(id(&[b"a\tb"]), None, "a tab");
        assert_eq!(id(&[b"caf\xc3\xa9"]), None, "not ASCII");
        assert_eq!(id(&[b"a", b"b"]), None, "two values");
        assert_eq!(id(&[]), None);
    }
}

//! The HTTP client: transport, authentication and the KN error envelope. The operations
//! themselves (URLs, methods, parameters) are generated from docs/openapi/openapi.yaml by
//! `build.rs` into `Client`'s methods and [`OPERATIONS`].

use std::time::Duration;

use serde_json::Value;

/// Whether an operation takes a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// It takes none.
    None,
    /// It may take one.
    Optional,
    /// It needs one.
    Required,
}

/// One operation of the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operation {
    /// The operationId.
    pub(crate) id: &'static str,
    /// The HTTP method.
    pub(crate) method: &'static str,
    /// The path template (`/api/v1/clusters/{c}`).
    pub(crate) path: &'static str,
    /// The document's one-line summary.
    pub(crate) summary: &'static str,
    /// The query parameters it reads.
    #[allow(dead_code)]
    pub(crate) query: &'static [&'static str],
    /// Its request body.
    #[allow(dead_code)]
    pub(crate) body: Body,
    /// The success status.
    pub(crate) status: u16,
    /// The success content type (empty for none).
    #[allow(dead_code)]
    pub(crate) content: &'static str,
}

/// What went wrong.
#[derive(Debug)]
pub(crate) enum Error {
    /// The server answered with the KN error envelope.
    Api {
        /// The HTTP status.
        status: u16,
        /// `KN-<status>`.
        code: String,
        /// The message.
        message: String,
        /// `details` of the envelope.
        details: Value,
        /// The request id.
        request_id: String,
    },
    /// The server answered an error without the envelope.
    Http {
        /// The HTTP status.
        status: u16,
        /// The first part of the body.
        body: String,
    },
    /// The server could not be reached or the connection broke.
    Transport(String),
    /// The server's certificate is not signed by a CA the client trusts.
    Untrusted(String),
    /// The command line or an input file is wrong.
    Usage(String),
    /// Anything else (a file that cannot be written, a wait that timed out, ...).
    Other(String),
}

impl Error {
    /// The process exit code (docs/cli.md, "Exit codes").
    pub(crate) fn exit_code(&self) -> i32 {
        let status = match self {
            Error::Api { status, .. } | Error::Http { status, .. } => *status,
            Error::Usage(_) => return 2,
            Error::Transport(_) | Error::Untrusted(_) | Error::Other(_) => return 1,
        };
        match status {
            404 => 3,
            401 | 403 => 4,
            409 => 5,
            _ => 1,
        }
    }

    /// `error: ...` and a hint line.
    pub(crate) fn render(&self) -> String {
        match self {
            Error::Api {
                status,
                code,
                message,
                details,
                request_id,
            } => {
                let mut out = format!("error: {code} {message}\n");
                if let Some(d) = details.as_object().filter(|d| !d.is_empty()) {
                    out.push_str(&format!("details: {}\n", Value::Object(d.clone())));
                }
                out.push_str(&format!("hint: {}", hint(*status)));
                if !request_id.is_empty() {
                    out.push_str(&format!(" (request id {request_id})"));
                }
                out.push('\n');
                out
            }
            Error::Http { status, body } => {
                format!("error: HTTP {status}: {body}\nhint: {}\n", hint(*status))
            }
            Error::Transport(m) => format!(
                "error: {m}\nhint: check the server URL (`kubenova context list`) and that the server is up\n"
            ),
            Error::Untrusted(m) => format!(
                "error: {m}\nhint: give the CA that signed it with --certificate-authority FILE (login keeps it in the context)\n"
            ),
            Error::Usage(m) => format!("error: {m}\nhint: see `kubenova --help`\n"),
            Error::Other(m) => format!("error: {m}\n"),
        }
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        400 | 422 => "fix the input named in the message; `--help` shows each flag",
        401 => {
            "the token is missing, expired or revoked: log in again with `kubenova login --server URL`"
        }
        403 => "your token's role or scope does not allow this; `kubenova whoami` shows them",
        404 => {
            "check the name and the --cluster/--tenant/--project it lives in (`kubenova ... list`)"
        }
        409 => "it exists already, or something is in its way (see the message and details)",
        408 | 504 => "the server took too long; try again",
        413 | 414 | 431 => "the request is too large",
        429 => "too many requests: wait a moment and try again",
        503 => {
            "a cluster or the management cluster did not answer; try again or ask the platform team"
        }
        _ => "see the message; the request id helps the platform team find it in the audit log",
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tls {
    /// PEM of a CA to trust (besides the system's).
    pub(crate) ca_pem: Option<String>,
    /// Do not verify the server's certificate.
    pub(crate) insecure: bool,
}

/// A client of one server with one token.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters, and `:` for the
/// `<app>:<action>` form, stay).
fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client for `server` (`https://...` or `http://...`).
    pub(crate) fn new(server: &str, token: Option<String>, tls: &Tls) -> Result<Client, Error> {
        let url = reqwest::Url::parse(server)
            .map_err(|e| Error::Usage(format!("the server URL {server:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Usage(format!(
                "the server URL {server:?} must be http(s)://host[:port]"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("kubenova-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| Error::Usage(format!("the certificate authority is not PEM: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Usage(
                    "the certificate authority holds no certificate".into(),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if tls.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Other(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: server.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Sends one operation; an answer other than the operation's success status is an error.
    pub(crate) async fn send(
        &self,
        op: &Operation,
        params: &[(&str, &str)],
        query: Vec<(&'static str, String)>,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, Error> {
        let mut path = op.path.to_owned();
        for (name, value) in params {
            if value.is_empty() {
                return Err(Error::Usage(format!("{name}: a name must not be empty")));
            }
            path = path.replace(&format!("{{{name}}}"), &encode(value));
        }
        let method = reqwest::Method::from_bytes(op.method.as_bytes())
            .map_err(|e| Error::Other(format!("{}: {e}", op.id)))?;
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !query.is_empty() {
            request = request.query(&query);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport(&self.base, &e))?;
        let status = response.status().as_u16();
        if status == op.status || (200..300).contains(&status) {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("code").and_then(Value::as_str).is_some() => Error::Api {
                status,
                code: v["code"].as_str().unwrap_or_default().to_owned(),
                message: v
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                details: v.get("details").cloned().unwrap_or(Value::Null),
                request_id: v
                    .get("requestId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            },
            _ => Error::Http {
                status,
                body: text.chars().take(300).collect(),
            },
        })
    }
}

fn transport(base: &str, e: &reqwest::Error) -> Error {
    use std::error::Error as _;
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause = format!("{cause}: {s}");
        source = s.source();
    }
    // rustls names the reason: `invalid peer certificate: UnknownIssuer`, `NotValidForName`, ...
    if cause.contains("invalid peer certificate") {
        return Error::Untrusted(format!("the certificate of {base} is not trusted: {cause}"));
    }
    let what = if e.is_connect() {
        "cannot connect to"
    } else if e.is_timeout() {
        "timed out talking to"
    } else {
        "failed talking to"
    };
    Error::Transport(format!("{what} {base}: {cause}"))
}

/// The JSON body of a response.
pub(crate) async fn json(response: reqwest::Response) -> Result<Value, Error> {
    let text = response
        .text()
        .await
        .map_err(|e| Error::Transport(format!("reading the answer: {e}")))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| Error::Other(format!("the answer is not JSON: {e}")))
}

/// The text body of a response.
pub(crate) async fn text(response: reqwest::Response) -> Result<String, Error> {
    response
        .text()
        .await
        .map_err(|e| Error::Transport(format!("reading the answer: {e}")))
}

include!(concat!(env!("OUT_DIR"), "/client.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode("acme"), "acme");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(encode("grafana:rollback"), "grafana:rollback");
    }

    #[test]
    fn exit_codes_follow_the_status() {
        let api = |status| Error::Api {
            status,
            code: format!("KN-{status}"),
            message: String::new(),
            details: Value::Null,
            request_id: String::new(),
        };
        assert_eq!(api(404).exit_code(), 3);
        assert_eq!(api(401).exit_code(), 4);
        assert_eq!(api(403).exit_code(), 4);
        assert_eq!(api(409).exit_code(), 5);
        assert_eq!(api(422).exit_code(), 1);
        assert_eq!(Error::Usage(String::new()).exit_code(), 2);
        assert_eq!(Error::Transport(String::new()).exit_code(), 1);
        assert_eq!(Error::Untrusted(String::new()).exit_code(), 1);
    }
}

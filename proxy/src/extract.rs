//! Takes the client's bearer token, and strips every header a client could use to choose its
//! identity upstream.
//!
//! The proxy forwards with its own credential and the `Impersonate-*` headers it sets itself, so
//! nothing the client sent about identity may reach kube-apiserver: not its token (in
//! `Authorization` or in a WebSocket subprotocol), not an `Impersonate-*` header, and not a
//! `Connection` header that would make a hop strip the headers the proxy adds (capsule-proxy
//! #188). Call [`take_credentials`] first, then [`strip_identity_headers`].
//!
//! It also sizes the request head ([`check_head_size`]) and sets the `Audit-Id` kube-apiserver
//! records ([`set_audit_id`]): both are the proxy's choice, never the client's.

#[cfg(test)]
mod tests;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{
    AUTHORIZATION, CONNECTION, HeaderMap, HeaderName, HeaderValue, SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};

/// The longest bearer token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The longest request target (path and query) the proxy takes, in bytes; longer ones get
/// `414 KN-414` over HTTP/1.1 and HTTP/2 alike. No kubectl or client-go request comes near it
/// (kube-apiserver itself reads targets up to its 1 MiB header limit), and `http::Uri` cannot
/// hold more than 64 KiB, so anything longer could not be forwarded anyway.
pub const MAX_URL_BYTES: usize = 32 * 1024;

/// The header kube-apiserver takes as the audit event's `auditID` (and echoes in its answer).
const AUDIT_ID: HeaderName = HeaderName::from_static("audit-id");

/// How client-go puts a bearer token into `Sec-WebSocket-Protocol` (as kube-apiserver reads it,
/// case-sensitively).
const WS_TOKEN_PREFIX: &[u8] = b"base64url.bearer.authorization.k8s.io.";

/// Any subprotocol mentioning this, in any case, is a credential and never forwarded.
const WS_TOKEN_MARKER: &[u8] = b"bearer.authorization.k8s.io";

/// Headers that only concern one hop, or carry the client's own credential.
const ALWAYS_STRIPPED: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// What the proxy authenticates a request with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The bearer token; `Debug` never shows it.
    pub token: String,
    /// Where the client sent it.
    pub source: TokenSource,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// Where the client sent its bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`.
    AuthorizationHeader,
    /// A `base64url.bearer.authorization.k8s.io.<token>` WebSocket subprotocol (client-go's
    /// WebSocket exec, attach and port-forward).
    WebSocketProtocol,
}

/// What [`strip_identity_headers`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stripped {
    /// The client sent an `Impersonate-*`, `X-Remote-*` or `X-Forwarded-Client-Cert` header, or
    /// named one in `Connection`. The proxy refuses such requests.
    pub impersonation_attempted: bool,
}

/// The upgrades the proxy passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// `Upgrade: websocket` (kubectl >= 1.30 exec, attach and port-forward).
    WebSocket,
    /// `Upgrade: SPDY/3.1` (older kubectl and other clients).
    Spdy31,
}

/// Why the proxy could not take a credential or an upgrade from the request. No message ever
/// contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// Neither an `Authorization` header nor a WebSocket bearer subprotocol.
    #[error("no credentials: send your KubeNova token as 'Authorization: Bearer <token>'")]
    Missing,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header: send exactly one")]
    DuplicateAuthorization,
    /// `Authorization` with a scheme other than `Bearer`.
    #[error("the Authorization header must use the Bearer scheme with a KubeNova token")]
    UnsupportedScheme,
    /// The token is empty or has characters a JWT never contains.
    #[error("the bearer token is empty or has characters a KubeNova token never contains")]
    MalformedToken,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    #[error("the bearer token is longer than 16 KiB")]
    TokenTooLong,
    /// A bearer subprotocol that is not `base64url.bearer.authorization.k8s.io.<base64url>`.
    #[error(
        "the WebSocket bearer subprotocol must be \
         'base64url.bearer.authorization.k8s.io.<token in unpadded base64url>'"
    )]
    MalformedWebSocketToken,
    /// More than one bearer subprotocol.
    #[error("more than one bearer token in Sec-WebSocket-Protocol: send exactly one")]
    DuplicateWebSocketToken,
    /// Both an `Authorization` header and a bearer subprotocol.
    #[error("both an Authorization header and a WebSocket bearer token were sent: send only one")]
    AmbiguousCredentials,
    /// An `Upgrade` other than one `websocket` or `SPDY/3.1`.
    #[error("upgrade refused: only 'Upgrade: websocket' and 'Upgrade: SPDY/3.1' are allowed")]
    UpgradeNotAllowed,
}

impl ExtractError {
    /// A stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing_credentials",
            Self::DuplicateAuthorization => "duplicate_authorization",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::MalformedToken => "malformed_token",
            Self::TokenTooLong => "token_too_long",
            Self::MalformedWebSocketToken => "malformed_websocket_token",
            Self::DuplicateWebSocketToken => "duplicate_websocket_token",
            Self::AmbiguousCredentials => "ambiguous_credentials",
            Self::UpgradeNotAllowed => "upgrade_not_allowed",
        }
    }
}

/// Takes the bearer token from `Authorization` or, failing that, from the WebSocket bearer
/// subprotocol.
///
/// Whatever the outcome, every `Authorization` header and every subprotocol entry mentioning
/// `bearer.authorization.k8s.io` (in any case) are gone from `headers` afterwards; the other
/// subprotocols stay, and a `Sec-WebSocket-Protocol` line left empty is removed.
pub fn take_credentials(headers: &mut HeaderMap) -> Result<Credentials, ExtractError> {
    let authorization: Vec<HeaderValue> = headers.get_all(AUTHORIZATION).iter().cloned().collect();
    headers.remove(AUTHORIZATION);
    let protocol_tokens = take_protocol_tokens(headers);

    let (token, source) = match (authorization.as_slice(), protocol_tokens.as_slice()) {
        ([_, _, ..], _) => return Err(ExtractError::DuplicateAuthorization),
        ([_], [_, ..]) => return Err(ExtractError::AmbiguousCredentials),
        ([value], []) => (
            bearer_token(value.as_bytes())?,
            TokenSource::AuthorizationHeader,
        ),
        ([], [entry]) => (protocol_token(entry)?, TokenSource::WebSocketProtocol),
        ([], [_, _, ..]) => return Err(ExtractError::DuplicateWebSocketToken),
        ([], []) => return Err(ExtractError::Missing),
    };
    Ok(Credentials { token, source })
}

/// Removes every subprotocol entry that mentions a bearer token and returns them.
fn take_protocol_tokens(headers: &mut HeaderMap) -> Vec<Vec<u8>> {
    let values: Vec<HeaderValue> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .cloned()
        .collect();
    if !values.iter().any(|value| mentions_token(value.as_bytes())) {
        return Vec::new();
    }
    headers.remove(SEC_WEBSOCKET_PROTOCOL);
    let mut tokens = Vec::new();
    for value in &values {
        let mut kept: Vec<&[u8]> = Vec::new();
        for entry in value
            .as_bytes()
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii)
        {
            if mentions_token(entry) {
                tokens.push(entry.to_vec());
            } else if !entry.is_empty() {
                kept.push(entry);
            }
        }
        if kept.is_empty() {
            continue;
        }
        // Each entry is a slice of a valid value, so this cannot fail; if it did, dropping the
        // line is the safe outcome.
        if let Ok(rewritten) = HeaderValue::from_bytes(&kept.join(&b", "[..])) {
            headers.append(SEC_WEBSOCKET_PROTOCOL, rewritten);
        }
    }
    tokens
}

fn mentions_token(bytes: &[u8]) -> bool {
    bytes
        .windows(WS_TOKEN_MARKER.len())
        .any(|window| window.eq_ignore_ascii_case(WS_TOKEN_MARKER))
}

/// `Bearer <token>`: the scheme in any case, then one or more spaces.
fn bearer_token(value: &[u8]) -> Result<String, ExtractError> {
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(space) => value.split_at(space),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(ExtractError::UnsupportedScheme);
    }
    let start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
    checked_token(rest.split_at(start).1)
}

/// `base64url.bearer.authorization.k8s.io.<unpadded base64url of the token>`.
fn protocol_token(entry: &[u8]) -> Result<String, ExtractError> {
    let encoded = entry
        .strip_prefix(WS_TOKEN_PREFIX)
        .ok_or(ExtractError::MalformedWebSocketToken)?;
    if encoded.len() > MAX_TOKEN_LEN.div_ceil(3) * 4 {
        return Err(ExtractError::TokenTooLong);
    }
    let decoded = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| ExtractError::MalformedWebSocketToken)?;
    checked_token(&decoded)
}

/// A JWT: non-empty, at most [`MAX_TOKEN_LEN`], only base64url characters and `.`.
fn checked_token(token: &[u8]) -> Result<String, ExtractError> {
    if token.is_empty() {
        return Err(ExtractError::MalformedToken);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(ExtractError::TokenTooLong);
    }
    if !token
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ExtractError::MalformedToken);
    }
    String::from_utf8(token.to_vec()).map_err(|_| ExtractError::MalformedToken)
}

/// Removes every header a client could use to choose its identity upstream, and reports whether
/// the client tried to impersonate.
///
/// Removed: every `impersonate-*` header (`-user`, `-group`, `-uid`, `-extra-*`), the
/// front-proxy identity headers `x-remote-user`, `x-remote-group`, `x-remote-uid` and
/// `x-remote-extra-*`, a forwarded client certificate (`x-forwarded-client-cert`, which
/// capsule-proxy can authenticate requests by), `authorization`, `proxy-authorization`, the
/// hop-by-hop headers `connection`, `keep-alive`, `proxy-connection`, `te`, `trailer` and
/// `transfer-encoding`, and every header named in a `Connection` value.
///
/// `upgrade` is kept, even when `Connection` names it: the caller checks it with
/// [`upgrade_protocol`] and, for an upgrade it passes through, sets `Connection: upgrade` itself.
/// A `Connection` value could also name `sec-websocket-protocol`, so take the credentials first.
pub fn strip_identity_headers(headers: &mut HeaderMap) -> Stripped {
    let mut impersonation_attempted = false;
    let mut doomed: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(CONNECTION) {
        for token in value
            .as_bytes()
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii)
        {
            impersonation_attempted |= is_identity_header(token);
            if let Ok(name) = HeaderName::from_bytes(token)
                && name != UPGRADE
            {
                doomed.push(name);
            }
        }
    }
    for name in headers.keys() {
        if is_identity_header(name.as_str().as_bytes()) {
            impersonation_attempted = true;
            doomed.push(name.clone());
        } else if ALWAYS_STRIPPED.contains(&name.as_str()) {
            doomed.push(name.clone());
        }
    }
    for name in &doomed {
        headers.remove(name);
    }
    Stripped {
        impersonation_attempted,
    }
}

/// A header that asks kube-apiserver (impersonation), a front proxy's backend (request-header
/// authentication) or capsule-proxy (a forwarded client certificate) to act as someone else.
/// Compared case-insensitively.
fn is_identity_header(name: &[u8]) -> bool {
    let starts = |prefix: &[u8]| {
        name.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts(b"impersonate-")
        || starts(b"x-remote-extra-")
        || [
            &b"x-remote-user"[..],
            b"x-remote-group",
            b"x-remote-uid",
            b"x-forwarded-client-cert",
        ]
        .iter()
        .any(|exact| name.eq_ignore_ascii_case(exact))
}

/// Why a request head is refused before anything else is read from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The request head (target plus headers, counted as HTTP/2 counts them) is over the limit.
    #[error(
        "the request headers and URL add up to {size} bytes, over this proxy's limit of {limit} \
         bytes (--max-header-bytes); send fewer or shorter headers"
    )]
    HeadersTooLarge {
        /// The size counted.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The request target is longer than [`MAX_URL_BYTES`].
    #[error(
        "the URL is {size} bytes long, over the limit of {MAX_URL_BYTES} bytes; use shorter \
         selectors or split the request"
    )]
    UrlTooLong {
        /// Its length.
        size: usize,
    },
}

impl HeadError {
    /// The HTTP status: 431 or 414, what HTTP/1.1's own limit answers too.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::HeadersTooLarge { .. } => http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UrlTooLong { .. } => http::StatusCode::URI_TOO_LONG,
        }
    }

    /// A stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::HeadersTooLarge { .. } => "headers_too_large",
            Self::UrlTooLong { .. } => "url_too_long",
        }
    }
}

/// Checks the request head against `max_header_bytes` (431) and the target against
/// [`MAX_URL_BYTES`] (414), in that order.
///
/// HTTP/1.1 heads over `max_header_bytes` never get here (hyper answers 431 when its read buffer
/// is full); HTTP/2 decodes heads up to several times the limit (`server`), so this check is
/// what gives both protocols the same answer. The size is counted as RFC 9113 counts a header
/// list: each field's name and value plus 32 bytes, pseudo-headers included.
pub fn check_head_size(
    target: &http::Uri,
    headers: &HeaderMap,
    max_header_bytes: usize,
) -> Result<(), HeadError> {
    const FIELD_OVERHEAD: usize = 32;
    let url = target.path_and_query().map_or(0, |pq| pq.as_str().len());
    // `:method`, `:scheme`, `:authority` are short; `:path` is the target.
    let pseudo = url + 4 * FIELD_OVERHEAD + ":method:scheme:authority:path".len();
    let size = headers.iter().fold(pseudo, |sum, (name, value)| {
        sum + name.as_str().len() + value.len() + FIELD_OVERHEAD
    });
    if size > max_header_bytes {
        return Err(HeadError::HeadersTooLarge {
            size,
            limit: max_header_bytes,
        });
    }
    if url > MAX_URL_BYTES {
        return Err(HeadError::UrlTooLong { size: url });
    }
    Ok(())
}

/// Sets `Audit-Id` to the proxy's own request id, replacing whatever the client sent.
///
/// kube-apiserver records the `Audit-Id` of a request as its audit event's `auditID` (and echoes
/// it), unchecked and untruncated. Left to the client, any caller could write what it likes into
/// the cluster's audit log, or make its requests look like someone else's; set here, the
/// apiserver's audit events carry the same id as the proxy's access log line.
pub fn set_audit_id(headers: &mut HeaderMap, request_id: &HeaderValue) {
    headers.insert(AUDIT_ID, request_id.clone());
}

/// Reads the `Upgrade` header: none, one `websocket`, or one `SPDY/3.1` (any case).
///
/// Anything else, including `h2c`, a list of protocols or several `Upgrade` lines, is refused.
pub fn upgrade_protocol(headers: &HeaderMap) -> Result<Option<Upgrade>, ExtractError> {
    let mut values = headers.get_all(UPGRADE).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ExtractError::UpgradeNotAllowed);
    }
    let protocol = value.as_bytes().trim_ascii();
    if protocol.eq_ignore_ascii_case(b"websocket") {
        Ok(Some(Upgrade::WebSocket))
    } else if protocol.eq_ignore_ascii_case(b"spdy/3.1") {
        Ok(Some(Upgrade::Spdy31))
    } else {
        Err(ExtractError::UpgradeNotAllowed)
    }
}

//! Building the upstream request (the proxy's credential plus the impersonated identity) and
//! streaming the answer back, including upgrades (exec, attach, port-forward).

use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kubenova_api::Identity;

use crate::body::{self, Body, Reject};
use crate::metrics::GaugeGuard;
use crate::sessions::Lifetime;
use crate::upstream::Upstream;

const IMPERSONATE_USER: HeaderName = HeaderName::from_static("impersonate-user");
const IMPERSONATE_GROUP: HeaderName = HeaderName::from_static("impersonate-group");

/// Who the upstream should see.
#[derive(Debug, Clone, Copy)]
pub enum Acting<'a> {
    /// The token's Kubernetes identity, impersonated.
    As(&'a Impersonation),
    /// The proxy itself (for lists it filters by selector after checking the scope).
    Proxy,
}

/// The `Impersonate-User` and `Impersonate-Group` values of an identity, built once per
/// verified token (the token cache keeps them with the claims) instead of once per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impersonation {
    user: HeaderValue,
    groups: Vec<HeaderValue>,
}

impl Impersonation {
    /// The header values of `identity`; `None` if a name cannot be sent as a header value.
    pub fn new(identity: &Identity) -> Option<Self> {
        Some(Impersonation {
            user: HeaderValue::from_str(&identity.user).ok()?,
            groups: identity
                .groups
                .iter()
                .map(|group| HeaderValue::from_str(group).ok())
                .collect::<Option<_>>()?,
        })
    }

    /// The impersonation a principal carries, or the rejection for an identity that cannot be
    /// sent as headers.
    pub fn of(impersonation: Option<&Impersonation>) -> Result<&Impersonation, Reject> {
        impersonation.ok_or_else(|| {
            Reject::bad_request(
                "identity",
                "the token's identity cannot be sent as a header",
            )
        })
    }
}

/// Turns the client's request into the upstream request for `path_and_query`.
///
/// The client's headers must already be free of identity and hop-by-hop headers
/// (`extract::strip_identity_headers`); this sets the proxy's own `Authorization` and replaces
/// (never appends to) the impersonation headers.
pub fn upstream_request(
    upstream: &Upstream,
    mut parts: http::request::Parts,
    body: Body,
    path_and_query: &str,
    acting: Acting<'_>,
    upgrade: Option<&HeaderValue>,
) -> Result<Request<Body>, Reject> {
    let uri = upstream
        .uri(path_and_query)
        .map_err(|_| Reject::bad_request("path", "the request path cannot be forwarded"))?;
    let headers = &mut parts.headers;
    headers.remove(header::HOST);
    headers.remove(IMPERSONATE_USER);
    headers.remove(IMPERSONATE_GROUP);
    headers.insert(header::AUTHORIZATION, upstream.authorization());
    if let Acting::As(impersonation) = acting {
        headers.insert(IMPERSONATE_USER, impersonation.user.clone());
        for group in &impersonation.groups {
            headers.append(IMPERSONATE_GROUP, group.clone());
        }
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    if let Some(host) = upstream.host() {
        headers.insert(header::HOST, host.clone());
    }
    let mut request = Request::from_parts(parts, body);
    *request.uri_mut() = uri;
    // The upstream pool speaks HTTP/1.1 whatever the client used.
    *request.version_mut() = Version::HTTP_11;
    Ok(request)
}

/// Removes the headers that belong to one connection and must not be relayed (RFC 9110 7.6.1).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

/// Relays an ordinary upstream response. `Warning`, `Audit-Id`, `Retry-After` and every other
/// end-to-end header pass unchanged; the body streams (watches, `logs -f`) with no timeout.
pub fn relay(response: Response<Incoming>) -> Response<Body> {
    let (mut parts, incoming) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body::boxed(incoming))
}

/// Proxies an upgrade: sends `request` on a connection of its own and, if the upstream switches
/// protocols, joins the client's and the upstream's upgraded streams. Anything but `101` is
/// relayed as an ordinary response and its connection is closed with it. Both connections are
/// closed when `lifetime` ends (the token is revoked or expires).
pub async fn upgrade(
    upstream: &Upstream,
    client_upgrade: hyper::upgrade::OnUpgrade,
    request: Request<Body>,
    open: GaugeGuard,
    lifetime: Lifetime,
) -> Result<Response<Body>, Reject> {
    let mut response = upstream.send_upgrade(request).await.map_err(|e| {
        tracing::warn!(error = %e, "upgrade request to upstream failed");
        Reject::new(
            StatusCode::BAD_GATEWAY,
            "upstream",
            "the Kubernetes API could not be reached",
        )
    })?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(relay(response));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    let (parts, _) = response.into_parts();
    tokio::spawn(async move {
        let _open = open;
        match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok((client, upstream)) => {
                let mut client = TokioIo::new(client);
                let mut upstream = TokioIo::new(upstream);
                tokio::select! {
                    copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                        if let Err(e) = copied {
                            tracing::debug!(error = %e, "upgraded stream ended");
                        }
                    }
                    end = lifetime.ended() => {
                        // Dropping both sides closes the client's connection and the
                        // upstream's, which ends the session in the kubelet too.
                        tracing::info!(reason = end.reason(), "upgraded connection closed: {end}");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade did not complete"),
        }
    });
    // 101 keeps its Connection/Upgrade headers: they are the protocol switch itself.
    Ok(Response::from_parts(parts, body::empty()))
}

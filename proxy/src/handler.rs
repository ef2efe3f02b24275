//! One request through the data path, in order: upgrade check, credentials, header hygiene,
//! path check, authentication, scope decision, forward (or filter, or fan out), access log and
//! metrics. Each step lives in its own module; this file only strings them together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;

use crate::auth::{Authenticator, CacheUse, Principal};
use crate::body::{self, Body, Reject};
use crate::capsule_proxy::CapsuleProxyMode;
use crate::cluster::{ClusterView, View};
use crate::extract::{self, Upgrade};
use crate::forward::{self, Acting, Impersonation};
use crate::metrics::{GaugeGuard, Metrics, RequestLabels, ResultLabels, Tracked, VerbLabels};
use crate::path::{self, ResourceRequest, Target, Verb};
use crate::scope::{self, Decision};
use crate::sessions::{Guarded, Lifetime, Sessions};
use crate::upstream::Upstream;
use crate::{fanout, rewrite};

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct Proxy {
    /// The upstream.
    pub upstream: Arc<Upstream>,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// Namespaces, resources.
    pub view: ClusterView,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Largest non-streaming request body.
    pub max_body_bytes: usize,
    /// Set in `--mode=capsule-proxy` (see [`crate::capsule_proxy`]).
    pub capsule_proxy: Option<CapsuleProxyMode>,
    /// Largest request head (`--max-header-bytes`).
    pub max_header_bytes: usize,
    /// Streams in flight by token, ended on revocation and expiry.
    pub sessions: Arc<Sessions>,
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(0);

/// Random bits drawn once per process (std's `RandomState` takes its keys from the OS).
static ID_RANDOM: OnceLock<u64> = OnceLock::new();

/// The request id: in the access log, the `x-request-id` answer header, and the `Audit-Id` sent
/// upstream, so the apiserver's audit events join the access log. It is an RFC 9562 version 8
/// UUID (the shape kube-apiserver's own audit ids have) of 60 random bits chosen at start and a
/// counter, unique across replicas and restarts (a pid would not be: it is 1 in every pod).
fn request_id() -> String {
    let random = *ID_RANDOM.get_or_init(|| {
        use std::hash::{BuildHasher as _, Hasher as _};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    });
    let n = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08x}-{:04x}-8{:03x}-{:04x}-{:012x}",
        random >> 32,
        (random >> 16) & 0xffff,
        (random >> 4) & 0xfff,
        0x8000 | ((n >> 48) & 0x3fff),
        n & 0xffff_ffff_ffff
    )
}

/// The request target to check. HTTP/2 always carries the scheme and authority as
/// pseudo-headers, so only there the URI is reduced to its path; an HTTP/1 request line in
/// absolute form stays absolute and is refused.
fn origin_form(request: &Request<Incoming>) -> http::Uri {
    if request.version() >= http::Version::HTTP_2
        && let Some(pq) = request.uri().path_and_query()
    {
        return http::Uri::from(pq.clone());
    }
    request.uri().clone()
}

/// What the access log records about a request.
#[derive(Default)]
struct Outcome {
    verb: &'static str,
    principal: Option<Arc<Principal>>,
    reason: Option<&'static str>,
}

impl Proxy {
    /// Handles one request; never fails (errors are Kubernetes `Status` responses).
    pub async fn handle(self: Arc<Self>, mut request: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let _in_flight = GaugeGuard::new(&self.metrics.in_flight);
        let id = request_id();
        let id_header = HeaderValue::from_str(&id).ok();
        if let Some(value) = &id_header {
            extract::set_audit_id(request.headers_mut(), value);
        }
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let mut outcome = Outcome {
            verb: "unknown",
            ..Outcome::default()
        };
        let mut response = match self.route(request, &mut outcome).await {
            Ok(response) => response,
            Err(reject) => {
                outcome.reason = Some(reject.reason);
                self.metrics.reject(reject.reason);
                reject.into_response()
            }
        };
        if let Some(value) = id_header {
            response.headers_mut().insert("x-request-id", value);
        }
        let code = response.status().as_u16();
        let elapsed = started.elapsed();
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                verb: outcome.verb,
                code,
            })
            .inc();
        self.metrics
            .latency
            .get_or_create(&VerbLabels { verb: outcome.verb })
            .observe(elapsed.as_secs_f64());
        let (user, tenant) = outcome
            .principal
            .as_ref()
            .map(|p| {
                (
                    p.claims.sub.as_str(),
                    p.claims.tenant.as_deref().unwrap_or(""),
                )
            })
            .unwrap_or(("", ""));
        tracing::info!(
            target: "access",
            request_id = %id,
            user,
            tenant,
            verb = outcome.verb,
            method = %method,
            path = %path,
            code,
            reason = outcome.reason.unwrap_or(""),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
        response
    }

    async fn route(
        &self,
        mut request: Request<Incoming>,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, Reject> {
        let arrived = Instant::now();
        extract::check_head_size(request.uri(), request.headers(), self.max_header_bytes)
            .map_err(|e| Reject::new(e.status(), e.reason(), e.to_string()))?;
        let upgrade = extract::upgrade_protocol(request.headers())
            .map_err(|e| Reject::bad_request(e.reason(), e.to_string()))?;
        let credentials = extract::take_credentials(request.headers_mut())
            .map_err(|e| Reject::unauthorized(e.reason(), e.to_string()));
        let stripped = extract::strip_identity_headers(request.headers_mut());
        if stripped.impersonation_attempted {
            return Err(Reject::forbidden(
                "impersonation",
                "impersonation and other identity headers (Impersonate-*, X-Remote-*, \
                 X-Forwarded-Client-Cert) are not allowed: the proxy sets your identity",
            ));
        }
        if let Some(mode) = &self.capsule_proxy {
            mode.refuse_identity_headers(request.headers())?;
        }
        let credentials = credentials?;
        let target = path::classify(request.method(), &origin_form(&request))
            .map_err(|e| Reject::bad_request(e.reason(), e.to_string()))?;
        outcome.verb = match &target {
            Target::Resource(r) => r.verb.as_str(),
            Target::NonResource { .. } => "nonresource",
        };
        let (principal, cache) = self.auth.authenticate(&credentials.token).await?;
        drop(credentials);
        self.metrics
            .token_cache
            .get_or_create(&ResultLabels {
                result: match cache {
                    CacheUse::Hit => "hit",
                    CacheUse::Miss => "miss",
                },
            })
            .inc();
        outcome.principal = Some(principal.clone());
        // Every response (and upgraded connection) lives no longer than the token: it is cut
        // when the token is revoked or expires (ADR 0010).
        let lifetime = self
            .sessions
            .open(&principal.claims.jti, principal.claims.exp);
        let response = self
            .decide_and_forward(request, &principal, &target, upgrade, arrived, &lifetime)
            .await?;
        let json_watch = matches!(&target, Target::Resource(r) if r.verb == Verb::Watch)
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
        let (parts, body) = response.into_parts();
        Ok(Response::from_parts(
            parts,
            body::boxed(Guarded::new(body, &lifetime, json_watch)),
        ))
    }

    async fn decide_and_forward(
        &self,
        request: Request<Incoming>,
        principal: &Principal,
        target: &Target,
        upgrade: Option<Upgrade>,
        arrived: Instant,
        lifetime: &Lifetime,
    ) -> Result<Response<Body>, Reject> {
        let mut decision = scope::decide(&principal.scope, target, &self.view);
        if let (Decision::Deny(reject), Target::Resource(r)) = (&decision, target) {
            decision = if reject.reason == scope::deny::UNKNOWN_RESOURCE {
                self.recheck_new_resource(principal, target, arrived, decision)
                    .await
            } else {
                self.recheck_new_namespace(principal, target, r, decision)
                    .await
            };
        }
        if let Some(mode) = &self.capsule_proxy {
            decision = mode.hand_over(decision, principal, target);
        }
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        match decision {
            Decision::Deny(reject) => Err(reject),
            Decision::Forward if self_access_review(target) => {
                let acting = Acting::As(Impersonation::of(principal.impersonation.as_ref())?);
                self.self_access_review(request, &path_and_query, acting, principal, target)
                    .await
            }
            Decision::Forward => {
                let acting = Acting::As(Impersonation::of(principal.impersonation.as_ref())?);
                self.forward(
                    request,
                    &path_and_query,
                    acting,
                    upgrade.map(|u| (u, lifetime.clone())),
                    target,
                )
                .await
            }
            Decision::NamespaceList {
                label_selector,
                field_selector,
            } => {
                let pq = rewrite::with_selectors(
                    &path_and_query,
                    &label_selector,
                    field_selector.as_deref(),
                );
                self.forward(request, &pq, Acting::Proxy, None, target)
                    .await
            }
            Decision::AcrossNamespaces { namespaces } => {
                let Target::Resource(r) = target else {
                    return Err(Reject::bad_request("path", "not a resource request"));
                };
                let impersonation = Impersonation::of(principal.impersonation.as_ref())?;
                if let [only] = namespaces.as_slice() {
                    let pq = rewrite::into_namespace(r, only, request.uri().query());
                    self.forward(request, &pq, Acting::As(impersonation), None, target)
                        .await
                } else {
                    let (parts, _) = request.into_parts();
                    fanout::run(self, parts, r, &namespaces, impersonation).await
                }
            }
        }
    }

    /// A resource discovery has not seen (a CRD installed a moment ago): make sure discovery
    /// ran after this request arrived (at most every 2 s), then decide again.
    async fn recheck_new_resource(
        &self,
        principal: &Principal,
        target: &Target,
        arrived: Instant,
        denied: Decision,
    ) -> Decision {
        match self
            .view
            .discovery_after(arrived, Duration::from_secs(2))
            .await
        {
            Ok(()) => scope::decide(&principal.scope, target, &self.view),
            Err(e) => {
                tracing::warn!(error = %e, "API discovery failed");
                denied
            }
        }
    }

    /// A namespace created a moment ago may not be in the index yet: look it up once on the
    /// server before refusing.
    async fn recheck_new_namespace(
        &self,
        principal: &Principal,
        target: &Target,
        request: &ResourceRequest,
        denied: Decision,
    ) -> Decision {
        // Only a namespace the index has never seen can be new; one it knows belongs to another
        // tenant for good (Capsule guards the label), so no request to the apiserver for it.
        let Some(namespace) = request.namespace.as_deref() else {
            return denied;
        };
        if self.view.tenant_of(namespace).is_some() {
            return denied;
        }
        if self.view.tenant_of_live(namespace).await.as_deref() != principal.scope.tenant() {
            return denied;
        }
        let tenant = principal.scope.tenant().map(str::to_owned);
        let view = crate::cluster::WithNamespace {
            inner: &self.view,
            namespace,
            tenant: tenant.as_deref(),
        };
        scope::decide(&principal.scope, target, &view)
    }

    /// Forwards to the upstream and relays the answer.
    pub(crate) async fn forward(
        &self,
        mut request: Request<Incoming>,
        path_and_query: &str,
        acting: Acting<'_>,
        upgrade: Option<(Upgrade, Lifetime)>,
        target: &Target,
    ) -> Result<Response<Body>, Reject> {
        let (upgrade, lifetime) = upgrade.unzip();
        let upgrade_header = upgrade.map(|u| match u {
            Upgrade::WebSocket => HeaderValue::from_static("websocket"),
            Upgrade::Spdy31 => HeaderValue::from_static("SPDY/3.1"),
        });
        if let Some(length) = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            && length > self.max_body_bytes
        {
            return Err(Reject::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the request body is larger than {} bytes",
                    self.max_body_bytes
                ),
            ));
        }
        let client_upgrade = upgrade_header
            .as_ref()
            .map(|_| hyper::upgrade::on(&mut request));
        let (parts, incoming) = request.into_parts();
        let body = body::boxed(Limited::new(incoming, self.max_body_bytes));
        let upstream_request = forward::upstream_request(
            &self.upstream,
            parts,
            body,
            path_and_query,
            acting,
            upgrade_header.as_ref(),
        )?;
        if let (Some(client_upgrade), Some(lifetime)) = (client_upgrade, lifetime) {
            let open = GaugeGuard::new(&self.metrics.open_upgrades);
            return forward::upgrade(
                &self.upstream,
                client_upgrade,
                upstream_request,
                open,
                lifetime,
            )
            .await;
        }
        self.send(upstream_request, target).await
    }

    /// A `SelfSubjectAccessReview`: answered by the proxy when it asks about a list the proxy
    /// serves itself ([`crate::review`]), forwarded (buffered, as the identity) otherwise.
    async fn self_access_review(
        &self,
        request: Request<Incoming>,
        path_and_query: &str,
        acting: Acting<'_>,
        principal: &Principal,
        target: &Target,
    ) -> Result<Response<Body>, Reject> {
        let (parts, incoming) = request.into_parts();
        let bytes = Limited::new(incoming, self.max_body_bytes)
            .collect()
            .await
            .map_err(|_| {
                Reject::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "the request body is larger than {} bytes",
                        self.max_body_bytes
                    ),
                )
            })?
            .to_bytes();
        let accepts_json = parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("application/json") || v.contains("*/*"))
            || !parts.headers.contains_key(header::ACCEPT);
        let answer = if !accepts_json {
            None
        } else if let Some(answer) = crate::review::namespace_list(&bytes) {
            Some(answer)
        } else if let Some(question) = crate::review::across_namespaces(&bytes)
            && let Some(namespaces) = scope::across_namespaces(
                &principal.scope,
                &question.group,
                &question.version,
                &question.resource,
                &self.view,
            )
        {
            Some(self.review_in_each(question, &namespaces, acting).await?)
        } else {
            None
        };
        if let Some(answer) = answer {
            let mut response = Response::new(body::full(answer));
            *response.status_mut() = StatusCode::CREATED;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(response);
        }
        let upstream_request = forward::upstream_request(
            &self.upstream,
            parts,
            body::full(bytes),
            path_and_query,
            acting,
            None,
        )?;
        self.send(upstream_request, target).await
    }

    /// Asks `question` upstream in each of `namespaces`, as the identity, and answers it from
    /// those answers ([`crate::review::AcrossNamespaces::answered`]).
    async fn review_in_each(
        &self,
        question: crate::review::AcrossNamespaces,
        namespaces: &[String],
        acting: Acting<'_>,
    ) -> Result<Vec<u8>, Reject> {
        let asks = namespaces.iter().map(|namespace| {
            let (mut parts, ()) = Request::new(()).into_parts();
            parts.method = Method::POST;
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            parts
                .headers
                .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            let upstream_request = forward::upstream_request(
                &self.upstream,
                parts,
                body::full(question.in_namespace(namespace)),
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                acting,
                None,
            );
            async move {
                let response = self.upstream.send(upstream_request?).await.map_err(|e| {
                    tracing::warn!(error = %e, "upstream request failed");
                    Reject::new(
                        StatusCode::BAD_GATEWAY,
                        "upstream",
                        "the Kubernetes API could not be reached",
                    )
                })?;
                let status = response.status();
                let bytes = Limited::new(response.into_body(), self.max_body_bytes)
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                match crate::review::verdict(&bytes) {
                    Some((allowed, reason)) if status.is_success() => {
                        Ok((namespace.clone(), allowed, reason))
                    }
                    _ => {
                        tracing::warn!(%status, namespace, "an access review was not answered");
                        Err(Reject::new(
                            StatusCode::BAD_GATEWAY,
                            "upstream",
                            format!("the Kubernetes API did not answer the access review in namespace {namespace}"),
                        ))
                    }
                }
            }
        });
        let answers = futures_util::future::try_join_all(asks).await?;
        Ok(question.answered(&answers))
    }

    /// Sends a request upstream and relays the answer (watches counted while open).
    async fn send(
        &self,
        upstream_request: Request<Body>,
        target: &Target,
    ) -> Result<Response<Body>, Reject> {
        let response = self.upstream.send(upstream_request).await.map_err(|e| {
            tracing::warn!(error = %e, "upstream request failed");
            Reject::new(
                StatusCode::BAD_GATEWAY,
                "upstream",
                "the Kubernetes API could not be reached",
            )
        })?;
        let response = forward::relay(response);
        let is_watch = matches!(target, Target::Resource(r) if r.verb == Verb::Watch);
        Ok(if is_watch && response.status().is_success() {
            let (parts, body) = response.into_parts();
            let tracked = Tracked::new(body, GaugeGuard::new(&self.metrics.open_watches));
            Response::from_parts(parts, body::boxed(tracked))
        } else {
            response
        })
    }
}

/// `create` of a `SelfSubjectAccessReview` (`kubectl auth can-i`, k9s before a list).
fn self_access_review(target: &Target) -> bool {
    matches!(target, Target::Resource(r)
        if r.verb == Verb::Create
            && r.group == "authorization.k8s.io"
            && r.resource == "selfsubjectaccessreviews"
            && r.name.is_none()
            && r.subresource.is_none())
}

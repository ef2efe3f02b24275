//! Checks a Kubernetes API request target and works out what it touches.
//!
//! The proxy authorises a request by the namespace and resource it names, so the path it reasons
//! about must be the path kube-apiserver acts on. kube-apiserver percent-decodes the path before it
//! splits it, so a proxy reading the raw path can be shown one namespace while another is served
//! (`/api/v1/namespaces/a%2F..%2Fb/pods`). Instead of decoding and re-encoding, [`classify`]
//! refuses every path whose raw and decoded forms could differ (any `%` at all: Kubernetes names
//! never contain `%`, and `kubectl` never needs to encode anything else in a path), every `.`,
//! `..` or empty segment, and every byte outside printable ASCII. What is left reads the same to
//! both sides, and is forwarded unchanged. Classification then mirrors `NewRequestInfo` in
//! `k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`, including how it reads `?watch=`.

mod check;
#[cfg(test)]
mod tests;
mod verb;

pub use verb::Verb;

use http::{Method, Uri};

/// What a request targets, in Kubernetes terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Discovery and every other non-resource path: `/api`, `/api/v1`, `/apis`, `/apis/<g>`,
    /// `/apis/<g>/<v>`, `/version`, `/openapi/v2`, `/openapi/v3/...`, `/healthz`, ...
    NonResource {
        /// The checked path as sent, without the query; it may end in one `/`. It is the exact
        /// path to forward.
        path: String,
    },
    /// A resource request under `/api/v1/...` or `/apis/<group>/<version>/...`.
    Resource(ResourceRequest),
}

/// A resource request, as kube-apiserver's `RequestInfo` describes it.
///
/// The `namespaces` resource follows Kubernetes: for `/api/v1/namespaces/{ns}` (and its `status`
/// and `finalize` subresources) both `namespace` and `name` are `Some(ns)`, so a scope check on
/// `namespace` covers the namespace object itself. For `/api/v1/namespaces` (list, watch, create)
/// both are `None`. A path that nests `namespaces` under a namespace is refused, so whenever
/// `resource == "namespaces"`, `namespace == name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    /// API group; empty for the core group (`/api/v1`).
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// The namespace named by the path, always a DNS-1123 label. `None` means "not namespaced by
    /// path": a cluster-scoped resource, or a namespaced one across all namespaces (`-A`). The
    /// path alone cannot tell which.
    pub namespace: Option<String>,
    /// Resource, in plural form: `pods`, `namespaces`, `tenants`.
    pub resource: String,
    /// Object name, when the path names one.
    pub name: Option<String>,
    /// Subresource: `log`, `exec`, `attach`, `portforward`, `proxy`, `status`, `scale`, ...
    /// Only `proxy` may be followed by more path; that remainder is accepted (and checked like
    /// every other segment) but not reported.
    pub subresource: Option<String>,
    /// The Kubernetes verb.
    pub verb: Verb,
}

impl ResourceRequest {
    /// Whether the request opens a channel into a workload or node (`exec`, `attach`,
    /// `portforward`, `proxy`). Kubernetes calls a `GET` on these a `get`, so
    /// [`Verb::is_read`] alone must not decide that such a request is harmless.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.subresource.as_deref(),
            Some("exec" | "attach" | "portforward" | "proxy")
        )
    }
}

/// Why a request target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The request target is not a path (`http://host/...`, `host:443`, `*`).
    #[error(
        "request target refused: send a path such as /api/v1/pods, not a URL, an authority or '*'"
    )]
    AbsoluteForm,
    /// `%2e`, `%2f`, `%5c` or `%25` in the path.
    #[error(
        "path refused: it percent-encodes '.', '/', '\\' or '%', which can hide path traversal"
    )]
    EncodedSeparator,
    /// Any other percent-encoding in the path.
    #[error("path refused: it is percent-encoded, and Kubernetes API paths never need encoding")]
    PercentEncoded,
    /// A `.` or `..` segment.
    #[error("path refused: '.' and '..' segments are not allowed")]
    DotSegment,
    /// An empty segment (`//`).
    #[error("path refused: empty segments ('//') are not allowed")]
    EmptySegment,
    /// A `/` at the end of a resource path.
    #[error("path refused: a resource path must not end in '/'")]
    TrailingSlash,
    /// A backslash, control character or non-ASCII byte in the path.
    #[error("path refused: it contains a backslash, a control character or a non-ASCII character")]
    ForbiddenCharacter,
    /// The namespace segment is not a DNS-1123 label.
    #[error("path refused: namespace {0:?} is not a valid namespace name (DNS-1123 label)")]
    InvalidNamespace(String),
    /// The name segment is not a Kubernetes object name.
    #[error("path refused: name {0:?} is not a valid object name (a-z A-Z 0-9 - . _ : @, no '..')")]
    InvalidName(String),
    /// A method with no Kubernetes verb on a resource path.
    #[error(
        "method {0} refused: Kubernetes resource requests use GET, HEAD, POST, PUT, PATCH or DELETE"
    )]
    MethodNotAllowed(String),
    /// A path under `/api` or `/apis` that is not a resource request Kubernetes would serve.
    #[error("path refused: {0}")]
    Malformed(&'static str),
    /// The query could be read differently by the proxy and kube-apiserver.
    #[error("query refused: {0}")]
    InvalidQuery(&'static str),
}

impl PathError {
    /// A stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::AbsoluteForm => "absolute_form",
            Self::EncodedSeparator => "encoded_separator",
            Self::PercentEncoded => "percent_encoded",
            Self::DotSegment => "dot_segment",
            Self::EmptySegment => "empty_segment",
            Self::TrailingSlash => "trailing_slash",
            Self::ForbiddenCharacter => "forbidden_character",
            Self::InvalidNamespace(_) => "invalid_namespace",
            Self::InvalidName(_) => "invalid_name",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Malformed(_) => "malformed_path",
            Self::InvalidQuery(_) => "invalid_query",
        }
    }
}

/// The subresources of a namespace; anything else after `/namespaces/{ns}/` is a resource.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Checks a request target and works out which namespace, resource and verb it touches.
///
/// Every check runs before classification, on every path: see the module documentation.
pub fn classify(method: &Method, uri: &Uri) -> Result<Target, PathError> {
    let checked = check::check_path(uri)?;
    let watch_requested = check::watch_requested(uri.query())?;

    let (group, version, rest) = match checked.segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => {
            return Ok(Target::NonResource {
                path: checked.path.to_owned(),
            });
        }
    };
    if !(group.is_empty() || check::is_group(group)) {
        return Err(PathError::Malformed("the API group is not a DNS subdomain"));
    }
    if !check::is_version(version) {
        return Err(PathError::Malformed(
            "the API version must be lowercase letters and digits",
        ));
    }

    let (rest, watch_by_prefix) = match rest {
        ["watch"] => {
            return Err(PathError::Malformed(
                "/watch/ must be followed by a resource",
            ));
        }
        ["watch", tail @ ..] => (tail, true),
        ["proxy", ..] => {
            return Err(PathError::Malformed(
                "the legacy /proxy/ prefix is not served",
            ));
        }
        _ => (rest, false),
    };

    let (namespace, parts) = match rest {
        ["namespaces", ns, tail @ ..] => {
            if !check::is_dns1123_label(ns) {
                return Err(PathError::InvalidNamespace(check::shown(ns)));
            }
            match tail.first() {
                Some(&"namespaces") => {
                    return Err(PathError::Malformed("namespaces do not contain namespaces"));
                }
                Some(first) if !NAMESPACE_SUBRESOURCES.contains(first) => (Some(*ns), tail),
                _ => (Some(*ns), rest),
            }
        }
        _ => (None, rest),
    };

    let Some((resource, tail)) = parts.split_first() else {
        return Err(PathError::Malformed("no resource in the path"));
    };
    if !check::is_resource(resource) {
        return Err(PathError::Malformed(
            "the resource must be lowercase letters, digits and '-'",
        ));
    }
    let (name, subresource, remainder): (Option<&str>, Option<&str>, &[&str]) = match tail {
        [] => (None, None, &[]),
        [name] => (Some(name), None, &[]),
        [name, sub, remainder @ ..] => (Some(name), Some(sub), remainder),
    };
    // A `namespaces` name is the namespace, already checked above.
    if let Some(name) = name
        && *resource != "namespaces"
        && !check::is_object_name(name)
    {
        return Err(PathError::InvalidName(check::shown(name)));
    }
    if let Some(sub) = subresource
        && !check::is_resource(sub)
    {
        return Err(PathError::Malformed(
            "the subresource must be lowercase letters, digits and '-'",
        ));
    }
    let is_proxy = subresource == Some("proxy");
    if !remainder.is_empty() && !is_proxy {
        return Err(PathError::Malformed(
            "too many segments: only the proxy subresource takes a further path",
        ));
    }
    if checked.trailing_slash && !is_proxy {
        return Err(PathError::TrailingSlash);
    }

    let verb = if watch_by_prefix {
        if subresource.is_some() {
            return Err(PathError::Malformed(
                "/watch/ paths do not take a subresource",
            ));
        }
        if !verb::is_get(method) {
            return Err(PathError::MethodNotAllowed(check::shown(method.as_str())));
        }
        Verb::Watch
    } else {
        Verb::from_method(method, name.is_some(), watch_requested)?
    };

    Ok(Target::Resource(ResourceRequest {
        group: group.to_owned(),
        version: version.to_owned(),
        namespace: namespace.map(str::to_owned),
        resource: (*resource).to_owned(),
        name: name.map(str::to_owned),
        subresource: subresource.map(str::to_owned),
        verb,
    }))
}

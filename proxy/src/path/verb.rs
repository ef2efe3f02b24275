//! The Kubernetes verb of a resource request.

use http::Method;

use super::{PathError, check};

/// A Kubernetes verb, as `RequestInfo` computes it from the method, path and `?watch`.
///
/// There is no `connect` verb: Kubernetes authorises `GET .../pods/p/exec` as `get` and
/// `POST .../pods/p/exec` as `create`; see [`is_connect`].
///
/// [`is_connect`]: super::ResourceRequest::is_connect
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `GET`/`HEAD` on a named object (including its subresources).
    Get,
    /// `GET`/`HEAD` on a collection.
    List,
    /// `GET`/`HEAD` on a collection with `?watch` set, or under the legacy `/watch/` prefix.
    Watch,
    /// `POST`.
    Create,
    /// `PUT`.
    Update,
    /// `PATCH` (including server-side apply).
    Patch,
    /// `DELETE` on a named object.
    Delete,
    /// `DELETE` on a collection.
    DeleteCollection,
}

impl Verb {
    /// The verb as Kubernetes RBAC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Watch => "watch",
            Self::Create => "create",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::DeleteCollection => "deletecollection",
        }
    }

    /// `RequestInfo`'s verb: from the method, then `get` becomes `list` or `watch` and `delete`
    /// becomes `deletecollection` when no object is named.
    pub(super) fn from_method(
        method: &Method,
        named: bool,
        watch_requested: bool,
    ) -> Result<Self, PathError> {
        let verb = if is_get(method) {
            match (named, watch_requested) {
                (true, _) => Self::Get,
                (false, true) => Self::Watch,
                (false, false) => Self::List,
            }
        } else if method == Method::POST {
            Self::Create
        } else if method == Method::PUT {
            Self::Update
        } else if method == Method::PATCH {
            Self::Patch
        } else if method == Method::DELETE {
            if named {
                Self::Delete
            } else {
                Self::DeleteCollection
            }
        } else {
            return Err(PathError::MethodNotAllowed(check::shown(method.as_str())));
        };
        Ok(verb)
    }

    /// Whether the verb is `get`, `list` or `watch`. A `get` on `exec`, `attach`, `portforward`
    /// or `proxy` is not harmless: check [`is_connect`](super::ResourceRequest::is_connect) too.
    pub fn is_read(self) -> bool {
        matches!(self, Self::Get | Self::List | Self::Watch)
    }
}

/// Kubernetes reads `HEAD` as `GET`.
pub(super) fn is_get(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

//! Body types and the proxy's own error responses.
//!
//! Errors are Kubernetes `Status` objects, because that is what kubectl, Helm and client-go
//! parse: `kubectl` prints `Error from server (Forbidden): KN-403: ...`. The KN code leads the
//! message and is repeated as the first cause's `reason`, so scripts can match it.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::json;

/// Errors inside bodies (upstream I/O, size limits).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response the proxy handles.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// Boxes any compatible body.
pub fn boxed<B>(body: B) -> Body
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// A failure the proxy answers itself, before or instead of the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// HTTP status.
    pub status: StatusCode,
    /// `KN-<status>`, or a more specific KN code.
    pub code: String,
    /// What went wrong and what to do about it; never contains a token.
    pub message: String,
    /// Stable label for metrics and logs (`expired`, `scope`, `encoded_separator`, ...).
    pub reason: &'static str,
}

impl Reject {
    /// A rejection with the generic `KN-<status>` code.
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Reject {
            status,
            code: format!("KN-{}", status.as_u16()),
            message: message.into(),
            reason,
        }
    }

    /// 400.
    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }

    /// 401.
    pub fn unauthorized(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, reason, message)
    }

    /// 403.
    pub fn forbidden(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason, message)
    }

    /// The `Status` response.
    pub fn into_response(self) -> Response<Body> {
        let k8s_reason = match self.status {
            StatusCode::BAD_REQUEST => "BadRequest",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
            StatusCode::NOT_ACCEPTABLE => "NotAcceptable",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => "InternalError",
            _ => "",
        };
        let message = format!("{}: {}", self.code, self.message);
        let status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": k8s_reason,
            "details": { "causes": [{ "reason": self.code, "message": self.message }] },
            "code": self.status.as_u16(),
        });
        let mut response = Response::new(full(status.to_string()));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kubenova\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rejection_is_a_kubernetes_status_with_the_kn_code_first() {
        let response =
            Reject::forbidden("scope", "namespace b is outside tenant a").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let status: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(status["code"], 403);
        assert_eq!(status["message"], "KN-403: namespace b is outside tenant a");
        assert_eq!(status["details"]["causes"][0]["reason"], "KN-403");
    }
}

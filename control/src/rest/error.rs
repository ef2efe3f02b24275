//! One error type for every failure, rendered as one envelope:
//! `{"code":"KN-4xx","message":…,"details":…,"requestId":…}`.
//!
//! Handlers and extractors return [`ApiError`]; the response carries the error in its extensions
//! and the envelope middleware that [`super::router`] installs renders the body with the request
//! id. Responses that did not come from an `ApiError` (axum's 405, tower-http's 413 and 408) are
//! turned into the same envelope there.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// A failure, with the HTTP status, the KN code and what to tell the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What to fix, for a person.
    pub message: String,
    /// Structured details (`{"field": "name"}`, `{"cluster": "prod"}`, ...).
    pub details: Value,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
}

/// The JSON body of every error.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// `KN-<status>`.
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
    /// Structured details; `{}` when there are none.
    pub details: Value,
    /// The request id (also in the `x-request-id` response header).
    pub request_id: String,
}

impl ApiError {
    /// An error with `status` and `message` and no details.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: json!({}),
            retry_after: None,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// `KN-<status>`.
    pub fn code(&self) -> String {
        format!("KN-{}", self.status.as_u16())
    }

    /// 400: the request itself is malformed (bad JSON, bad path parameter).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no usable credential.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: the credential does not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: `kind` `name` does not exist.
    pub fn not_found(kind: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("{kind} `{name}` does not exist"),
        )
        .with_details(json!({ "kind": kind, "name": name }))
    }

    /// 409: `kind` `name` already exists (or another conflict).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 422: `field` is invalid because `why`.
    pub fn invalid(field: &str, why: impl Into<String>) -> Self {
        let why = why.into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {why}"))
            .with_details(json!({ "field": field, "reason": why }))
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests from this principal; retry in {retry_after} s"),
        );
        err.retry_after = Some(retry_after);
        err
    }

    /// 501: the endpoint exists in the API but is not implemented yet.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{what} is not implemented yet (see docs/index.md, \"Not yet\")"),
        )
    }

    /// 503: the workload cluster `cluster` cannot be reached.
    pub fn unavailable(cluster: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cluster `{cluster}` is unreachable: {why}"),
        )
        .with_details(json!({ "cluster": cluster }))
    }

    /// 500: a bug or an unexpected answer; the message says what, never a secret.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Maps an error from the apiserver of `cluster` (the management cluster is `management`).
    pub fn from_kube(cluster: &str, err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => {
                let code = status.code;
                let message = status.message.clone();
                match code {
                    404 => Self::new(StatusCode::NOT_FOUND, message),
                    409 => Self::new(StatusCode::CONFLICT, message),
                    400 | 422 => Self::new(StatusCode::UNPROCESSABLE_ENTITY, message),
                    403 => Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("cluster `{cluster}` refused KubeNova's own credential: {message}"),
                    )
                    .with_details(json!({ "cluster": cluster })),
                    500..=599 | 429 => Self::unavailable(cluster, message),
                    _ => Self::internal(format!("cluster `{cluster}` answered {code}: {message}")),
                }
            }
            other => Self::unavailable(cluster, other),
        }
    }

    /// The envelope for this error.
    pub fn envelope(&self, request_id: &str) -> Envelope {
        Envelope {
            code: self.code(),
            message: self.message.clone(),
            details: self.details.clone(),
            request_id: request_id.to_owned(),
        }
    }

    /// The response with the envelope body for `request_id`.
    pub fn render(&self, request_id: &str) -> Response {
        let body = serde_json::to_vec(&self.envelope(request_id)).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The request id is filled in by the envelope middleware.
        self.render("")
    }
}

/// The error for a status that did not come from an [`ApiError`] (axum's own 404/405, the
/// body-size layer's 413, the timeout layer's 408).
pub fn for_status(status: StatusCode) -> ApiError {
    let message = match status {
        StatusCode::NOT_FOUND => "no such endpoint; see /api/v1/openapi.json".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => {
            "this endpoint does not support this method; see /api/v1/openapi.json".to_owned()
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than 1 MiB; send a smaller body".to_owned()
        }
        StatusCode::REQUEST_TIMEOUT => {
            "the request took too long and was cancelled; try again".to_owned()
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "send the body as JSON with Content-Type: application/json".to_owned()
        }
        other => other
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    ApiError::new(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_status() {
        let cases = [
            (ApiError::bad_request("x"), "KN-400"),
            (ApiError::unauthorized("x"), "KN-401"),
            (ApiError::forbidden("x"), "KN-403"),
            (ApiError::not_found("tenant", "a"), "KN-404"),
            (ApiError::conflict("x"), "KN-409"),
            (ApiError::invalid("name", "bad"), "KN-422"),
            (ApiError::too_many_requests(2), "KN-429"),
            (ApiError::not_implemented("apps"), "KN-501"),
            (ApiError::unavailable("prod", "down"), "KN-503"),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn envelope_has_the_four_fields_and_429_sets_retry_after() {
        let response = ApiError::too_many_requests(3).render("req-1");
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(3u64))
        );
        let env = serde_json::to_value(ApiError::invalid("name", "too long").envelope("r"))
            .expect("json");
        assert_eq!(
            env,
            json!({"code": "KN-422", "message": "name: too long",
                   "details": {"field": "name", "reason": "too long"}, "requestId": "r"})
        );
    }

    #[test]
    fn unreachable_cluster_is_503_naming_it() {
        let err = ApiError::unavailable("prod", "connection refused");
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(err.message.contains("`prod`"), "{}", err.message);
        assert_eq!(err.details["cluster"], "prod");
    }
}

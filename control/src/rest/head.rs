//! Limits on the request head: the same answer over HTTP/1.1 and HTTP/2.
//!
//! `serve` reads at most [`MAX_HEADER_BYTES`] of an HTTP/1.1 head (hyper answers 431 above);
//! HTTP/2 decodes heads up to [`H2_HEADER_LIST_FACTOR`] times that and [`check_head`] answers
//! 431 or 414 in the error envelope. With hyper's HTTP/2 defaults (16 KiB), a URL over 16 KiB got
//! a bare 431, and a 100 KB one cost the client its connection (h2 allows only so many
//! CONTINUATION frames for its limit and then sends GOAWAY), while HTTP/1.1 took it whole.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde_json::json;

use super::error::ApiError;

/// The largest request head (target plus headers) read, in bytes: 431 above.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The longest request target (path and query), in bytes: 414 above. Every API URL is a few
/// hundred bytes at most.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// HTTP/2 heads are decoded up to this many times [`MAX_HEADER_BYTES`] before h2 refuses them
/// itself; in between, [`check_head`] answers like HTTP/1.1 does.
pub const H2_HEADER_LIST_FACTOR: usize = 4;

/// The size of a head as RFC 9113 counts a header list: each field's name and value plus 32,
/// with the pseudo-headers (`:path` is the target).
pub fn head_size(req: &Request) -> usize {
    const FIELD_OVERHEAD: usize = 32;
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let pseudo =
        target + req.method().as_str().len() + 4 * FIELD_OVERHEAD + ":method:scheme:path".len();
    req.headers().iter().fold(pseudo, |sum, (name, value)| {
        sum + name.as_str().len() + value.len() + FIELD_OVERHEAD
    })
}

/// Refuses a head over [`MAX_HEADER_BYTES`] (431) or a target over [`MAX_URL_BYTES`] (414).
pub async fn check_head(req: Request, next: Next) -> Response {
    let size = head_size(&req);
    if size > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request headers and URL add up to {size} bytes, over the limit of \
                 {MAX_HEADER_BYTES}; send fewer or shorter headers"
            ),
        )
        .with_details(json!({ "size": size, "limit": MAX_HEADER_BYTES }))
        .into_response();
    }
    let url = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if url > MAX_URL_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "the URL is {url} bytes long, over the limit of {MAX_URL_BYTES}; \
                 see /api/v1/openapi.json for the endpoints and their parameters"
            ),
        )
        .with_details(json!({ "size": url, "limit": MAX_URL_BYTES }))
        .into_response();
    }
    next.run(req).await
}

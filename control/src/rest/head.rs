//! Limits on the request head: the same answer over HTTP/1.1 and HTTP/2.
//!
//! `serve` reads at most [`MAX_HEADER_BYTES`] of a head on either protocol: hyper answers
//! HTTP/1.1 heads over it with 431, h2 answers HTTP/2 heads over it with 431 (its
//! SETTINGS_MAX_HEADER_LIST_SIZE, which well-behaved clients check before sending), and
//! [`check_head`] answers the rest in the error envelope: 414 for a URL over [`MAX_URL_BYTES`],
//! 431 for a head over the limit as HTTP/2 counts it. hyper's HTTP/2 defaults (16 KiB of headers,
//! 16 KiB frames) gave a bare 431 above 16 KiB while HTTP/1.1 read 400 KB, and a head needing
//! more CONTINUATION frames than h2 allows cost the client its connection (GOAWAY).

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

/// The largest HTTP/2 frame accepted (h2's default is 16 KiB): h2 allows a header block only 5
/// CONTINUATION frames for a 64 KiB limit and sends GOAWAY beyond them; with 64 KiB frames an
/// oversized head of up to 256 KiB gets h2's 431 instead.
pub const H2_MAX_FRAME_BYTES: u32 = 64 * 1024;

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

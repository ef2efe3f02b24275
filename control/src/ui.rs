//! The web UI (ADR 0022, docs/ui.md): the files `build.rs` built from `ui/`, embedded in the
//! binary and served beside the API.
//!
//! - `/`, `/ui` and `/ui/...` (the UI's own routes) answer the app shell, `index.html`, with
//!   `Cache-Control: no-cache`;
//! - `/assets/<name>` answers a built file (its name carries a content hash) with
//!   `Cache-Control: public, max-age=31536000, immutable`;
//! - everything else, including an unknown asset, any method but GET/HEAD on those paths and
//!   every path under `/api/`, goes to the API router unchanged (its `KN-404` JSON envelope).
//!
//! A binary built with `KUBENOVA_UI_SKIP=1` (only `make generate` does) serves the API alone.
//!
//! Every UI answer carries a strict Content-Security-Policy (scripts, styles and API calls from
//! this origin only, no inline script, no framing) and `nosniff`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt as _;

mod files {
    include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));
}

/// The Content-Security-Policy of every UI answer. `img-src data:` is for the empty favicon.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// `Cache-Control` of the shell: always revalidated, so a new build is picked up at once.
pub const SHELL_CACHE: &str = "no-cache";
/// `Cache-Control` of hashed assets.
pub const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// Puts the UI in front of `api`: the UI's paths are answered here, every other request goes to
/// `api` as it came.
pub fn mount(api: Router) -> Router {
    if files::FILES.is_empty() {
        // Built with KUBENOVA_UI_SKIP=1 (`make generate`): the API alone.
        return api;
    }
    let page = || get(shell).fallback_service(api.clone());
    Router::new()
        .route("/", page())
        .route("/ui", page())
        .route("/ui/{*rest}", page())
        .route("/assets/{*file}", get(asset).fallback_service(api.clone()))
        .with_state(api.clone())
        .fallback_service(api)
}

fn file(name: &str) -> Option<&'static [u8]> {
    files::FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, body)| *body)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn respond(name: &str, body: &'static [u8], cache: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn shell() -> Response {
    match file("index.html") {
        Some(body) => respond("index.html", body, SHELL_CACHE),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn asset(State(api): State<Router>, req: Request) -> Response {
    let name = req.uri().path().trim_start_matches('/');
    match file(name) {
        Some(body) if name.starts_with("assets/") => respond(name, body, ASSET_CACHE),
        _ => match api.oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;
    use http_body_util::BodyExt as _;

    /// Stands in for the API: every request it gets answers 404 with a marker header, as the
    /// API's own fallback answers `KN-404` (the browser suite checks the real one).
    fn api() -> Router {
        Router::new().fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [("x-from", "api"), ("content-type", "application/json")],
                r#"{"code":"KN-404"}"#,
            )
        })
    }

    async fn request(method: Method, path: &str) -> Response {
        mount(api())
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible")
    }

    fn header<'a>(r: &'a Response, name: &str) -> &'a str {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii"))
            .unwrap_or("")
    }

    fn hashed_script() -> &'static str {
        files::FILES
            .iter()
            .map(|(n, _)| *n)
            .find(|n| n.starts_with("assets/") && n.ends_with(".js"))
            .expect("the build has a script under assets/")
    }

    #[tokio::test]
    async fn shell_for_ui_routes_with_csp_and_no_cache() {
        for path in ["/", "/ui", "/ui/tenants", "/ui/clusters/local/tenants/acme"] {
            let r = request(Method::GET, path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(
                header(&r, "content-type"),
                "text/html; charset=utf-8",
                "{path}"
            );
            assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
            assert_eq!(header(&r, "content-security-policy"), CSP, "{path}");
            assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
            assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
            let body = r.into_body().collect().await.expect("body").to_bytes();
            let html = String::from_utf8_lossy(&body);
            assert!(html.contains(r#"<div id="root">"#), "{path}: {html}");
            // The CSP forbids inline scripts: every script the shell loads has a src.
            assert!(
                !html.contains("<script>"),
                "{path}: inline script in {html}"
            );
            assert!(html.contains(hashed_script()), "{path}: {html}");
        }
        assert!(CSP.contains("script-src 'self';") && !CSP.contains("unsafe-inline"));
        assert!(CSP.contains("frame-ancestors 'none'") && CSP.contains("default-src 'none'"));
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable() {
        let path = format!("/{}", hashed_script());
        let r = request(Method::GET, &path).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), ASSET_CACHE);
        assert_eq!(header(&r, "content-security-policy"), CSP);
        let head = request(Method::HEAD, &path).await;
        assert_eq!(head.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn everything_else_is_the_apis() {
        for (method, path) in [
            (Method::GET, "/api/v1/nothing-here"),
            (Method::GET, "/api/v1/ui"),
            (Method::GET, "/api"),
            (Method::GET, "/assets/missing.js"),
            (Method::GET, "/assets/../index.html"),
            (Method::GET, "/index.html"),
            (Method::GET, "/favicon.ico"),
            (Method::GET, "/uix"),
            (Method::POST, "/"),
            (Method::DELETE, "/ui/tenants"),
            (Method::POST, &format!("/{}", hashed_script())),
        ] {
            let r = request(method.clone(), path).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(header(&r, "x-from"), "api", "{method} {path}");
            assert!(r.headers().get("content-security-policy").is_none());
        }
    }
}

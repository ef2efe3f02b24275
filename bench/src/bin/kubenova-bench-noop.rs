//! `kubenova-bench-noop`: baseline (b) of the proxy benchmark, a no-op pass-through.
//!
//! It has the same transport as `kubenova-proxy` and nothing else, by using the proxy's own
//! pieces: TLS in (`kubenova_tls`, h2 and http/1.1 by ALPN), hyper-util's auto server with
//! the proxy's timer and keep-alive settings, and out through `kubenova_proxy::upstream::Upstream`
//! (the pooled HTTP/1.1 client), relaying with `kubenova_proxy::forward::relay`. Every request is forwarded unchanged except that its
//! `Authorization` is replaced by a fixed bearer token read once from a file (and hop-by-hop
//! headers are dropped, as HTTP requires of any proxy). Bodies stream both ways. No
//! authentication, no scope check, no logging, no metrics: whatever `kubenova-proxy` costs
//! beyond this is the price of what it does.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use http::header;
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use kubenova_proxy::body::{self, Body};
use kubenova_proxy::forward::{relay, strip_hop_by_hop};
use kubenova_proxy::upstream::Upstream;
use kubenova_tls::ReloadingCert;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Flags (the same names `kubenova-proxy` uses for the same things).
#[derive(Debug, Parser)]
#[command(about = "No-op TLS pass-through: the kubenova-proxy benchmark's baseline (b)")]
struct Args {
    /// Address to serve on (TLS).
    #[arg(long)]
    listen: SocketAddr,
    /// Serving certificate (PEM).
    #[arg(long)]
    tls_cert: PathBuf,
    /// Serving key (PEM).
    #[arg(long)]
    tls_key: PathBuf,
    /// `https://host:port` of the upstream.
    #[arg(long)]
    upstream: String,
    /// CA bundle (PEM) of the upstream's serving certificate.
    #[arg(long)]
    upstream_ca: PathBuf,
    /// File with the bearer token sent upstream in place of the client's `Authorization`.
    #[arg(long)]
    upstream_token_file: PathBuf,
    /// Serve as the static upstream of the proxy-isolating rows: a GET of exactly this path (and
    /// query) is answered with `--static-body-file` (200, JSON) without going upstream.
    #[arg(long, requires = "static_body_file")]
    static_path: Option<String>,
    /// The body answered for `--static-path` (a 1 KiB ConfigMap).
    #[arg(long)]
    static_body_file: Option<PathBuf>,
    /// Forward the client's own `Authorization` instead of replacing it (the static upstream
    /// relays the proxy's own reads, with the proxy's credential, to kube-apiserver).
    #[arg(long)]
    keep_authorization: bool,
}

/// What a connection needs.
struct Config {
    upstream: Upstream,
    /// `(path and query, body)` answered without going upstream.
    fixed: Option<(String, bytes::Bytes)>,
    keep_authorization: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let cert = ReloadingCert::load(&args.tls_cert, &args.tls_key)?;
    let fixed = match (&args.static_path, &args.static_body_file) {
        (Some(path), Some(file)) => Some((
            path.clone(),
            bytes::Bytes::from(
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?,
            ),
        )),
        _ => None,
    };
    let upstream = Arc::new(Config {
        upstream: Upstream::new(&args.upstream, &args.upstream_ca, &args.upstream_token_file)
            .context("upstream")?,
        fixed,
        keep_authorization: args.keep_authorization,
    });

    // The same server settings as kubenova-proxy's (proxy/src/server.rs), default sizes.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let acceptor = TlsAcceptor::from(cert.server_config()?);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, upstream) = (acceptor.clone(), builder.clone(), upstream.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = service_fn(move |request| {
                let upstream = upstream.clone();
                async move { Ok::<_, Infallible>(forward(&upstream, request).await) }
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// Forwards `request` unchanged but for the credential (unless told to keep it) and the
/// hop-by-hop headers; answers the static path itself.
async fn forward(config: &Config, request: Request<Incoming>) -> Response<Body> {
    let upstream = &config.upstream;
    let (mut parts, incoming) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    if let Some((path, fixed)) = &config.fixed
        && parts.method == http::Method::GET
        && *path == path_and_query
    {
        let mut response = Response::new(body::full(fixed.clone()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return response;
    }
    let Ok(uri) = upstream.uri(&path_and_query) else {
        return status(StatusCode::BAD_REQUEST);
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    // The pool sets Host from the URI.
    parts.headers.remove(header::HOST);
    if !config.keep_authorization {
        parts
            .headers
            .insert(header::AUTHORIZATION, upstream.authorization());
    }
    match upstream
        .send(Request::from_parts(parts, body::boxed(incoming)))
        .await
    {
        Ok(response) => relay(response),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = code;
    response
}

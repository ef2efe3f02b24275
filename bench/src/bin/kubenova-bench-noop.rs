//! `kubenova-bench-noop`: baseline (b) of the proxy benchmark, a no-op pass-through.
//!
//! It has the same transport as `kubenova-proxy` and nothing else, by using the proxy's own
//! pieces: TLS in (`kubenova_proxy::tls`, h2 and http/1.1 by ALPN), hyper-util's auto server with
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
use kubenova_proxy::tls::ReloadingCert;
use kubenova_proxy::upstream::Upstream;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let cert = Arc::new(ReloadingCert::load(&args.tls_cert, &args.tls_key)?);
    let upstream = Arc::new(
        Upstream::new(&args.upstream, &args.upstream_ca, &args.upstream_token_file)
            .context("upstream")?,
    );

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
    let acceptor = TlsAcceptor::from(cert.server_config());
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

/// Forwards `request` unchanged but for the credential and the hop-by-hop headers.
async fn forward(upstream: &Upstream, request: Request<Incoming>) -> Response<Body> {
    let (mut parts, incoming) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let Ok(uri) = upstream.uri(&path_and_query) else {
        return status(StatusCode::BAD_REQUEST);
    };
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    // The pool sets Host from the URI.
    parts.headers.remove(header::HOST);
    parts
        .headers
        .insert(header::AUTHORIZATION, upstream.authorization());
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

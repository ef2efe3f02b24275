//! `kubenova-bench-noop`: baseline (b) of the proxy benchmark, a no-op pass-through.
//!
//! It has the same transport as `kubenova-proxy` and nothing else: TLS in (rustls, h2 and
//! http/1.1 by ALPN, hyper-util's auto server with the proxy's timer and keep-alive settings),
//! and out through a pooled HTTP/1.1 hyper-util client over rustls, configured as the proxy's
//! `upstream.rs` configures its pool. Every request is forwarded unchanged except that its
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
use bytes::Bytes;
use clap::Parser;
use http::header::{self, HeaderName};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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

type UpstreamClient = Client<HttpsConnector<HttpConnector>, Incoming>;
type ResponseBody = Either<Incoming, Empty<Bytes>>;

struct Noop {
    scheme: Scheme,
    authority: Authority,
    authorization: HeaderValue,
    client: UpstreamClient,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();

    let chain = CertificateDer::pem_file_iter(&args.tls_cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading {}", args.tls_cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&args.tls_key)
        .with_context(|| format!("reading {}", args.tls_key.display()))?;
    let mut server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("serving certificate")?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let uri: Uri = args.upstream.parse().context("--upstream")?;
    let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
        anyhow::bail!("--upstream must be https://host:port");
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&args.upstream_ca)
        .with_context(|| format!("reading {}", args.upstream_ca.display()))?
    {
        roots.add(cert?).context("--upstream-ca")?;
    }
    let tls = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The same pool as kubenova-proxy's upstream (proxy/src/upstream.rs), deliberately including
    // its connector settings (no TCP_NODELAY today): change both together.
    // Without TCP_NODELAY the first request on a new connection waits ~40 ms for Nagle and
    // delayed ACKs; every watch opens a connection of its own, so that would be every watch.
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(connector);
    let token = std::fs::read_to_string(&args.upstream_token_file)
        .with_context(|| format!("reading {}", args.upstream_token_file.display()))?;
    let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .context("the token is not a valid header value")?;
    authorization.set_sensitive(true);
    let noop = Arc::new(Noop {
        scheme,
        authority,
        authorization,
        client,
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
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, noop) = (acceptor.clone(), builder.clone(), noop.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = service_fn(move |request| {
                let noop = noop.clone();
                async move { Ok::<_, Infallible>(noop.forward(request).await) }
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}

impl Noop {
    async fn forward(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let Ok(uri) = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
        else {
            return status(StatusCode::BAD_REQUEST);
        };
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        // The pool sets Host from the URI.
        parts.headers.remove(header::HOST);
        parts
            .headers
            .insert(header::AUTHORIZATION, self.authorization.clone());
        match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Either::Left(body))
            }
            Err(_) => status(StatusCode::BAD_GATEWAY),
        }
    }
}

fn status(code: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(Either::Right(Empty::new()));
    *response.status_mut() = code;
    response
}

/// Headers that belong to one connection (RFC 9110 7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

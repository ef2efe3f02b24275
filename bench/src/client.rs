//! A kubectl-style client: HTTP/2 over TLS, `Accept: application/json`, one connection shared
//! by all concurrent requests, as client-go does. A server that does not speak HTTP/2
//! (capsule-proxy) gets HTTP/1.1 over a pool of connections, one per request in flight, as
//! client-go falls back to.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::{http1, http2::SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What kubectl sends for `get -o json`.
pub const JSON: &str = "application/json";
/// What kubectl sends for a plain `get` (server-side printing).
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// One HTTP/2 connection; clones share it.
pub type H2Sender = SendRequest<Empty<Bytes>>;

/// A connection to an endpoint: one HTTP/2 connection, or a pool of HTTP/1.1 connections;
/// clones share it.
#[derive(Clone)]
pub enum Sender {
    /// Requests multiplexed on one connection.
    H2(H2Sender),
    /// Each request on an idle connection of the pool, or on a new one.
    H1(Arc<H1Pool>),
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sender::H2(_) => f.write_str("Sender::H2"),
            Sender::H1(_) => f.write_str("Sender::H1"),
        }
    }
}

impl Sender {
    /// Whether the connection is gone (an HTTP/2 connection the server closed); a pool never
    /// is (it opens new connections).
    pub fn is_closed(&self) -> bool {
        match self {
            Sender::H2(h2) => h2.is_closed(),
            Sender::H1(_) => false,
        }
    }
}

/// Idle HTTP/1.1 connections to one endpoint.
pub struct H1Pool {
    endpoint: Endpoint,
    idle: Mutex<Vec<http1::SendRequest<Empty<Bytes>>>>,
}

impl H1Pool {
    fn take(&self) -> Option<http1::SendRequest<Empty<Bytes>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put(&self, connection: http1::SendRequest<Empty<Bytes>>) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(connection);
    }
}

/// A server the load generator talks to, with the credential it presents.
#[derive(Clone)]
pub struct Endpoint {
    /// Short label, as in the report: `(a)`, `(b)`, `(c)`.
    pub label: &'static str,
    /// `127.0.0.1:<port>`.
    pub authority: String,
    authorization: HeaderValue,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    http1: bool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("label", &self.label)
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint at `url` (`https://host:port`) whose certificate `ca_pem` signed, sending
    /// `Authorization: Bearer <token>`.
    pub fn new(label: &'static str, url: &str, ca_pem: &str, token: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse().with_context(|| format!("URL {url}"))?;
        let authority = uri
            .authority()
            .with_context(|| format!("URL {url} has no host"))?;
        let server_name = ServerName::try_from(authority.host().to_owned())?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let mut tls = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))?;
        authorization.set_sensitive(true);
        Ok(Endpoint {
            label,
            authority: authority.as_str().to_owned(),
            authorization,
            server_name,
            tls: Arc::new(tls),
            http1: false,
        })
    }

    /// Like [`Endpoint::new`], for a server that speaks only HTTP/1.1 (ALPN `http/1.1`).
    pub fn new_http1(
        label: &'static str,
        url: &str,
        ca_pem: &str,
        token: &str,
    ) -> anyhow::Result<Self> {
        let mut endpoint = Endpoint::new(label, url, ca_pem, token)?;
        let mut tls = (*endpoint.tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        endpoint.tls = Arc::new(tls);
        endpoint.http1 = true;
        Ok(endpoint)
    }

    async fn tls(&self) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        tcp.set_nodelay(true)?;
        TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS to {}", self.authority))
    }

    async fn connect_http1(&self) -> anyhow::Result<http1::SendRequest<Empty<Bytes>>> {
        let tls = self.tls().await?;
        let (sender, connection) = http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Opens a new HTTP/2 connection (TLS, ALPN `h2`), or, for an HTTP/1.1 endpoint, a pool
    /// holding one connection.
    pub async fn connect(&self) -> anyhow::Result<Sender> {
        if self.http1 {
            let first = self.connect_http1().await?;
            return Ok(Sender::H1(Arc::new(H1Pool {
                endpoint: self.clone(),
                idle: Mutex::new(vec![first]),
            })));
        }
        let tls = self.tls().await?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            anyhow::bail!("{} did not agree to HTTP/2", self.authority);
        }
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(tls))
            .await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Sender::H2(sender))
    }

    /// A GET of `path_and_query` with `accept`.
    pub fn get(&self, path_and_query: &str, accept: &'static str) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        if let Ok(uri) = format!("https://{}{path_and_query}", self.authority).parse() {
            *request.uri_mut() = uri;
        }
        let headers = request.headers_mut();
        headers.insert(header::AUTHORIZATION, self.authorization.clone());
        headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("kubenova-bench (kubectl-style)"),
        );
        request
    }
}

/// Sends `request` on `sender` and reads the whole answer; returns the body's size. A status
/// other than 2xx is an error quoting the start of the body.
pub async fn exchange(
    sender: &mut Sender,
    request: Request<Empty<Bytes>>,
) -> anyhow::Result<usize> {
    match sender {
        Sender::H2(h2) => {
            h2.ready().await?;
            let response = h2.send_request(request).await?;
            read(response).await
        }
        Sender::H1(pool) => {
            let mut connection = match pool.take() {
                Some(c) if !c.is_closed() => c,
                _ => pool.endpoint.connect_http1().await?,
            };
            connection.ready().await?;
            let response = connection.send_request(origin_form(request)?).await?;
            let size = read(response).await?;
            // Read to the end: the connection serves the next request.
            pool.put(connection);
            Ok(size)
        }
    }
}

/// An HTTP/1.1 request: the path in the request line and the authority in `Host` (HTTP/2 takes
/// both from the URI).
fn origin_form(mut request: Request<Empty<Bytes>>) -> anyhow::Result<Request<Empty<Bytes>>> {
    let authority = request.uri().authority().map(|a| a.as_str().to_owned());
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    *request.uri_mut() = path.parse()?;
    if let Some(authority) = authority {
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_str(&authority)?);
    }
    Ok(request)
}

/// Reads the whole answer; returns the body's size, or an error for a status other than 2xx.
async fn read(response: http::Response<hyper::body::Incoming>) -> anyhow::Result<usize> {
    let status = response.status();
    let mut body = response.into_body();
    let mut size = 0;
    let mut start = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            size += data.len();
            if !status.is_success() && start.len() < 300 {
                start.extend_from_slice(&data[..data.len().min(300)]);
            }
        }
    }
    if !status.is_success() {
        anyhow::bail!("HTTP {status}: {}", String::from_utf8_lossy(&start));
    }
    Ok(size)
}

//! A kubectl-style client: HTTP/2 over TLS, `Accept: application/json`, one connection shared
//! by all concurrent requests, as client-go does.

use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http2::SendRequest;
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
pub type Sender = SendRequest<Empty<Bytes>>;

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
        })
    }

    /// Opens a new HTTP/2 connection (TLS, ALPN `h2`).
    pub async fn connect(&self) -> anyhow::Result<Sender> {
        let tcp = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        tcp.set_nodelay(true)?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS to {}", self.authority))?;
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
        Ok(sender)
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
    sender.ready().await?;
    let response = sender.send_request(request).await?;
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

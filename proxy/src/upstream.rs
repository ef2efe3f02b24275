//! The connection to kube-apiserver (or capsule-proxy) and the proxy's own credential.
//!
//! Ordinary requests go through a pooled HTTP/1.1 client: every concurrent request (a watch
//! included) gets its own connection, so there is no HTTP/2 stream limit to stall on, and idle
//! connections are reused (see docs/adr/0002-upstream-http1-pool.md). Upgrades (exec, attach,
//! port-forward) each get a fresh connection that is never pooled, so a failed upgrade can not
//! leave a half-upgraded connection for the next request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::body::Body;

/// Errors setting up or using the upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CA bundle has no usable certificate.
    #[error("{0}: no usable CA certificate")]
    Ca(PathBuf),
    /// The upstream URL is unusable.
    #[error("upstream URL {0}: must be https://host[:port]")]
    Url(String),
    /// The token file holds something that cannot be a header value.
    #[error("{0}: the token is empty or not a valid header value")]
    Token(PathBuf),
    /// Connecting failed.
    #[error("connecting to the upstream: {0}")]
    Connect(#[source] std::io::Error),
    /// The HTTP exchange failed.
    #[error("upstream: {0}")]
    Http(#[from] hyper::Error),
    /// The pooled client failed.
    #[error("upstream: {0}")]
    Client(#[from] hyper_util::client::legacy::Error),
}

/// The upstream server and how to reach it.
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    host: Option<HeaderValue>,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    client: Client<HttpsConnector<HttpConnector>, Body>,
    token_file: PathBuf,
    token: RwLock<(Option<SystemTime>, HeaderValue)>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("authority", &self.authority)
            .field("token_file", &self.token_file)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Connects to `url` trusting the CA bundle `ca`, authenticating with the bearer token in
    /// `token_file`.
    pub fn new(url: &str, ca: &Path, token_file: &Path) -> Result<Self, UpstreamError> {
        let uri: Uri = url.parse().map_err(|_| UpstreamError::Url(url.into()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(UpstreamError::Url(url.into()));
        };
        if scheme != Scheme::HTTPS {
            return Err(UpstreamError::Url(url.into()));
        }
        let server_name = ServerName::try_from(authority.host().to_owned())
            .map_err(|_| UpstreamError::Url(url.into()))?;
        let pem = std::fs::read(ca).map_err(|source| UpstreamError::Read {
            path: ca.into(),
            source,
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem).flatten() {
            roots.add(cert).map_err(|_| UpstreamError::Ca(ca.into()))?;
        }
        if roots.is_empty() {
            return Err(UpstreamError::Ca(ca.into()));
        }
        let tls = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Without TCP_NODELAY the first request on a new connection waits ~40 ms for Nagle and
        // delayed ACKs; every watch opens a connection of its own, so that would be every watch.
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        let (mtime, token) = read_token(token_file)?;
        Ok(Upstream {
            scheme,
            host: HeaderValue::from_str(authority.as_str()).ok(),
            authority,
            server_name,
            tls: Arc::new(tls),
            client,
            token_file: token_file.to_owned(),
            token: RwLock::new((mtime, token)),
        })
    }

    /// The `Authorization` value the proxy sends upstream.
    pub fn authorization(&self) -> HeaderValue {
        self.token
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Re-reads the token file if it changed (ServiceAccount tokens rotate). Called
    /// periodically, never on the request path.
    pub fn refresh_token(&self) -> Result<bool, UpstreamError> {
        let mtime = std::fs::metadata(&self.token_file)
            .and_then(|m| m.modified())
            .ok();
        if mtime.is_some() && self.token.read().unwrap_or_else(|p| p.into_inner()).0 == mtime {
            return Ok(false);
        }
        let fresh = read_token(&self.token_file)?;
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(true)
    }

    /// Turns an origin-form path-and-query into an absolute upstream URI.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }

    /// The upstream authority (`host:port`).
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The `Host` header value for the upstream (built once).
    pub fn host(&self) -> Option<&HeaderValue> {
        self.host.as_ref()
    }

    /// Sends an ordinary request through the pool.
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Incoming>, UpstreamError> {
        Ok(self.client.request(request).await?)
    }

    /// Sends an upgrade request on a connection of its own. The connection task ends when the
    /// upgraded stream (or the failed response) is dropped.
    pub async fn send_upgrade(
        &self,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let port = self.authority.port_u16().unwrap_or(443);
        let tcp = TcpStream::connect((self.authority.host(), port))
            .await
            .map_err(UpstreamError::Connect)?;
        tcp.set_nodelay(true).map_err(UpstreamError::Connect)?;
        let mut tls = (*self.tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let stream = TlsConnector::from(Arc::new(tls))
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(UpstreamError::Connect)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "upgraded upstream connection ended");
            }
        });
        Ok(sender.send_request(request).await?)
    }
}

fn read_token(path: &Path) -> Result<(Option<SystemTime>, HeaderValue), UpstreamError> {
    let text = std::fs::read_to_string(path).map_err(|source| UpstreamError::Read {
        path: path.into(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(UpstreamError::Token(path.into()));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| UpstreamError::Token(path.into()))?;
    value.set_sensitive(true);
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((mtime, value))
}

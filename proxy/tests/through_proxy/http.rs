//! Raw HTTP/1.1 and HTTP/2 connections to the proxy over TLS, for what kubectl does not show:
//! response headers, the protocol, upgrades that fail.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;

use super::harness::harness;

/// A request body.
pub(crate) type Body = Full<Bytes>;

/// A TLS connection to the proxy, trusting the environment's CA, offering `alpn`.
pub(crate) async fn connect_tls(alpn: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    let addr = harness().proxy.url.trim_start_matches("https://").to_owned();
    connect_tls_to(&addr, alpn).await
}

/// A TLS connection to `addr` (`127.0.0.1:<port>`: the proxy, capsule-proxy), trusting the
/// environment's CA, offering `alpn`.
pub(crate) async fn connect_tls_to(
    addr: &str,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let h = harness();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(&h.proxy.ca_path).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca).flatten() {
        roots.add(cert).expect("root");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls")
}

/// One connection to the proxy, in the protocol its TLS handshake chose.
pub(crate) enum Conn {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Conn {
    /// Opens a connection offering only `version` in ALPN.
    pub(crate) async fn open(version: Version) -> Conn {
        let h2 = version == Version::HTTP_2;
        let tls = connect_tls(if h2 { b"h2" } else { b"http/1.1" }).await;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let io = TokioIo::new(tls);
        if h2 {
            assert_eq!(
                negotiated.as_deref(),
                Some(&b"h2"[..]),
                "the proxy speaks h2"
            );
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2 handshake");
            tokio::spawn(connection);
            Conn::H2(sender)
        } else {
            let (sender, connection) = http1::handshake(io).await.expect("h1 handshake");
            tokio::spawn(connection.with_upgrades());
            Conn::H1(sender)
        }
    }

    /// Another handle on an HTTP/2 connection, to send requests concurrently.
    pub(crate) fn try_clone(&self) -> Option<Conn> {
        match self {
            Conn::H1(_) => None,
            Conn::H2(sender) => Some(Conn::H2(sender.clone())),
        }
    }

    /// Sends `request` (its URI a path; the authority is added for HTTP/2).
    pub(crate) async fn send(&mut self, request: Request<Body>) -> Response<Incoming> {
        self.try_send(request).await.expect("response")
    }

    /// Like [`Conn::send`], but a refused request or a closed connection is an `Err`.
    pub(crate) async fn try_send(
        &mut self,
        mut request: Request<Body>,
    ) -> Result<Response<Incoming>, String> {
        let url = &harness().proxy.url;
        match self {
            Conn::H1(sender) => {
                sender.ready().await.map_err(|e| e.to_string())?;
                let host = url.trim_start_matches("https://");
                request
                    .headers_mut()
                    .insert(http::header::HOST, host.parse().expect("host"));
                sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())
            }
            Conn::H2(sender) => {
                sender.ready().await.map_err(|e| e.to_string())?;
                let full = format!("{url}{}", request.uri());
                *request.uri_mut() = full.parse().expect("uri");
                *request.version_mut() = Version::HTTP_2;
                sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// A GET of `path` with `token`.
pub(crate) fn get(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::default())
        .expect("request")
}

/// Reads a whole body as text.
pub(crate) async fn text(response: Response<Incoming>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

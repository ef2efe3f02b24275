//! Where verification keys come from: a mounted JWKS file and/or control's JWKS URL, reloaded
//! periodically so key rotation needs no restart.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kubenova_api::{JwkSet, KeySet};
use rustls_pki_types::pem::PemObject;

/// Errors loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// A JWKS file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JWKS document is not valid.
    #[error("{origin}: not a JWKS document: {message}")]
    Parse {
        /// File or URL.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Fetching the JWKS URL failed.
    #[error("{url}: {message}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The same `kid` names two different keys.
    #[error("key id {0} names two different keys")]
    Conflict(String),
    /// No key at all.
    #[error("no usable EdDSA key in the configured JWKS sources")]
    Empty,
    /// The TLS setup for the URL failed.
    #[error("JWKS CA {0}: no usable certificate")]
    Ca(PathBuf),
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The configured key sources.
pub struct KeySources {
    file: Option<PathBuf>,
    url: Option<(Uri, HttpsClient)>,
}

impl std::fmt::Debug for KeySources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySources")
            .field("file", &self.file)
            .field("url", &self.url.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl KeySources {
    /// Sources from a file and/or a URL; an https URL is verified against `ca`.
    pub fn new(
        file: Option<PathBuf>,
        url: Option<&str>,
        ca: Option<PathBuf>,
    ) -> Result<Self, KeysError> {
        let url = match url {
            None => None,
            Some(url) => {
                let uri: Uri = url.parse().map_err(|_| KeysError::Fetch {
                    url: url.into(),
                    message: "not a URL".into(),
                })?;
                let mut roots = rustls::RootCertStore::empty();
                if let Some(ca) = &ca {
                    let pem = std::fs::read(ca).map_err(|source| KeysError::Read {
                        path: ca.clone(),
                        source,
                    })?;
                    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem).flatten() {
                        roots.add(cert).map_err(|_| KeysError::Ca(ca.clone()))?;
                    }
                }
                let tls = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_or_http()
                    .enable_http1()
                    .build();
                Some((uri, Client::builder(TokioExecutor::new()).build(connector)))
            }
        };
        Ok(KeySources { file, url })
    }

    /// Loads every source and merges their keys.
    pub async fn load(&self) -> Result<KeySet, KeysError> {
        let mut merged = JwkSet::default();
        if let Some(path) = &self.file {
            let text = tokio::fs::read(path)
                .await
                .map_err(|source| KeysError::Read {
                    path: path.clone(),
                    source,
                })?;
            merge(&mut merged, parse(&path.display().to_string(), &text)?)?;
        }
        if let Some((uri, client)) = &self.url {
            let body = fetch(client, uri).await?;
            merge(&mut merged, parse(&uri.to_string(), &body)?)?;
        }
        let keys = KeySet::from_jwks(&merged).map_err(|e| KeysError::Parse {
            origin: "JWKS".into(),
            message: e.to_string(),
        })?;
        if keys.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(keys)
    }
}

fn parse(origin: &str, bytes: &[u8]) -> Result<JwkSet, KeysError> {
    serde_json::from_slice(bytes).map_err(|e| KeysError::Parse {
        origin: origin.into(),
        message: e.to_string(),
    })
}

fn merge(into: &mut JwkSet, from: JwkSet) -> Result<(), KeysError> {
    for key in from.keys {
        match into.keys.iter().find(|k| k.kid == key.kid) {
            Some(existing) if existing.x == key.x => {}
            Some(_) => return Err(KeysError::Conflict(key.kid)),
            None => into.keys.push(key),
        }
    }
    Ok(())
}

async fn fetch(client: &HttpsClient, uri: &Uri) -> Result<Bytes, KeysError> {
    let err = |message: String| KeysError::Fetch {
        url: uri.to_string(),
        message,
    };
    let request = Request::get(uri.clone())
        .body(Empty::new())
        .map_err(|e| err(e.to_string()))?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| err("timed out after 10s".into()))?
        .map_err(|e| err(e.to_string()))?;
    if !response.status().is_success() {
        return Err(err(format!("answered {}", response.status())));
    }
    let body = Limited::new(response.into_body(), 1024 * 1024)
        .collect()
        .await
        .map_err(|e| err(e.to_string()))?;
    Ok(body.to_bytes())
}

//! Serving TLS for `kubenova-proxy` and `kubenova-control`: h2 and http/1.1 by ALPN, with the
//! certificate and key re-read when their files change, so a certificate renewed by
//! cert-manager or re-signed by the Helm chart (the kubelet updates the mounted Secret) is served
//! without a restart. A broken new pair keeps the old one in service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

/// Why the serving certificate could not be loaded. Each says which file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}; check the path and that this process may read it")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate, or a broken one.
    #[error(
        "{path}: {why}; it must hold the PEM certificate chain, the server's certificate first"
    )]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The key file holds no usable PEM private key.
    #[error(
        "{path}: {why}; it must hold the PEM private key (PKCS#8, PKCS#1 or SEC1) of the certificate"
    )]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The key is not the certificate's.
    #[error(
        "the key in {key} does not belong to the certificate in {cert}: {why}; give the pair issued together"
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls says.
        why: String,
    },
    /// rustls refused the configuration (the crypto provider lacks the protocol versions).
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Serves the current certificate; [`ReloadingCert::reload_if_changed`] swaps it.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Option<SystemTime>, Arc<CertifiedKey>)>,
}

impl ReloadingCert {
    /// Loads the certificate chain and key now (an error stops the program at start-up).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ReloadingCert>, TlsError> {
        let loaded = load(cert, key)?;
        Ok(Arc::new(ReloadingCert {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new((modified(cert, key), Arc::new(loaded))),
        }))
    }

    /// Re-reads the files if they changed. A broken new pair keeps the old one in service.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let mtime = modified(&self.cert, &self.key);
        if self.current.read().unwrap_or_else(|p| p.into_inner()).0 == mtime {
            return Ok(false);
        }
        let loaded = load(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (mtime, Arc::new(loaded));
        Ok(true)
    }

    /// Checks the files every `every` until `shutdown`, logging what changed.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(cert = %self.cert.display(), "serving certificate reloaded")
                }
                Ok(false) => {}
                Err(e) => tracing::error!("serving certificate: {e}; keeping the previous one"),
            }
        }
    }

    /// A rustls server configuration serving the current pair, h2 and http/1.1 by ALPN.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .1
                .clone(),
        )
    }
}

/// The process's crypto provider, else ring (the one both binaries install).
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The later of the two files' modification times.
fn modified(cert: &Path, key: &Path) -> Option<SystemTime> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    time(cert).max(time(key))
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.into(),
            source,
        })
    };
    let bad_cert = |why: String| TlsError::Certificate {
        path: cert.into(),
        why,
    };
    let bad_key = |why: String| TlsError::Key {
        path: key.into(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| bad_cert(e.to_string()))?;
    if chain.is_empty() {
        return Err(bad_cert("no certificate".into()));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| bad_key(e.to_string()))?;
    let signing = provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| bad_key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert.into(),
        key: key.into(),
        why: e.to_string(),
    })?;
    Ok(certified)
}

#[cfg(test)]
mod tests;

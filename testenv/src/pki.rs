//! The environment's certificate authority and the certificates and keys made from it.
//!
//! Every component trusts one CA generated per environment: the apiserver's serving certificate,
//! the client certificates of the admin and of each controller, kwok's kubelet server and
//! Capsule's webhook server all come from it. Files are written next to the logs so a developer
//! can point `curl` or `openssl` at them.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::{Error, Result};

/// A certificate and its private key, in PEM, with the paths they were written to.
#[derive(Debug, Clone)]
pub struct CertPair {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Where the certificate was written.
    pub cert_path: PathBuf,
    /// Where the private key was written.
    pub key_path: PathBuf,
}

/// The environment's CA: signs serving and client certificates.
pub struct Pki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    ca: CertPair,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn pki_err(what: &str, e: rcgen::Error) -> Error {
    Error::Pki(format!("{what}: {e}"))
}

impl Pki {
    /// Creates a new CA and writes `ca.crt`/`ca.key` into `dir`.
    pub fn new(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| pki_err("CA parameters", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "kubenova-testenv-ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(|e| pki_err("CA key", e))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| pki_err("self-signing the CA", e))?;
        let ca = write_pair(dir, "ca", cert.pem(), key.serialize_pem())?;
        Ok(Pki {
            dir: dir.to_owned(),
            issuer: Issuer::new(params, key),
            ca,
        })
    }

    /// The CA certificate and key.
    pub fn ca(&self) -> &CertPair {
        &self.ca
    }

    /// Issues a serving certificate for the given DNS names and IP addresses.
    pub fn serving(&self, name: &str, sans: &[&str]) -> Result<CertPair> {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map_err(|e| pki_err("serving certificate parameters", e))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        self.sign(name, &params)
    }

    /// Issues a client certificate: Kubernetes reads the user from the CN and the groups from
    /// the organisations.
    pub fn client(&self, file_name: &str, user: &str, groups: &[&str]) -> Result<CertPair> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| pki_err("client certificate parameters", e))?;
        params.distinguished_name.push(DnType::CommonName, user);
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(file_name, &params)
    }

    /// A bare key pair (the ServiceAccount token signing key): `<name>.key` and `<name>.pub`.
    pub fn key_pair(&self, name: &str) -> Result<(PathBuf, PathBuf)> {
        let key = KeyPair::generate().map_err(|e| pki_err("key pair", e))?;
        let private = self.dir.join(format!("{name}.key"));
        let public = self.dir.join(format!("{name}.pub"));
        write_file(&private, &key.serialize_pem())?;
        write_file(&public, &key.public_key_pem())?;
        Ok((private, public))
    }

    fn sign(&self, file_name: &str, params: &CertificateParams) -> Result<CertPair> {
        let key = KeyPair::generate().map_err(|e| pki_err("leaf key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| pki_err("signing a certificate", e))?;
        write_pair(&self.dir, file_name, cert.pem(), key.serialize_pem())
    }
}

fn write_pair(dir: &Path, name: &str, cert_pem: String, key_pem: String) -> Result<CertPair> {
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    write_file(&cert_path, &cert_pem)?;
    write_file(&key_path, &key_pem)?;
    Ok(CertPair {
        cert_pem,
        key_pem,
        cert_path,
        key_path,
    })
}

pub(crate) fn write_file(path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents).map_err(|e| Error::io(path, e))
}

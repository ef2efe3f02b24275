//! Writing kubeconfig files for the environment's identities.
//!
//! Written as JSON (which every kubeconfig reader accepts as YAML) with the credentials embedded,
//! so a file can be copied elsewhere and still work.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::Result;
use crate::pki::write_file;

/// How a kubeconfig user authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// A client certificate and its key, PEM.
    ClientCert {
        /// Certificate PEM.
        cert_pem: &'a str,
        /// Private key PEM.
        key_pem: &'a str,
    },
    /// A bearer token.
    Token(&'a str),
}

/// Renders a kubeconfig with one cluster, one user and one current context named `name`.
pub fn render(name: &str, server: &str, ca_pem: &str, credential: Credential<'_>) -> String {
    let user = match credential {
        Credential::ClientCert { cert_pem, key_pem } => json!({
            "client-certificate-data": STANDARD.encode(cert_pem),
            "client-key-data": STANDARD.encode(key_pem),
        }),
        Credential::Token(token) => json!({ "token": token }),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": name,
            "cluster": {
                "server": server,
                "certificate-authority-data": STANDARD.encode(ca_pem),
            },
        }],
        "users": [{ "name": name, "user": user }],
        "contexts": [{ "name": name, "context": { "cluster": name, "user": name } }],
        "current-context": name,
    });
    // Serialising a `Value` built from string literals and strings cannot fail.
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// Renders a kubeconfig and writes it to `path`.
pub fn write(
    path: &Path,
    name: &str,
    server: &str,
    ca_pem: &str,
    credential: Credential<'_>,
) -> Result<()> {
    write_file(path, &render(name, server, ca_pem, credential))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_kubeconfig_points_at_the_server_and_embeds_the_ca() {
        let text = render(
            "dev",
            "https://127.0.0.1:6443",
            "PEM",
            Credential::Token("t0k"),
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            STANDARD.encode("PEM")
        );
        assert_eq!(v["users"][0]["user"]["token"], "t0k");
        assert_eq!(v["current-context"], "dev");
    }
}

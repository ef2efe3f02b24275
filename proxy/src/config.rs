//! Configuration from flags and environment, validated as a whole: every problem is reported at
//! once, so an operator fixes a broken deployment in one round.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Where the proxy forwards to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Straight to kube-apiserver; the proxy filters namespace lists itself.
    Direct,
    /// To capsule-proxy, which filters namespace lists, `-A` lists and the cluster-scoped kinds
    /// it knows for tenant owners (docs/adr/0012-capsule-proxy-mode.md).
    CapsuleProxy,
}

/// `kubenova-proxy` flags. Every flag can also be set through the environment variable named
/// in its help.
#[derive(Debug, Clone, Parser)]
#[command(version, about = "KubeNova's authenticating Kubernetes API proxy")]
pub struct Config {
    /// Address to serve kubectl on (TLS).
    #[arg(long, env = "KUBENOVA_PROXY_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Address for /healthz, /readyz and /metrics (plain HTTP).
    #[arg(
        long,
        env = "KUBENOVA_PROXY_METRICS_LISTEN",
        default_value = "0.0.0.0:9090"
    )]
    pub metrics_listen: SocketAddr,
    /// Serving certificate (PEM); reloaded when it changes.
    #[arg(long, env = "KUBENOVA_PROXY_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// Serving key (PEM); reloaded when it changes.
    #[arg(long, env = "KUBENOVA_PROXY_TLS_KEY")]
    pub tls_key: PathBuf,
    /// Upstream mode.
    #[arg(
        long,
        env = "KUBENOVA_PROXY_MODE",
        value_enum,
        default_value = "direct"
    )]
    pub mode: Mode,
    /// In capsule-proxy mode: the header capsule-proxy reads forwarded client certificates from
    /// (its `--xfcc-header-name`). A client request carrying it is refused, like one carrying
    /// `Impersonate-*`.
    #[arg(
        long,
        env = "KUBENOVA_PROXY_CAPSULE_PROXY_XFCC_HEADER",
        default_value = "X-Forwarded-Client-Cert"
    )]
    pub capsule_proxy_xfcc_header: String,
    /// URL of kube-apiserver (direct mode) or capsule-proxy (capsule-proxy mode).
    #[arg(long, env = "KUBENOVA_PROXY_UPSTREAM")]
    pub upstream: String,
    /// CA bundle (PEM) that signed the upstream's serving certificate.
    #[arg(long, env = "KUBENOVA_PROXY_UPSTREAM_CA")]
    pub upstream_ca: PathBuf,
    /// The proxy's own bearer token file (a projected ServiceAccount token); re-read when it
    /// changes.
    #[arg(long, env = "KUBENOVA_PROXY_UPSTREAM_TOKEN_FILE")]
    pub upstream_token_file: PathBuf,
    /// The token issuer (`iss`) accepted: control's URL.
    #[arg(long, env = "KUBENOVA_PROXY_ISSUER")]
    pub issuer: String,
    /// A JWKS document (file) with the verification keys; re-read when it changes.
    #[arg(long, env = "KUBENOVA_PROXY_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL (control's `/.well-known/jwks.json`), fetched periodically.
    #[arg(long, env = "KUBENOVA_PROXY_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// CA bundle (PEM) for an https `--jwks-url`.
    #[arg(long, env = "KUBENOVA_PROXY_JWKS_CA")]
    pub jwks_ca: Option<PathBuf>,
    /// The cluster name tokens must carry in `cluster` (when they carry one).
    #[arg(long, env = "KUBENOVA_PROXY_CLUSTER")]
    pub cluster: Option<String>,
    /// Namespace holding the revocation ConfigMaps.
    #[arg(
        long,
        env = "KUBENOVA_PROXY_NAMESPACE",
        default_value = "kubenova-system"
    )]
    pub namespace: String,
    /// Clock skew tolerated on `exp`/`nbf`/`iat` (whole seconds): an expired token is refused
    /// this long after its `exp` at the latest.
    #[arg(long, env = "KUBENOVA_PROXY_CLOCK_SKEW", value_parser = parse_duration, default_value = "5s")]
    pub clock_skew: Duration,
    /// How often key files and the JWKS URL are checked for changes.
    #[arg(long, env = "KUBENOVA_PROXY_RELOAD_INTERVAL", value_parser = parse_duration, default_value = "10s")]
    pub reload_interval: Duration,
    /// Largest request body accepted for non-streaming requests.
    #[arg(long, env = "KUBENOVA_PROXY_MAX_BODY_BYTES", default_value_t = 3 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest total size of request headers.
    #[arg(long, env = "KUBENOVA_PROXY_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Grace period for in-flight requests on shutdown (watches and exec sessions are cut after it).
    #[arg(long, env = "KUBENOVA_PROXY_SHUTDOWN_GRACE", value_parser = parse_duration, default_value = "20s")]
    pub shutdown_grace: Duration,
}

/// Parses `500ms`, `30s`, `5m`, `1h` or a plain number of seconds (the workspace's one
/// duration parser).
pub use kubenova_api::duration::parse as parse_duration;

impl Config {
    /// Every problem with the configuration, in one list (empty when it is usable).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (flag, path) in [
            ("--tls-cert", &self.tls_cert),
            ("--tls-key", &self.tls_key),
            ("--upstream-ca", &self.upstream_ca),
            ("--upstream-token-file", &self.upstream_token_file),
        ] {
            if !path.is_file() {
                problems.push(format!("{flag}: {} is not a readable file", path.display()));
            }
        }
        if let Some(path) = &self.jwks_file
            && !path.is_file()
        {
            problems.push(format!(
                "--jwks-file: {} is not a readable file",
                path.display()
            ));
        }
        if self.jwks_file.is_none() && self.jwks_url.is_none() {
            problems.push(
                "no verification keys: set --jwks-file and/or --jwks-url (control's /.well-known/jwks.json)"
                    .into(),
            );
        }
        if let Some(url) = &self.jwks_url
            && !url.starts_with("https://")
            && !url.starts_with("http://127.0.0.1")
            && !url.starts_with("http://localhost")
        {
            problems.push(format!(
                "--jwks-url: {url} must be https:// (plain http only on loopback)"
            ));
        }
        if let Some(url) = &self.jwks_url
            && url.starts_with("https://")
            && self.jwks_ca.is_none()
        {
            problems.push(
                "--jwks-url is https: also set --jwks-ca (the CA of control's certificate)".into(),
            );
        }
        match self.upstream.parse::<http::Uri>() {
            Ok(uri) if uri.scheme_str() == Some("https") && uri.host().is_some() => {
                if uri.path() != "/" && !uri.path().is_empty() {
                    problems.push(format!(
                        "--upstream: {} must not have a path",
                        self.upstream
                    ));
                }
            }
            _ => problems.push(format!(
                "--upstream: `{}` is not an https:// URL with a host",
                self.upstream
            )),
        }
        if self.issuer.trim().is_empty() {
            problems.push("--issuer: must not be empty (control's URL)".into());
        }
        if self.listen == self.metrics_listen {
            problems.push("--listen and --metrics-listen must differ".into());
        }
        if http::HeaderName::from_bytes(self.capsule_proxy_xfcc_header.as_bytes()).is_err() {
            problems.push(format!(
                "--capsule-proxy-xfcc-header: `{}` is not a header name",
                self.capsule_proxy_xfcc_header
            ));
        }
        if self.clock_skew.subsec_nanos() != 0 {
            problems.push(format!(
                "--clock-skew: {:?} is not a whole number of seconds",
                self.clock_skew
            ));
        }
        if self.max_body_bytes == 0 {
            problems.push("--max-body-bytes must be greater than 0".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn clock_skew_defaults_to_five_seconds() {
        let base = [
            "kubenova-proxy",
            "--tls-cert=c",
            "--tls-key=k",
            "--upstream=https://a",
            "--upstream-ca=ca",
            "--upstream-token-file=t",
            "--issuer=https://i",
        ];
        let config = Config::try_parse_from(base).expect("flags parse");
        assert_eq!(config.clock_skew, Duration::from_secs(5));
        let config = Config::try_parse_from(base.iter().copied().chain(["--clock-skew=2s"]))
            .expect("flags parse");
        assert_eq!(config.clock_skew, Duration::from_secs(2));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = Config::try_parse_from([
            "kubenova-proxy",
            "--tls-cert=/nonexistent/tls.crt",
            "--tls-key=/nonexistent/tls.key",
            "--upstream=http://apiserver",
            "--upstream-ca=/nonexistent/ca.crt",
            "--upstream-token-file=/nonexistent/token",
            "--issuer=",
            "--clock-skew=1500ms",
        ])
        .expect("flags parse");
        let problems = config.problems();
        for expected in [
            "--tls-cert",
            "--tls-key",
            "--upstream-ca",
            "--upstream-token-file",
            "no verification keys",
            "--upstream:",
            "--issuer",
            "--clock-skew",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected} missing from {problems:#?}"
            );
        }
    }
}

//! The command line of `kubenova-control`: its commands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "kubenova-control",
    version,
    about = "KubeNova's control plane: the REST API and the agent"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and, unless --no-agent, run the agent reconcilers.
    Serve(Box<ServeArgs>),
    /// Print a bootstrap API token (signed with the key in the management cluster's Secret).
    Token(TokenArgs),
    /// Print the OpenAPI document (YAML), as committed in docs/openapi/openapi.yaml.
    Openapi,
    /// Manage the signing keys.
    Keys(KeysArgs),
}

/// How to reach the management cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Kubeconfig of the management cluster (default: $KUBECONFIG, then in-cluster).
    #[arg(long, env = "KUBENOVA_CONTROL_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The management namespace: signing keys, encryption key, cluster kubeconfigs, tenant index.
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_NAMESPACE",
        default_value = "kubenova-system"
    )]
    pub namespace: String,
    /// The Secret in --namespace holding the signing keys (created on first start when missing).
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_SIGNING_KEYS_SECRET",
        default_value = "kubenova-signing-keys"
    )]
    pub signing_keys_secret: String,
}

/// `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Management cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Address to listen on.
    #[arg(long, env = "KUBENOVA_CONTROL_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// Serving certificate (PEM); with --tls-key, serve HTTPS.
    #[arg(long, env = "KUBENOVA_CONTROL_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long, env = "KUBENOVA_CONTROL_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// This control plane's public URL: the `iss` of every token (proxies are configured with it).
    #[arg(long, env = "KUBENOVA_CONTROL_ISSUER")]
    pub issuer: Option<String>,
    /// File with the base64 of 32 random bytes that encrypts cluster kubeconfigs (default: the
    /// Secret kubenova-encryption-key, created on first start).
    #[arg(long, env = "KUBENOVA_CONTROL_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// Kubeconfig token lifetime when a request names none.
    #[arg(long, env = "KUBENOVA_CONTROL_KUBECONFIG_TTL", default_value = "8h")]
    pub kubeconfig_ttl: String,
    /// Longest kubeconfig token lifetime.
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_MAX_KUBECONFIG_TTL",
        default_value = "24h"
    )]
    pub max_kubeconfig_ttl: String,
    /// API token lifetime when a request names none.
    #[arg(long, env = "KUBENOVA_CONTROL_API_TOKEN_TTL", default_value = "1h")]
    pub api_token_ttl: String,
    /// Longest API token lifetime.
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_MAX_API_TOKEN_TTL",
        default_value = "30d"
    )]
    pub max_api_token_ttl: String,
    /// Lifetime of a sign-in through an identity provider (the person's session: the API
    /// token `POST /api/v1/login/oidc` gives) when the request names none.
    #[arg(long, env = "KUBENOVA_CONTROL_SESSION_TTL", default_value = "12h")]
    pub session_ttl: String,
    /// Lifetime of the short-lived proxy tokens `kubenova credential` (the exec plugin of
    /// `mode=exec` kubeconfigs) gets from a session.
    #[arg(long, env = "KUBENOVA_CONTROL_CREDENTIAL_TTL", default_value = "5m")]
    pub credential_ttl: String,
    /// Sustained requests per second per principal.
    #[arg(long, env = "KUBENOVA_CONTROL_RATE_LIMIT", default_value_t = 20.0)]
    pub rate_limit: f64,
    /// Burst per principal.
    #[arg(long, env = "KUBENOVA_CONTROL_RATE_BURST", default_value_t = 100.0)]
    pub rate_burst: f64,
    /// Clock skew tolerated on API tokens' `exp`/`nbf`/`iat`: an expired token is refused this
    /// long after its `exp` at the latest.
    #[arg(long, env = "KUBENOVA_CONTROL_CLOCK_SKEW", default_value = "5s")]
    pub clock_skew: String,
    /// Longest time one request may take.
    #[arg(long, env = "KUBENOVA_CONTROL_REQUEST_TIMEOUT", default_value = "30s")]
    pub request_timeout: String,
    /// How long a signing key signs before the next one takes over (`0`: rotate only by hand
    /// with `keys rotate`). An old key stays in the JWKS until every token it signed has expired
    /// (the longest token lifetime plus --clock-skew), then it is retired.
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_KEY_ROTATION_PERIOD",
        default_value = "30d"
    )]
    pub key_rotation_period: String,
    /// How long a new signing key is published in the JWKS before tokens are signed with it;
    /// longer than the proxies' --reload-interval plus 10 s (control replicas' refresh).
    #[arg(long, env = "KUBENOVA_CONTROL_KEY_PUBLISH_DELAY", default_value = "1m")]
    pub key_publish_delay: String,
    /// KubeVela trait types apps may pass through (comma-separated; KubeNova sets `scaler` and
    /// `gateway` itself).
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_APP_TRAITS",
        value_delimiter = ',',
        default_value = "labels,annotations,resource,command,sidecar,init-container"
    )]
    pub app_traits: Vec<String>,
    /// KubeVela policy types apps may pass through (comma-separated; none by default).
    #[arg(long, env = "KUBENOVA_CONTROL_APP_POLICIES", value_delimiter = ',')]
    pub app_policies: Vec<String>,
    /// Chart repository hosts allowed although they are loopback, private, link-local or
    /// in-cluster names (`host` or `host:port`, comma-separated; none by default). The API's
    /// own address and the apiserver's stay refused.
    #[arg(long, env = "KUBENOVA_CONTROL_APP_CHART_HOSTS", value_delimiter = ',')]
    pub app_chart_hosts: Vec<String>,
    /// Allow `http://` chart repositories and plain-HTTP (`insecure`) OCI registries.
    #[arg(long, env = "KUBENOVA_CONTROL_APP_CHART_PLAIN_HTTP")]
    pub app_chart_plain_http: bool,
    /// More hosts (`host` or `host:port`) that are never a chart repository, besides this API
    /// (--issuer, --listen) and the management apiserver: e.g. the workload clusters'
    /// apiservers and proxies.
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_APP_CHART_DENIED_HOSTS",
        value_delimiter = ','
    )]
    pub app_chart_denied_hosts: Vec<String>,
    /// How long an app's delivery may stay blocked by an error Flux or KubeVela reports (a chart
    /// that cannot be found, credentials refused) before the app's phase is `failed`.
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_APP_DELIVERY_TIMEOUT",
        default_value = "10m"
    )]
    pub app_delivery_timeout: String,
    /// Where audit lines go: `-` for stdout, or a file (appended).
    #[arg(long, env = "KUBENOVA_CONTROL_AUDIT_LOG", default_value = "-")]
    pub audit_log: String,
    /// How many of its latest audit events each replica keeps readable for admins
    /// (`GET /api/v1/audit`, the UI's audit page), in a ConfigMap of its own in the management
    /// namespace; 0 keeps none (the endpoint then answers KN-501). At most 2000.
    #[arg(long, env = "KUBENOVA_CONTROL_AUDIT_EVENTS", default_value_t = 1000)]
    pub audit_events: usize,
    /// How long a replica's readable audit events stay after it last wrote them (a replica that
    /// is gone); then any replica deletes them.
    #[arg(long, env = "KUBENOVA_CONTROL_AUDIT_RETENTION", default_value = "7d")]
    pub audit_retention: String,
    /// The identity providers people may sign in through (`POST /api/v1/login/oidc`): a YAML
    /// file of issuers and their group-to-role mapping (docs/identity.md). None by default.
    #[arg(long, env = "KUBENOVA_CONTROL_OIDC_CONFIG")]
    pub oidc_config: Option<std::path::PathBuf>,
    /// Do not run the agent reconcilers in this process.
    #[arg(long, env = "KUBENOVA_CONTROL_NO_AGENT")]
    pub no_agent: bool,
    /// Leader election for the agent (off only for single-replica setups and tests).
    #[arg(long, env = "KUBENOVA_CONTROL_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// This replica's identity in the agent's Lease and its audit ring (default: host name and
    /// pid).
    #[arg(long, env = "KUBENOVA_CONTROL_IDENTITY")]
    pub identity: Option<String>,
    /// On start, when the Secret of this name does not exist in --namespace, mint a platform
    /// admin token (subject `bootstrap-admin`) and write it there (`token`, `jti`). Off unless set.
    #[arg(long, env = "KUBENOVA_CONTROL_BOOTSTRAP_ADMIN_SECRET")]
    pub bootstrap_admin_secret: Option<String>,
    /// Lifetime of that token.
    #[arg(
        long,
        env = "KUBENOVA_CONTROL_BOOTSTRAP_ADMIN_TTL",
        default_value = "24h"
    )]
    pub bootstrap_admin_ttl: String,
}

/// `token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Management cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Mint a platform admin token (the only kind this command mints).
    #[arg(long)]
    pub admin: bool,
    /// The issuer (must equal serve's --issuer).
    #[arg(long, env = "KUBENOVA_CONTROL_ISSUER")]
    pub issuer: String,
    /// The subject.
    #[arg(long, default_value = "bootstrap-admin")]
    pub subject: String,
    /// Lifetime.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
}

/// `keys`.
#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    /// Management cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// `keys` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum KeysAction {
    /// Add a new key and sign with it from now on (old keys stay valid until retired).
    Rotate,
    /// Remove a key once no unexpired token signed with it remains.
    Retire {
        /// The key id.
        #[arg(long)]
        kid: String,
        /// Remove it even though unexpired tokens still use it (they stop working).
        #[arg(long)]
        force: bool,
    },
    /// List the live keys and the active one.
    List,
}

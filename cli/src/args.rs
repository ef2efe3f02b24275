//! The command line (clap derive). docs/cli.md is generated from these definitions
//! (`kubenova reference`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// KubeNova from a terminal: tenants, projects, apps, tokens and kubeconfigs.
#[derive(Debug, Parser)]
#[command(
    name = "kubenova",
    version,
    propagate_version = true,
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 unauthorized or forbidden, 5 conflict.\nStart with `kubenova login --server URL`."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone)]
pub(crate) struct Global {
    /// The context of the config file to use (default: its current context).
    #[arg(long, global = true, env = "KUBENOVA_CONTEXT")]
    pub(crate) context: Option<String>,
    /// The API server's URL (`login`: the server to log in to; otherwise overrides the context's).
    #[arg(long, global = true, env = "KUBENOVA_SERVER")]
    pub(crate) server: Option<String>,
    /// The API token (`login`: the token to store; otherwise overrides the context's).
    #[arg(long, global = true, env = "KUBENOVA_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// A PEM file with the CA that signed the server's certificate.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) certificate_authority: Option<PathBuf>,
    /// Do not verify the server's certificate (testing only).
    #[arg(long, global = true)]
    pub(crate) insecure_skip_tls_verify: bool,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value = "table")]
    pub(crate) output: Format,
    /// Tables without the header line.
    #[arg(long, global = true)]
    pub(crate) no_headers: bool,
    /// The workload cluster (default: the context's, else found from the tenant).
    #[arg(long, global = true, env = "KUBENOVA_CLUSTER")]
    pub(crate) cluster: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Verify a token against a server and save them as a context (nothing is written if the
    /// server refuses the token).
    Login(Login),
    /// List, switch and delete contexts.
    #[command(subcommand)]
    Context(ContextCmd),
    /// Who the current token belongs to: subject, roles, scope, expiry.
    Whoami,
    /// The client's and the server's versions.
    Version,
    /// Whether the server is up (`/healthz`) or ready (`--ready`, `/readyz`).
    Health {
        /// Ask `/readyz` (the management cluster answers).
        #[arg(long)]
        ready: bool,
    },
    /// The server's public documents: the OpenAPI document, the signing keys, the metrics.
    #[command(subcommand)]
    Server(ServerCmd),
    /// Workload clusters (admin, ops).
    #[command(subcommand, visible_alias = "clusters")]
    Cluster(ClusterCmd),
    /// Tenants: owners, quotas, limits, network policies, usage.
    #[command(subcommand, visible_alias = "tenants")]
    Tenant(TenantCmd),
    /// Projects: access, usage.
    #[command(subcommand, visible_alias = "projects")]
    Project(ProjectCmd),
    /// Apps: an image or a Helm chart in a project.
    #[command(subcommand, visible_alias = "apps")]
    App(AppCmd),
    /// API tokens: mint, list, revoke.
    #[command(subcommand, visible_alias = "tokens")]
    Token(TokenCmd),
    /// Kubeconfigs for kubectl: print, save, or merge into ~/.kube/config.
    #[command(subcommand)]
    Kubeconfig(KubeconfigCmd),
    /// The recent audit events of every control replica, newest first (admin).
    Audit(AuditArgs),
    /// The exec plugin of `kubeconfig ... --exec` kubeconfigs (kubectl runs it): prints a
    /// client-go ExecCredential with a short-lived proxy token from your session, cached in
    /// $XDG_CACHE_HOME/kubenova until shortly before it expires.
    Credential(CredentialArgs),
    /// Revoke the context's token (your session, and every token it got: kubectl with an
    /// `--exec` kubeconfig stops within seconds), forget its cached credentials and delete the
    /// context.
    Logout,
    /// Shell completions.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (one per command) into a directory.
    Man {
        /// The directory.
        #[arg(long, default_value = "man")]
        dir: PathBuf,
    },
    /// Print the command reference (docs/cli.md) as Markdown.
    #[command(hide = true)]
    Reference,
}

/// `audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only events of this subject.
    #[arg(long)]
    pub(crate) actor: Option<String>,
    /// Only events about this tenant.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// `success` or `failure`.
    #[arg(long)]
    pub(crate) outcome: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// The most events (default 100, at most 1000).
    #[arg(long)]
    pub(crate) limit: Option<i64>,
}

/// `credential`.
#[derive(Debug, Args)]
pub(crate) struct CredentialArgs {
    /// The tenant.
    #[arg(long)]
    pub(crate) tenant: String,
    /// The project (a project credential).
    #[arg(long)]
    pub(crate) project: Option<String>,
    /// The role: tenantOwner or readOnly (tenant); projectDev or readOnly (project).
    #[arg(long)]
    pub(crate) role: Option<String>,
}

/// `login`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("identity").args(["id_token_stdin", "oidc", "device"])))]
pub(crate) struct Login {
    /// Read the token from standard input.
    #[arg(long, conflicts_with = "token")]
    pub(crate) token_stdin: bool,
    /// Read an identity provider's ID token from standard input and exchange it for an API
    /// token (`POST /api/v1/login/oidc`; docs/identity.md), e.g. a CI system's OIDC token.
    #[arg(long, conflicts_with_all = ["token", "token_stdin"])]
    pub(crate) id_token_stdin: bool,
    /// Sign in through the server's identity provider in a browser: the authorization-code
    /// flow with PKCE, redirected to this machine (http://127.0.0.1:<port>/callback).
    #[arg(long, conflicts_with_all = ["token", "token_stdin"])]
    pub(crate) oidc: bool,
    /// Sign in through the server's identity provider with the device flow (for machines
    /// without a browser): open the URL shown on any device and enter the code.
    #[arg(long, conflicts_with_all = ["token", "token_stdin"])]
    pub(crate) device: bool,
    /// With `--oidc` or `--device`: the provider's name, when the server trusts several.
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// With `--oidc`: print the sign-in URL only, do not open a browser.
    #[arg(long, requires = "oidc")]
    pub(crate) no_browser: bool,
    /// A PEM file with the CA that signed the identity provider's certificate (default: the
    /// public roots).
    #[arg(long, value_name = "FILE")]
    pub(crate) provider_ca: Option<PathBuf>,
    /// How long to wait for the sign-in in the browser or on the other device.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub(crate) timeout: std::time::Duration,
    /// With an identity provider: the tenant to sign in to, when your groups give several.
    #[arg(long, requires = "identity")]
    pub(crate) tenant: Option<String>,
    /// With an identity provider and `--tenant`: the project.
    #[arg(long, requires = "tenant")]
    pub(crate) project: Option<String>,
    /// List the identity providers the server trusts (`GET /api/v1/login/oidc`) and stop.
    #[arg(long, conflicts_with_all = ["token", "token_stdin", "id_token_stdin", "oidc", "device"])]
    pub(crate) list_providers: bool,
    /// The context's name (default: the server's host and port).
    #[arg(long)]
    pub(crate) name: Option<String>,
}

/// `context`.
#[derive(Debug, Subcommand)]
pub(crate) enum ContextCmd {
    /// List the contexts (`*` marks the current one).
    List,
    /// Make a context the current one.
    Use {
        /// The context.
        name: String,
    },
    /// Delete a context (and its token) from the config file.
    Delete {
        /// The context.
        name: String,
    },
    /// Print the current context's name.
    Current,
    /// Set the context's default cluster.
    SetCluster {
        /// The cluster.
        cluster: String,
    },
}

/// `server`.
#[derive(Debug, Subcommand)]
pub(crate) enum ServerCmd {
    /// The OpenAPI document the server serves.
    Openapi,
    /// The public keys tokens are signed with (JWKS).
    Jwks,
    /// The server's Prometheus metrics.
    Metrics,
}

/// A JSON or YAML file (`-` for standard input).
#[derive(Debug, Args, Clone)]
pub(crate) struct FileArg {
    /// A JSON or YAML file with the request body (`-` reads standard input).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

/// `--wait`.
#[derive(Debug, Args, Clone)]
pub(crate) struct WaitArg {
    /// Wait until it is ready (or failed), showing progress.
    #[arg(long)]
    pub(crate) wait: bool,
    /// How long `--wait` waits (`90s`, `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub(crate) timeout: std::time::Duration,
}

/// Parses `90`, `90s`, `5m`, `1h`, `1d`.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 5m, 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// `clusters`.
#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCmd {
    /// List registered clusters.
    List,
    /// One cluster, its conditions checked live.
    Get {
        /// The cluster.
        name: String,
    },
    /// Register a cluster from a file (name, kubeconfig, proxyUrl, proxyCa; docs/examples/cluster.json).
    Create {
        #[command(flatten)]
        file: FileArg,
    },
    /// Unregister a cluster.
    Delete {
        /// The cluster.
        name: String,
    },
    /// The admin kubeconfig stored for a cluster (admin only).
    Kubeconfig {
        /// The cluster.
        name: String,
    },
}

/// `key=value` pairs.
pub(crate) fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Fields of a tenant or project given as flags.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct MetaArgs {
    /// A label of its namespaces (repeat: `--label team=web`).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) labels: Vec<(String, String)>,
    /// An annotation of its namespaces (repeat).
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) annotations: Vec<(String, String)>,
}

/// `tenants`.
#[derive(Debug, Subcommand)]
pub(crate) enum TenantCmd {
    /// List tenants: of every cluster, or of `--cluster`.
    List,
    /// One tenant.
    Get {
        /// The tenant.
        name: String,
    },
    /// Create a tenant in `--cluster` (flags, or a whole TenantInput with -f).
    Create {
        /// The tenant (unique across clusters).
        name: Option<String>,
        /// An owner (repeat).
        #[arg(long = "owner")]
        owners: Vec<String>,
        /// A display name.
        #[arg(long)]
        display_name: Option<String>,
        /// A host its Ingresses may use (repeat; `*.acme.example.com` for every name below).
        #[arg(long = "ingress-host")]
        ingress_hosts: Vec<String>,
        /// A quota entry (repeat: `--quota cpu=8 --quota pods=50`).
        #[arg(long = "quota", value_name = "KEY=VALUE", value_parser = parse_pair)]
        quota: Vec<(String, String)>,
        #[command(flatten)]
        meta: MetaArgs,
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Replace a tenant's settings with a file (TenantSettings: every setting at once).
    Update {
        /// The tenant.
        name: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// Delete a tenant (refused while it has projects).
    Delete {
        /// The tenant.
        name: String,
    },
    /// Replace a tenant's owners.
    Owners {
        /// The tenant.
        name: String,
        /// An owner (repeat).
        #[arg(long = "owner", required = true)]
        owners: Vec<String>,
    },
    /// Replace a tenant's quota (flags or -f).
    Quota {
        /// The tenant.
        name: String,
        /// A quota entry (repeat: `cpu=8`, `memory=16Gi`, `pods=50`, `namespaces=5`, `storage=100Gi`).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_pair)]
        set: Vec<(String, String)>,
        #[command(flatten)]
        file: FileArg,
    },
    /// Replace a tenant's default container limits (flags or -f).
    Limits {
        /// The tenant.
        name: String,
        /// A limit (repeat: `defaultCpuRequest=100m`, `defaultMemoryLimit=512Mi`).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_pair)]
        set: Vec<(String, String)>,
        #[command(flatten)]
        file: FileArg,
    },
    /// Replace a tenant's network policy settings (-f; `{}` restores the default).
    NetworkPolicies {
        /// The tenant.
        name: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// A tenant's resource usage, per project.
    Usage {
        /// The tenant.
        name: String,
    },
}

/// The tenant a project lives in.
#[derive(Debug, Args, Clone)]
pub(crate) struct TenantScope {
    /// The tenant (default: the token's).
    #[arg(short = 't', long, env = "KUBENOVA_TENANT")]
    pub(crate) tenant: Option<String>,
}

/// The project an app lives in.
#[derive(Debug, Args, Clone)]
pub(crate) struct ProjectScope {
    /// The tenant (default: the token's).
    #[arg(short = 't', long, env = "KUBENOVA_TENANT")]
    pub(crate) tenant: Option<String>,
    /// The project (default: the token's).
    #[arg(short = 'p', long, env = "KUBENOVA_PROJECT")]
    pub(crate) project: Option<String>,
}

/// `projects`.
#[derive(Debug, Subcommand)]
pub(crate) enum ProjectCmd {
    /// List a tenant's projects.
    List {
        #[command(flatten)]
        scope: TenantScope,
    },
    /// One project.
    Get {
        /// The project.
        name: String,
        #[command(flatten)]
        scope: TenantScope,
    },
    /// Create a project (flags, or a whole ProjectInput with -f).
    Create {
        /// The project (its namespace is `<tenant>-<project>`).
        name: Option<String>,
        #[command(flatten)]
        scope: TenantScope,
        /// A developer (repeat).
        #[arg(long = "developer")]
        developers: Vec<String>,
        /// A reader (repeat).
        #[arg(long = "reader")]
        readers: Vec<String>,
        #[command(flatten)]
        meta: MetaArgs,
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Replace a project's settings with a file (ProjectSettings).
    Update {
        /// The project.
        name: String,
        #[command(flatten)]
        scope: TenantScope,
        #[command(flatten)]
        file: FileArg,
    },
    /// Delete a project (asynchronous: it stays visible while its apps and namespace go).
    Delete {
        /// The project.
        name: String,
        #[command(flatten)]
        scope: TenantScope,
    },
    /// Replace a project's developers and readers.
    Access {
        /// The project.
        name: String,
        #[command(flatten)]
        scope: TenantScope,
        /// A developer (repeat).
        #[arg(long = "developer")]
        developers: Vec<String>,
        /// A reader (repeat).
        #[arg(long = "reader")]
        readers: Vec<String>,
        #[command(flatten)]
        file: FileArg,
    },
    /// A project's resource usage.
    Usage {
        /// The project.
        name: String,
        #[command(flatten)]
        scope: TenantScope,
    },
}

/// An app from flags.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct AppFlags {
    /// A container image (`grafana/grafana`); with --tag.
    #[arg(long, conflicts_with = "chart")]
    pub(crate) image: Option<String>,
    /// The image's tag.
    #[arg(long, requires = "image")]
    pub(crate) tag: Option<String>,
    /// A port the container listens on (repeat).
    #[arg(long = "port", requires = "image")]
    pub(crate) ports: Vec<u16>,
    /// Replicas.
    #[arg(long, requires = "image")]
    pub(crate) replicas: Option<u32>,
    /// An environment variable (repeat: `--env GF_LOG_LEVEL=debug`).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_pair, requires = "image")]
    pub(crate) env: Vec<(String, String)>,
    /// A Helm chart's name; with --repo and --version.
    #[arg(long)]
    pub(crate) chart: Option<String>,
    /// The chart repository (`https://...` or `oci://...`).
    #[arg(long, requires = "chart")]
    pub(crate) repo: Option<String>,
    /// The chart's version.
    #[arg(long = "chart-version", requires = "chart")]
    pub(crate) chart_version: Option<String>,
    /// Chart values (a JSON or YAML file).
    #[arg(long, requires = "chart", value_name = "FILE")]
    pub(crate) values: Option<PathBuf>,
}

/// `apps`.
#[derive(Debug, Subcommand)]
pub(crate) enum AppCmd {
    /// List a project's apps.
    List {
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// One app: spec and status.
    Get {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// Create an app from flags (--image or --chart) or a file (-f app.json|yaml).
    Create {
        /// The app (default: `name` in the file).
        name: Option<String>,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        flags: AppFlags,
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Replace an app's spec with a file (-f; kind image/helm cannot change).
    #[command(visible_alias = "edit")]
    Update {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Change an image app's tag (and image).
    SetImage {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        /// The new tag.
        #[arg(long, required = true)]
        tag: String,
        /// A new image.
        #[arg(long)]
        image: Option<String>,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Deliver the app again as a new revision.
    Deploy {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// The app's revisions.
    Revisions {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// Go back to a revision (default: the one before the current).
    Rollback {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        /// The revision (`<app>-v<N>` or `N`).
        #[arg(long)]
        revision: Option<String>,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Stop the app's pods (its objects stay).
    Suspend {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Start a suspended app again.
    Resume {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// The app's pod logs, `[pod] line` per line.
    Logs {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        /// Keep streaming new lines.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Lines from the end of each pod's log (server default 100).
        #[arg(long)]
        tail: Option<i64>,
        /// Only this component's pods.
        #[arg(long)]
        component: Option<String>,
    },
    /// Phase, revision, last error, components, conditions and pods.
    Status {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// Delete the app and what was made for it.
    Delete {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
    },
    /// Replace the app's KubeVela traits (-f with `{"traits": [...]}`).
    Traits {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        file: FileArg,
    },
    /// Replace the app's KubeVela policies (-f with `{"policies": [...]}`).
    Policies {
        /// The app.
        name: String,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        file: FileArg,
    },
    /// Run an action by the API's `<app>:<action>` form (deploy, suspend, resume, rollback, image-update, ...).
    Action {
        /// The app.
        name: String,
        /// The action.
        action: String,
        #[command(flatten)]
        scope: ProjectScope,
        #[command(flatten)]
        file: FileArg,
    },
}

/// `tokens`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Mint an API token (printed once).
    Create {
        /// Who it is for.
        #[arg(long, required = true)]
        subject: String,
        /// A role (repeat): admin, ops, tenantOwner, projectDev, readOnly.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The tenant it is scoped to.
        #[arg(long)]
        tenant: Option<String>,
        /// The project it is scoped to (with --tenant).
        #[arg(long, requires = "tenant")]
        project: Option<String>,
        /// Its lifetime (`1h`, `30d`).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<std::time::Duration>,
    },
    /// Tokens issued in your scope.
    List,
    /// Revoke a token and everything it issued.
    Revoke {
        /// The token's id (jti).
        jti: String,
    },
}

/// Where a kubeconfig goes.
#[derive(Debug, Args, Clone)]
pub(crate) struct KubeconfigOut {
    /// Who it is for (default: you).
    #[arg(long, conflicts_with = "exec")]
    pub(crate) subject: Option<String>,
    /// A kubeconfig that never expires on its own: its user runs `kubenova credential` (a
    /// client-go exec plugin) for short-lived tokens from your session, with this context.
    #[arg(long)]
    pub(crate) exec: bool,
    /// The role: tenantOwner or readOnly (tenant); projectDev or readOnly (project).
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// Its lifetime (`8h`).
    #[arg(long, value_parser = parse_duration, conflicts_with = "exec")]
    pub(crate) ttl: Option<std::time::Duration>,
    /// Write it to this file (mode 0600) instead of printing it.
    #[arg(long = "file", value_name = "FILE", conflicts_with = "merge")]
    pub(crate) file: Option<PathBuf>,
    /// Merge its context into $KUBECONFIG (its first file) or ~/.kube/config, leaving the other entries alone.
    #[arg(long)]
    pub(crate) merge: bool,
    /// With --merge: make it kubectl's current context.
    #[arg(long = "use", requires = "merge")]
    pub(crate) use_context: bool,
}

/// `kubeconfig`.
#[derive(Debug, Subcommand)]
pub(crate) enum KubeconfigCmd {
    /// A tenant kubeconfig (tenantOwner or readOnly).
    Tenant {
        /// The tenant.
        name: String,
        #[command(flatten)]
        out: KubeconfigOut,
    },
    /// A project kubeconfig (projectDev or readOnly), its namespace the default.
    Project {
        /// The project.
        name: String,
        #[command(flatten)]
        scope: TenantScope,
        #[command(flatten)]
        out: KubeconfigOut,
    },
}

//! The `kubenova-control` commands: `serve` (the API and, unless `--no-agent`, the agent),
//! `token --admin` (a bootstrap admin API token), `openapi`, and `keys rotate|retire`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, CustomResourceExt};
use kubenova_api::Role;
use kubenova_api::crd::{Cluster, IssuedToken, TokenKind};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use kubenova_agent::{self as agent, Agent};
use kubenova_control::rest::{self, clusters::FIELD_MANAGER};
use kubenova_control::services::audit::Audit;
use kubenova_control::services::audit::ring::Ring;
use kubenova_control::services::keys::rotation::Rotation;
use kubenova_control::services::keys::{self, Cipher, KeyStore};
use kubenova_control::services::state::{AppState, Settings};
use kubenova_tls::ReloadingCert;

mod bootstrap;
mod cli;
mod connections;
pub use cli::*;
use connections::serve_connections;

/// Parses `90s`, `15m`, `8h`, `30d` (the workspace's one duration parser).
pub use kubenova_api::duration::parse as parse_duration;

/// Checks `serve`'s arguments and reports every problem at once.
pub fn settings(args: &ServeArgs) -> Result<(Settings, SocketAddr), String> {
    let mut errors = Vec::new();
    let mut duration = |flag: &str, value: &str| match parse_duration(value) {
        Ok(d) => d,
        Err(e) => {
            errors.push(format!("--{flag}: {e}"));
            Duration::ZERO
        }
    };
    let kubeconfig_ttl = duration("kubeconfig-ttl", &args.kubeconfig_ttl);
    let max_kubeconfig_ttl = duration("max-kubeconfig-ttl", &args.max_kubeconfig_ttl);
    let api_token_ttl = duration("api-token-ttl", &args.api_token_ttl);
    let max_api_token_ttl = duration("max-api-token-ttl", &args.max_api_token_ttl);
    let session_ttl = duration("session-ttl", &args.session_ttl);
    let credential_ttl = duration("credential-ttl", &args.credential_ttl);
    let request_timeout = duration("request-timeout", &args.request_timeout);
    let clock_skew = duration("clock-skew", &args.clock_skew);
    let rotation_period = duration("key-rotation-period", &args.key_rotation_period);
    let publish_delay = duration("key-publish-delay", &args.key_publish_delay);
    if kubeconfig_ttl > max_kubeconfig_ttl {
        errors.push("--kubeconfig-ttl is longer than --max-kubeconfig-ttl".into());
    }
    if api_token_ttl > max_api_token_ttl {
        errors.push("--api-token-ttl is longer than --max-api-token-ttl".into());
    }
    // Every token a key signed has expired this long after the key stopped signing.
    let keep_for = max_kubeconfig_ttl.max(max_api_token_ttl) + clock_skew;
    let key_rotation = if rotation_period.is_zero() {
        None
    } else {
        keys::rotation::Policy::new(rotation_period, publish_delay, keep_for)
            .map_err(|e| errors.push(e))
            .ok()
    };
    if session_ttl > max_api_token_ttl {
        errors.push("--session-ttl is longer than --max-api-token-ttl".into());
    }
    if credential_ttl > max_kubeconfig_ttl {
        errors.push("--credential-ttl is longer than --max-kubeconfig-ttl".into());
    }
    if credential_ttl < Duration::from_secs(10) && parse_duration(&args.credential_ttl).is_ok() {
        errors.push(
            "--credential-ttl must be at least 10s (kubectl would ask for a token on every call)"
                .into(),
        );
    }
    if request_timeout.is_zero() && parse_duration(&args.request_timeout).is_ok() {
        errors.push("--request-timeout must be more than 0".into());
    }
    let listen = args.listen.parse::<SocketAddr>().unwrap_or_else(|e| {
        errors.push(format!(
            "--listen: `{}` is not an address like 0.0.0.0:8080 ({e})",
            args.listen
        ));
        SocketAddr::from(([0, 0, 0, 0], 0))
    });
    match &args.issuer {
        None => errors.push("--issuer is required: control's public URL, e.g. https://kubenova.example.com (the proxies' --issuer)".into()),
        Some(i) if !(i.starts_with("https://") || i.starts_with("http://")) => {
            errors.push(format!("--issuer: `{i}` must be a URL"));
        }
        Some(_) => {}
    }
    if args.tls_cert.is_some() != args.tls_key.is_some() {
        errors.push("--tls-cert and --tls-key go together".into());
    }
    for (flag, path) in [
        ("tls-cert", &args.tls_cert),
        ("tls-key", &args.tls_key),
        ("encryption-key-file", &args.encryption_key_file),
    ] {
        if let Some(p) = path
            && !p.is_file()
        {
            errors.push(format!("--{flag}: {} does not exist", p.display()));
        }
    }
    if args.rate_limit.is_nan()
        || args.rate_limit <= 0.0
        || args.rate_burst.is_nan()
        || args.rate_burst < 1.0
    {
        errors.push("--rate-limit must be > 0 and --rate-burst >= 1".into());
    }
    if let Err(e) =
        kubenova_api::names::validate_dns1123_label("--namespace", &args.cluster.namespace)
    {
        errors.push(e.to_string());
    }
    let oidc = match &args.oidc_config {
        None => None,
        Some(path) => match kubenova_control::services::oidc::OidcConfig::load(path)
            .and_then(kubenova_control::services::oidc::Oidc::new)
        {
            Ok(oidc) => Some(oidc),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(format!(
            "{} configuration problem(s):\n  - {}",
            errors.len(),
            errors.join("\n  - ")
        ));
    }
    Ok((
        Settings {
            namespace: args.cluster.namespace.clone(),
            issuer: args.issuer.clone().unwrap_or_default(),
            kubeconfig_ttl,
            max_kubeconfig_ttl,
            api_token_ttl,
            max_api_token_ttl,
            session_ttl,
            credential_ttl,
            rate_per_second: args.rate_limit,
            rate_burst: args.rate_burst,
            request_timeout,
            clock_skew,
            app_allowed: kubenova_api::apps::request::Allowed {
                traits: args
                    .app_traits
                    .iter()
                    .filter(|t| !t.is_empty())
                    .cloned()
                    .collect(),
                policies: args
                    .app_policies
                    .iter()
                    .filter(|t| !t.is_empty())
                    .cloned()
                    .collect(),
                chart_sources: chart_sources(args, &listen),
            },
            oidc,
            key_rotation,
        },
        listen,
    ))
}

/// Where charts may come from: `--app-chart-*`, plus this API's own addresses (the issuer's host
/// and port, the listening port on loopback) and the management apiserver (added in `serve`)
/// as endpoints that are never a chart repository.
fn chart_sources(
    args: &ServeArgs,
    listen: &SocketAddr,
) -> kubenova_api::apps::request::ChartSources {
    let clean = |list: &[String]| -> std::collections::BTreeSet<String> {
        list.iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    };
    let mut denied = clean(&args.app_chart_denied_hosts);
    if let Some(issuer) = args.issuer.as_deref().and_then(url_endpoint) {
        denied.extend(issuer);
    }
    let port = listen.port();
    if listen.ip().is_unspecified() || listen.ip().is_loopback() {
        denied.extend([format!("127.0.0.1:{port}"), format!("[::1]:{port}")]);
    }
    denied.insert(format!(
        "{}:{port}",
        match listen.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    ));
    kubenova_api::apps::request::ChartSources {
        allowed_hosts: clean(&args.app_chart_hosts),
        plain_http: args.app_chart_plain_http,
        denied_endpoints: denied,
    }
}

/// `host:port` (and `host` alone when the port is the scheme's) of an http(s) URL.
fn url_endpoint(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, a)| a);
    let default = if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        443
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p))
            if !h.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() =>
        {
            (h.to_owned(), p.parse().ok()?)
        }
        _ => (authority.to_owned(), default),
    };
    if host.is_empty() {
        return None;
    }
    Some(vec![format!("{host}:{port}")])
}

/// The management apiserver's `host:port`, for [`chart_sources`].
async fn management_endpoint(args: &ClusterArgs) -> Option<String> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).ok()?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .ok()?
        }
        None => kube::Config::infer().await.ok()?,
    };
    url_endpoint(&config.cluster_url.to_string())?.pop()
}

/// The management cluster's client.
pub async fn management_client(args: &ClusterArgs) -> anyhow::Result<Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig and not in a cluster")?,
    };
    Ok(Client::try_from(config)?)
}

/// Installs the management CRDs (Cluster, IssuedToken) and the namespace, and waits until
/// they serve.
pub async fn prepare_management(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [Cluster::crd(), IssuedToken::crd()] {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("installing the CRD {name}"))?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(namespace).await?.is_none() {
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}}))?;
        match namespaces.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e).context("creating the management namespace"),
        }
    }
    for _ in 0..100 {
        let ready = Api::<Cluster>::all(client.clone())
            .list(&ListParams::default().limit(1))
            .await
            .is_ok()
            && Api::<IssuedToken>::all(client.clone())
                .list(&ListParams::default().limit(1))
                .await
                .is_ok();
        if ready {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the KubeNova CRDs did not become available within 10 s")
}

/// Applies what [`ClusterArgs`] names beyond the cluster: the signing-key Secret.
fn name_secrets(args: &ClusterArgs) {
    keys::use_signing_secret(&args.signing_keys_secret);
}

/// `kubenova-control token --admin`.
pub async fn token(args: TokenArgs) -> anyhow::Result<String> {
    name_secrets(&args.cluster);
    anyhow::ensure!(
        args.admin,
        "only --admin tokens are minted here; use POST /api/v1/tokens for others"
    );
    let ttl = parse_duration(&args.ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
    let client = management_client(&args.cluster).await?;
    prepare_management(&client, &args.cluster.namespace).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &args.cluster.namespace);
    let store = KeyStore::load_or_create(&secrets).await?;
    let (token, _) = rest::tokens::issue(
        &Api::all(client),
        &store,
        &args.issuer,
        rest::tokens::Issue {
            kind: TokenKind::Api,
            subject: args.subject,
            roles: vec![Role::Admin],
            tenant: None,
            project: None,
            cluster: None,
            ttl_seconds: ttl.as_secs(),
            issued_by: "kubenova-control token --admin".into(),
            issued_by_jti: None,
            not_after: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(token)
}

/// `kubenova-control keys ...`.
pub async fn keys_command(args: KeysArgs) -> anyhow::Result<String> {
    name_secrets(&args.cluster);
    let client = management_client(&args.cluster).await?;
    prepare_management(&client, &args.cluster.namespace).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &args.cluster.namespace);
    match args.action {
        KeysAction::Rotate => {
            let kid = keys::rotate(&secrets).await?;
            Ok(format!("new active key: {kid}\n"))
        }
        KeysAction::Retire { kid, force } => {
            keys::retire(&secrets, &Api::all(client), &kid, force).await?;
            Ok(format!("retired {kid}\n"))
        }
        KeysAction::List => {
            let store = KeyStore::load_or_create(&secrets).await?;
            let current = store.current();
            Ok(current
                .all
                .keys()
                .map(|kid| {
                    let mark = if kid == current.active.kid() {
                        " (active)"
                    } else {
                        ""
                    };
                    format!("{kid}{mark}\n")
                })
                .collect())
        }
    }
}

/// `kubenova-control serve`: runs until SIGTERM or SIGINT.
pub async fn serve(args: Box<ServeArgs>) -> anyhow::Result<()> {
    name_secrets(&args.cluster);
    let (mut settings, listen) = settings(&args).map_err(|e| anyhow::anyhow!(e))?;
    let client = management_client(&args.cluster).await?;
    if let Some(apiserver) = management_endpoint(&args.cluster).await {
        settings
            .app_allowed
            .chart_sources
            .denied_endpoints
            .insert(apiserver);
    }
    prepare_management(&client, &settings.namespace).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let keys = KeyStore::load_or_create(&secrets).await?;
    if let Some(name) = &args.bootstrap_admin_secret {
        let ttl = parse_duration(&args.bootstrap_admin_ttl)
            .map_err(|e| anyhow::anyhow!("--bootstrap-admin-ttl: {e}"))?;
        bootstrap::ensure(
            &secrets,
            &Api::all(client.clone()),
            &keys,
            &settings.issuer,
            name,
            ttl.as_secs(),
        )
        .await?;
    }
    let cipher = match &args.encryption_key_file {
        Some(path) => Cipher::from_file(path)?,
        None => Cipher::from_secret(&secrets).await?,
    };
    let audit = if args.audit_log == "-" {
        Audit::stdout()
    } else {
        Audit::file(std::path::Path::new(&args.audit_log))?
    };
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let audit_retention = kubenova_api::duration::parse(&args.audit_retention)
        .map_err(|e| anyhow::anyhow!("--audit-retention: {e}"))?;
    let ring = if args.audit_events == 0 {
        None
    } else {
        Some(std::sync::Arc::new(
            Ring::load(
                client.clone(),
                &settings.namespace,
                &identity,
                args.audit_events,
                audit_retention,
            )
            .await?,
        ))
    };
    let audit = match &ring {
        Some(ring) => audit.with_ring(ring.clone()),
        None => audit,
    };
    let app_delivery_timeout = kubenova_api::duration::parse(&args.app_delivery_timeout)
        .map_err(|e| anyhow::anyhow!("--app-delivery-timeout: {e}"))?;
    let shutdown = CancellationToken::new();
    let mut registry = Registry::default();
    let mut tasks = tokio::task::JoinSet::new();
    if !args.no_agent {
        let agent = Agent::new(
            client.clone(),
            agent::Config {
                leader_election: args.leader_election,
                app_delivery_timeout,
                ..agent::Config::new(settings.namespace.clone(), identity.clone())
            },
            &mut registry,
        );
        let token = shutdown.clone();
        tasks.spawn(async move {
            agent.run(token).await;
            Ok(())
        });
    }
    if let Some(policy) = settings.key_rotation {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "kubenova-control".into(),
                instance: Some(identity.clone()),
            },
        );
        let rotation = Rotation::new(
            secrets.clone(),
            Api::all(client.clone()),
            policy,
            recorder,
            &mut registry,
        );
        tasks.spawn(map_ok(rotation.run(shutdown.clone())));
    }
    tasks.spawn(map_ok(keys.clone().refresh(
        secrets,
        Duration::from_secs(10),
        shutdown.clone(),
    )));
    if let Some(ring) = ring {
        let token = shutdown.clone();
        tasks.spawn(async move {
            ring.run(token).await;
            Ok(())
        });
    }
    // The web UI signs people in at the identity providers themselves (PKCE in the browser): its
    // Content-Security-Policy lets it connect to their origins, and to nothing else.
    let provider_origins: Vec<String> = settings
        .oidc
        .iter()
        .flat_map(|oidc| oidc.issuers())
        .filter_map(|issuer| kubenova_control::ui::origin_of(&issuer.issuer_url))
        .collect();
    let state = AppState::new(settings, client, keys, cipher, audit, registry);
    let app = kubenova_control::ui::mount_with(rest::router(state), &provider_origins);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "kubenova-control serving");
    let token = shutdown.clone();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let reloading = ReloadingCert::load(cert, key)?;
            let config = reloading.server_config()?;
            tasks.spawn(map_ok(
                reloading.watch(Duration::from_secs(10), shutdown.clone()),
            ));
            Some(config)
        }
        _ => None,
    };
    tasks.spawn(serve_connections(listener, app, tls, token));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        _ = term.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
        Some(done) = tasks.join_next() => match done {
            Ok(Ok(())) => Err(anyhow::anyhow!("a component stopped unexpectedly")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::anyhow!("a component panicked: {e}")),
        },
    };
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    outcome
}

async fn map_ok(f: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    f.await;
    Ok(())
}

#[cfg(test)]
mod tests;

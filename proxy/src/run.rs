//! Wiring the proxy together from its configuration, and the background tasks that keep keys,
//! certificates, the upstream token, the namespace index and revocations current.

use std::sync::Arc;

use anyhow::Context as _;
use kubenova_api::Verifier;
use kubenova_api::claims::PROXY_AUDIENCE;
use tokio::net::TcpListener;

use crate::auth::{Authenticator, Revoked};
use crate::cluster::{ClusterView, watch_revocations};
use crate::config::Config;
use crate::handler::Proxy;
use crate::keys::KeySources;
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use crate::upstream::Upstream;
use kubenova_tls::ReloadingCert;

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// A client for the proxy's own reads (namespaces, discovery, revocations): the upstream URL,
/// CA and token file, with no impersonation.
fn own_client(config: &Config) -> anyhow::Result<kube::Client> {
    let ca = std::fs::read(&config.upstream_ca)
        .with_context(|| format!("reading {}", config.upstream_ca.display()))?;
    let mut kube_config = kube::Config::new(config.upstream.parse().context("--upstream")?);
    kube_config.root_cert = Some(
        rustls_pki_types::pem::PemObject::pem_slice_iter(&ca)
            .map(|c: Result<rustls_pki_types::CertificateDer<'static>, _>| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .context("--upstream-ca")?,
    );
    kube_config.auth_info.token_file = Some(config.upstream_token_file.display().to_string());
    Ok(kube::Client::try_from(kube_config)?)
}

/// Runs the proxy until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // One process-wide crypto provider, before any TLS is set up.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let problems = config.problems();
    if !problems.is_empty() {
        anyhow::bail!("invalid configuration:\n  - {}", problems.join("\n  - "));
    }
    let capsule_proxy = match config.mode {
        crate::config::Mode::Direct => None,
        crate::config::Mode::CapsuleProxy => Some(
            crate::capsule_proxy::CapsuleProxyMode::new(&config.capsule_proxy_xfcc_header)
                .context("--capsule-proxy-xfcc-header")?,
        ),
    };
    let upstream = Arc::new(Upstream::new(
        &config.upstream,
        &config.upstream_ca,
        &config.upstream_token_file,
    )?);
    let cert = ReloadingCert::load(&config.tls_cert, &config.tls_key)?;
    let tls = cert.server_config()?;
    let sources = KeySources::new(
        config.jwks_file.clone(),
        config.jwks_url.as_deref(),
        config.jwks_ca.clone(),
    )?;
    let keys = sources.load().await.context("loading verification keys")?;
    let revoked = Arc::new(Revoked::new());
    let verifier = Verifier::new(config.issuer.clone(), PROXY_AUDIENCE)
        .with_leeway(config.clock_skew.as_secs());
    let auth = Arc::new(Authenticator::new(
        verifier,
        keys,
        revoked.clone(),
        config.cluster.clone(),
    ));
    let client = own_client(&config)?;
    let view = ClusterView::start(client.clone())
        .await
        .context("reading namespaces and API discovery from the upstream")?;
    // Streams end when their token expires, at the same instant a new request is refused.
    let sessions = Arc::new(Sessions::new(revoked.clone(), config.clock_skew.as_secs()));
    tokio::spawn(watch_revocations(
        client,
        config.namespace.clone(),
        revoked,
        sessions.clone(),
    ));

    let metrics = Arc::new(Metrics::default());
    let proxy = Arc::new(Proxy {
        upstream: upstream.clone(),
        auth: auth.clone(),
        view: view.clone(),
        metrics: metrics.clone(),
        max_body_bytes: config.max_body_bytes,
        capsule_proxy,
        max_header_bytes: config.max_header_bytes,
        sessions: sessions.clone(),
    });

    spawn_reloads(&config, upstream, cert.clone(), auth, sources, view.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            sessions.sweep();
        }
    });
    let ready_view = view.clone();
    let ops = tokio::spawn(crate::server::serve_ops(
        config.metrics_listen,
        metrics,
        Arc::new(move || ready_view.ready()),
    ));
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        upstream = %config.upstream,
        mode = ?config.mode,
        "kubenova-proxy serving"
    );
    crate::server::serve(
        listener,
        tls,
        proxy,
        config.max_header_bytes,
        config.shutdown_grace,
        shutdown,
    )
    .await;
    ops.abort();
    Ok(())
}

fn spawn_reloads(
    config: &Config,
    upstream: Arc<Upstream>,
    cert: Arc<ReloadingCert>,
    auth: Arc<Authenticator>,
    sources: KeySources,
    view: ClusterView,
) {
    let every = config.reload_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = upstream.refresh_token() {
                tracing::warn!(error = %e, "re-reading the upstream token failed; keeping the old one");
            }
            match cert.reload_if_changed() {
                Ok(true) => tracing::info!("serving certificate reloaded"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "new serving certificate unusable; keeping the old one")
                }
            }
            match sources.load().await {
                Ok(keys) => auth.set_keys(keys),
                Err(e) => {
                    tracing::warn!(error = %e, "reloading verification keys failed; keeping the old ones")
                }
            }
            // Discovery runs again on its own when a request names a resource it has not seen
            // (handler::recheck_new_resource); this slow refresh also catches removed or
            // changed ones, without a burst of discovery requests every few seconds.
            if let Err(e) = view
                .refresh_discovery(std::time::Duration::from_secs(600))
                .await
            {
                tracing::warn!(error = %e, "API discovery failed");
            }
        }
    });
}

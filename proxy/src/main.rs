//! `kubenova-proxy`: see the library documentation and docs/proxy.md.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = kubenova_proxy::config::Config::parse();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .init();
    kubenova_proxy::run::run(config, kubenova_proxy::run::shutdown_signal()).await
}

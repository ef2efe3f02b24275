//! `kubenova-proxy`: see the library documentation and docs/proxy.md.

use std::time::Duration;

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = kubenova_proxy::config::Config::parse();
    // Log lines are written by a thread of their own (see `logging`), never on a request's path.
    let (writer, guard) = kubenova_proxy::logging::queued(std::io::stdout())?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .with_writer(writer)
        .init();
    let result = kubenova_proxy::run::run(config, kubenova_proxy::run::shutdown_signal()).await;
    guard.flush(Duration::from_secs(5));
    result
}

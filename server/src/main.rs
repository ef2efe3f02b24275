//! `kubenova-control`: the REST API and the agent (`serve`), bootstrap tokens (`token --admin`),
//! the OpenAPI document (`openapi`) and signing-key rotation (`keys`).

use clap::Parser as _;
use kubenova_server::serve::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube_client=warn".into()),
        )
        .with_writer(std::io::stderr)
        .json()
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Serve(args) => kubenova_server::serve::serve(args).await,
        Command::Token(args) => {
            let token = kubenova_server::serve::token(args).await?;
            println!("{token}");
            Ok(())
        }
        Command::Openapi => {
            print!("{}", kubenova_control::rest::openapi::yaml()?);
            Ok(())
        }
        Command::Keys(args) => {
            print!("{}", kubenova_server::serve::keys_command(args).await?);
            Ok(())
        }
    }
}

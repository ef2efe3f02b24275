//! `kubenova`: KubeNova's REST API from a terminal, as kubectl and gh users expect. See
//! docs/cli.md and ADR 0021.

mod api;
mod apps;
mod args;
mod commands;
mod config;
mod coverage;
mod credential;
mod kubeconfig;
mod oidc;
mod output;
mod reference;
mod wait;

use clap::Parser as _;

fn main() {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version (exit 0) and usage errors (exit 2) itself.
            e.exit();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            let text = e.render();
            let text = if output::color(std::io::IsTerminal::is_terminal(&std::io::stderr())) {
                text.replacen("error:", "\x1b[31merror:\x1b[0m", 1)
            } else {
                text
            };
            eprint!("{text}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

//! `zenzefi-worker`: the process that runs scheduled jobs next to the API.
//! For now it loads the configuration, reaches the same database and Redis
//! as the API, and waits for SIGINT/SIGTERM; the jobs of SPEC §9 come next.

use std::process::ExitCode;

use clap::Parser;
use zenzefi_bootstrap::{Infrastructure, Settings, init_tracing, install_crypto_provider};

#[derive(Parser)]
#[command(
    name = "zenzefi-worker",
    version,
    about = "Zenzefi Gateway background worker"
)]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    install_crypto_provider();
    Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("zenzefi-worker: {err}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&settings);
    if let Err(err) = Infrastructure::connect(&settings).await {
        tracing::error!("{err}");
        eprintln!("zenzefi-worker: {err}");
        return ExitCode::FAILURE;
    }
    tracing::info!("zenzefi-worker started; no jobs are scheduled yet");
    match shutdown_signal().await {
        Ok(()) => {
            tracing::info!("zenzefi-worker stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("zenzefi-worker: cannot listen for signals: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what orchestrators send).
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

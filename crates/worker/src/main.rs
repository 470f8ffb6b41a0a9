//! `zenzefi-worker`: runs the scheduled jobs next to the API,
//! on the same database and Redis, and serves its own `/metrics`.
//!
//! The worker never migrates: the API owns the schema (`database.auto_migrate`,
//! `zenzefi-api migrate`, or the `migration` binary). Start the worker after
//! the schema is up to date; until then its jobs fail (and say so).

mod jobs;
mod metrics;
mod schedule;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::builder::PossibleValue;
use clap::{Parser, Subcommand, ValueEnum};
use zenzefi_bootstrap::{Infrastructure, Settings, init_tracing, install_crypto_provider};
use zenzefi_domain::PortError;
use zenzefi_domain::ports::JobRuns;

use crate::jobs::{Job, Jobs};
use crate::metrics::MetricsServer;
use crate::schedule::Scheduled;

#[derive(Debug, Parser)]
#[command(
    name = "zenzefi-worker",
    version,
    about = "Zenzefi Gateway background worker"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Run the jobs on their schedules until SIGINT or SIGTERM (the default).
    Run,
    /// Run one job now, without waiting for its schedule, and exit: 0 when it
    /// succeeded, 1 when it failed.
    RunOnce {
        /// The job to run.
        job: Job,
    },
}

impl ValueEnum for Job {
    fn value_variants<'a>() -> &'a [Self] {
        Job::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    install_crypto_provider();
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => return fail(&err),
    };
    let _log_writer = init_tracing(&settings);
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(&settings).await,
        Command::RunOnce { job } => run_once(&settings, job).await,
    }
}

/// The worker's composition root, shared by both commands and the tests:
/// the jobs' use-cases and the occurrence claims, on the adapters the
/// settings choose.
struct Worker {
    jobs: Arc<Jobs>,
    claims: Arc<dyn JobRuns>,
}

async fn connect(settings: &Settings) -> Result<Worker, PortError> {
    let infra = Infrastructure::connect(settings).await?;
    Ok(Worker {
        jobs: Arc::new(Jobs::new(
            infra.session_service(settings),
            infra.maintenance_service(settings),
            infra.usage_rollup(settings),
        )),
        claims: infra.job_runs(),
    })
}

/// Each job with its schedule from the settings.
fn schedules(settings: &Settings) -> Result<Vec<Scheduled>, schedule::InvalidSchedule> {
    let worker = &settings.worker;
    [
        (
            Job::SessionCleanup,
            "worker.session_cleanup_cron",
            &worker.session_cleanup_cron,
        ),
        (
            Job::AuditRetention,
            "worker.audit_retention_cron",
            &worker.audit_retention_cron,
        ),
        (
            Job::PendingPaymentExpiry,
            "worker.pending_payment_expiry_cron",
            &worker.pending_payment_expiry_cron,
        ),
        (
            Job::UsageRollup,
            "worker.usage_rollup_cron",
            &worker.usage_rollup_cron,
        ),
    ]
    .into_iter()
    .map(|(job, key, cron)| Scheduled::parse(job, key, cron))
    .collect()
}

async fn run(settings: &Settings) -> ExitCode {
    let schedules = match schedules(settings) {
        Ok(schedules) => schedules,
        Err(err) => return fail(&err),
    };
    let metrics_bind: SocketAddr = match settings.worker.metrics_bind.parse() {
        Ok(addr) => addr,
        Err(_) => {
            return fail(&format!(
                "worker.metrics_bind {:?} is not an address:port",
                settings.worker.metrics_bind
            ));
        }
    };
    let signal = match shutdown_signal() {
        Ok(signal) => signal,
        Err(err) => return fail(&format!("cannot listen for signals: {err}")),
    };
    let recorder = match metrics::install_recorder() {
        Ok(recorder) => recorder,
        Err(err) => return fail(&format!("cannot set up metrics: {err}")),
    };
    let worker = match connect(settings).await {
        Ok(worker) => worker,
        Err(err) => return fail(&err),
    };
    let server = match MetricsServer::start(metrics_bind, recorder) {
        Ok(server) => server,
        Err(err) => return fail(&format!("cannot serve metrics on {metrics_bind}: {err}")),
    };
    tracing::info!(
        metrics = %format_args!("http://{}/metrics", server.local_addr()),
        "zenzefi-worker started"
    );

    let result = schedule::run_until(schedules, worker.jobs, worker.claims, signal).await;
    server.stop().await;
    match result {
        Ok(()) => {
            tracing::info!("zenzefi-worker stopped");
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

async fn run_once(settings: &Settings, job: Job) -> ExitCode {
    let worker = match connect(settings).await {
        Ok(worker) => worker,
        Err(err) => return fail(&err),
    };
    // `Jobs::run` has logged the outcome either way.
    match worker.jobs.run(job).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Logs `err` and also prints it, since logging may not be set up yet.
fn fail(err: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!("{err}");
    eprintln!("zenzefi-worker: {err}");
    ExitCode::FAILURE
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what orchestrators send).
/// SIGTERM is caught from here on, so one sent during start-up still stops
/// the worker cleanly instead of killing it.
fn shutdown_signal() -> std::io::Result<impl Future<Output = std::io::Result<()>> + Send> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            result = ctrl_c => result?,
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        ctrl_c.await?;
        tracing::info!("stopping: no new job runs; waiting for a running one to finish");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    #[test]
    fn no_command_means_run() {
        let cli = Cli::try_parse_from(["zenzefi-worker"]).unwrap();
        assert_eq!(cli.command, None);
        let cli = Cli::try_parse_from(["zenzefi-worker", "run"]).unwrap();
        assert_eq!(cli.command, Some(Command::Run));
    }

    #[test]
    fn run_once_takes_a_job_by_its_name() {
        let cli = Cli::try_parse_from(["zenzefi-worker", "run-once", "session_cleanup"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::RunOnce {
                job: Job::SessionCleanup
            })
        );
    }

    #[test]
    fn an_unknown_job_is_refused_with_the_known_ones_and_exit_code_2() {
        for name in ["session-cleanup", "Session_Cleanup", "nope"] {
            let err = Cli::try_parse_from(["zenzefi-worker", "run-once", name]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidValue, "{name}");
            assert_eq!(err.exit_code(), 2);
            let message = err.to_string();
            assert!(message.contains("session_cleanup"), "{message}");
        }
    }

    #[test]
    fn run_once_without_a_job_is_refused() {
        let err = Cli::try_parse_from(["zenzefi-worker", "run-once"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn the_default_settings_schedule_every_job() {
        let scheduled = schedules(&Settings::defaults()).unwrap();
        let jobs: Vec<Job> = scheduled.iter().map(|s| s.job).collect();
        assert_eq!(jobs, Job::ALL);
    }
}

//! The worker's job metrics, recorded through the `metrics`
//! facade and served as Prometheus text at `GET /metrics` on
//! `worker.metrics_bind` by a one-thread actix-web server.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

use crate::jobs::Job;

pub const JOB_RUNS_TOTAL: &str = "zenzefi_job_runs_total";
pub const JOB_DURATION_SECONDS: &str = "zenzefi_job_duration_seconds";
pub const JOB_LAST_SUCCESS_TIMESTAMP_SECONDS: &str = "zenzefi_job_last_success_timestamp_seconds";
pub const JOB_ITEMS_TOTAL: &str = "zenzefi_job_items_total";

/// From a quick sweep of an idle table to a long batched purge.
const DURATION_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];

/// Histograms are folded between scrapes; the exporter wants this done
/// regularly even when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How one scheduled occurrence ended on this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Another replica claimed the occurrence.
    Skipped,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Skipped];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The exporter configuration: real buckets for the duration histogram
/// (the exporter would render a summary otherwise).
fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(JOB_DURATION_SECONDS.to_owned()),
            DURATION_BUCKETS,
        )
        .expect("the bucket list is not empty")
}

/// Installs the process-wide recorder; only the first call can succeed.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = builder().install_recorder()?;
    describe();
    Ok(handle)
}

/// HELP lines, and every counter series at zero, so that a dashboard or an
/// alert sees a job before its first run.
fn describe() {
    describe_counter!(
        JOB_RUNS_TOTAL,
        "Scheduled job occurrences by outcome: success, failure, or skipped (run by another replica)."
    );
    describe_histogram!(
        JOB_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time a job run took on this replica."
    );
    describe_counter!(
        JOB_ITEMS_TOTAL,
        "Items a job handled: sessions closed, audit rows deleted, deposits canceled."
    );
    describe_gauge!(
        JOB_LAST_SUCCESS_TIMESTAMP_SECONDS,
        metrics::Unit::Seconds,
        "Unix time of the job's last successful run on this replica."
    );
    for job in Job::ALL {
        for outcome in Outcome::ALL {
            counter!(JOB_RUNS_TOTAL, "job" => job.name(), "outcome" => outcome.as_str())
                .increment(0);
        }
    }
}

/// Counts one occurrence; `elapsed` is how long the job ran, `None` when
/// it did not run here.
pub fn record_run(job: Job, outcome: Outcome, elapsed: Option<Duration>) {
    counter!(JOB_RUNS_TOTAL, "job" => job.name(), "outcome" => outcome.as_str()).increment(1);
    if let Some(elapsed) = elapsed {
        histogram!(JOB_DURATION_SECONDS, "job" => job.name()).record(elapsed.as_secs_f64());
    }
    if outcome == Outcome::Success {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        gauge!(JOB_LAST_SUCCESS_TIMESTAMP_SECONDS, "job" => job.name()).set(now.as_secs_f64());
    }
}

/// What a successful run changed (sessions closed, audit rows deleted,
/// deposits canceled), so that a stalled clean-up shows on a dashboard.
pub fn record_effect(job: Job, count: u64) {
    counter!(JOB_ITEMS_TOTAL, "job" => job.name()).increment(count);
}

/// The running `/metrics` server and its upkeep task.
pub struct MetricsServer {
    addr: SocketAddr,
    handle: ServerHandle,
    server: JoinHandle<io::Result<()>>,
    upkeep: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and serves `recorder` there.
    pub fn start(addr: SocketAddr, recorder: PrometheusHandle) -> io::Result<Self> {
        let data = web::Data::new(recorder.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/metrics", web::get().to(render))
        })
        .workers(1)
        // The worker owns SIGINT/SIGTERM and stops this server itself.
        .disable_signals()
        .bind(addr)?;
        let addr = server.addrs().first().copied().unwrap_or(addr);
        let server = server.run();
        let handle = server.handle();
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                every.tick().await;
                recorder.run_upkeep();
            }
        });
        Ok(Self {
            addr,
            handle,
            server: tokio::spawn(server),
            upkeep,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Finishes the scrape in progress, then stops.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.upkeep.abort();
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "metrics server stopped with an error"),
            Err(err) => tracing::warn!(error = %err, "metrics server task failed"),
        }
    }
}

async fn render(recorder: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(recorder.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_run_renders_all_three_metrics_in_prometheus_text() {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            record_run(
                Job::SessionCleanup,
                Outcome::Success,
                Some(Duration::from_millis(20)),
            );
            record_run(Job::SessionCleanup, Outcome::Skipped, None);
        });
        let text = handle.render();

        assert!(
            text.contains(r#"zenzefi_job_runs_total{job="session_cleanup",outcome="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"zenzefi_job_runs_total{job="session_cleanup",outcome="skipped"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"zenzefi_job_runs_total{job="session_cleanup",outcome="failure"} 0"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE zenzefi_job_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"zenzefi_job_duration_seconds_bucket{job="session_cleanup",le="0.05"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"zenzefi_job_duration_seconds_count{job="session_cleanup"} 1"#),
            "{text}"
        );
        let last_success = text
            .lines()
            .find(|line| {
                line.starts_with(
                    r#"zenzefi_job_last_success_timestamp_seconds{job="session_cleanup"}"#,
                )
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
            .expect("a last-success sample");
        assert!(last_success > 1.7e9, "{last_success}");
    }

    #[test]
    fn a_failed_run_leaves_the_last_success_unset() {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            record_run(
                Job::SessionCleanup,
                Outcome::Failure,
                Some(Duration::from_millis(3)),
            );
        });
        let text = handle.render();
        assert!(
            text.contains(r#"zenzefi_job_runs_total{job="session_cleanup",outcome="failure"} 1"#),
            "{text}"
        );
        assert!(
            !text.contains("zenzefi_job_last_success_timestamp_seconds{"),
            "{text}"
        );
    }
}

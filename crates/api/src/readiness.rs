//! This instance's own readiness, for a load balancer's
//! `GET /health/ready`. Unlike the shared, cached report of §10 it is fed by
//! what this instance sees: a request or flush that finds PostgreSQL or
//! Redis unavailable marks it not ready at once, and so does one of its own
//! quick probes; only the probes mark it ready again. Marking costs one
//! atomic swap, so the hot path can report without a lock or an allocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use futures::future::join_all;
use tokio::sync::Notify;
use zenzefi_domain::PortError;
use zenzefi_domain::ports::Probe;

use crate::error::ApiError;

/// How often the dependencies are probed while not ready: recovery shows
/// within a second.
const PROBE_WHILE_DOWN: Duration = Duration::from_millis(250);
/// How often while ready: an outage shows within a second even before a
/// request meets it (a request needing a new connection only fails after
/// `database.acquire_timeout_secs`). Two cheap round trips a second.
const PROBE_WHILE_UP: Duration = Duration::from_millis(500);
/// A probe slower than this counts as a failure, so that a probe stuck on
/// a dead connection cannot hold readiness back for a pool timeout.
const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

pub struct Readiness {
    ready: AtomicBool,
    /// Wakes the probe loop early when a failure is reported.
    failed: Notify,
    /// PostgreSQL, and Redis when configured.
    probes: Vec<Arc<dyn Probe>>,
}

impl Readiness {
    pub fn new(probes: Vec<Arc<dyn Probe>>) -> Self {
        Self {
            ready: AtomicBool::new(true),
            failed: Notify::new(),
            probes,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Takes note of what a dependency answered; only an outage counts.
    pub fn observe(&self, err: &PortError) {
        if matches!(err, PortError::Unavailable(_)) {
            self.mark_down();
        }
    }

    fn mark_down(&self) {
        if self.ready.swap(false, Ordering::Relaxed) {
            tracing::warn!("a dependency is unavailable: /health/ready answers 503");
            self.failed.notify_one();
        }
    }

    /// Probes every dependency, briefly: ready when all answer.
    pub async fn probe(&self) {
        let outcomes = join_all(
            self.probes
                .iter()
                .map(|p| tokio::time::timeout(PROBE_TIMEOUT, p.probe())),
        )
        .await;
        if outcomes.iter().all(|o| matches!(o, Ok(Ok(())))) {
            if !self.ready.swap(true, Ordering::Relaxed) {
                tracing::info!("dependencies answer again: /health/ready answers 200");
            }
        } else {
            self.mark_down();
        }
    }

    /// Probes fast while not ready, slowly while ready, and at once when a
    /// failure is reported.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let period = if self.is_ready() {
                    PROBE_WHILE_UP
                } else {
                    PROBE_WHILE_DOWN
                };
                tokio::select! {
                    () = tokio::time::sleep(period) => {}
                    () = self.failed.notified() => {}
                }
                self.probe().await;
            }
        })
    }
}

/// Feeds readiness from a response that a dependency outage produced (the
/// `service_unavailable` problem of [`ApiError`]). Other responses cost a
/// status comparison.
pub fn observe_response<B>(res: &ServiceResponse<B>) {
    if res.status() != StatusCode::SERVICE_UNAVAILABLE {
        return;
    }
    let outage = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .is_some_and(ApiError::is_dependency_outage);
    if outage && let Some(readiness) = res.request().app_data::<web::Data<Readiness>>() {
        readiness.mark_down();
    }
}

#[cfg(test)]
mod tests {
    use actix_web::HttpResponse;
    use actix_web::test::TestRequest;
    use async_trait::async_trait;

    use super::*;

    /// Answers after `delay`: up or refused.
    struct FakeProbe {
        delay: Duration,
        up: bool,
    }

    #[async_trait]
    impl Probe for FakeProbe {
        async fn probe(&self) -> Result<(), PortError> {
            tokio::time::sleep(self.delay).await;
            if self.up {
                Ok(())
            } else {
                Err(PortError::unavailable("refused"))
            }
        }
    }

    fn readiness(probes: &[(u64, bool)]) -> Readiness {
        Readiness::new(
            probes
                .iter()
                .map(|&(ms, up)| {
                    Arc::new(FakeProbe {
                        delay: Duration::from_millis(ms),
                        up,
                    }) as Arc<dyn Probe>
                })
                .collect(),
        )
    }

    /// A response as the middleware sees it, from an app serving `readiness`.
    fn response(readiness: &Arc<Readiness>, answer: HttpResponse) -> ServiceResponse {
        let req = TestRequest::default()
            .app_data(web::Data::from(readiness.clone()))
            .to_http_request();
        ServiceResponse::new(req, answer)
    }

    #[tokio::test]
    async fn a_dependency_outage_answered_to_a_client_marks_it_not_ready() {
        let r = Arc::new(readiness(&[]));
        let refused = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down");
        observe_response(&response(&r, HttpResponse::from_error(refused)));
        // A 503 of its own making, such as /health's, is no outage.
        observe_response(&response(&r, HttpResponse::ServiceUnavailable().finish()));
        assert!(r.is_ready());

        let outage = ApiError::from(PortError::unavailable("pool timed out"));
        observe_response(&response(&r, HttpResponse::from_error(outage)));
        assert!(!r.is_ready());
    }

    #[tokio::test]
    async fn only_an_outage_marks_the_instance_not_ready() {
        let r = readiness(&[(0, true)]);
        r.observe(&PortError::unexpected("a bad row"));
        assert!(r.is_ready());
        r.observe(&PortError::unavailable("pool timed out"));
        assert!(!r.is_ready());
    }

    #[tokio::test]
    async fn the_instance_is_ready_again_when_every_probe_answers() {
        let r = readiness(&[(0, true), (0, true)]);
        r.observe(&PortError::unavailable("refused"));
        r.probe().await;
        assert!(r.is_ready());
    }

    #[tokio::test]
    async fn one_failing_or_slow_probe_keeps_it_not_ready() {
        for probes in [[(0, true), (0, false)], [(0, true), (600, true)]] {
            let r = readiness(&probes);
            r.probe().await;
            assert!(!r.is_ready(), "{probes:?}");
        }
    }
}

//! The composition root: adapters in, a running HTTP server out. `main` and
//! the black-box tests both build the application through here.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::ResponseError;
use actix_web::dev::{Server, ServerHandle};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{Compress, ErrorHandlerResponse, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use zenzefi_bootstrap::{
    Infrastructure, Settings, SettingsError, connect_flusher_database, per_core_unless_set,
};
use zenzefi_domain::PortError;
use zenzefi_domain::admission::ProxyAdmission;
use zenzefi_domain::health::HealthChecker;
use zenzefi_domain::quotas::Quotas;
use zenzefi_domain::usage::{UsageRecorder, UsageService};

use crate::body_deadline;
use crate::console;
use crate::error::ApiError;
use crate::extract::{Forwarding, json_config, path_config, query_config};
use crate::health::HealthMonitor;
use crate::jwt::JwtCodec;
use crate::metrics::{self, MetricsEndpoint};
use crate::openapi::{Document, Limits};
use crate::proxy::{self, InFlight, Proxy};
use crate::quota_rounds;
use crate::rate_limit;
use crate::readiness::Readiness;
use crate::request_id;
use crate::routes;
use crate::session_flusher::{RunningFlusher, SessionFlusher};
use crate::state::AppState;
use crate::upstream::{Upstream, UpstreamConfigError, UpstreamProbe};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not reach a dependency: {0}")]
    Dependency(#[from] PortError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Upstream(#[from] UpstreamConfigError),
    #[error("could not bind {bind}: {source}")]
    Bind {
        bind: String,
        #[source]
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Server,
    health_task: tokio::task::JoinHandle<()>,
    gauges_task: tokio::task::JoinHandle<()>,
    readiness_task: tokio::task::JoinHandle<()>,
    quota_task: Option<tokio::task::JoinHandle<()>>,
    in_flight_task: tokio::task::JoinHandle<()>,
    flusher: RunningFlusher,
    shutdown_timeout: Duration,
}

impl Application {
    /// Connects the adapters the settings name, migrates when
    /// `database.auto_migrate`, runs a first health check and binds.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let infra = Infrastructure::connect(settings).await?;
        if settings.database.auto_migrate {
            infra.database.migrate().await?;
        }
        Self::build_with(settings, infra).await
    }

    /// Like [`Application::build`] on adapters the caller connected.
    pub async fn build_with(
        settings: &Settings,
        mut infra: Infrastructure,
    ) -> Result<Self, StartupError> {
        let recorder = metrics::recorder();
        infra.database.observe_queries(metrics::db_query);
        let auth = infra.auth_service(settings)?;
        let upstream = Upstream::new(&settings.upstream, None)?;
        let upstream_probe = UpstreamProbe::new(
            upstream.clone(),
            Duration::from_secs(settings.upstream.connect_timeout_secs.max(1)),
        );
        let health = Arc::new(HealthMonitor::new(
            HealthChecker::new(
                infra.database_probe(),
                infra.redis_probe(),
                Arc::new(upstream_probe),
                infra.clock.clone(),
            ),
            infra.health_cache(),
            infra.clock.clone(),
            Duration::from_secs(settings.health.interval_secs),
            Duration::from_secs(settings.health.ttl_secs),
        ));
        health.refresh().await;
        let health_task = health.clone().spawn();

        let gauges_task = metrics::spawn_refresher(
            infra.db(),
            infra.clock.clone(),
            health.clone(),
            recorder.clone(),
            Duration::from_millis(settings.metrics.gauge_refresh_ms.max(1)),
        );
        let metrics_endpoint = web::Data::new(MetricsEndpoint {
            recorder,
            bearer_token: settings.metrics.bearer_token.clone(),
        });

        let readiness = Arc::new(Readiness::new(
            std::iter::once(infra.database_probe())
                .chain(infra.redis_probe())
                .collect(),
        ));
        let readiness_task = readiness.clone().spawn();

        let sessions = Arc::new(infra.session_service(settings));
        let mut flush_db = connect_flusher_database(settings).await?;
        flush_db.observe_queries(metrics::db_query);
        let usage = Arc::new(UsageRecorder::new(infra.clock.clone()));
        let flusher = SessionFlusher::new(
            sessions.clone(),
            usage.clone(),
            Arc::new(flush_db),
            readiness.clone(),
        )
        .spawn(Duration::from_millis(
            settings.sessions.flush_interval_ms.max(1),
        ));
        let tokens = Arc::new(infra.token_service(settings)?);
        let quotas = Arc::new(Quotas::default());
        let quota_task = match infra.quota_sync() {
            Some(sync) => Some(
                quota_rounds::spawn(
                    quotas.clone(),
                    sync,
                    Duration::from_millis(settings.rate_limit.sync_interval_ms.max(1)),
                )
                .await,
            ),
            None => None,
        };
        let admission = Arc::new(ProxyAdmission::new(
            tokens.clone(),
            sessions.clone(),
            usage,
            quotas.clone(),
            settings.rate_limit.proxy_per_minute,
        ));
        let in_flight = InFlight::new(
            settings.proxy.max_in_flight_per_token,
            settings.proxy.max_in_flight,
        );
        let in_flight_task = in_flight.clone().spawn_watch(admission.clone());
        let state = web::Data::new(AppState {
            auth,
            sessions: sessions.clone(),
            usage: UsageService::new(infra.db()),
            currency: infra.currency_service(settings)?,
            admin: infra.admin_service(tokens.clone()),
            tokens,
            jwt: JwtCodec::new(
                settings.auth.jwt_secret.expose().as_bytes(),
                settings.jwt_ttl(),
            ),
            clock: infra.clock.clone(),
            health,
            forwarding: {
                let (proto, host) = settings.public_origin()?;
                Forwarding::new(settings.trusted_proxies()?, proto, host)
            },
            public_url: settings.server.public_url.trim_end_matches('/').to_owned(),
            webhook_secret: settings.payments.webhook_secret.clone(),
            mock_gateway: settings.payments.mock_gateway,
            quotas,
            api_per_minute: settings.rate_limit.api_per_minute,
        });

        let document = web::Data::new(Document::new(&Limits {
            durations: state.tokens.pricing().durations(),
            max_balance: state.currency.balance_limit().max(),
        }));

        let listener =
            TcpListener::bind(&settings.server.bind).map_err(|source| StartupError::Bind {
                bind: settings.server.bind.clone(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                bind: settings.server.bind.clone(),
                source,
            })?
            .port();
        // One upstream client per HTTP worker: a pooled connection lives on
        // the runtime that opened it, so sharing one client across workers
        // would hop threads on every request.
        let workers = per_core_unless_set(settings.server.workers);
        let per_worker = match settings.upstream.pool_size {
            0 => None,
            n => Some(n.div_ceil(workers)),
        };
        let proxies = (0..workers)
            .map(|_| {
                Ok(web::Data::new(Proxy {
                    upstream: Upstream::new(&settings.upstream, per_worker)?,
                    admission: admission.clone(),
                    in_flight: in_flight.clone(),
                }))
            })
            .collect::<Result<Vec<_>, UpstreamConfigError>>()?;
        let next_proxy = Arc::new(AtomicUsize::new(0));
        let body_timeout = Duration::from_secs(settings.server.client_body_timeout_secs.max(1));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    proxies[next_proxy.fetch_add(1, Ordering::Relaxed) % proxies.len()].clone(),
                )
                .app_data(metrics_endpoint.clone())
                .app_data(document.clone())
                .app_data(web::Data::from(readiness.clone()))
                .app_data(json_config())
                .app_data(query_config())
                .app_data(path_config())
                .wrap(
                    ErrorHandlers::new()
                        .handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed),
                )
                .wrap_fn(move |mut req, srv| {
                    body_deadline::apply(&mut req, body_timeout);
                    srv.call(req)
                })
                .wrap(from_fn(request_id::observe))
                // Proxied bodies pass through byte for byte: no compression.
                .configure(proxy::configure)
                .configure(metrics::configure)
                .service(
                    web::scope("")
                        .wrap(from_fn(rate_limit::api_headers))
                        .wrap(Compress::default())
                        .configure(routes::configure)
                        .configure(console::configure),
                )
                .default_service(web::to(routes::not_found))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        server = server.workers(workers);
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                bind: settings.server.bind.clone(),
                source,
            })?
            .run();
        tracing::info!(port, "listening");
        Ok(Self {
            port,
            server,
            health_task,
            gauges_task,
            readiness_task,
            quota_task,
            in_flight_task,
            flusher,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server as SIGTERM would: no new connections, in-flight
    /// requests drain, then [`Application::run_until_stopped`] returns.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, drains in-flight requests (their bodies
    /// included) for up to `server.shutdown_timeout_secs`, then writes the
    /// session counters they left behind, retrying for as long again.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.health_task.abort();
        self.gauges_task.abort();
        self.readiness_task.abort();
        if let Some(task) = self.quota_task {
            task.abort();
        }
        self.in_flight_task.abort();
        self.flusher.stop(self.shutdown_timeout).await;
        result
    }
}

/// actix answers a known path with an unknown method by an empty 405; give
/// it the same problem+json body as every other refusal, keeping the
/// `Allow` header actix (or the proxy) set.
fn method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let allow = res.response().headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let mut problem = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This endpoint does not accept this method",
    )
    .error_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, problem).map_into_right_body(),
    ))
}

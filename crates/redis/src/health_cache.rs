//! The health report shared by every API instance: the one that checked
//! last spares the others their probes until the next interval.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis;
use zenzefi_domain::PortError;
use zenzefi_domain::health::HealthReport;
use zenzefi_domain::ports::HealthCache;

use crate::pool::{RedisPool, px, redis_error};

/// One key, `{prefix}health`, holding the last report's JSON and expiring
/// with the TTL it was stored with.
#[derive(Clone)]
pub struct RedisHealthCache {
    pool: RedisPool,
}

impl RedisHealthCache {
    pub fn new(pool: RedisPool) -> Self {
        Self { pool }
    }

    fn key(&self) -> String {
        self.pool.key("health")
    }
}

#[async_trait]
impl HealthCache for RedisHealthCache {
    async fn load(&self) -> Result<Option<HealthReport>, PortError> {
        let mut conn = self.pool.connection().await?;
        let stored: Option<String> = redis::cmd("GET")
            .arg(self.key())
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        // A report written by another version only costs one probe: the
        // caller checks for itself and its store replaces it.
        Ok(stored.and_then(|json| match wire::decode(&json) {
            Ok(report) => Some(report),
            Err(error) => {
                tracing::warn!(%error, "undecodable cached health report; checking instead");
                None
            }
        }))
    }

    async fn store(&self, report: &HealthReport, ttl: Duration) -> Result<(), PortError> {
        let json = wire::encode(report).map_err(PortError::unexpected)?;
        let mut conn = self.pool.connection().await?;
        redis::cmd("SET")
            .arg(self.key())
            .arg(json)
            .arg("PX")
            .arg(px(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }
}

/// How a report is stored: JSON of DTOs that mirror the domain types, which
/// stay free of serde. Field names and values are the stored form; changing
/// one turns the stored report into a miss until the next check.
mod wire {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use time::OffsetDateTime;
    use zenzefi_domain::health::{Check, CheckOutcome, HealthReport, HealthStatus};

    #[derive(Serialize, Deserialize)]
    struct ReportDto {
        status: String,
        #[serde(with = "time::serde::rfc3339")]
        checked_at: OffsetDateTime,
        database: CheckDto,
        redis: CheckDto,
        upstream: CheckDto,
    }

    #[derive(Serialize, Deserialize)]
    struct CheckDto {
        outcome: String,
        latency_ns: Option<u64>,
    }

    pub(super) fn encode(report: &HealthReport) -> Result<String, serde_json::Error> {
        serde_json::to_string(&ReportDto {
            status: report.status.as_str().to_owned(),
            checked_at: report.checked_at,
            database: check_dto(&report.database),
            redis: check_dto(&report.redis),
            upstream: check_dto(&report.upstream),
        })
    }

    pub(super) fn decode(json: &str) -> Result<HealthReport, String> {
        let dto: ReportDto = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let status = match dto.status.as_str() {
            "healthy" => HealthStatus::Healthy,
            "degraded" => HealthStatus::Degraded,
            "unhealthy" => HealthStatus::Unhealthy,
            other => return Err(format!("unknown health status {other:?}")),
        };
        Ok(HealthReport {
            status,
            checked_at: dto.checked_at,
            database: check(dto.database)?,
            redis: check(dto.redis)?,
            upstream: check(dto.upstream)?,
        })
    }

    fn check_dto(check: &Check) -> CheckDto {
        CheckDto {
            outcome: check.outcome.as_str().to_owned(),
            latency_ns: check
                .latency
                .map(|l| u64::try_from(l.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    fn check(dto: CheckDto) -> Result<Check, String> {
        let outcome = match dto.outcome.as_str() {
            "ok" => CheckOutcome::Ok,
            "unavailable" => CheckOutcome::Unavailable,
            "not_configured" => CheckOutcome::NotConfigured,
            other => return Err(format!("unknown check outcome {other:?}")),
        };
        Ok(Check {
            outcome,
            latency: dto.latency_ns.map(Duration::from_nanos),
        })
    }

    #[cfg(test)]
    mod tests {
        use time::macros::datetime;

        use super::*;

        fn report() -> HealthReport {
            HealthReport {
                status: HealthStatus::Degraded,
                checked_at: datetime!(2026-02-03 04:05:06.123456789 +03:00),
                database: Check {
                    outcome: CheckOutcome::Ok,
                    latency: Some(Duration::from_nanos(1_234_567)),
                },
                redis: Check {
                    outcome: CheckOutcome::NotConfigured,
                    latency: None,
                },
                upstream: Check {
                    outcome: CheckOutcome::Unavailable,
                    latency: Some(Duration::from_secs(5)),
                },
            }
        }

        #[test]
        fn a_report_survives_the_round_trip_to_the_nanosecond() {
            let report = report();
            assert_eq!(decode(&encode(&report).unwrap()).unwrap(), report);
        }

        #[test]
        fn every_status_and_outcome_survives_the_round_trip() {
            for status in [
                HealthStatus::Healthy,
                HealthStatus::Degraded,
                HealthStatus::Unhealthy,
            ] {
                let report = HealthReport { status, ..report() };
                assert_eq!(decode(&encode(&report).unwrap()).unwrap(), report);
            }
        }

        #[test]
        fn an_unknown_outcome_does_not_decode() {
            let json = encode(&report())
                .unwrap()
                .replace("\"not_configured\"", "\"maybe\"");
            assert!(decode(&json).unwrap_err().contains("maybe"));
        }
    }
}

//! Usage analytics (SPEC §14): the caller's own usage series, and the
//! query parsing and response shapes the admin's usage routes share.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, OpenApi, ToSchema};
use zenzefi_domain::token::TokenId;
use zenzefi_domain::usage::{
    Granularity, RefusalReason, ResponseClass, UsageCounts, UsageError, UsageQuery, UsageSeries,
};
use zenzefi_domain::user::UserId;

use super::Endpoint;
use super::admin::Checked;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::CurrentUser;
use crate::openapi::{problem, schemas};
use crate::state::AppState;

pub(super) const ROUTES: &[Endpoint] = &[(Method::GET, "/users/me/usage", |r| r.to(own))];

#[derive(OpenApi)]
#[openapi(paths(own))]
pub(super) struct Api;

/// The period a series or top list covers when the query leaves it out.
const DEFAULT_PERIOD: time::Duration = time::Duration::hours(24);

/// A series' period and step, as sent.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::routes) struct SeriesParams {
    /// Start, RFC 3339, rounded down to the step. Default: `to` − 24 h.
    #[param(value_type = String, format = DateTime, required = false)]
    from: Option<String>,
    /// End (exclusive), RFC 3339, after `from`. Default: now.
    #[param(value_type = String, format = DateTime, required = false)]
    to: Option<String>,
    /// The step; at most 1 500 steps per series (else 422
    /// `too_many_points`). Default `hour`. Minutes are kept
    /// `usage.minute_retention_hours`; hour and day steps read hours and
    /// the days they folded into.
    #[param(value_type = Option<schemas::Granularity>, inline)]
    granularity: Option<String>,
    /// Only this token's usage.
    #[param(value_type = uuid::Uuid, required = false)]
    token_id: Option<String>,
}

/// The period of a query: defaults filled in, values checked.
pub(in crate::routes) fn period(
    checked: &mut Checked,
    from: Option<&str>,
    to: Option<&str>,
    now: OffsetDateTime,
) -> (OffsetDateTime, OffsetDateTime) {
    let to = checked.instant("to", to).unwrap_or(now);
    let from = checked.instant("from", from).unwrap_or(to - DEFAULT_PERIOD);
    (from, to)
}

impl SeriesParams {
    /// The checked series query of `user` (any user when `None`).
    pub(in crate::routes) fn query(
        &self,
        checked: &mut Checked,
        user: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<UsageQuery, UsageError> {
        let (from, to) = period(checked, self.from.as_deref(), self.to.as_deref(), now);
        let granularity = checked
            .one_of(
                "granularity",
                self.granularity.as_deref(),
                &Granularity::ALL,
                Granularity::as_str,
            )
            .unwrap_or(Granularity::Hour);
        let token = checked.uuid("token_id", self.token_id.as_deref());
        UsageQuery::new(from, to, granularity, user, token.map(TokenId))
    }
}

/// Responses by class, each always present.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageResponses)]
pub(in crate::routes) struct Responses {
    #[serde(rename = "2xx")]
    #[schema(rename = "2xx")]
    r2xx: u64,
    #[serde(rename = "3xx")]
    #[schema(rename = "3xx")]
    r3xx: u64,
    #[serde(rename = "4xx")]
    #[schema(rename = "4xx")]
    r4xx: u64,
    #[serde(rename = "5xx")]
    #[schema(rename = "5xx")]
    r5xx: u64,
}

/// Refusals by reason (requests that named a known token), each always
/// present. `upstream_*` failures are also forwarded requests answered 5xx.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageRefusals)]
pub(in crate::routes) struct Refused {
    scope_denied: u64,
    invalid_path: u64,
    device_conflict: u64,
    rate_limited: u64,
    user_inactive: u64,
    upstream_unavailable: u64,
    upstream_timeout: u64,
}

/// The counters of a step or of the whole period.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageCounts)]
pub(in crate::routes) struct Counts {
    /// Requests forwarded to the upstream (what the sessions count).
    requests: u64,
    /// Request body bytes streamed to the upstream.
    bytes_in: u64,
    /// Response body bytes streamed to the client.
    bytes_out: u64,
    responses: Responses,
    refused: Refused,
}

impl From<&UsageCounts> for Counts {
    fn from(c: &UsageCounts) -> Self {
        let class = |class| c.response(class);
        let reason = |reason| c.refusal(reason);
        Self {
            requests: c.requests,
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            responses: Responses {
                r2xx: class(ResponseClass::Success2xx),
                r3xx: class(ResponseClass::Redirect3xx),
                r4xx: class(ResponseClass::Client4xx),
                r5xx: class(ResponseClass::Server5xx),
            },
            refused: Refused {
                scope_denied: reason(RefusalReason::ScopeDenied),
                invalid_path: reason(RefusalReason::InvalidPath),
                device_conflict: reason(RefusalReason::DeviceConflict),
                rate_limited: reason(RefusalReason::RateLimited),
                user_inactive: reason(RefusalReason::UserInactive),
                upstream_unavailable: reason(RefusalReason::UpstreamUnavailable),
                upstream_timeout: reason(RefusalReason::UpstreamTimeout),
            },
        }
    }
}

/// One step of a series.
#[derive(Serialize, ToSchema)]
#[schema(as = UsagePoint)]
pub(in crate::routes) struct Point {
    /// The step's start.
    #[serde(with = "time::serde::rfc3339")]
    t: OffsetDateTime,
    #[serde(flatten)]
    counts: Counts,
}

/// Every step of the period (empty ones as zeros) and their totals.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageSeries)]
pub(in crate::routes) struct SeriesResponse {
    #[schema(value_type = schemas::Granularity)]
    granularity: &'static str,
    /// The period's start, rounded down to the step.
    #[serde(with = "time::serde::rfc3339")]
    from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    to: OffsetDateTime,
    series: Vec<Point>,
    totals: Counts,
}

impl From<UsageSeries> for SeriesResponse {
    fn from(series: UsageSeries) -> Self {
        Self {
            granularity: series.query.granularity.as_str(),
            from: series.query.from,
            to: series.query.to,
            series: series
                .points
                .iter()
                .map(|p| Point {
                    t: p.t,
                    counts: Counts::from(&p.counts),
                })
                .collect(),
            totals: Counts::from(&series.totals),
        }
    }
}

#[utoipa::path(
    get,
    path = "/users/me/usage",
    operation_id = "own_usage",
    tag = "users",
    summary = "The caller's usage per step, own tokens only",
    security(("bearer_jwt" = [])),
    params(SeriesParams),
    responses(
        (status = 200, description = "The series and its totals", body = SeriesResponse),
        (status = 401, response = problem::NotAuthenticated),
        (status = 403, description = "`user_inactive`", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`validation_failed`, or `too_many_points` past 1 500 steps", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, response = problem::InternalError),
        (status = 503, response = problem::ServiceUnavailable),
    )
)]
pub(super) async fn own(
    state: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    params: web::Query<SeriesParams>,
) -> Result<HttpResponse, ApiError> {
    let mut checked = Checked::default();
    let query = params.query(&mut checked, Some(user.id), state.clock.now());
    checked.done()?;
    let series = state.usage.series(query?).await?;
    Ok(HttpResponse::Ok().json(SeriesResponse::from(series)))
}

//! Everyone's usage (SPEC §14): a series for any user or token, and the
//! top consumers over a period.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zenzefi_domain::page::{DEFAULT_LIMIT, MAX_LIMIT};
use zenzefi_domain::usage::{TopBy, TopGroup, TopQuery, TopRow};
use zenzefi_domain::user::UserId;

use super::Checked;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::Superuser;
use crate::openapi::{problem, schemas};
use crate::routes::usage::{SeriesParams, SeriesResponse, period};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UserParam {
    /// Only this user's usage.
    #[param(value_type = Uuid, required = false)]
    user_id: Option<String>,
}

/// `serde(flatten)` of both, documented as `params(SeriesParams, UserParam)`.
#[derive(Deserialize)]
pub(super) struct AdminSeriesQuery {
    #[serde(flatten)]
    series: SeriesParams,
    #[serde(flatten)]
    user: UserParam,
}

#[utoipa::path(
    get,
    path = "/usage",
    operation_id = "admin_usage",
    tag = "admin",
    summary = "Usage per step of any user or token, or of everyone",
    security(("bearer_jwt" = [])),
    params(SeriesParams, UserParam),
    responses(
        (status = 200, description = "The series and its totals", body = SeriesResponse),
        (status = 422, description = "`validation_failed`, or `too_many_points` past 1 500 steps", body = Problem, content_type = PROBLEM_JSON),
        problem::AdminRefusals,
    )
)]
pub(super) async fn series(
    state: web::Data<AppState>,
    _: Superuser,
    params: web::Query<AdminSeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut checked = Checked::default();
    let user = checked.uuid("user_id", params.user.user_id.as_deref());
    let query = params
        .series
        .query(&mut checked, user.map(UserId), state.clock.now());
    checked.done()?;
    let series = state.usage.series(query?).await?;
    Ok(HttpResponse::Ok().json(SeriesResponse::from(series)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TopParams {
    /// Start, RFC 3339, rounded down to the hour. Default: `to` − 24 h.
    #[param(value_type = String, format = DateTime, required = false)]
    from: Option<String>,
    /// End (exclusive), RFC 3339, after `from`. Default: now.
    #[param(value_type = String, format = DateTime, required = false)]
    to: Option<String>,
    /// Default `requests`.
    #[param(value_type = Option<schemas::TopBy>, inline)]
    by: Option<String>,
    /// Default `token`.
    #[param(value_type = Option<schemas::TopGroup>, inline)]
    group: Option<String>,
    /// How many consumers, 1–100. Default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// One consumer: a token (with its prefix) or, grouped by user, a user.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageTopEntry)]
struct TopResponse {
    user_id: Uuid,
    user_email: String,
    user_username: String,
    /// `null` when grouped by user.
    token_id: Option<Uuid>,
    /// `null` when grouped by user.
    token_prefix: Option<String>,
    requests: u64,
    bytes_in: u64,
    bytes_out: u64,
}

impl From<TopRow> for TopResponse {
    fn from(row: TopRow) -> Self {
        Self {
            user_id: row.user_id.0,
            user_email: row.user_email,
            user_username: row.user_username,
            token_id: row.token_id.map(|t| t.0),
            token_prefix: row.token_prefix,
            requests: row.requests,
            bytes_in: row.bytes_in,
            bytes_out: row.bytes_out,
        }
    }
}

/// The ranking, largest first.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageTop)]
struct TopListResponse {
    #[serde(with = "time::serde::rfc3339")]
    from: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    to: time::OffsetDateTime,
    #[schema(value_type = schemas::TopBy)]
    by: &'static str,
    #[schema(value_type = schemas::TopGroup)]
    group: &'static str,
    items: Vec<TopResponse>,
}

const BY: [TopBy; 2] = [TopBy::Requests, TopBy::Bytes];
const GROUPS: [TopGroup; 2] = [TopGroup::Token, TopGroup::User];

fn by_name(by: TopBy) -> &'static str {
    match by {
        TopBy::Requests => "requests",
        TopBy::Bytes => "bytes",
    }
}

fn group_name(group: TopGroup) -> &'static str {
    match group {
        TopGroup::Token => "token",
        TopGroup::User => "user",
    }
}

#[utoipa::path(
    get,
    path = "/usage/top",
    operation_id = "admin_usage_top",
    tag = "admin",
    summary = "The top consumers (tokens or users) over a period, by requests or bytes",
    security(("bearer_jwt" = [])),
    params(TopParams),
    responses(
        (status = 200, description = "Largest first", body = TopListResponse),
        problem::AdminRefusals,
    )
)]
pub(super) async fn top(
    state: web::Data<AppState>,
    _: Superuser,
    params: web::Query<TopParams>,
) -> Result<HttpResponse, ApiError> {
    let mut checked = Checked::default();
    let (from, to) = period(
        &mut checked,
        params.from.as_deref(),
        params.to.as_deref(),
        state.clock.now(),
    );
    let by = checked.one_of("by", params.by.as_deref(), &BY, by_name);
    let group = checked.one_of("group", params.group.as_deref(), &GROUPS, group_name);
    let limit = checked.read("limit", params.limit.as_deref(), |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("must be an integer between 1 and {MAX_LIMIT}"))
    });
    checked.done()?;
    let query = TopQuery::new(
        from,
        to,
        by.unwrap_or(TopBy::Requests),
        group.unwrap_or(TopGroup::Token),
        limit.unwrap_or(DEFAULT_LIMIT),
    )?;
    let rows = state.usage.top(&query).await?;
    Ok(HttpResponse::Ok().json(TopListResponse {
        from: query.from,
        to: query.to,
        by: by_name(query.by),
        group: group_name(query.group),
        items: rows.into_iter().map(TopResponse::from).collect(),
    }))
}

//! The worker's scheduled jobs as operators watch them: each one's last
//! success, as the worker recorded it in the database.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::Superuser;
use crate::openapi::problem;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(as = JobSuccess)]
struct JobSuccess {
    /// The job's name, e.g. `session_cleanup`.
    job: String,
    #[serde(with = "time::serde::rfc3339")]
    last_success_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
#[schema(as = JobSuccesses)]
struct JobSuccesses {
    /// One entry per job that ever succeeded, by name.
    items: Vec<JobSuccess>,
}

#[utoipa::path(
    get,
    path = "/jobs",
    operation_id = "admin_list_job_successes",
    tag = "admin",
    summary = "Each worker job's last success",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "Jobs that ever succeeded, by name", body = JobSuccesses),
        problem::AdminRefusals,
    )
)]
pub(super) async fn last_successes(
    state: web::Data<AppState>,
    _: Superuser,
) -> Result<HttpResponse, ApiError> {
    let items = state
        .admin
        .job_successes()
        .await?
        .into_iter()
        .map(|(job, last_success_at)| JobSuccess {
            job,
            last_success_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(JobSuccesses { items }))
}

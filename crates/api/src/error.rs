//! Every error response: RFC 9457 problem+json with a stable `code`.
//! Domain errors map here and nowhere else; anything unexpected is logged
//! with its cause chain and answered opaquely.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;
use zenzefi_domain::Money;
use zenzefi_domain::PortError;
use zenzefi_domain::admin::AdminError;
use zenzefi_domain::admission::Refusal;
use zenzefi_domain::auth::{AuthenticateError, LoginError, RegisterError, UpdateProfileError};
use zenzefi_domain::currency::{DepositError, SettleError};
use zenzefi_domain::quotas::Quota;
use zenzefi_domain::sessions::TerminateError;
use zenzefi_domain::tokens::{PurchaseError, RevokeError};
use zenzefi_domain::usage::UsageError;
use zenzefi_domain::validation::ValidationErrors;

use crate::metrics;
use crate::rate_limit::{self, Policy};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The code of [`PortError::Unavailable`]'s problem.
const DEPENDENCY_OUTAGE: &str = "service_unavailable";

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldProblem>,
    retry_after_secs: Option<u64>,
    /// A 405's `Allow` (RFC 9110 §15.5.6).
    allow: Option<String>,
    /// The rate-limit headers to send (boxed: rare, and errors stay small).
    quota: Option<Box<(Policy, Quota)>>,
    /// Logged, never sent.
    cause: Option<Arc<dyn StdError + Send + Sync>>,
}

/// One invalid input of a `validation_failed` problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The body field, query parameter or path segment, e.g. `email`.
    #[schema(example = "password")]
    pub field: String,
    #[schema(example = "must be at least 8 characters with a letter and a digit")]
    pub message: String,
}

/// An RFC 9457 problem: the body of every error response, served as
/// `application/problem+json`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Problem<'a> {
    /// Always `about:blank`: `code` tells problems apart.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    kind: &'static str,
    /// The status's reason phrase.
    #[schema(example = "Payment Required")]
    title: &'a str,
    #[schema(example = 402)]
    status: u16,
    /// For people; wording may change.
    #[schema(example = "Insufficient balance. Required: 18.00 ZNC, available: 10.00 ZNC")]
    detail: &'a str,
    /// Stable snake_case string for programs.
    #[schema(example = "insufficient_balance")]
    code: &'a str,
    /// Only in `validation_failed` (422): one entry per invalid input.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<FieldProblem>)]
    errors: &'a [FieldProblem],
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
            allow: None,
            quota: None,
            cause: None,
        }
    }

    /// A 405 naming the methods the target does accept.
    pub fn method_not_allowed(detail: impl Into<String>, allowed: &[Method]) -> Self {
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        Self {
            allow: Some(allow.join(", ")),
            ..Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", detail)
        }
    }

    /// 429 `rate_limited` with `Retry-After` and the limit's headers.
    pub fn rate_limited(policy: Policy, quota: Quota, detail: impl Into<String>) -> Self {
        Self {
            retry_after_secs: Some(whole_secs(quota.retry_after)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
        }
        .with_quota(policy, quota)
    }

    /// The same problem, answered with the rate-limit headers of a request
    /// that spent `quota`.
    pub fn with_quota(self, policy: Policy, quota: Quota) -> Self {
        Self {
            quota: Some(Box::new((policy, quota))),
            ..self
        }
    }

    /// The stable problem `code`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Whether a dependency (PostgreSQL, Redis) was unreachable, as opposed
    /// to a refusal of the request.
    pub fn is_dependency_outage(&self) -> bool {
        self.code == DEPENDENCY_OUTAGE
    }

    /// 422 with one entry per invalid field.
    pub fn validation(errors: Vec<FieldProblem>) -> Self {
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        let detail = format!("Invalid request: {}", fields.join(", "));
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldProblem {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn not_authenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
            "A valid bearer token is required",
        )
    }

    pub fn superuser_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "superuser_required",
            "Superuser permissions required",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// A credit refused by `currency.max_balance`.
    fn balance_limit(max: Money) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "balance_limit",
            format!("This would take the balance above the limit of {max} ZNC"),
        )
    }

    /// A failure the client cannot fix; the cause is logged, not sent.
    pub fn internal(cause: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            cause: Some(Arc::new(cause)),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The server could not complete the request",
            )
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)?;
        let mut source = self.cause.as_deref().map(|c| c as &dyn StdError);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(code = self.code, detail = %self.detail, "request refused");
        }
        let problem = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            errors: &self.errors,
        };
        let mut response = HttpResponse::build(self.status);
        response.content_type(PROBLEM_JSON);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = &self.allow {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        let mut response = response.json(problem);
        if let Some(spent) = &self.quota {
            let (policy, quota) = spent.as_ref();
            rate_limit::insert_headers(response.headers_mut(), *policy, quota);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// 429 for an auth limit, counted under its `limit` label: each refusal
/// becomes exactly one response, so the count is made here.
fn auth_rate_limited(limit: &'static str, retry_after: Duration, detail: &str) -> ApiError {
    metrics::rate_limited(limit);
    ApiError {
        retry_after_secs: Some(whole_secs(retry_after)),
        ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
    }
}

/// A wait as `Retry-After` seconds: rounded up, at least one.
fn whole_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl From<PortError> for ApiError {
    fn from(err: PortError) -> Self {
        match err {
            PortError::Unavailable(_) => Self {
                cause: Some(Arc::new(err)),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    DEPENDENCY_OUTAGE,
                    "A dependency of the service is unavailable; try again shortly",
                )
            },
            PortError::Busy { retry_after } => Self {
                retry_after_secs: Some(whole_secs(retry_after)),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    DEPENDENCY_OUTAGE,
                    "The service is busy; try again shortly",
                )
            },
            PortError::Unexpected(_) => Self::internal(err),
        }
    }
}

impl From<UsageError> for ApiError {
    fn from(err: UsageError) -> Self {
        match err {
            UsageError::Invalid(errors) => errors.into(),
            UsageError::TooManyPoints { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many_points",
                err.to_string(),
            ),
            UsageError::Port(e) => e.into(),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::validation(
            errors
                .0
                .into_iter()
                .map(|e| FieldProblem {
                    field: e.field.to_owned(),
                    message: e.message,
                })
                .collect(),
        )
    }
}

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::EmailTaken => Self::new(
                StatusCode::CONFLICT,
                "email_taken",
                "This email is already registered",
            ),
            RegisterError::UsernameTaken => Self::new(
                StatusCode::CONFLICT,
                "username_taken",
                "This username is already taken",
            ),
            RegisterError::RateLimited { retry_after } => auth_rate_limited(
                "register",
                retry_after,
                "Too many registrations from this address; try again later",
            ),
            RegisterError::Port(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid email or password",
            ),
            LoginError::UserInactive => user_inactive(),
            LoginError::RateLimited { retry_after } => auth_rate_limited(
                "login",
                retry_after,
                "Too many login attempts; try again later",
            ),
            LoginError::Port(e) => e.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(err: AuthenticateError) -> Self {
        match err {
            AuthenticateError::UnknownUser | AuthenticateError::Superseded => {
                Self::not_authenticated()
            }
            AuthenticateError::UserInactive => user_inactive(),
            AuthenticateError::Port(e) => e.into(),
        }
    }
}

impl From<UpdateProfileError> for ApiError {
    fn from(err: UpdateProfileError) -> Self {
        match err {
            UpdateProfileError::CurrentPasswordRequired => {
                Self::field("current_password", "required to change the password")
            }
            UpdateProfileError::WrongCurrentPassword => Self::new(
                StatusCode::FORBIDDEN,
                "invalid_current_password",
                "The current password is wrong",
            ),
            UpdateProfileError::RateLimited { retry_after } => auth_rate_limited(
                "password_change",
                retry_after,
                "Too many password changes; try again later",
            ),
            UpdateProfileError::Authenticate(e) => e.into(),
            UpdateProfileError::Port(e) => e.into(),
        }
    }
}

fn user_inactive() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "user_inactive",
        "This account is deactivated",
    )
}

impl From<PurchaseError> for ApiError {
    fn from(err: PurchaseError) -> Self {
        match err {
            PurchaseError::InsufficientBalance {
                required,
                available,
            } => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_balance",
                format!(
                    "Insufficient balance. Required: {required} ZNC, available: {available} ZNC"
                ),
            ),
            PurchaseError::Port(e) => e.into(),
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(err: RevokeError) -> Self {
        match err {
            RevokeError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "token_not_found",
                "You have no token with this id",
            ),
            RevokeError::AlreadyRevoked => Self::new(
                StatusCode::CONFLICT,
                "already_revoked",
                "This token is already revoked",
            ),
            RevokeError::BalanceLimit(max) => Self::balance_limit(max),
            RevokeError::Port(e) => e.into(),
        }
    }
}

impl From<SettleError> for ApiError {
    fn from(err: SettleError) -> Self {
        match err {
            SettleError::UnknownPayment => Self::new(
                StatusCode::NOT_FOUND,
                "payment_not_found",
                "No payment with this id",
            ),
            SettleError::BalanceLimit(max) => Self::balance_limit(max),
            SettleError::Port(e) => e.into(),
        }
    }
}

impl From<DepositError> for ApiError {
    fn from(err: DepositError) -> Self {
        match err {
            DepositError::BalanceLimit(max) => Self::balance_limit(max),
            DepositError::Port(e) => e.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::UserNotFound => Self::new(
                StatusCode::NOT_FOUND,
                "user_not_found",
                "No user with this id",
            ),
            AdminError::TokenNotFound => Self::new(
                StatusCode::NOT_FOUND,
                "token_not_found",
                "No token with this id",
            ),
            AdminError::SessionNotFound => Self::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "No session with this id",
            ),
            AdminError::AlreadyRevoked => Self::new(
                StatusCode::CONFLICT,
                "already_revoked",
                "This token is already revoked",
            ),
            AdminError::SelfLockout => Self::new(
                StatusCode::CONFLICT,
                "self_lockout",
                "Administrators cannot deactivate or demote themselves",
            ),
            // Nothing was written; the operator re-reads and decides again.
            AdminError::BalanceRace => Self::new(
                StatusCode::CONFLICT,
                "balance_changed",
                "The balance changed while it was being set; reload the user and try again",
            ),
            AdminError::Port(e) => e.into(),
        }
    }
}

impl From<TerminateError> for ApiError {
    fn from(err: TerminateError) -> Self {
        match err {
            TerminateError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                "You have no session with this id",
            ),
            TerminateError::Port(e) => e.into(),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(err: Refusal) -> Self {
        let (status, code) = match err {
            Refusal::Port(e) => return e.into(),
            Refusal::RateLimited(quota) => {
                return Self::rate_limited(Policy::Proxy, quota, err.to_string());
            }
            Refusal::UserInactive => return user_inactive(),
            Refusal::DeviceIdRequired => (StatusCode::BAD_REQUEST, "device_id_required"),
            Refusal::InvalidDeviceId => (StatusCode::BAD_REQUEST, "invalid_device_id"),
            Refusal::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Refusal::InvalidPath(_) => (StatusCode::BAD_REQUEST, "invalid_path"),
            Refusal::ScopeDenied => (StatusCode::FORBIDDEN, "scope_denied"),
            Refusal::DeviceConflict => (StatusCode::CONFLICT, "device_conflict"),
        };
        Self::new(status, code, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use zenzefi_domain::Money;
    use zenzefi_domain::admin::AdminService;
    use zenzefi_domain::balance::BalanceLimit;
    use zenzefi_domain::pricing::Pricing;
    use zenzefi_domain::token::TokenId;
    use zenzefi_domain::tokens::TokenService;
    use zenzefi_domain::user::User;
    use zenzefi_domain::{PortError, RequestContext};
    use zenzefi_memory::{InMemorySessionClaims, InMemoryTokenCache, SystemClock};
    use zenzefi_testkit::failing::FailingDatabase;
    use zenzefi_testkit::fixtures;

    use super::*;

    #[tokio::test]
    async fn an_admin_action_on_a_database_that_is_down_answers_503() {
        let (db, cache, claims, clock) = (
            Arc::new(FailingDatabase::down()),
            Arc::new(InMemoryTokenCache::default()),
            Arc::new(InMemorySessionClaims::default()),
            Arc::new(SystemClock),
        );
        let tokens = TokenService::new(
            db.clone(),
            cache.clone(),
            claims.clone(),
            clock.clone(),
            Arc::new(zenzefi_crypto::OsEntropy),
            Pricing::new([(1, Money::from_cents(100))].into()),
            BalanceLimit::new(Money::from_cents(1_000_000_000)).unwrap(),
        );
        let admin = AdminService::new(db, cache, claims, Arc::new(tokens), clock);
        let root = User {
            is_superuser: true,
            ..fixtures::user("root", time::OffsetDateTime::now_utc())
        };
        let err = admin
            .force_revoke(&root, TokenId::generate(), &RequestContext::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AdminError::Port(PortError::Unavailable(_))),
            "{err:?}"
        );

        let answer = ApiError::from(err);
        assert_eq!(answer.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.code(), "service_unavailable");
    }
}

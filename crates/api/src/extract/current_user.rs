use std::future::Future;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;
use zenzefi_domain::user::User;

use crate::error::ApiError;
use crate::rate_limit;
use crate::state::AppState;

/// The user behind the request's `Authorization: Bearer <JWT>`. Loaded on
/// every request, so deactivation takes effect at once. Each request spends
/// one of the user's `rate_limit.api_per_minute` (superusers are exempt).
pub struct CurrentUser(pub User);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authenticate(req);
        let req = req.clone();
        Box::pin(async move {
            let user = user.await?;
            if !user.is_superuser
                && let Some(refused) = rate_limit::spend_api_quota(&req, &user)
            {
                return Err(refused);
            }
            Ok(CurrentUser(user))
        })
    }
}

/// Resolves the bearer JWT of `req` to an active user: 401
/// `not_authenticated` without a valid one (or one issued before the
/// latest password change), 403 `user_inactive` for a
/// deactivated account. Reads the request now; the future owns what it needs.
pub fn authenticate(req: &HttpRequest) -> impl Future<Output = Result<User, ApiError>> + 'static {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|token| token.trim().to_owned());
    async move {
        let state = state.ok_or_else(ApiError::not_authenticated)?;
        let (user_id, password_version) = bearer
            .and_then(|token| state.jwt.verify(&token))
            .ok_or_else(ApiError::not_authenticated)?;
        Ok(state.auth.authenticate(user_id, password_version).await?)
    }
}

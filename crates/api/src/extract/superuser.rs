//! The admin scope's guard: one middleware in front of every admin route,
//! so that no route can be added without it.

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpRequest};
use futures::future::{Ready, ready};
use zenzefi_domain::user::User;

use super::current_user::authenticate;
use crate::error::ApiError;

/// The acting superuser, as [`require_superuser`] admitted them.
#[derive(Clone)]
pub struct Superuser(pub User);

/// 401 `not_authenticated` without a valid JWT, 403 `superuser_required`
/// for anyone but an active superuser; otherwise hands the user on to the
/// [`Superuser`] extractor. Runs before routing inside the scope, so an
/// outsider learns nothing about which admin routes exist.
pub async fn require_superuser(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let admitted = match authenticate(req.request()).await {
        Ok(user) if user.is_superuser => Ok(user),
        Ok(_) => Err(ApiError::superuser_required()),
        Err(err) => Err(err),
    };
    match admitted {
        Ok(user) => {
            req.extensions_mut().insert(Superuser(user));
            Ok(next.call(req).await?.map_into_left_body())
        }
        // Answered here rather than returned, so that outer middleware
        // (request id, logging) sees an ordinary response.
        Err(err) => Ok(req.error_response(err).map_into_right_body()),
    }
}

impl FromRequest for Superuser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let admitted = req.extensions().get::<Superuser>().cloned();
        ready(admitted.ok_or_else(|| {
            // A handler mounted outside the guarded scope: refuse, loudly.
            ApiError::internal(GuardMissing)
        }))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a Superuser extractor ran without the require_superuser guard")]
struct GuardMissing;

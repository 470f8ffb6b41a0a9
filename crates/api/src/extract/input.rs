use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

use serde_json::Value;

use crate::body_deadline;
use crate::error::ApiError;

/// JSON bodies above 64 KiB are refused.
const JSON_LIMIT_BYTES: usize = 64 * 1024;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT_BYTES)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(err).into())
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| path_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            too_large()
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => data_error(&e),
        JsonPayloadError::Deserialize(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
        ),
        JsonPayloadError::Payload(err) => payload_error(&err),
        other => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", other.to_string()),
    }
}

/// A body that failed to arrive: too slowly (408), or cut short or
/// malformed (400). Either way the client's fault.
pub fn payload_error(err: &PayloadError) -> ApiError {
    if body_deadline::is_timeout(err) {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "The request body did not arrive in time",
        )
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", err.to_string())
    }
}

/// Well-formed JSON of the wrong shape: name the field when serde does.
fn data_error(err: &serde_json::Error) -> ApiError {
    let message = err.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let field = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("body")
        .to_owned();
    ApiError::field(&field, message)
}

fn query_error(err: QueryPayloadError) -> ApiError {
    ApiError::field("query", err.to_string())
}

fn path_error(err: PathError) -> ApiError {
    ApiError::field("path", err.to_string())
}

/// A raw body, refused past the JSON limit with the same problem as JSON.
pub async fn read_body(mut payload: web::Payload) -> Result<web::Bytes, ApiError> {
    use futures::StreamExt;

    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| payload_error(&e))?;
        if body.len() + chunk.len() > JSON_LIMIT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("JSON bodies are limited to {JSON_LIMIT_BYTES} bytes"),
    )
}

/// An integer, as JSON Schema counts them: `24` and `24.0` alike.
pub fn whole_number(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let float = value.as_f64()?;
        // Beyond ±2^53 a float is no exact count of hours; no price has one.
        (float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0).then_some(float as i64)
    })
}

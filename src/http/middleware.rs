//! One middleware for every request: request id and language, the tracing span every
//! log line of the request carries, the access log line, metrics, and the envelope for
//! failures the framework produced itself.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue, ACCEPT_LANGUAGE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError};
use tracing::Instrument;

use super::envelope::{self, EnvelopeCode, RequestContext};
use crate::error::{ApiError, Lang, TooLarge, Unsupported};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(envelope::accept_request_id)
        .unwrap_or_else(envelope::new_request_id);
    let lang = Lang::from_accept_language(
        req.headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let ctx = RequestContext {
        request_id: request_id.clone(),
        lang,
    };
    req.extensions_mut().insert(ctx.clone());
    let method = req.method().clone();
    let path = req.path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, %method, %path);

    let outcome = envelope::scope(
        ctx.clone(),
        async move {
            match next.call(req).await {
                Ok(res) => Ok(envelope_framework_errors(res.map_into_boxed_body())),
                // Rare (a middleware below failed): render it here, while the request's
                // id and language are known.
                Err(err) => {
                    let status = err.as_response_error().status_code();
                    let resp = match err.as_error::<ApiError>() {
                        Some(api) => api.error_response(),
                        None => framework_error(status).error_response(),
                    };
                    Err((err, resp))
                }
            }
        }
        .instrument(span.clone()),
    )
    .await;

    let elapsed = started.elapsed();
    let log = |status: u16, code: u16, route: &str| {
        crate::metrics::http_request(route, code, elapsed);
        span.in_scope(|| {
            tracing::info!(
                status,
                code,
                route = %route,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request done"
            )
        });
    };
    let id_header = HeaderValue::from_str(&request_id).ok();
    match outcome {
        Ok(mut res) => {
            if let Some(v) = id_header {
                res.headers_mut().insert(X_REQUEST_ID, v);
            }
            let status = res.status().as_u16();
            let code = res
                .response()
                .extensions()
                .get::<EnvelopeCode>()
                .map(|c| c.0)
                .unwrap_or(if status < 400 { 0 } else { status });
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            log(status, code, &route);
            Ok(res)
        }
        Err((err, mut resp)) => {
            if let Some(v) = id_header {
                resp.headers_mut().insert(X_REQUEST_ID, v);
            }
            let code = resp
                .extensions()
                .get::<EnvelopeCode>()
                .map(|c| c.0)
                .unwrap_or(500);
            log(resp.status().as_u16(), code, "unmatched");
            Err(InternalError::from_response(err, resp).into())
        }
    }
}

fn framework_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(TooLarge::Body),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType(Unsupported::ContentType)
        }
        s if s.is_client_error() => ApiError::Invalid(crate::error::Invalid::Body),
        s => ApiError::internal("the framework answered", s),
    }
}

/// Errors the framework or a file service produced without our envelope get it here,
/// keeping their HTTP status (API.md: 404, 405, 413 and friends).
fn envelope_framework_errors(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || res.response().extensions().get::<EnvelopeCode>().is_some()
    {
        return res;
    }
    let (req, _) = res.into_parts();
    let mut response = framework_error(status).error_response();
    // Keep the framework's own status (a 400 stays a 400) while the body becomes ours.
    *response.status_mut() = status;
    ServiceResponse::new(req, response)
}

//! The response envelope `{code, message, data, request-id}` and the per-request
//! context (request id, language) it is rendered with.

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError};
use serde::Serialize;

use crate::error::{ApiError, Lang};

#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub lang: Lang,
}

tokio::task_local! {
    /// Set by the request middleware for the whole handling of one request, so error
    /// responses built far from the request (extractors, `ResponseError`) still carry
    /// its id and language.
    static CONTEXT: RequestContext;
}

pub fn scope<F: std::future::Future>(
    ctx: RequestContext,
    fut: F,
) -> tokio::task::futures::TaskLocalFuture<RequestContext, F> {
    CONTEXT.scope(ctx, fut)
}

pub fn current() -> RequestContext {
    CONTEXT
        .try_with(|c| c.clone())
        .unwrap_or_else(|_| RequestContext {
            request_id: new_request_id(),
            lang: Lang::Zh,
        })
}

pub fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// An incoming `X-Request-Id` is reused only when it has the envelope's own shape.
pub fn accept_request_id(value: &str) -> Option<String> {
    let v = value.trim();
    (v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_ascii_lowercase())
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    code: u16,
    message: &'a str,
    data: T,
    #[serde(rename = "request-id")]
    request_id: &'a str,
}

/// The envelope code of a response, kept in its extensions for logs and metrics.
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeCode(pub u16);

const BODY_CAPACITY: usize = 4096;

pub fn render<T: Serialize>(status: StatusCode, code: u16, message: &str, data: T) -> HttpResponse {
    let ctx = current();
    // Sized for a page of contacts: growing from empty copied a list's body ten times.
    let mut body = Vec::with_capacity(BODY_CAPACITY);
    let envelope = Envelope {
        code,
        message,
        data,
        request_id: &ctx.request_id,
    };
    if let Err(e) = serde_json::to_writer(&mut body, &envelope) {
        let err = ApiError::internal("rendering the response", e);
        err.log_cause(&ctx.request_id);
        return render(StatusCode::OK, 500, &err.message(ctx.lang), ());
    }
    let mut res = HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        ))
        .body(body);
    res.extensions_mut().insert(EnvelopeCode(code));
    res
}

/// A successful answer: `code` 0, `message` "ok", and `data`.
pub struct Reply<T>(pub T);

/// The `data` of routes that have nothing to return.
pub fn ok() -> Reply<&'static str> {
    Reply("ok")
}

impl<T: Serialize> Responder for Reply<T> {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse<Self::Body> {
        render(StatusCode::OK, 0, "ok", self.0)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::OK)
    }

    /// The edge: the one place an error's cause is logged.
    fn error_response(&self) -> HttpResponse {
        let ctx = current();
        self.log_cause(&ctx.request_id);
        let mut res = render(self.status_code(), self.code(), &self.message(ctx.lang), ());
        match self {
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::Busy { retry_after_secs } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            // The rest of a trickled body may still be coming: don't read it.
            ApiError::RequestTimeout => res.head_mut().set_connection_type(ConnectionType::Close),
            _ => {}
        }
        res
    }
}

//! Operations endpoints: liveness, readiness, metrics, OpenAPI, the JWKS.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::OpenApi;
use utoipa::ToSchema;

use super::envelope::Reply;
use super::extract::ServiceKey;
use super::openapi::{Done, Envelope};
use super::params::Params;
use super::AppState;
use crate::error::{ApiError, ApiResult, Cause, Dependency};
use crate::store::outbox;

#[utoipa::path(get, path = "/healthz", tag = "ops", summary = "Alive", responses((status = 200, body = Envelope<Done>, description = "data \"ok\" while the process runs")))]
pub async fn healthz() -> Reply<&'static str> {
    Reply("ok")
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `up` (when it is not, the answer is code 503).
    #[schema(example = "up")]
    database: &'static str,
    /// `disabled` (no broker configured), `connecting`, `up` or `down`.
    #[schema(example = "up")]
    broker: &'static str,
    outbox: Backlog,
}

#[derive(Serialize, ToSchema)]
pub struct Backlog {
    /// Events not yet confirmed by the broker.
    backlog: u64,
    /// Seconds since the oldest of them happened (0 when there is none).
    oldest_age_seconds: f64,
}

#[utoipa::path(get, path = "/readyz", tag = "ops", summary = "Ready: the database answers (the broker's state is reported, not required)", responses((status = 200, body = Envelope<Readiness>, description = "Codes: 0 when the database answers; 503 when it does not. A broker outage does not make the server unready: events wait in the outbox")))]
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<Reply<Readiness>> {
    let (backlog, oldest_age_seconds) =
        crate::broker::outbox_backlog(&state.db)
            .await
            .map_err(|e| {
                ApiError::Unavailable(Dependency::Database, Some(Cause::new("readiness", e)))
            })?;
    Ok(Reply(Readiness {
        database: "up",
        broker: state.broker_state(),
        outbox: Backlog {
            backlog,
            oldest_age_seconds,
        },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Message bodies exactly as published, in `seq` order:
    /// `{"id", "seq", "type", "occurred_at", "data"}`.
    #[schema(value_type = Vec<Object>)]
    events: Vec<Box<RawValue>>,
    /// The lowest `seq` still kept (null when none is); a consumer whose `after_seq + 1` is below it has
    /// lost events past the retention.
    oldest_seq: Option<i64>,
    /// The `seq` to pass as `after_seq` for the next page.
    next_after_seq: i64,
}

const REPLAY_DEFAULT_LIMIT: i64 = 100;

#[derive(serde::Deserialize, validator::Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsInput {
    /// Events with a seq greater than this (default 0).
    #[validate(range(min = 0))]
    #[param(minimum = 0, example = 41)]
    after_seq: Option<i64>,
    /// At most this many events, 1–1000 (default 100).
    #[validate(range(min = 1, max = 1000))]
    #[param(minimum = 1, maximum = 1000, example = 500)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/internal/events",
    tag = "internal",
    summary = "Published events after a seq, to fill a gap or catch up after a snapshot",
    params(EventsInput),
    responses((status = 200, body = Envelope<EventPage>, description = "Codes: 0; 1 bad parameter; 401 wrong key. HTTP 404 when no IM-server key is configured")),
    security(("service_key" = []))
)]
pub async fn replay_events(
    _key: ServiceKey,
    state: web::Data<AppState>,
    p: Params,
) -> ApiResult<Reply<EventPage>> {
    let input: EventsInput = p.parse()?;
    let after_seq = input.after_seq.unwrap_or(0);
    let limit = input.limit.unwrap_or(REPLAY_DEFAULT_LIMIT);
    let conn = state.db.conn();
    let rows = outbox::published_after(&conn, after_seq, limit as u64).await?;
    let oldest_seq = outbox::oldest_seq(&conn).await?;
    let mut next_after_seq = after_seq;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let seq = row.seq.unwrap_or_default();
        let body = crate::domain::event::render_body(
            &row.event_id,
            seq,
            &row.event_type,
            row.occurred_at,
            &row.data,
        )
        .and_then(RawValue::from_string)
        .map_err(|e| ApiError::internal("outbox row", e))?;
        events.push(body);
        next_after_seq = seq;
    }
    Ok(Reply(EventPage {
        events,
        oldest_seq,
        next_after_seq,
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "ops", summary = "Prometheus metrics", responses((status = 200, body = String, content_type = "text/plain", description = "Prometheus text format 0.0.4 (not the envelope)")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.record_gauges().await;
    crate::metrics::collect_process();
    let body = crate::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

#[utoipa::path(get, path = "/openapi.json", tag = "ops", summary = "This document", responses((status = 200, body = Object, description = "OpenAPI 3.1 (not the envelope)")))]
pub async fn openapi() -> HttpResponse {
    match super::ApiDoc::openapi().to_json() {
        Ok(json) => HttpResponse::Ok()
            .insert_header(ContentType::json())
            .body(json),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::internal("openapi", e)),
    }
}

#[utoipa::path(get, path = "/docs", tag = "ops", summary = "This document as an HTML reference", responses((status = 200, body = String, content_type = "text/html", description = "Self-contained: no script, no external request")))]
pub async fn docs() -> HttpResponse {
    static PAGE: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let page = PAGE.get_or_init(|| {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).map_err(|e| e.to_string())?;
        Ok(super::docs::render(&doc))
    });
    match page {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(html.clone()),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::internal("docs", e.clone())),
    }
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "ops", summary = "The public keys that verify IM tokens", responses((status = 200, body = Object, description = "Plain JWKS (RFC 7517), not the envelope: the public keys of every configured Ed25519 key, each {kty: OKP, crv: Ed25519, x, kid, alg: EdDSA, use: sig}, to verify im_token and action tokens by their kid. HS256 secrets are never published: with HS256 only it is {\"keys\": []}")))]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    match serde_json::to_vec(state.jwt.jwks()) {
        // Verifiers may cache it for a while: a new key is published a deploy before it signs.
        Ok(body) => HttpResponse::Ok()
            .insert_header(ContentType::json())
            .insert_header(CacheControl(vec![
                CacheDirective::Public,
                CacheDirective::MaxAge(300),
            ]))
            .body(body),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::internal("jwks", e)),
    }
}

//! Operations endpoints: liveness, readiness, metrics, OpenAPI, the JWKS.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::OpenApi;

use super::envelope::Reply;
use super::AppState;
use crate::error::{ApiError, ApiResult, Dependency};

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Envelope; data \"ok\" while the process runs")))]
pub async fn healthz() -> Reply<&'static str> {
    Reply("ok")
}

#[derive(Serialize)]
pub struct Readiness {
    database: &'static str,
    broker: &'static str,
}

#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "Envelope; code 0 when the database answers (data {database, broker}), 503 when it does not")))]
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<Reply<Readiness>> {
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return Err(ApiError::Unavailable(Dependency::Database));
    }
    Ok(Reply(Readiness {
        database: "up",
        broker: state.broker_state(),
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.record_gauges().await;
    let body = crate::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub async fn openapi() -> HttpResponse {
    match super::ApiDoc::openapi().to_json() {
        Ok(json) => HttpResponse::Ok()
            .insert_header(ContentType::json())
            .body(json),
        Err(e) => actix_web::ResponseError::error_response(&ApiError::internal("openapi", e)),
    }
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "ops", responses((status = 200, description = "Plain JWKS (RFC 7517), not the envelope: the public keys of every configured Ed25519 key, each {kty: OKP, crv: Ed25519, x, kid, alg: EdDSA, use: sig}, to verify im_token and action tokens by their kid. HS256 secrets are never published: with HS256 only it is {\"keys\": []}")))]
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

//! HTTP: routes, the envelope, parameter decoding and extractors.

pub mod accessuser;
pub mod admin;
pub mod console;
pub mod docs;
pub mod envelope;
pub mod extract;
pub mod input;
pub mod internal;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod relation;
pub mod sms;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpRequest};
use serde::Deserialize;
use utoipa::OpenApi;

use crate::actors::Gauges;
use crate::config::Settings;
use crate::domain::jwt::JwtIssuer;
use crate::domain::phone::{PhoneError, PhoneNumber, TestNumbers};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::media::Avatars;
use crate::services::Services;
use crate::store::Db;

/// What handlers share, besides the actors (which each worker keeps in its app data).
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub services: Services,
    pub gauges: Gauges,
    pub test_numbers: TestNumbers,
    /// Avatar decoding under its bound, and the per-user upload budget.
    pub avatars: Avatars,
    pub broker: Arc<crate::broker::BrokerStatus>,
    /// Signs the IM tokens; here for the JWKS route.
    pub jwt: JwtIssuer,
    /// The IM server's and the operators' keys.
    pub keys: extract::AccessKeys,
}

impl AppState {
    /// A number a client gave (see `TestNumbers::parse`), or code 1 `无效的号码`.
    pub fn parse_phone(&self, nation_code: &str, phone: &str) -> ApiResult<PhoneNumber> {
        self.test_numbers
            .parse(nation_code, phone)
            .map_err(|e| match e {
                PhoneError::Invalid | PhoneError::NotMobile => ApiError::Invalid(Invalid::Phone),
            })
    }

    pub fn broker_state(&self) -> &'static str {
        self.broker.describe()
    }

    /// Gauges read at scrape time.
    pub async fn record_gauges(&self) {
        self.gauges.record();
        self.services.record_metrics();
        self.db.record_pool_gauges();
        crate::broker::record_outbox_gauges(&self.db).await;
    }
}

/// A user id a client gave: a positive integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl UserId {
    pub fn all(ids: Vec<UserId>) -> Vec<i64> {
        ids.into_iter().map(|u| u.0).collect()
    }
}

impl utoipa::PartialSchema for UserId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        // A number, or a string of digits: both arrive.
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(Type::Integer))
                    .minimum(Some(1))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    ))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(Type::String))
                    .pattern(Some(r"^\s*\+?0*[1-9][0-9]*\s*$")),
            )
            .description(Some(
                "A user id: a positive integer (a string of digits is accepted)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for UserId {}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match i64::deserialize(d)? {
            n if n > 0 => Ok(UserId(n)),
            _ => Err(serde::de::Error::custom("a user id is a positive integer")),
        }
    }
}

/// The first failed field of a `validator` check, as code 1 naming it: a list with
/// too many items says so, an empty one where items are required is missing.
pub fn validation_error(errors: validator::ValidationErrors) -> ApiError {
    let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let Some((name, errs)) = fields.first() else {
        return ApiError::Invalid(Invalid::Body);
    };
    let items = |e: &validator::ValidationError| {
        e.params
            .get("value")
            .and_then(|v| v.as_array())
            .map(Vec::len)
    };
    let bound = |e: &validator::ValidationError, k: &str| {
        e.params.get(k).and_then(|v| v.as_u64()).map(|n| n as usize)
    };
    for e in errs.iter().filter(|e| e.code == "length") {
        match (items(e), bound(e, "min"), bound(e, "max")) {
            (Some(n), _, Some(max)) if n > max => return ApiError::too_many(name.to_string()),
            (Some(0), Some(_), _) => return ApiError::missing(name.to_string()),
            _ => {}
        }
    }
    ApiError::param(name.to_string())
}

pub use openapi::ApiDoc;

/// The OpenAPI document, as `/openapi.json` serves it.
pub fn openapi_json() -> Result<String, serde_json::Error> {
    ApiDoc::openapi().to_pretty_json()
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A 405 names the resource's methods in `Allow` (RFC 9110): those the document lists
/// for its path, so a route added with its `#[utoipa::path]` gets it too.
async fn method_not_allowed(req: HttpRequest) -> actix_web::HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
    if let Some(allow) = req.match_pattern().and_then(|p| allowed_methods(&p)) {
        res.headers_mut()
            .insert(actix_web::http::header::ALLOW, allow);
    }
    res
}

/// The methods of a documented path, as an `Allow` value (`GET, POST`).
fn allowed_methods(path: &str) -> Option<HeaderValue> {
    static ALLOW: OnceLock<HashMap<String, HeaderValue>> = OnceLock::new();
    let map = ALLOW.get_or_init(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .into_iter()
            .filter_map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .iter()
                .filter(|(_, has)| *has)
                .map(|(m, _)| *m)
                .collect::<Vec<_>>()
                .join(", ");
                Some((path, HeaderValue::from_str(&methods).ok()?))
            })
            .collect()
    });
    map.get(path).cloned()
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> actix_web::HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

/// Route wiring, in one place.
pub fn routes(cfg: &mut web::ServiceConfig, settings: &Settings) {
    let small = params::ParamsConfig {
        max_body_bytes: settings.server.max_body_bytes,
        ..Default::default()
    };
    let upload = params::ParamsConfig {
        max_body_bytes: settings.server.max_body_bytes,
        file_fields: &["avatar"],
        max_file_bytes: settings.storage.max_avatar_bytes,
        max_parts: 16,
    };
    // Routes that take a list (contact matching: 100 numbers; relations/check: 1000 ids)
    // in every documented media type: a multipart body spends a part and ~100 bytes of
    // headers per item, past the default limits.
    let lists = params::ParamsConfig {
        max_body_bytes: settings.server.max_body_bytes.max(256 * 1024),
        max_parts: 1_024,
        ..Default::default()
    };
    let post = |path: &str, cfgp: &params::ParamsConfig| {
        web::resource(path)
            .app_data(cfgp.clone())
            .default_service(web::to(method_not_allowed))
    };
    cfg.service(post("/sms/send", &small).route(web::post().to(sms::send)))
        .service(post("/accessuser/signinbysms", &small).route(web::post().to(accessuser::signin)))
        .service(
            post("/accessuser/updateuserinfo", &upload)
                .route(web::post().to(accessuser::update_user_info))
                .route(web::put().to(accessuser::update_user_info)),
        )
        .service(
            post("/accessuser/getimtoken", &small).route(web::post().to(accessuser::get_im_token)),
        )
        .service(
            post("/accessuser/searchbyuniquename", &small)
                .route(web::get().to(accessuser::search_by_unique_name))
                .route(web::post().to(accessuser::search_by_unique_name)),
        )
        .service(
            post("/accessuser/searchbynickname", &small)
                .route(web::get().to(accessuser::search_by_nickname))
                .route(web::post().to(accessuser::search_by_nickname)),
        )
        .service(post("/accessuser/logout", &small).route(web::post().to(accessuser::logout)))
        .service(
            post("/accessuser/sessionlist", &small).route(web::post().to(accessuser::session_list)),
        )
        .service(
            post("/accessuser/revokesession", &small)
                .route(web::post().to(accessuser::revoke_session)),
        )
        .service(
            post("/accessuser/changephone", &small).route(web::post().to(accessuser::change_phone)),
        )
        .service(
            post("/accessuser/deleteaccount", &small)
                .route(web::post().to(accessuser::delete_account)),
        )
        .service(post("/relation/operation", &small).route(web::post().to(relation::operation)))
        .service(post("/relation/followlist", &small).route(web::post().to(relation::follow_list)))
        .service(
            post("/relation/contactlist", &lists).route(web::post().to(relation::contact_list)),
        )
        .service(post("/healthz", &small).route(web::get().to(ops::healthz)))
        .service(post("/readyz", &small).route(web::get().to(ops::readyz)))
        .service(post("/metrics", &small).route(web::get().to(ops::metrics)))
        .service(post("/openapi.json", &small).route(web::get().to(ops::openapi)))
        .service(post("/docs", &small).route(web::get().to(ops::docs)))
        .service(post("/.well-known/jwks.json", &small).route(web::get().to(ops::jwks)))
        .service(post("/internal/events", &small).route(web::get().to(ops::replay_events)))
        .service(post("/internal/relations/check", &lists).route(web::post().to(internal::check)))
        .service(post("/internal/users", &small).route(web::get().to(internal::users)))
        .service(post("/internal/snapshot", &small).route(web::get().to(internal::snapshot)));
    // No admin key: nothing under /admin/ exists (every path there is 404).
    if !settings.admin.keys.is_empty() {
        let public = &settings.server.public_base_url;
        console::routes(cfg, (!public.is_empty()).then_some(public.as_str()));
        cfg.service(post("/admin/users/lookup", &small).route(web::get().to(admin::lookup)))
            .service(post("/admin/users/ban", &small).route(web::post().to(admin::ban)))
            .service(post("/admin/users/unban", &small).route(web::post().to(admin::unban)))
            .service(post("/admin/sessions/revoke", &small).route(web::post().to(admin::revoke)))
            .service(post("/admin/users/delete", &small).route(web::post().to(admin::delete)))
            .service(post("/admin/audit", &small).route(web::get().to(admin::audit)));
    }
    cfg.default_service(web::to(not_found));
}

//! HTTP: routes, the envelope, parameter decoding and extractors.

pub mod accessuser;
pub mod envelope;
pub mod extract;
pub mod middleware;
pub mod ops;
pub mod params;
pub mod relation;
pub mod sms;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, HttpRequest};
use utoipa::OpenApi;

use crate::actors::relation::RelationService;
use crate::actors::session::SessionService;
use crate::actors::{Actors, Services};
use crate::config::Settings;
use crate::domain::jwt::JwtIssuer;
use crate::domain::phone::{PhoneError, PhoneNumber};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::media::AvatarLimits;
use crate::store::Db;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub services: Services,
    /// The shared shards when actors run on dedicated threads (`actors.threads > 0`);
    /// otherwise each HTTP worker has its own, in its app data.
    pub dedicated_actors: Option<web::Data<Actors>>,
    pub session_service: Arc<SessionService>,
    pub relation_service: Arc<RelationService>,
    pub test_numbers: HashMap<(String, String), String>,
    pub avatar_limits: AvatarLimits,
    pub broker: Arc<crate::broker::BrokerStatus>,
    /// Signs the IM tokens; here for the JWKS route.
    pub jwt: JwtIssuer,
}

impl AppState {
    /// A configured test number as given, anything else by libphonenumber's rules.
    pub fn parse_phone(&self, nation_code: &str, phone: &str) -> ApiResult<PhoneNumber> {
        if let Some(p) = PhoneNumber::unchecked(nation_code, phone) {
            if self
                .test_numbers
                .contains_key(&(p.nation_code().to_owned(), p.national().to_owned()))
            {
                return Ok(p);
            }
        }
        PhoneNumber::parse(nation_code, phone).map_err(|e| match e {
            PhoneError::Invalid | PhoneError::NotMobile => ApiError::Invalid(Invalid::Phone),
        })
    }

    pub fn broker_state(&self) -> &'static str {
        self.broker.describe()
    }

    /// Gauges read at scrape time.
    pub async fn record_gauges(&self) {
        for g in &self.services.gauges {
            g.record();
        }
        self.session_service.cache.record_metrics();
        self.relation_service.profiles.record_metrics();
        self.relation_service.lists.record_metrics();
        self.db.record_pool_gauges();
        crate::broker::record_outbox_gauges(&self.db).await;
    }
}

/// The first failed field of a `validator` check, as code 1 naming it.
pub fn validation_error(errors: validator::ValidationErrors) -> ApiError {
    let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    match fields.first() {
        Some((name, errs)) => {
            let too_long = errs.iter().any(|e| {
                e.code == "length"
                    && e.params.contains_key("max")
                    && e.params.get("value").is_some_and(|v| v.is_array())
            });
            if too_long {
                ApiError::too_many(name.to_string())
            } else {
                ApiError::param(name.to_string())
            }
        }
        None => ApiError::Invalid(Invalid::Body),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "im-access",
        description = "IM access server: SMS sign-in, profiles, relations and IM tokens. Every route answers the envelope {code, message, data, request-id}."
    ),
    paths(
        sms::send,
        accessuser::signin,
        accessuser::update_user_info,
        accessuser::get_im_token,
        accessuser::search_by_unique_name,
        accessuser::search_by_nickname,
        accessuser::logout,
        relation::operation,
        relation::follow_list,
        relation::contact_list,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::openapi,
        ops::jwks,
        ops::replay_events,
    )
)]
pub struct ApiDoc;

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
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
        .service(post("/relation/operation", &small).route(web::post().to(relation::operation)))
        .service(post("/relation/followlist", &small).route(web::post().to(relation::follow_list)))
        .service(
            post("/relation/contactlist", &small).route(web::post().to(relation::contact_list)),
        )
        .service(post("/healthz", &small).route(web::get().to(ops::healthz)))
        .service(post("/readyz", &small).route(web::get().to(ops::readyz)))
        .service(post("/metrics", &small).route(web::get().to(ops::metrics)))
        .service(post("/openapi.json", &small).route(web::get().to(ops::openapi)))
        .service(post("/.well-known/jwks.json", &small).route(web::get().to(ops::jwks)))
        .service(post("/internal/events", &small).route(web::get().to(ops::replay_events)))
        .default_service(web::to(not_found));
}

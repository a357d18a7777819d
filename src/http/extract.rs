//! Extractors: the signed-in caller and the client's IP address.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::actors::Actors;
use crate::domain::token::SessionToken;
use crate::error::ApiError;
use crate::services::session::AuthUser;

/// The caller of a 🔒 route, from the `token` header (or `Authorization: Bearer`).
pub struct Auth(pub AuthUser);

fn token_of(req: &HttpRequest) -> Option<SessionToken> {
    if let Some(v) = req.headers().get("token").and_then(|v| v.to_str().ok()) {
        return SessionToken::parse(v);
    }
    let v = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SessionToken::parse(rest))?
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Auth, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = token_of(req);
        let actors = req.app_data::<web::Data<Actors>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let actors = actors.ok_or_else(|| ApiError::internal("app data", "no actors"))?;
            let hash = token.hash();
            let user = actors
                .sessions
                .run(hash, move |s| async move { s.authenticate(hash).await })
                .await?;
            Ok(Auth(user))
        })
    }
}

/// The client's address: the peer's, or from `X-Forwarded-For` when the peer is a
/// configured trusted proxy (the rightmost address that is not one of them).
pub struct ClientIp(pub IpAddr);

pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<ClientIp, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.server.trusted_proxies.clone())
            .unwrap_or_default();
        std::future::ready(Ok(ClientIp(client_ip(req, &trusted))))
    }
}

/// The bearer keys of the two non-client doors, kept as SHA-256 digests: a presented
/// key is hashed and compared with every configured one in constant time, so neither
/// its length nor which key matched shows in the timing.
#[derive(Clone, Default)]
pub struct AccessKeys {
    internal: Vec<[u8; 32]>,
    admin: Vec<(String, [u8; 32])>,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl AccessKeys {
    pub fn new(settings: &crate::config::Settings) -> Self {
        let mut internal: Vec<[u8; 32]> = settings
            .internal
            .keys
            .iter()
            .map(|k| k.expose_secret())
            .filter(|k| !k.is_empty())
            .map(digest)
            .collect();
        let replay = settings.events.replay_key.expose_secret();
        if !replay.is_empty() {
            internal.push(digest(replay));
        }
        let admin = settings
            .admin
            .keys
            .iter()
            .map(|k| (k.name.clone(), digest(k.secret.expose_secret())))
            .collect();
        AccessKeys { internal, admin }
    }

    pub fn admin_enabled(&self) -> bool {
        !self.admin.is_empty()
    }

    /// The index of the key `given` is, checking every key.
    fn find<'a>(given: &str, keys: impl Iterator<Item = &'a [u8; 32]>) -> Option<usize> {
        let given = digest(given);
        let mut found = None;
        for (i, k) in keys.enumerate() {
            if bool::from(given.ct_eq(k)) {
                found = Some(i);
            }
        }
        found
    }
}

fn bearer(req: &HttpRequest) -> &str {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
        })
        .unwrap_or("")
}

fn access_keys(req: &HttpRequest) -> Result<&AccessKeys, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|s| &s.keys)
        .ok_or_else(|| ApiError::internal("app data", "no state"))
}

/// The IM server, on `/internal/*`: one of `internal.keys` (or `events.replay_key`).
/// No key configured: 404, as if the routes did not exist; a wrong one: 401.
pub struct ServiceKey;

impl FromRequest for ServiceKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<ServiceKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(access_keys(req).and_then(|keys| {
            if keys.internal.is_empty() {
                return Err(ApiError::NotFound);
            }
            AccessKeys::find(bearer(req), keys.internal.iter())
                .map(|_| ServiceKey)
                .ok_or(ApiError::Unauthorized)
        }))
    }
}

/// An operator, on `/admin/*`: one of `admin.keys`, by name. No key configured: 404;
/// a wrong one: 401.
pub struct AdminKey {
    pub name: String,
}

impl FromRequest for AdminKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<AdminKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(access_keys(req).and_then(|keys| {
            if keys.admin.is_empty() {
                return Err(ApiError::NotFound);
            }
            AccessKeys::find(bearer(req), keys.admin.iter().map(|(_, d)| d))
                .map(|i| AdminKey {
                    name: keys.admin[i].0.clone(),
                })
                .ok_or(ApiError::Unauthorized)
        }))
    }
}

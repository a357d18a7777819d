//! Extractors: the signed-in caller and the client's IP address.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};

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

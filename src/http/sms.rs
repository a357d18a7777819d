//! `POST sms/send`.

use actix_web::web;
use serde::Deserialize;
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::ClientIp;
use super::params::Params;
use super::AppState;
use crate::actors::Actors;
use crate::error::ApiResult;

#[derive(Deserialize, Validate)]
struct SendInput {
    nation_code: String,
    phone: String,
}

#[utoipa::path(
    post,
    path = "/sms/send",
    tag = "user",
    params(
        ("nation_code" = String, Query, description = "Country calling code without +, e.g. 86"),
        ("phone" = String, Query, description = "National mobile number"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\". Errors: 1 invalid number, 429 limits (Retry-After), 503 SMS provider"))
)]
pub async fn send(
    state: web::Data<AppState>,
    actors: web::Data<Actors>,
    ClientIp(ip): ClientIp,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: SendInput = p.parse()?;
    let phone = state.parse_phone(&input.nation_code, &input.phone)?;
    actors
        .sms
        .run(
            phone.clone(),
            move |s| async move { s.send(phone, ip).await },
        )
        .await?;
    Ok(ok())
}

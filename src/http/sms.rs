//! `POST sms/send`.

use actix_web::web;

use super::envelope::{ok, Reply};
use super::extract::ClientIp;
use super::params::Params;
use super::AppState;
use crate::actors::sms::SendCode;
use crate::actors::Actors;
use crate::error::ApiResult;

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
    let phone = state.parse_phone(p.str("nation_code")?, p.str("phone")?)?;
    let key = phone.clone();
    actors.sms.send(&key, SendCode { phone, ip }).await?;
    Ok(ok())
}

//! `POST sms/send`.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::ClientIp;
use super::openapi::{Done, Envelope};
use super::params::Params;
use super::AppState;
use crate::actors::Actors;
use crate::error::ApiResult;

#[derive(Deserialize, Validate, ToSchema)]
pub struct SendInput {
    /// Country calling code without `+`.
    #[schema(example = "86")]
    nation_code: String,
    /// The national mobile number.
    #[schema(example = "16522222222")]
    phone: String,
}

#[utoipa::path(
    post,
    path = "/sms/send",
    tag = "user",
    summary = "Send a sign-in code (6 digits, valid 5 minutes) to a mobile number",
    request_body(content(
        (SendInput = "application/x-www-form-urlencoded"),
        (SendInput = "application/json"),
        (SendInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 无效的号码 (not a mobile number), 暂不支持该国家或地区的号码; 429 cooldown, daily cap, per-address budget (Retry-After); 503 the SMS provider failed", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429"))),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    )
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

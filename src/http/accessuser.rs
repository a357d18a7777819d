//! `accessuser/*`: sign-in, profile, IM tokens, searches, logout.

use actix_web::web;
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::{Auth, ClientIp};
use super::params::Params;
use super::{validation_error, AppState};
use crate::actors::relation::{
    Contact, ContactPage, ProfileData, SearchByIds, SearchByNickname, UpdateProfile,
};
use crate::actors::session::{IssueImToken, Logout, SignIn, SignInData};
use crate::actors::Actors;
use crate::domain::check_code::CheckCode;
use crate::domain::device::{valid_device_id, Device};
use crate::domain::jwt::valid_act;
use crate::domain::nickname::Nickname;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::media::process_avatar;

#[derive(Validate)]
struct SignInInput {
    #[validate(length(max = 128), custom(function = "printable"))]
    device_id: String,
}

fn printable(s: &str) -> Result<(), validator::ValidationError> {
    if valid_device_id(s) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("printable"))
    }
}

#[utoipa::path(
    post,
    path = "/accessuser/signinbysms",
    tag = "user",
    params(
        ("nation_code" = String, Query, description = "Country calling code without +"),
        ("phone" = String, Query, description = "National mobile number"),
        ("check_code" = i64, Query, description = "The 6-digit code (a string of digits is accepted)"),
        ("device" = String, Query, description = "web, h5, android or ios"),
        ("device_id" = Option<String>, Query, description = "Required for android and ios; up to 128 printable characters"),
    ),
    responses((status = 200, description = "Envelope; data {nickname, avatar, user_id, token, im_token, is_first_login, role, last_seen}. Errors: 1 invalid code, 429 burned code or limits"))
)]
pub async fn signin(
    state: web::Data<AppState>,
    actors: web::Data<Actors>,
    ClientIp(ip): ClientIp,
    p: Params,
) -> ApiResult<Reply<SignInData>> {
    let phone = state.parse_phone(p.str("nation_code")?, p.str("phone")?)?;
    let code =
        CheckCode::parse(p.str("check_code")?).ok_or(ApiError::Invalid(Invalid::UserInfo))?;
    let device = Device::parse(p.str("device")?).ok_or_else(|| ApiError::param("device"))?;
    let input = SignInInput {
        device_id: p.opt_str("device_id")?.unwrap_or("").trim().to_owned(),
    };
    input.validate().map_err(validation_error)?;
    if device.requires_device_id() && input.device_id.is_empty() {
        return Err(ApiError::missing("device_id"));
    }
    let key = phone.clone();
    let data = actors
        .sessions
        .send(
            &key,
            SignIn {
                phone,
                code,
                device,
                device_id: input.device_id,
                ip,
            },
        )
        .await?;
    Ok(Reply(data))
}

#[utoipa::path(
    post,
    path = "/accessuser/updateuserinfo",
    tag = "user",
    params(
        ("token" = String, Header, description = "Session token"),
        ("nickname" = Option<String>, Query, description = "1-20 characters, no control characters"),
    ),
    request_body(content_type = "multipart/form-data", description = "avatar: JPEG, PNG, WebP or GIF file up to 5 MiB; nickname"),
    responses((status = 200, description = "Envelope; data {nickname, avatar, user_id (string)}. Errors: 1 修改失败, 401, 413, 415"))
)]
pub async fn update_user_info(
    state: web::Data<AppState>,
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<ProfileData>> {
    let nickname = match p.opt_str("nickname")? {
        Some(n) => Some(Nickname::parse(n).ok_or(ApiError::Invalid(Invalid::Nickname))?),
        None => None,
    };
    let avatar = match p.file("avatar") {
        Some(upload) => {
            let bytes = upload.bytes.clone();
            let limits = state.avatar_limits;
            // Decoding is CPU work: off the HTTP worker.
            Some(
                web::block(move || process_avatar(&bytes, limits))
                    .await
                    .map_err(|e| ApiError::internal("avatar worker failed", e))??,
            )
        }
        None => None,
    };
    if nickname.is_none() && avatar.is_none() {
        return Err(ApiError::Invalid(Invalid::NothingToUpdate));
    }
    let data = actors
        .relations
        .send(
            &user.user_id,
            UpdateProfile {
                user: user.user_id,
                nickname,
                avatar,
            },
        )
        .await?;
    Ok(Reply(data))
}

#[derive(Validate)]
struct ImTokenInput {
    #[validate(custom(function = "act_shape"))]
    act: Option<String>,
    #[validate(length(max = 500))]
    members: Vec<i64>,
}

fn act_shape(s: &str) -> Result<(), validator::ValidationError> {
    if valid_act(s) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("act"))
    }
}

/// User ids from a list parameter: positive integers.
fn user_ids(p: &Params, name: &'static str) -> ApiResult<Vec<i64>> {
    p.opt_list(name)?
        .unwrap_or_default()
        .iter()
        .map(|s| {
            super::params::parse_int(s)
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::param(name))
        })
        .collect()
}

#[utoipa::path(
    post,
    path = "/accessuser/getimtoken",
    tag = "user",
    params(
        ("token" = String, Header, description = "Session token"),
        ("act" = Option<String>, Query, description = "IM action, [a-z][a-z0-9_.]{0,63}"),
        ("members" = Option<Vec<String>>, Query, description = "User ids the action concerns (members[]=6&members[]=7, or 6,7)"),
    ),
    responses((status = 200, description = "Envelope; data is the JWT. Errors: 1 unknown member, 401, 403 a member blocked you"))
)]
pub async fn get_im_token(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<String>> {
    let input = ImTokenInput {
        act: p.opt_str("act")?.map(|s| s.trim().to_owned()),
        members: user_ids(&p, "members")?,
    };
    input.validate().map_err(validation_error)?;
    let token = actors
        .sessions
        .send(
            &user.user_id,
            IssueImToken {
                user_id: user.user_id,
                act: input.act,
                members: input.members,
            },
        )
        .await?;
    Ok(Reply(token))
}

#[derive(Validate)]
struct IdsInput {
    #[validate(length(min = 1, max = 100))]
    unique_names: Vec<i64>,
}

#[utoipa::path(
    get,
    path = "/accessuser/searchbyuniquename",
    tag = "user",
    params(
        ("token" = String, Header, description = "Session token"),
        ("unique_names" = Vec<String>, Query, description = "User ids, up to 100 (unique_names[]=6&unique_names[]=7)"),
    ),
    responses((status = 200, description = "Envelope; data {page_info, list} in the order asked"))
)]
pub async fn search_by_unique_name(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<ContactPage>> {
    let input = IdsInput {
        unique_names: user_ids(&p, "unique_names")?,
    };
    if input.unique_names.is_empty() {
        return Err(ApiError::missing("unique_names"));
    }
    input.validate().map_err(validation_error)?;
    let page = actors
        .relations
        .send(
            &user.user_id,
            SearchByIds {
                caller: user.user_id,
                ids: input.unique_names,
            },
        )
        .await?;
    Ok(Reply(page))
}

#[utoipa::path(
    get,
    path = "/accessuser/searchbynickname",
    tag = "user",
    params(
        ("token" = String, Header, description = "Session token"),
        ("nickname" = String, Query, description = "Exact nickname"),
    ),
    responses((status = 200, description = "Envelope; data {nickname, avatar, user_id}. Errors: 1 nobody has that nickname"))
)]
pub async fn search_by_nickname(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<Contact>> {
    let nickname = p.str("nickname")?.to_owned();
    let contact = actors
        .relations
        .send(
            &user.user_id,
            SearchByNickname {
                caller: user.user_id,
                nickname,
            },
        )
        .await?;
    Ok(Reply(contact))
}

#[utoipa::path(
    post,
    path = "/accessuser/logout",
    tag = "user",
    params(("token" = String, Header, description = "Session token")),
    responses((status = 200, description = "Envelope; data \"ok\""))
)]
pub async fn logout(actors: web::Data<Actors>, Auth(user): Auth) -> ApiResult<Reply<&'static str>> {
    let key = user.user_id;
    actors.sessions.send(&key, Logout(user)).await?;
    Ok(ok())
}

//! `accessuser/*`: sign-in, profile, IM tokens, searches, logout.

use actix_web::web;
use serde::Deserialize;
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::{Auth, ClientIp};
use super::params::Params;
use super::{AppState, UserId};
use crate::actors::Actors;
use crate::domain::check_code::CheckCode;
use crate::domain::device::{valid_device_id, Device};
use crate::domain::jwt::valid_act;
use crate::domain::nickname::Nickname;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::media::process_avatar;
use crate::services::profile::{Contact, ProfileData};
use crate::services::relation::ContactPage;
use crate::services::session::account::SessionItem;
use crate::services::session::{SignIn, SignInData};

#[derive(Deserialize, Validate)]
struct SignInInput {
    nation_code: String,
    phone: String,
    check_code: String,
    device: String,
    #[validate(custom(function = "device_id_shape"))]
    device_id: Option<String>,
}

/// Up to 128 printable characters once trimmed.
fn device_id_shape(s: &str) -> Result<(), validator::ValidationError> {
    if valid_device_id(s.trim()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("device_id"))
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
    let input: SignInInput = p.parse()?;
    let phone = state.parse_phone(&input.nation_code, &input.phone)?;
    let code = CheckCode::parse(&input.check_code).ok_or(ApiError::Invalid(Invalid::CheckCode))?;
    let device = Device::parse(&input.device).ok_or_else(|| ApiError::param("device"))?;
    let device_id = input.device_id.unwrap_or_default().trim().to_owned();
    if device.requires_device_id() && device_id.is_empty() {
        return Err(ApiError::missing("device_id"));
    }
    let sign_in = SignIn {
        phone: phone.clone(),
        code,
        device,
        device_id,
        ip,
    };
    let data = actors
        .sessions
        .run(phone, |s| async move { s.sign_in(sign_in).await })
        .await?;
    Ok(Reply(data))
}

#[derive(Deserialize, Validate)]
struct ProfileInput {
    nickname: Option<String>,
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
    let input: ProfileInput = p.parse()?;
    let nickname = match input.nickname {
        Some(n) => Some(Nickname::parse(&n).ok_or(ApiError::Invalid(Invalid::Nickname))?),
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
                    .map_err(|e| ApiError::internal("avatar worker", e))??,
            )
        }
        None => None,
    };
    if nickname.is_none() && avatar.is_none() {
        return Err(ApiError::Invalid(Invalid::NothingToUpdate));
    }
    let me = user.user_id;
    let data = actors
        .sessions
        .run(me, move |s| async move {
            s.profiles().update(me, nickname, avatar).await
        })
        .await?;
    Ok(Reply(data))
}

#[derive(Deserialize, Validate)]
struct ImTokenInput {
    #[validate(custom(function = "act_shape"))]
    act: Option<String>,
    #[validate(length(max = 500))]
    members: Option<Vec<UserId>>,
}

/// `[a-z][a-z0-9_.]{0,63}` once trimmed.
fn act_shape(s: &str) -> Result<(), validator::ValidationError> {
    if valid_act(s.trim()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("act"))
    }
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
    let input: ImTokenInput = p.parse()?;
    let act = input.act.map(|a| a.trim().to_owned());
    let members = UserId::all(input.members.unwrap_or_default());
    let me = user.user_id;
    let token = actors
        .sessions
        .run(
            me,
            move |s| async move { s.im_token(me, act, members).await },
        )
        .await?;
    Ok(Reply(token))
}

#[derive(Deserialize, Validate)]
struct IdsInput {
    #[validate(length(min = 1, max = 100))]
    unique_names: Vec<UserId>,
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
    ClientIp(ip): ClientIp,
    p: Params,
) -> ApiResult<Reply<ContactPage>> {
    let input: IdsInput = p.parse()?;
    let ids = UserId::all(input.unique_names);
    let me = user.user_id;
    let page = actors
        .relations
        .run(
            me,
            move |s| async move { s.search_by_ids(me, ip, ids).await },
        )
        .await?;
    Ok(Reply(page))
}

#[derive(Deserialize, Validate)]
struct NicknameInput {
    nickname: String,
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
    ClientIp(ip): ClientIp,
    p: Params,
) -> ApiResult<Reply<Contact>> {
    let input: NicknameInput = p.parse()?;
    // No valid nickname is anybody's.
    let nickname =
        Nickname::parse(&input.nickname).ok_or(ApiError::Invalid(Invalid::NicknameNotFound))?;
    let me = user.user_id;
    let contact = actors
        .relations
        .run(me, move |s| async move {
            s.search_by_nickname(me, ip, nickname).await
        })
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
    actors
        .sessions
        .run(user.user_id, |s| async move { s.logout(user).await })
        .await?;
    Ok(ok())
}

#[utoipa::path(
    post,
    path = "/accessuser/sessionlist",
    tag = "account",
    params(("token" = String, Header, description = "Session token")),
    responses((status = 200, description = "Envelope; data [{device, device_id (last 4 characters), created_at, last_active_at, current}]"))
)]
pub async fn session_list(
    actors: web::Data<Actors>,
    Auth(user): Auth,
) -> ApiResult<Reply<Vec<SessionItem>>> {
    let list = actors
        .sessions
        .run(user.user_id, |s| async move { s.session_list(&user).await })
        .await?;
    Ok(Reply(list))
}

#[derive(Deserialize, Validate)]
struct DeviceInput {
    device: String,
}

#[utoipa::path(
    post,
    path = "/accessuser/revokesession",
    tag = "account",
    params(
        ("token" = String, Header, description = "Session token"),
        ("device" = String, Query, description = "web, h5, android or ios"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\": that device type's session ends at once"))
)]
pub async fn revoke_session(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: DeviceInput = p.parse()?;
    let device = Device::parse(&input.device).ok_or_else(|| ApiError::param("device"))?;
    let me = user.user_id;
    actors
        .sessions
        .run(
            me,
            move |s| async move { s.revoke_device(me, device).await },
        )
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Validate)]
struct ChangePhoneInput {
    nation_code: String,
    phone: String,
    check_code: String,
}

#[utoipa::path(
    post,
    path = "/accessuser/changephone",
    tag = "account",
    params(
        ("token" = String, Header, description = "Session token"),
        ("nation_code" = String, Query, description = "The new number's country calling code"),
        ("phone" = String, Query, description = "The new number"),
        ("check_code" = String, Query, description = "The code sms/send sent to the new number"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\". Errors: 1 无效的号码, 1 无效的用户信息 (code), 1 号码已被使用, 429"))
)]
pub async fn change_phone(
    state: web::Data<AppState>,
    actors: web::Data<Actors>,
    Auth(user): Auth,
    ClientIp(ip): ClientIp,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: ChangePhoneInput = p.parse()?;
    let phone = state.parse_phone(&input.nation_code, &input.phone)?;
    let code = CheckCode::parse(&input.check_code).ok_or(ApiError::Invalid(Invalid::CheckCode))?;
    let me = user.user_id;
    actors
        .sessions
        .run(me, move |s| async move {
            s.change_phone(me, phone, code, ip).await
        })
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Validate)]
struct DeleteInput {
    check_code: String,
}

#[utoipa::path(
    post,
    path = "/accessuser/deleteaccount",
    tag = "account",
    params(
        ("token" = String, Header, description = "Session token"),
        ("check_code" = String, Query, description = "The code sms/send sent to the account's own number"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\": the account, its sessions and relations are gone. Errors: 1 无效的用户信息 (code), 401, 429"))
)]
pub async fn delete_account(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    ClientIp(ip): ClientIp,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: DeleteInput = p.parse()?;
    let code = CheckCode::parse(&input.check_code).ok_or(ApiError::Invalid(Invalid::CheckCode))?;
    let me = user.user_id;
    actors
        .sessions
        .run(
            me,
            move |s| async move { s.delete_account(me, code, ip).await },
        )
        .await?;
    Ok(ok())
}

//! `accessuser/*`: sign-in, profile, IM tokens, searches, logout, and the account's own
//! lifecycle (sessions, number, deletion).

use actix_web::web;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::{Auth, ClientIp};
use super::openapi::{ids_or_csv, int_or_digits, Done, Envelope};
use super::params::Params;
use super::{AppState, UserId};
use crate::actors::Actors;
use crate::domain::check_code::CheckCode;
use crate::domain::device::{valid_device_id, Device};
use crate::domain::jwt::valid_act;
use crate::domain::nickname::Nickname;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::services::profile::{Contact, ProfileData};
use crate::services::relation::ContactPage;
use crate::services::session::account::SessionItem;
use crate::services::session::{SignIn, SignInData};
use crate::store::rate;

#[derive(Deserialize, Validate, ToSchema)]
pub struct SignInInput {
    /// Country calling code without `+`.
    #[schema(example = "86")]
    nation_code: String,
    /// The national mobile number.
    #[schema(example = "16522222222")]
    phone: String,
    /// The 6-digit code sms/send sent (a number or a string of digits; `1234` is `001234`).
    #[schema(schema_with = int_or_digits)]
    check_code: String,
    /// `web`, `h5`, `android` or `ios`.
    #[schema(value_type = DeviceType)]
    device: String,
    /// Required for android and ios: up to 128 printable characters.
    #[validate(custom(function = "device_id_shape"))]
    #[schema(example = "qbfkdvkjdckci", max_length = 128)]
    device_id: Option<String>,
}

/// A device type (in any letter case, surrounding spaces ignored).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // describes the wire
enum DeviceType {
    Web,
    H5,
    Android,
    Ios,
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
    summary = "Sign in with an SMS code; the first sign-in of a number creates the user",
    request_body(content(
        (SignInInput = "application/x-www-form-urlencoded"),
        (SignInInput = "application/json"),
        (SignInInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<SignInData>, description = "Codes: 0; 1 无效的号码 (number), 无效的用户信息 (wrong, expired or used code), 缺少参数/参数无效; 403 账号已被封禁 (banned); 429 after 5 wrong tries or past the per-address budget (Retry-After); 503", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429"))),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    )
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

#[derive(Deserialize, Validate, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProfileInput {
    /// 1–20 characters after trimming; no control or format characters.
    #[schema(example = "ivan")]
    #[param(example = "ivan")]
    nickname: Option<String>,
}

/// updateuserinfo's multipart body.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the wire
pub struct ProfileUpload {
    /// JPEG, PNG, WebP or GIF (first frame), at most 5 MiB; an empty part counts as none.
    #[schema(value_type = Option<String>, format = Binary)]
    avatar: Option<Vec<u8>>,
    /// 1–20 characters after trimming.
    nickname: Option<String>,
}

#[utoipa::path(
    method(post, put),
    path = "/accessuser/updateuserinfo",
    tag = "user",
    summary = "Change the nickname and/or the avatar (the Android client sends PUT with ?nickname=)",
    params(ProfileInput),
    request_body(content(
        (ProfileUpload = "multipart/form-data"),
        (ProfileInput = "application/x-www-form-urlencoded"),
        (ProfileInput = "application/json"),
    )),
    responses(
        (status = 200, body = Envelope<ProfileData>, description = "Codes: 0; 1 修改失败 (no nickname or avatar, a bad nickname); 401; 415 not an image; 429 avatar uploads per hour (Retry-After); 503 too many decodes at once (Retry-After)", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429 or 503")),
            links(("search_by_nickname" = (operation_id = "search_by_nickname", parameters(("nickname" = "$response.body#/data/nickname")), description = "The new nickname finds its user")))),
        (status = 413, body = Envelope<Done>, description = "Body or file over the limit"),
    ),
    security(("token" = []))
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
            rate::take_or_refuse(&state.db, &[state.avatars.upload_budget(user.user_id)]).await?;
            Some(state.avatars.process(upload.bytes.clone()).await?)
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

#[derive(Deserialize, Validate, ToSchema)]
pub struct ImTokenInput {
    /// An IM action, `[a-z][a-z0-9_.]{0,63}`; absent: a fresh login im_token.
    #[validate(custom(function = "act_shape"))]
    #[schema(example = "conv.create", pattern = "^[a-z][a-z0-9_.]{0,63}$")]
    act: Option<String>,
    /// User ids the action concerns, in the order that makes the token's `members`
    /// hash: an array (`members[]=6&members[]=7`, JSON `["6", 7]`) or `6,7`; up to 500.
    #[validate(length(max = 500))]
    #[schema(schema_with = ids_or_csv)]
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
    summary = "An IM token: a fresh login im_token, or an action token for act and its members",
    request_body(content(
        (ImTokenInput = "application/x-www-form-urlencoded"),
        (ImTokenInput = "application/json"),
        (ImTokenInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<String>, description = "data is the JWT. Codes: 0; 1 unknown member or bad act/members; 401; 403 a member blocked you"),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("token" = []))
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

#[derive(Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdsInput {
    /// User ids, up to 100, answered in this order: `unique_names=6&unique_names=7`
    /// (or PHP's `unique_names[]=6&unique_names[]=7`, or `6,7`).
    #[validate(length(min = 1, max = 100))]
    #[param(style = Form, explode, min_items = 1, max_items = 100, example = json!([6, 7]))]
    unique_names: Vec<UserId>,
}

#[utoipa::path(
    method(get, post),
    path = "/accessuser/searchbyuniquename",
    tag = "user",
    summary = "Users by id, in the order asked; whoever blocked the caller is left out",
    params(IdsInput),
    responses(
        (status = 200, body = Envelope<ContactPage>, description = "One page holding the users found. Codes: 0; 1 bad or too many ids; 401; 429 lookups per hour (Retry-After)", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429")),
            links(("search_by_nickname" = (operation_id = "search_by_nickname", parameters(("nickname" = "$response.body#/data/list/0/nickname")), description = "A user found, by nickname")))),
    ),
    security(("token" = []))
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

#[derive(Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NicknameInput {
    /// The exact nickname.
    #[param(example = "whaha12")]
    nickname: String,
}

#[utoipa::path(
    method(get, post),
    path = "/accessuser/searchbynickname",
    tag = "user",
    summary = "The user with exactly this nickname (who has not blocked the caller)",
    params(NicknameInput),
    responses(
        (status = 200, body = Envelope<Contact>, description = "Codes: 0; 1 没有使用该昵称的用户 (nobody); 401; 429 lookups per hour (Retry-After)", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429")),
            links(("search_by_unique_name" = (operation_id = "search_by_unique_name", parameters(("unique_names" = "$response.body#/data/user_id")), description = "The user found, by id")))),
    ),
    security(("token" = []))
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
    summary = "Sign out: the token stops working at once",
    responses((status = 200, body = Envelope<Done>, description = "Codes: 0; 401")),
    security(("token" = []))
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
    summary = "The caller's sessions: one per device type, the current one marked",
    responses((status = 200, body = Envelope<Vec<SessionItem>>, description = "Codes: 0; 401",
        links(("revoke_session" = (operation_id = "revoke_session", description = "End a session by its device type"))))),
    security(("token" = []))
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

#[derive(Deserialize, Validate, ToSchema)]
pub struct DeviceInput {
    /// `web`, `h5`, `android` or `ios`.
    #[schema(value_type = DeviceType)]
    device: String,
}

#[utoipa::path(
    post,
    path = "/accessuser/revokesession",
    tag = "account",
    summary = "End the session of one device type (none there is fine)",
    request_body(content(
        (DeviceInput = "application/x-www-form-urlencoded"),
        (DeviceInput = "application/json"),
        (DeviceInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 参数 device 无效 / 缺少参数 device; 401"),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("token" = []))
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

#[derive(Deserialize, Validate, ToSchema)]
pub struct ChangePhoneInput {
    /// The new number's country calling code.
    #[schema(example = "86")]
    nation_code: String,
    /// The new number.
    #[schema(example = "16533333333")]
    phone: String,
    /// The code sms/send sent to the new number.
    #[schema(schema_with = int_or_digits)]
    check_code: String,
}

#[utoipa::path(
    post,
    path = "/accessuser/changephone",
    tag = "account",
    summary = "Move the account to a new number, proven by a code sent to it",
    request_body(content(
        (ChangePhoneInput = "application/x-www-form-urlencoded"),
        (ChangePhoneInput = "application/json"),
        (ChangePhoneInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 无效的号码, 无效的用户信息 (code), 号码已被使用 (another account's); 401; 429 (Retry-After)", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429"))),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("token" = []))
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

#[derive(Deserialize, Validate, ToSchema)]
pub struct DeleteInput {
    /// The code sms/send sent to the account's own number.
    #[schema(schema_with = int_or_digits)]
    check_code: String,
}

#[utoipa::path(
    post,
    path = "/accessuser/deleteaccount",
    tag = "account",
    summary = "Delete the account (sessions, relations, profile, avatar), proven by a code sent to its own number",
    request_body(content(
        (DeleteInput = "application/x-www-form-urlencoded"),
        (DeleteInput = "application/json"),
        (DeleteInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 无效的用户信息 (code); 401; 429 (Retry-After); 500 if the database failed mid-way (nothing changed)", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429"))),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("token" = []))
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

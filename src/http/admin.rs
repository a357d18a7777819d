//! `/admin/*`: the operators' routes (an admin key, `extract::AdminKey`). Every change
//! is audited with the key's name and the request id, in the change's transaction.

use actix_web::web;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::envelope::{self, ok, Reply};
use super::extract::AdminKey;
use super::openapi::{int_or_digits, Done, Envelope};
use super::params::Params;
use super::{AppState, UserId};
use crate::actors::Actors;
use crate::domain::device::Device;
use crate::domain::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::services::session::admin::{AuditItem, Lookup, Operator, UserCard};

fn operator(key: AdminKey) -> Operator {
    Operator {
        key: key.name,
        request_id: envelope::current().request_id,
    }
}

/// A reason an operator gives: trimmed, 1 to 200 characters, no control characters.
fn reason(given: String) -> ApiResult<String> {
    let r = given.trim();
    if r.is_empty() {
        return Err(ApiError::missing("reason"));
    }
    if r.chars().count() > 200 || r.chars().any(char::is_control) {
        return Err(ApiError::param("reason"));
    }
    Ok(r.to_owned())
}

/// Year 10000: later ends are refused (RFC 3339 has four-digit years).
const LATEST_MS: i64 = 253_402_300_800_000;

/// A ban's end: RFC 3339 or unix seconds, in the future; in ms.
fn until(given: &str, now: i64) -> ApiResult<i64> {
    let s = given.trim();
    let ms = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
    } else {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    };
    match ms {
        Some(ms) if ms > now && ms < LATEST_MS => Ok(ms),
        _ => Err(ApiError::param("until")),
    }
}

#[derive(Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupInput {
    /// The user's id; or give `nation_code` and `phone`.
    user_id: Option<UserId>,
    /// With `phone`: find the user by number (`86` or `+86`).
    #[param(example = "86")]
    nation_code: Option<String>,
    /// With `nation_code`.
    #[param(example = "16522222222")]
    phone: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/users/lookup",
    tag = "admin",
    summary = "An account as operators see it: profile, state, sessions and counts",
    params(LookupInput),
    responses(
        (status = 200, body = Envelope<UserCard>, description = "Codes: 0; 1 用户不存在 (no such user; a deleted one included), 无效的号码, 缺少参数/参数无效; 401. HTTP 404 when no admin key is configured"),
    ),
    security(("admin_key" = []))
)]
pub async fn lookup(
    _key: AdminKey,
    state: web::Data<AppState>,
    actors: web::Data<Actors>,
    p: Params,
) -> ApiResult<Reply<UserCard>> {
    let input: LookupInput = p.parse()?;
    let by = match (input.user_id, input.nation_code, input.phone) {
        (Some(id), _, _) => Lookup::Id(id.0),
        (None, Some(cc), Some(phone)) => Lookup::Phone(state.parse_phone(&cc, &phone)?),
        (None, Some(_), None) => return Err(ApiError::missing("phone")),
        (None, None, _) => return Err(ApiError::missing("user_id")),
    };
    let card = match by {
        Lookup::Id(id) => {
            let by = Lookup::Id(id);
            actors
                .sessions
                .run(id, |s| async move { s.admin_lookup(by).await })
                .await?
        }
        Lookup::Phone(phone) => {
            let by = Lookup::Phone(phone.clone());
            actors
                .sessions
                .run(phone, |s| async move { s.admin_lookup(by).await })
                .await?
        }
    };
    Ok(Reply(card))
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct BanInput {
    /// The user to ban.
    user_id: UserId,
    /// Why: 1–200 characters once trimmed, no control characters. Kept in the audit log
    /// and sent in `user.banned`.
    #[schema(example = "spam", max_length = 200)]
    reason: String,
    /// When the ban ends: RFC 3339 with an offset, or unix seconds; in the future.
    /// Absent: no end.
    #[schema(example = "2026-12-24T00:00:00Z")]
    until: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/users/ban",
    tag = "admin",
    summary = "Ban an account (or change a ban's reason and end); its sessions end at once",
    description = "In one transaction: the ban, every session revoked (session.revoked, reason banned), user.banned, the audit row. Until the ban ends sign-in answers 403 账号已被封禁 and sms/send to the number answers as for anyone but sends nothing. It ends by itself at `until` (user.unbanned).",
    request_body(content(
        (BanInput = "application/x-www-form-urlencoded"),
        (BanInput = "application/json"),
        (BanInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 用户不存在, 缺少参数 reason, 参数 reason 无效, 参数 until 无效 (not RFC 3339 or unix seconds, or not in the future); 401. HTTP 404 when no admin key is configured"),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("admin_key" = []))
)]
pub async fn ban(
    key: AdminKey,
    actors: web::Data<Actors>,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: BanInput = p.parse()?;
    let reason = reason(input.reason)?;
    let until = match input.until {
        Some(u) => Some(until(&u, now_ms())?),
        None => None,
    };
    let (user, by) = (input.user_id.0, operator(key));
    actors
        .sessions
        .run(user, move |s| async move {
            s.ban(user, reason, until, by).await
        })
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct UserInput {
    /// The user.
    user_id: UserId,
}

#[utoipa::path(
    post,
    path = "/admin/users/unban",
    tag = "admin",
    summary = "Lift a ban (user.unbanned); an active user stays as is",
    description = "Unbanning an active user answers ok, changes nothing and emits nothing; the call is still audited.",
    request_body(content(
        (UserInput = "application/x-www-form-urlencoded"),
        (UserInput = "application/json"),
        (UserInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 用户不存在, 缺少参数 user_id; 401. HTTP 404 when no admin key is configured"),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("admin_key" = []))
)]
pub async fn unban(
    key: AdminKey,
    actors: web::Data<Actors>,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: UserInput = p.parse()?;
    let (user, by) = (input.user_id.0, operator(key));
    actors
        .sessions
        .run(user, move |s| async move { s.unban(user, by).await })
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct RevokeInput {
    /// The user to sign out.
    user_id: UserId,
    /// `web`, `h5`, `android` or `ios`; absent: every device.
    #[schema(example = "android")]
    device: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/sessions/revoke",
    tag = "admin",
    summary = "Force logout: the user's sessions (one device type, or all) end at once",
    description = "session.revoked with reason admin, for each session ended, on every process within a second.",
    request_body(content(
        (RevokeInput = "application/x-www-form-urlencoded"),
        (RevokeInput = "application/json"),
        (RevokeInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 用户不存在, 参数 device 无效; 401. HTTP 404 when no admin key is configured"),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("admin_key" = []))
)]
pub async fn revoke(
    key: AdminKey,
    actors: web::Data<Actors>,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: RevokeInput = p.parse()?;
    let device = match input.device {
        Some(d) => Some(Device::parse(&d).ok_or_else(|| ApiError::param("device"))?),
        None => None,
    };
    let (user, by) = (input.user_id.0, operator(key));
    actors
        .sessions
        .run(user, move |s| async move {
            s.admin_revoke(user, device, by).await
        })
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Validate, ToSchema)]
pub struct DeleteInput {
    /// The account to delete.
    user_id: UserId,
    /// Why: 1–200 characters once trimmed. Kept in the audit log.
    #[schema(example = "asked by the user", max_length = 200)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/admin/users/delete",
    tag = "admin",
    summary = "Delete an account, exactly as accessuser/deleteaccount does",
    request_body(content(
        (DeleteInput = "application/x-www-form-urlencoded"),
        (DeleteInput = "application/json"),
        (DeleteInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 用户不存在, 缺少参数 reason, 参数 reason 无效; 401. HTTP 404 when no admin key is configured"),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("admin_key" = []))
)]
pub async fn delete(
    key: AdminKey,
    actors: web::Data<Actors>,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let input: DeleteInput = p.parse()?;
    let reason = reason(input.reason)?;
    let (user, by) = (input.user_id.0, operator(key));
    actors
        .sessions
        .run(user, move |s| async move {
            s.admin_delete(user, reason, by).await
        })
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditInput {
    /// Only the entries about this user.
    user_id: Option<UserId>,
    /// An entry id: only older entries (the last `id` of the previous page).
    #[validate(range(min = 1))]
    #[param(schema_with = int_or_digits)]
    after: Option<i64>,
    /// 1–500, default 50.
    #[validate(range(min = 1, max = 500))]
    #[param(schema_with = int_or_digits)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    summary = "The audit log, newest first: every change an operator made (and bans that ended by themselves)",
    params(AuditInput),
    responses(
        (status = 200, body = Envelope<Vec<AuditItem>>, description = "Codes: 0; 1 参数 limit/after/user_id 无效; 401. HTTP 404 when no admin key is configured"),
    ),
    security(("admin_key" = []))
)]
pub async fn audit(
    _key: AdminKey,
    actors: web::Data<Actors>,
    p: Params,
) -> ApiResult<Reply<Vec<AuditItem>>> {
    let input: AuditInput = p.parse()?;
    let user = input.user_id.map(|u| u.0);
    let limit = input.limit.unwrap_or(50) as u64;
    let after = input.after;
    let items = actors
        .sessions
        .run(user.unwrap_or(0), move |s| async move {
            s.audit_log(user, after, limit).await
        })
        .await?;
    Ok(Reply(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_ends_in_the_future_given_as_rfc3339_or_unix_seconds() {
        // 2027-01-15T07:43:20Z
        let now = 1_799_999_000_000;
        assert_eq!(until("1800000000", now).ok(), Some(1_800_000_000_000));
        assert_eq!(
            until("2027-01-15T08:00:00Z", now).ok(),
            Some(1_800_000_000_000)
        );
        assert_eq!(
            until(" 2027-01-15T16:00:00.250+08:00 ", now).ok(),
            Some(1_800_000_000_250)
        );
        for bad in [
            "1799999000", // now
            "1700000000", // past
            "2027-01-15T07:00:00Z",
            "",
            "-5",
            "2027-01-15 08:00:00",
            "tomorrow",
            "99999999999999999999",
            "10000-01-01T00:00:00Z",
            "253402300800",
        ] {
            assert!(until(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reason_is_trimmed_and_bounded() {
        assert_eq!(reason("  spam  ".into()).ok().as_deref(), Some("spam"));
        assert_eq!(reason("封".repeat(200)).ok(), Some("封".repeat(200)));
        assert!(reason("封".repeat(201)).is_err());
        assert!(reason("   ".into()).is_err());
        assert!(reason("a\u{0}b".into()).is_err());
    }
}

//! `/admin/*`: the operators' routes (an admin key, `extract::AdminKey`). Every change
//! is audited with the key's name and the request id, in the change's transaction.

use actix_web::web;
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use validator::Validate;

use super::envelope::{self, ok, Reply};
use super::extract::AdminKey;
use super::params::Params;
use super::{AppState, UserId};
use crate::actors::Actors;
use crate::domain::device::Device;
use crate::domain::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::services::session::admin::{AuditItem, Lookup, Operator, UserCard};

/// The bearer scheme of `/admin/*` in the OpenAPI document.
pub struct AdminSecurity;

impl utoipa::Modify for AdminSecurity {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The secret of one of the admin keys ([admin] keys). No key configured: every /admin/* route answers 404; a wrong key (an IM-server key or a session token included): code 401.",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("admin_key", SecurityScheme::Http(scheme));
    }
}

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

#[derive(Deserialize, Validate)]
struct LookupInput {
    user_id: Option<UserId>,
    nation_code: Option<String>,
    phone: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/users/lookup",
    tag = "admin",
    security(("admin_key" = [])),
    params(
        ("user_id" = Option<i64>, Query, description = "The user's id; or give nation_code and phone"),
        ("nation_code" = Option<String>, Query, description = "With phone: find the user by number"),
        ("phone" = Option<String>, Query, description = "With nation_code"),
    ),
    responses((status = 200, description = "Envelope; data {user_id, nickname, avatar, nation_code, phone, state (active|banned), banned_until (RFC 3339 or null), ban_reason, created_at (unix s), last_seen (unix s), sessions: [{device, device_id (in full), created_at, last_active_at, current: false}], counts: {follows, fans, blocks}}. Errors: 1 用户不存在 (no such user, a deleted one included), 1 bad parameter, 401, 404 when no admin key is configured"))
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

#[derive(Deserialize, Validate)]
struct BanInput {
    user_id: UserId,
    reason: String,
    until: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/users/ban",
    tag = "admin",
    security(("admin_key" = [])),
    params(
        ("user_id" = i64, Query, description = "The user to ban"),
        ("reason" = String, Query, description = "Why, 1-200 characters (kept in the audit log and sent in user.banned)"),
        ("until" = Option<String>, Query, description = "When the ban ends: RFC 3339 or unix seconds, in the future; absent: no end"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\": every session revoked (reason banned), user.banned; sign-in answers 403 and sms/send sends nothing until the ban ends. Banning again replaces reason and end. Errors: 1 用户不存在, 1 bad reason or until, 401, 404"))
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

#[derive(Deserialize, Validate)]
struct UserInput {
    user_id: UserId,
}

#[utoipa::path(
    post,
    path = "/admin/users/unban",
    tag = "admin",
    security(("admin_key" = [])),
    params(("user_id" = i64, Query, description = "The user to unban")),
    responses((status = 200, description = "Envelope; data \"ok\", user.unbanned; an active user: ok, nothing changes, no event (the call is audited). Errors: 1 用户不存在, 401, 404"))
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

#[derive(Deserialize, Validate)]
struct RevokeInput {
    user_id: UserId,
    device: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/sessions/revoke",
    tag = "admin",
    security(("admin_key" = [])),
    params(
        ("user_id" = i64, Query, description = "The user to sign out"),
        ("device" = Option<String>, Query, description = "web, h5, android or ios; absent: every device"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\": the sessions end at once on every process, session.revoked with reason admin. Errors: 1 用户不存在, 1 bad device, 401, 404"))
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

#[derive(Deserialize, Validate)]
struct DeleteInput {
    user_id: UserId,
    reason: String,
}

#[utoipa::path(
    post,
    path = "/admin/users/delete",
    tag = "admin",
    security(("admin_key" = [])),
    params(
        ("user_id" = i64, Query, description = "The account to delete"),
        ("reason" = String, Query, description = "Why, 1-200 characters (kept in the audit log)"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\": exactly what accessuser/deleteaccount does. Errors: 1 用户不存在, 1 bad reason, 401, 404"))
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

#[derive(Deserialize, Validate)]
struct AuditInput {
    user_id: Option<UserId>,
    #[validate(range(min = 1))]
    after: Option<i64>,
    #[validate(range(min = 1, max = 500))]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    security(("admin_key" = [])),
    params(
        ("user_id" = Option<i64>, Query, description = "Only the entries about this user"),
        ("after" = Option<i64>, Query, description = "An entry id: only entries older than it (the last id of the previous page)"),
        ("limit" = Option<i64>, Query, description = "1-500, default 50"),
    ),
    responses((status = 200, description = "Envelope; data is an array of entries, newest first: [{id, at (RFC 3339), key (the admin key's name, or (system) for a ban that ended by itself), action (users.ban, users.unban, sessions.revoke, users.delete), user_id, reason, request_id}]. Errors: 1 bad parameter, 401, 404"))
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

//! What operators do to an account (`/admin/*`): look it up, ban and unban it, force
//! its sessions out, delete it, and read the audit log. Every change is audited in its
//! own transaction; a ban also ends by itself, lifted by a sweep every process runs.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::account::{revoked, Revocation, SessionItem};
use super::{banned, SessionService};
use crate::domain::device::Device;
use crate::domain::event::{rfc3339, Event, RevokeReason};
use crate::domain::now_ms;
use crate::domain::phone::PhoneNumber;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::store::{audit, outbox, relations, sessions, users};

/// Who acts: the admin key's name and the request, for the audit row.
#[derive(Clone, Debug)]
pub struct Operator {
    pub key: String,
    pub request_id: String,
}

impl Operator {
    fn entry(&self, action: &'static str, user_id: i64, reason: Option<String>) -> audit::Entry {
        audit::Entry {
            key_name: self.key.clone(),
            action,
            user_id: Some(user_id),
            reason,
            request_id: self.request_id.clone(),
        }
    }
}

/// The key name on the rows of bans that ended by themselves. Not a possible name of a
/// configured key (those have no parentheses), so it cannot be mistaken for one.
pub const SYSTEM_KEY: &str = "(system)";

/// The audit log's actions.
pub mod action {
    pub const BAN: &str = "users.ban";
    pub const UNBAN: &str = "users.unban";
    pub const REVOKE: &str = "sessions.revoke";
    pub const DELETE: &str = "users.delete";
    /// Every action, for the metrics' zero series.
    pub const ALL: &[&str] = &[BAN, UNBAN, REVOKE, DELETE];
}

/// How an operator names the user to look up.
pub enum Lookup {
    Id(i64),
    Phone(PhoneNumber),
}

/// `/admin/users/lookup`'s `data`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserCard {
    #[schema(example = 8)]
    pub user_id: i64,
    #[schema(example = "GLdKtM")]
    pub nickname: String,
    /// The avatar's URL, or null.
    pub avatar: Option<String>,
    #[schema(example = "86")]
    pub nation_code: String,
    #[schema(example = "16522222222")]
    pub phone: String,
    /// `active` or `banned` (a deleted user is not found).
    #[schema(example = "banned")]
    pub state: &'static str,
    /// RFC 3339, or null: not banned, or banned with no end.
    #[schema(example = "2026-12-24T00:00:00.000Z")]
    pub banned_until: Option<String>,
    /// Null unless banned.
    #[schema(example = "spam")]
    pub ban_reason: Option<String>,
    /// Unix seconds.
    #[schema(example = 1764547200)]
    pub created_at: i64,
    /// Unix seconds: the last sign-in or session use, whichever is later.
    #[schema(example = 1764550800)]
    pub last_seen: i64,
    /// Live sessions, oldest first, device ids in full; `current` is always false here.
    pub sessions: Vec<SessionItem>,
    pub counts: Counts,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Users this one follows.
    pub follows: u64,
    /// Users following this one.
    pub fans: u64,
    /// Users this one blocks.
    pub blocks: u64,
}

/// One row of `/admin/audit`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditItem {
    #[schema(example = 12)]
    pub id: i64,
    /// RFC 3339 UTC, milliseconds.
    #[schema(example = "2026-12-01T04:05:47.123Z")]
    pub at: String,
    /// The admin key's name (never its secret); `(system)` for a ban that ended by itself.
    #[schema(example = "alice")]
    pub key: String,
    /// `users.ban`, `users.unban`, `sessions.revoke` or `users.delete`.
    #[schema(example = "users.ban")]
    pub action: String,
    #[schema(example = 8)]
    pub user_id: Option<i64>,
    /// The operator's reason (ban, delete); null for unban and revoke.
    #[schema(example = "spam")]
    pub reason: Option<String>,
    /// The changing request's `request-id`.
    #[schema(example = "4bf92f3577b34da6a3ce929d0e0e4736")]
    pub request_id: String,
}

impl SessionService {
    /// The account as an operator sees it; code 1 if there is no such (live) user.
    pub async fn admin_lookup(&self, by: Lookup) -> ApiResult<UserCard> {
        let conn = self.db.conn();
        let user = match &by {
            Lookup::Id(id) => users::find(&conn, *id).await?,
            Lookup::Phone(p) => users::find_by_phone(&conn, p).await?,
        }
        .ok_or(ApiError::Invalid(Invalid::UnknownUser))?;
        let now = now_ms();
        let live: Vec<_> = sessions::of_user(&conn, user.id)
            .await?
            .into_iter()
            .filter(|s| s.expires_at > now)
            .collect();
        let (follows, fans, blocks) = relations::counts(&conn, user.id).await?;
        let last_seen = live
            .iter()
            .map(|s| s.last_used_at)
            .fold(user.last_signin_at, i64::max);
        let is_banned = banned(&user, now);
        Ok(UserCard {
            user_id: user.id,
            avatar: user.avatar.as_deref().map(|k| self.storage.url(k)),
            nickname: user.nickname,
            nation_code: user.nation_code,
            phone: user.phone,
            state: if is_banned { "banned" } else { "active" },
            banned_until: user.banned_until.filter(|_| is_banned).map(rfc3339),
            ban_reason: user.ban_reason.filter(|_| is_banned),
            created_at: user.created_at / 1000,
            last_seen: last_seen / 1000,
            sessions: live
                .into_iter()
                .map(|s| SessionItem {
                    device: s.device,
                    device_id: s.device_id,
                    created_at: s.created_at / 1000,
                    last_active_at: s.last_used_at / 1000,
                    current: false,
                })
                .collect(),
            counts: Counts {
                follows,
                fans,
                blocks,
            },
        })
    }

    /// Bans the user until `until` (ms; `None`: no end), or replaces the reason and end
    /// of their ban: in one transaction the ban, every session revoked (reason
    /// `banned`), `user.banned` and the audit row.
    pub async fn ban(
        &self,
        user: i64,
        reason: String,
        until: Option<i64>,
        by: Operator,
    ) -> ApiResult<()> {
        let now = now_ms();
        let entry = by.entry(action::BAN, user, Some(reason.clone()));
        let ended = self
            .db
            .write(|txn| {
                let (reason, entry) = (reason.clone(), entry.clone());
                Box::pin(async move {
                    if users::lock_user(txn, user).await?.is_none() {
                        return Err(ApiError::Invalid(Invalid::UnknownUser).into());
                    }
                    users::set_ban(txn, user, until, &reason, now).await?;
                    let ended = sessions::delete_all_of(txn, user).await?;
                    let mut events: Vec<Event> = ended
                        .iter()
                        .map(|s| revoked(s, RevokeReason::Banned))
                        .collect();
                    events.push(Event::UserBanned {
                        user_id: user,
                        until: until.map(rfc3339),
                        reason,
                    });
                    outbox::insert_all(txn, &events).await?;
                    audit::insert(txn, &entry, now).await?;
                    Ok(ended)
                })
            })
            .await?;
        self.signal.committed();
        crate::metrics::admin_action(action::BAN);
        self.forget_sessions(&ended).await;
        tracing::info!(
            user_id = user,
            key = %by.key,
            sessions = ended.len(),
            until = until.map(rfc3339),
            "account banned"
        );
        Ok(())
    }

    /// Lifts the user's ban (`user.unbanned`). An active user: nothing changes and no
    /// event, but the call is still audited (the log records what operators did).
    pub async fn unban(&self, user: i64, by: Operator) -> ApiResult<()> {
        let now = now_ms();
        let entry = by.entry(action::UNBAN, user, None);
        let lifted = self
            .db
            .write(|txn| {
                let entry = entry.clone();
                Box::pin(async move {
                    if users::lock_user(txn, user).await?.is_none() {
                        return Err(ApiError::Invalid(Invalid::UnknownUser).into());
                    }
                    let lifted = users::lift_ban(txn, user, None, now).await?;
                    if lifted {
                        outbox::insert(txn, &Event::UserUnbanned { user_id: user }).await?;
                    }
                    audit::insert(txn, &entry, now).await?;
                    Ok(lifted)
                })
            })
            .await?;
        crate::metrics::admin_action(action::UNBAN);
        if lifted {
            self.signal.committed();
            tracing::info!(user_id = user, key = %by.key, "account unbanned");
        }
        Ok(())
    }

    /// Force logout: the user's sessions (of one device type, or all) end at once,
    /// `session.revoked` with reason `admin`.
    pub async fn admin_revoke(
        &self,
        user: i64,
        device: Option<Device>,
        by: Operator,
    ) -> ApiResult<()> {
        let revocation = Revocation {
            reason: RevokeReason::Admin,
            audit: Some(by.entry(action::REVOKE, user, None)),
        };
        if !self.revoke_sessions(user, device, revocation).await? {
            return Err(ApiError::Invalid(Invalid::UnknownUser));
        }
        crate::metrics::admin_action(action::REVOKE);
        tracing::info!(user_id = user, key = %by.key, device = device.map(|d| d.as_str()), "sessions revoked by an operator");
        Ok(())
    }

    /// Deletes the account exactly as `accessuser/deleteaccount` does, audited.
    pub async fn admin_delete(&self, user: i64, reason: String, by: Operator) -> ApiResult<()> {
        let entry = by.entry(action::DELETE, user, Some(reason));
        if !self.delete_user(user, None, Some(entry)).await? {
            return Err(ApiError::Invalid(Invalid::UnknownUser));
        }
        crate::metrics::admin_action(action::DELETE);
        Ok(())
    }

    /// Audit entries newest first, optionally of one user, older than `before` (an id).
    pub async fn audit_log(
        &self,
        user: Option<i64>,
        before: Option<i64>,
        limit: u64,
    ) -> ApiResult<Vec<AuditItem>> {
        let rows = audit::list(&self.db.conn(), user, before, limit).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditItem {
                id: r.id,
                at: rfc3339(r.at),
                key: r.key_name,
                action: r.action,
                user_id: r.user_id,
                reason: r.reason,
                request_id: r.request_id,
            })
            .collect())
    }

    /// Lifts the bans whose end has passed, each in its own transaction with
    /// `user.unbanned` and an audit row by `(system)`. Every process runs this; the
    /// user's row lock and the conditional update make each lift happen exactly once.
    pub async fn lift_ended_bans(&self) -> ApiResult<usize> {
        let now = now_ms();
        let ids = users::ended_bans(&self.db.conn(), now, 100).await?;
        let mut lifted = 0;
        for id in ids {
            let entry = audit::Entry {
                key_name: SYSTEM_KEY.to_owned(),
                action: action::UNBAN,
                user_id: Some(id),
                reason: Some("ban ended".to_owned()),
                request_id: hex::encode(rand::random::<[u8; 16]>()),
            };
            let done = self
                .db
                .write(|txn| {
                    let entry = entry.clone();
                    Box::pin(async move {
                        if users::lock_user(txn, id).await?.is_none()
                            || !users::lift_ban(txn, id, Some(now), now).await?
                        {
                            return Ok(false);
                        }
                        outbox::insert(txn, &Event::UserUnbanned { user_id: id }).await?;
                        audit::insert(txn, &entry, now).await?;
                        Ok(true)
                    })
                })
                .await?;
            if done {
                lifted += 1;
                tracing::info!(user_id = id, "ban ended");
            }
        }
        if lifted > 0 {
            self.signal.committed();
        }
        Ok(lifted)
    }
}

/// Runs `lift_ended_bans` every second until `stop`.
pub async fn sweep_bans(
    service: Arc<SessionService>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = service.lift_ended_bans().await {
            tracing::debug!(error = %e, "ban sweep failed; next try in a second");
        }
    }
}

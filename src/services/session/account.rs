//! The user's own account: their sessions, their number, and deleting it all.

use std::net::IpAddr;

use serde::Serialize;

use super::{consume_code, AuthUser, SessionService};
use crate::domain::check_code::CheckCode;
use crate::domain::device::Device;
use crate::domain::event::{Event, RevokeReason};
use crate::domain::now_ms;
use crate::domain::phone::PhoneNumber;
use crate::domain::token::TokenHash;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::store::audit;
use crate::store::{outbox, relations, sessions, sms as codes, users, TxError};

/// One of sessionlist's items.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SessionItem {
    #[schema(example = "android")]
    pub device: String,
    /// Only the last 4 characters, after `…` (empty when the device sent none).
    #[schema(example = "…dkci")]
    pub device_id: String,
    /// Unix seconds.
    #[schema(example = 1764563400)]
    pub created_at: i64,
    /// Unix seconds; recorded at most once per `session.touch_interval_secs`.
    pub last_active_at: i64,
    /// The session this request used.
    pub current: bool,
}

/// `…` and the last four characters of a device id.
pub fn mask_device_id(id: &str) -> String {
    if id.is_empty() {
        return String::new();
    }
    let tail: String = {
        let chars: Vec<char> = id.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("…{tail}")
}

/// Why sessions end here, and who is told.
pub(crate) struct Revocation {
    pub reason: RevokeReason,
    /// An operator's change is audited in its transaction.
    pub audit: Option<audit::Entry>,
}

impl SessionService {
    /// sessionlist: one item per device type with a live session.
    pub async fn session_list(&self, auth: &AuthUser) -> ApiResult<Vec<SessionItem>> {
        let rows = sessions::of_user(&self.db.conn(), auth.user_id).await?;
        let now = now_ms();
        Ok(rows
            .into_iter()
            .filter(|s| s.expires_at > now)
            .map(|s| SessionItem {
                current: s.id == auth.session.id,
                device_id: mask_device_id(&s.device_id),
                device: s.device,
                created_at: s.created_at / 1000,
                last_active_at: s.last_used_at / 1000,
            })
            .collect())
    }

    /// revokesession: ends the session of one device type; none there is fine.
    pub async fn revoke_device(&self, user: i64, device: Device) -> ApiResult<()> {
        let revocation = Revocation {
            reason: RevokeReason::Logout,
            audit: None,
        };
        self.revoke_sessions(user, Some(device), revocation)
            .await
            .map(drop)
    }

    /// Ends a user's sessions (of one device type, or all) in one transaction with
    /// their `session.revoked` events; false if there is no such user.
    pub(crate) async fn revoke_sessions(
        &self,
        user: i64,
        device: Option<Device>,
        revocation: Revocation,
    ) -> ApiResult<bool> {
        let now = now_ms();
        let done = self
            .db
            .write(|txn| {
                let audit = revocation.audit.clone();
                let reason = revocation.reason;
                Box::pin(async move {
                    if users::lock_user(txn, user).await?.is_none() {
                        return Ok(None);
                    }
                    let rows = match device {
                        Some(d) => match sessions::find_for_device(txn, user, d.as_str()).await? {
                            Some(s) => {
                                sessions::delete(txn, s.id).await?;
                                vec![s]
                            }
                            None => Vec::new(),
                        },
                        None => sessions::delete_all_of(txn, user).await?,
                    };
                    let events: Vec<Event> = rows.iter().map(|s| revoked(s, reason)).collect();
                    outbox::insert_all(txn, &events).await?;
                    if let Some(a) = &audit {
                        audit::insert(txn, a, now).await?;
                    }
                    Ok(Some(rows))
                })
            })
            .await?;
        let Some(rows) = done else {
            return Ok(false);
        };
        self.signal.committed();
        self.forget_sessions(&rows).await;
        Ok(true)
    }

    pub(super) async fn forget_sessions(&self, rows: &[entity::session::Model]) {
        for s in rows {
            if let Some(h) = TokenHash::from_hex(&s.token_hash) {
                self.cache.invalidate(&h).await;
            }
        }
    }

    /// changephone: moves the account to a number a code was sent to. Another
    /// account's number is refused; sessions stay; the old number is free at once.
    pub async fn change_phone(
        &self,
        user: i64,
        phone: PhoneNumber,
        code: CheckCode,
        ip: IpAddr,
    ) -> ApiResult<()> {
        let verified = self.verify_code(&phone, &code, ip).await?;
        let now = now_ms();
        self.db
            .write(|txn| {
                let (phone, code_row) = (phone.clone(), verified.code_row.clone());
                Box::pin(async move {
                    // The code's row first: of two accounts racing for the number with
                    // its code, the second waits here and then finds it taken.
                    if code_row.is_some() {
                        codes::find_for_update(txn, &phone).await?;
                    }
                    let me = users::lock_user(txn, user)
                        .await?
                        .ok_or(TxError::Api(ApiError::Unauthorized))?;
                    if let Some(owner) = users::find_by_phone_for_update(txn, &phone).await? {
                        if owner.id != me.id {
                            return Err(ApiError::Invalid(Invalid::PhoneTaken).into());
                        }
                    }
                    consume_code(txn, &code_row, now).await?;
                    // Two accounts without a code row (test numbers) meet at the unique
                    // key instead: the loser's transaction is retried and finds it taken.
                    users::set_phone(txn, user, &phone, now).await?;
                    Ok(())
                })
            })
            .await?;
        tracing::info!(user_id = user, phone = %phone.masked(), "number changed");
        Ok(())
    }

    /// deleteaccount: needs a code sent to the account's own number, with the tries and
    /// limits of sign-in, so a stolen session token alone cannot delete an account.
    pub async fn delete_account(&self, user: i64, code: CheckCode, ip: IpAddr) -> ApiResult<()> {
        let me = users::find(&self.db.conn(), user)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let phone = PhoneNumber::unchecked(&me.nation_code, &me.phone)
            .ok_or_else(|| ApiError::internal("a user's stored number", me.id))?;
        let verified = self.verify_code(&phone, &code, ip).await?;
        match self.delete_user(user, verified.code_row, None).await? {
            true => Ok(()),
            false => Err(ApiError::Unauthorized),
        }
    }

    /// Deletes an account in one transaction: every session revoked (`session.revoked`,
    /// reason `deleted`), every follow and block from or to it removed, the profile and
    /// number erased, `user.deleted` last; an operator's deletion is audited in it too.
    /// The avatar file goes after the commit. False if there is no such user.
    pub(crate) async fn delete_user(
        &self,
        user: i64,
        code_row: Option<(i64, String)>,
        audit: Option<audit::Entry>,
    ) -> ApiResult<bool> {
        let now = now_ms();
        let done = self
            .db
            .write(|txn| {
                let (code_row, audit) = (code_row.clone(), audit.clone());
                Box::pin(async move {
                    consume_code(txn, &code_row, now).await?;
                    let Some(me) = users::lock_user(txn, user).await? else {
                        return Ok(None);
                    };
                    let sessions = sessions::delete_all_of(txn, user).await?;
                    let others = relations::delete_all_of(txn, user).await?;
                    users::erase(txn, user, now).await?;
                    let mut events: Vec<Event> = sessions
                        .iter()
                        .map(|s| revoked(s, RevokeReason::Deleted))
                        .collect();
                    events.push(Event::UserDeleted { user_id: user });
                    outbox::insert_all(txn, &events).await?;
                    if let Some(a) = &audit {
                        audit::insert(txn, a, now).await?;
                    }
                    Ok(Some((me.avatar, sessions, others)))
                })
            })
            .await?;
        let Some((avatar, sessions, others)) = done else {
            return Ok(false);
        };
        self.signal.committed();
        self.forget_sessions(&sessions).await;
        self.profiles.forget(user).await;
        self.relations.forget_lists(user).await;
        for other in others {
            self.relations.forget_lists(other).await;
        }
        if let Some(key) = avatar {
            self.storage.delete(&key).await;
        }
        tracing::info!(user_id = user, sessions = sessions.len(), "account deleted");
        Ok(true)
    }
}

pub(super) fn revoked(s: &entity::session::Model, reason: RevokeReason) -> Event {
    Event::SessionRevoked {
        user_id: s.user_id,
        device: s.device.clone(),
        device_id: s.device_id.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::mask_device_id;

    #[test]
    fn device_ids_show_their_last_four_characters() {
        assert_eq!(mask_device_id("qbfkdvkjdckci"), "…ckci");
        assert_eq!(mask_device_id("abc"), "…abc");
        assert_eq!(mask_device_id(""), "");
        assert_eq!(mask_device_id("设备标识号码"), "…标识号码");
    }
}

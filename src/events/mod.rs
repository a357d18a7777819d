//! Events for the IM server, written to the outbox in the transaction of their change.

pub mod relay;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::now_ms;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub event_type: &'static str,
    /// Unix milliseconds.
    pub occurred_at: i64,
    pub data: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeReason {
    Replaced,
    Logout,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Replaced => "replaced",
            RevokeReason::Logout => "logout",
        }
    }
}

pub const USER_CREATED: &str = "user.created";
pub const USER_UPDATED: &str = "user.updated";
pub const SESSION_REVOKED: &str = "session.revoked";
pub const RELATION_FOLLOWED: &str = "relation.followed";
pub const RELATION_UNFOLLOWED: &str = "relation.unfollowed";
pub const RELATION_BLOCKED: &str = "relation.blocked";
pub const RELATION_UNBLOCKED: &str = "relation.unblocked";

pub const ALL_TYPES: [&str; 7] = [
    USER_CREATED,
    USER_UPDATED,
    SESSION_REVOKED,
    RELATION_FOLLOWED,
    RELATION_UNFOLLOWED,
    RELATION_BLOCKED,
    RELATION_UNBLOCKED,
];

impl Event {
    fn new(event_type: &'static str, data: Value) -> Self {
        Event {
            id: Uuid::now_v7(),
            event_type,
            occurred_at: now_ms(),
            data,
        }
    }

    pub fn user_created(user_id: i64, nickname: &str) -> Self {
        Self::new(
            USER_CREATED,
            json!({"user_id": user_id, "nickname": nickname}),
        )
    }

    pub fn user_updated(user_id: i64, nickname: &str, avatar: Option<&str>) -> Self {
        Self::new(
            USER_UPDATED,
            json!({"user_id": user_id, "nickname": nickname, "avatar": avatar}),
        )
    }

    pub fn session_revoked(
        user_id: i64,
        device: &str,
        device_id: &str,
        reason: RevokeReason,
    ) -> Self {
        Self::new(
            SESSION_REVOKED,
            json!({"user_id": user_id, "device": device, "device_id": device_id, "reason": reason.as_str()}),
        )
    }

    pub fn relation(event_type: &'static str, from_user_id: i64, to_user_id: i64) -> Self {
        Self::new(
            event_type,
            json!({"from_user_id": from_user_id, "to_user_id": to_user_id}),
        )
    }
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    seq: i64,
    #[serde(rename = "type")]
    event_type: &'a str,
    occurred_at: String,
    data: &'a serde_json::value::RawValue,
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The message body of API.md: `{"id", "seq", "type", "occurred_at", "data"}`.
pub fn render_body(
    id: &str,
    seq: i64,
    event_type: &str,
    occurred_at_ms: i64,
    data_json: &str,
) -> Result<String, serde_json::Error> {
    let data: Box<serde_json::value::RawValue> = serde_json::from_str(data_json)?;
    serde_json::to_string(&Body {
        id,
        seq,
        event_type,
        occurred_at: rfc3339(occurred_at_ms),
        data: &data,
    })
}

/// Wakes the outbox relay right after a commit that wrote events.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn committed(&self) {
        self.0.notify_one();
    }

    pub async fn wait(&self) {
        self.0.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_contract_shape() {
        let e = Event::relation(RELATION_FOLLOWED, 1, 2);
        let body = render_body(
            &e.id.to_string(),
            7,
            e.event_type,
            1_700_000_000_123,
            &e.data.to_string(),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["type"], "relation.followed");
        assert_eq!(v["occurred_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["data"], json!({"from_user_id": 1, "to_user_id": 2}));
        assert_eq!(v["id"].as_str().unwrap().len(), 36);
        assert_eq!(e.id.get_version_num(), 7);
    }
}

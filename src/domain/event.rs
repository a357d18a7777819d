//! The events the IM server is told about, one variant per type (API.md "Events").
//!
//! Producers build an `Event`; the outbox stores its type and data; the relay renders
//! the message body; consumers (cache coherence, `examples/consumer.rs`, the tests)
//! read the body back into a `Published`. Adding an event type is one variant here.
//!
//! Wire format: the body is `{"id", "seq", "type", "occurred_at", "data"}` with the
//! keys in that order, and `data`'s keys sorted (as the first releases rendered them).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename = "user.created")]
    UserCreated { user_id: i64, nickname: String },
    #[serde(rename = "user.updated")]
    UserUpdated {
        user_id: i64,
        nickname: String,
        avatar: Option<String>,
    },
    #[serde(rename = "session.revoked")]
    SessionRevoked {
        user_id: i64,
        device: String,
        device_id: String,
        reason: RevokeReason,
    },
    #[serde(rename = "relation.followed")]
    Followed { from_user_id: i64, to_user_id: i64 },
    #[serde(rename = "relation.unfollowed")]
    Unfollowed { from_user_id: i64, to_user_id: i64 },
    #[serde(rename = "relation.blocked")]
    Blocked { from_user_id: i64, to_user_id: i64 },
    #[serde(rename = "relation.unblocked")]
    Unblocked { from_user_id: i64, to_user_id: i64 },
    /// Drop every relation and the profile of this user; no per-relation events follow.
    #[serde(rename = "user.deleted")]
    UserDeleted { user_id: i64 },
    #[serde(rename = "user.banned")]
    UserBanned {
        user_id: i64,
        /// RFC 3339, or `None` for no end.
        until: Option<String>,
        reason: String,
    },
    #[serde(rename = "user.unbanned")]
    UserUnbanned { user_id: i64 },
}

/// Why a session ended (`session.revoked`'s `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevokeReason {
    /// A newer sign-in on the same device type.
    Replaced,
    /// The user signed out, or ended the session from another device.
    Logout,
    /// The account was deleted.
    Deleted,
    /// An operator banned the account.
    Banned,
    /// An operator forced the logout.
    Admin,
}

/// What the outbox stores of an event: its type and its `data` as JSON text.
pub struct Stored {
    pub event_type: String,
    pub data: String,
}

impl Event {
    /// The type and data as stored in the outbox (and published).
    pub fn stored(&self) -> Stored {
        // Through a `Value`, whose maps are sorted: the data's keys keep the order the
        // wire has always had, whatever the order of the fields above.
        let mut v = serde_json::to_value(self).unwrap_or_default();
        let event_type = v
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned();
        let data = v
            .get_mut("data")
            .map(std::mem::take)
            .unwrap_or_default()
            .to_string();
        Stored { event_type, data }
    }

    /// The users whose cached state the event changes.
    pub fn users(&self) -> [Option<i64>; 2] {
        match *self {
            Event::UserCreated { user_id, .. }
            | Event::UserUpdated { user_id, .. }
            | Event::SessionRevoked { user_id, .. }
            | Event::UserDeleted { user_id }
            | Event::UserBanned { user_id, .. }
            | Event::UserUnbanned { user_id } => [Some(user_id), None],
            Event::Followed {
                from_user_id,
                to_user_id,
            }
            | Event::Unfollowed {
                from_user_id,
                to_user_id,
            }
            | Event::Blocked {
                from_user_id,
                to_user_id,
            }
            | Event::Unblocked {
                from_user_id,
                to_user_id,
            } => [Some(from_user_id), Some(to_user_id)],
        }
    }
}

/// A message body as published (and as `/internal/events` answers it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Published {
    pub id: String,
    pub seq: i64,
    pub occurred_at: String,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    seq: i64,
    #[serde(rename = "type")]
    event_type: &'a str,
    occurred_at: String,
    data: &'a RawValue,
}

/// RFC 3339 UTC with milliseconds, as `occurred_at` is written.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The message body of API.md from what the outbox stored.
pub fn render_body(
    id: &str,
    seq: i64,
    event_type: &str,
    occurred_at_ms: i64,
    data_json: &str,
) -> Result<String, serde_json::Error> {
    let data: Box<RawValue> = serde_json::from_str(data_json)?;
    serde_json::to_string(&Body {
        id,
        seq,
        event_type,
        occurred_at: rfc3339(occurred_at_ms),
        data: &data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const AT: i64 = 1_700_000_000_123;

    fn render(e: &Event) -> String {
        let s = e.stored();
        render_body(ID, 7, &s.event_type, AT, &s.data).unwrap()
    }

    /// Every type, rendered, equals its fixed wire text; and reads back to itself.
    #[test]
    fn every_event_renders_its_fixed_wire_body() {
        let head = |t: &str| {
            format!(
                r#"{{"id":"{ID}","seq":7,"type":"{t}","occurred_at":"2023-11-14T22:13:20.123Z","data":"#
            )
        };
        let pair = r#"{"from_user_id":6,"to_user_id":7}}"#;
        let cases = [
            (
                Event::UserCreated {
                    user_id: 8,
                    nickname: "GLdKtM".into(),
                },
                head("user.created") + r#"{"nickname":"GLdKtM","user_id":8}}"#,
            ),
            (
                Event::UserUpdated {
                    user_id: 8,
                    nickname: "ivan".into(),
                    avatar: None,
                },
                head("user.updated") + r#"{"avatar":null,"nickname":"ivan","user_id":8}}"#,
            ),
            (
                Event::SessionRevoked {
                    user_id: 8,
                    device: "android".into(),
                    device_id: "qbfkdvkjdckci".into(),
                    reason: RevokeReason::Replaced,
                },
                head("session.revoked")
                    + r#"{"device":"android","device_id":"qbfkdvkjdckci","reason":"replaced","user_id":8}}"#,
            ),
            (
                Event::Followed {
                    from_user_id: 6,
                    to_user_id: 7,
                },
                head("relation.followed") + pair,
            ),
            (
                Event::Unfollowed {
                    from_user_id: 6,
                    to_user_id: 7,
                },
                head("relation.unfollowed") + pair,
            ),
            (
                Event::Blocked {
                    from_user_id: 6,
                    to_user_id: 7,
                },
                head("relation.blocked") + pair,
            ),
            (
                Event::Unblocked {
                    from_user_id: 6,
                    to_user_id: 7,
                },
                head("relation.unblocked") + pair,
            ),
            (
                Event::UserDeleted { user_id: 8 },
                head("user.deleted") + r#"{"user_id":8}}"#,
            ),
            (
                Event::UserBanned {
                    user_id: 8,
                    until: Some("2026-12-24T00:00:00.000Z".into()),
                    reason: "spam".into(),
                },
                head("user.banned")
                    + r#"{"reason":"spam","until":"2026-12-24T00:00:00.000Z","user_id":8}}"#,
            ),
            (
                Event::UserBanned {
                    user_id: 8,
                    until: None,
                    reason: "fraud".into(),
                },
                head("user.banned") + r#"{"reason":"fraud","until":null,"user_id":8}}"#,
            ),
            (
                Event::UserUnbanned { user_id: 8 },
                head("user.unbanned") + r#"{"user_id":8}}"#,
            ),
        ];
        for (event, wire) in cases {
            let body = render(&event);
            assert_eq!(body, wire);
            let back: Published = serde_json::from_str(&body).unwrap();
            assert_eq!(back.event, event);
            assert_eq!((back.id.as_str(), back.seq), (ID, 7));
        }
        for (reason, text) in [
            (RevokeReason::Logout, "logout"),
            (RevokeReason::Deleted, "deleted"),
            (RevokeReason::Banned, "banned"),
            (RevokeReason::Admin, "admin"),
        ] {
            let revoked = Event::SessionRevoked {
                user_id: 1,
                device: "web".into(),
                device_id: String::new(),
                reason,
            };
            assert!(render(&revoked).contains(&format!(r#""reason":"{text}""#)));
        }
    }

    #[test]
    fn unknown_types_do_not_parse() {
        let body = format!(
            r#"{{"id":"{ID}","seq":1,"type":"user.renamed","occurred_at":"x","data":{{}}}}"#
        );
        assert!(serde_json::from_str::<Published>(&body).is_err());
    }
}

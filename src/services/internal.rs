//! What the IM server reads (API.md "The IM server's API"): users with their state, and
//! snapshots of follows, blocks and users paged by a stable key, with the seq to
//! replay events from. `relations/check` lives with the relation caches
//! (`RelationService::check`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::profile::ProfileService;
use super::session::banned;
use crate::domain::event::rfc3339;
use crate::domain::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::internal as store;
use crate::store::relations::Edge;
use crate::store::Db;

/// An account's state as the IM server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    /// Banned now (a ban whose end has passed counts as over, even before
    /// `user.unbanned` is sent).
    Banned,
    /// Deleted: nickname and avatar are erased (null); the id is never reused.
    Deleted,
}

/// A user as `/internal/users` and the `users` snapshot give it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImUser {
    #[schema(example = 7)]
    pub user_id: i64,
    /// Null once deleted.
    #[schema(example = "GLdKtM")]
    pub nickname: Option<String>,
    /// The avatar's URL, or null.
    pub avatar: Option<String>,
    pub state: UserState,
    /// RFC 3339, while banned with an end; else null.
    pub banned_until: Option<String>,
}

fn im_user(u: entity::user::Model, profiles: &ProfileService, now: i64) -> ImUser {
    if u.deleted_at.is_some() {
        return ImUser {
            user_id: u.id,
            nickname: None,
            avatar: None,
            state: UserState::Deleted,
            banned_until: None,
        };
    }
    let is_banned = banned(&u, now);
    ImUser {
        user_id: u.id,
        avatar: u.avatar.as_deref().map(|k| profiles.avatar_url(k)),
        nickname: Some(u.nickname),
        state: if is_banned {
            UserState::Banned
        } else {
            UserState::Active
        },
        banned_until: u.banned_until.filter(|_| is_banned).map(rfc3339),
    }
}

/// The users of `ids` in the order asked (repeats answered again), deleted ones
/// included with state `deleted`; ids that never existed are left out.
pub async fn users(db: &Db, profiles: &ProfileService, ids: &[i64]) -> ApiResult<Vec<ImUser>> {
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let rows = crate::store::users::find_many_with_deleted(&db.conn(), &distinct).await?;
    let now = now_ms();
    let found: std::collections::HashMap<i64, ImUser> = rows
        .into_iter()
        .map(|u| (u.id, im_user(u, profiles, now)))
        .collect();
    Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
}

/// Which table a snapshot walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    Follows,
    Blocks,
    Users,
}

impl SnapshotKind {
    fn tag(self) -> &'static str {
        match self {
            SnapshotKind::Follows => "f",
            SnapshotKind::Blocks => "b",
            SnapshotKind::Users => "u",
        }
    }
}

/// A follow or a block: `from_user_id` follows (blocks) `to_user_id`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Pair {
    #[schema(example = 6)]
    pub from_user_id: i64,
    #[schema(example = 7)]
    pub to_user_id: i64,
}

/// A page's items: pairs for `follows` and `blocks`, users for `users`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SnapshotItems {
    Pairs(Vec<Pair>),
    Users(Vec<ImUser>),
}

/// `anyOf`, not the `oneOf` an untagged enum gets: an empty page is both an empty list
/// of pairs and an empty list of users, and `oneOf` wants exactly one to match.
fn snapshot_items_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder};
    use utoipa::PartialSchema;
    utoipa::openapi::Schema::AnyOf(
        AnyOfBuilder::new()
            .item(ArrayBuilder::new().items(Pair::schema()))
            .item(ArrayBuilder::new().items(ImUser::schema()))
            .description(Some("Pairs for `follows` and `blocks`, users for `users`"))
            .build(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotPage {
    /// The last seq published when the walk's first page was read; the same on every
    /// page of the walk. Apply the events after it to what the pages hold.
    #[schema(example = 1042)]
    pub snapshot_seq: i64,
    #[schema(schema_with = snapshot_items_schema)]
    pub items: SnapshotItems,
    /// Pass as `after` for the next page; null on the last one.
    pub next: Option<String>,
}

/// Where a walk is: its kind, its seq, and the last key it gave. Opaque to clients
/// (base64url of `kind.seq.a.b`); a cursor of another kind, or one that does not
/// decode, is refused as a bad `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub kind: SnapshotKind,
    pub seq: i64,
    pub key: (i64, i64),
}

impl Cursor {
    pub fn encode(&self) -> String {
        let raw = format!(
            "{}.{}.{}.{}",
            self.kind.tag(),
            self.seq,
            self.key.0,
            self.key.1
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(kind: SnapshotKind, text: &str) -> ApiResult<Cursor> {
        let bad = || ApiError::param("after");
        let raw = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
        let raw = std::str::from_utf8(&raw).map_err(|_| bad())?;
        let mut parts = raw.split('.');
        if parts.next() != Some(kind.tag()) {
            return Err(bad());
        }
        let mut num = || -> ApiResult<i64> {
            parts
                .next()
                .and_then(|p| p.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(bad)
        };
        let (seq, a, b) = (num()?, num()?, num()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Cursor {
            kind,
            seq,
            key: (a, b),
        })
    }
}

/// One page of a snapshot walk. The first page reads the last published seq *before*
/// its rows: every change with a seq at or below it has committed, so this page and
/// every later one (each a fresh read) show it. A change committed after that read
/// has a greater seq (or is not published yet and will get one), and replaying it onto
/// a page that already shows it changes nothing: events set state, they don't count.
pub async fn snapshot(
    db: &Db,
    profiles: &ProfileService,
    kind: SnapshotKind,
    after: Option<Cursor>,
    limit: u64,
) -> ApiResult<SnapshotPage> {
    let conn = db.conn();
    let seq = match after {
        Some(c) => c.seq,
        None => store::last_published_seq(&conn).await?,
    };
    // One row more than asked tells whether there is a next page.
    let fetch = limit + 1;
    let after_key = after.map(|c| c.key);
    let (items, last_key, more) = match kind {
        SnapshotKind::Follows | SnapshotKind::Blocks => {
            let edge = if kind == SnapshotKind::Follows {
                Edge::Follow
            } else {
                Edge::Block
            };
            let mut rows = store::edge_page(&conn, edge, after_key, fetch).await?;
            let more = rows.len() as u64 > limit;
            rows.truncate(limit as usize);
            let last = rows.last().copied();
            let items = rows
                .into_iter()
                .map(|(from_user_id, to_user_id)| Pair {
                    from_user_id,
                    to_user_id,
                })
                .collect();
            (SnapshotItems::Pairs(items), last, more)
        }
        SnapshotKind::Users => {
            let mut rows = store::users_page(&conn, after_key.map(|k| k.0), fetch).await?;
            let more = rows.len() as u64 > limit;
            rows.truncate(limit as usize);
            let last = rows.last().map(|u| (u.id, 0));
            let now = now_ms();
            let items = rows
                .into_iter()
                .map(|u| im_user(u, profiles, now))
                .collect();
            (SnapshotItems::Users(items), last, more)
        }
    };
    let next = match (more, last_key) {
        (true, Some(key)) => Some(Cursor { kind, seq, key }.encode()),
        _ => None,
    };
    Ok(SnapshotPage {
        snapshot_seq: seq,
        items,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_another_kind_or_garbage() {
        let c = Cursor {
            kind: SnapshotKind::Follows,
            seq: 42,
            key: (7, 9),
        };
        let text = c.encode();
        assert_eq!(Cursor::decode(SnapshotKind::Follows, &text).ok(), Some(c));
        for (kind, text) in [
            (SnapshotKind::Blocks, text.as_str()),
            (SnapshotKind::Follows, "not base64!"),
            (SnapshotKind::Follows, &URL_SAFE_NO_PAD.encode("f.1.2")),
            (SnapshotKind::Follows, &URL_SAFE_NO_PAD.encode("f.1.2.3.4")),
            (SnapshotKind::Follows, &URL_SAFE_NO_PAD.encode("f.-1.2.3")),
            (SnapshotKind::Follows, ""),
        ] {
            assert!(Cursor::decode(kind, text).is_err(), "{text}");
        }
    }
}

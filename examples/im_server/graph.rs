//! The IM server's copy of who follows and blocks whom, and of each user's profile and
//! state: loaded from `/internal/snapshot`, kept current by the events.
//!
//! Applying an event *sets* state (a follow is there, a user is deleted); it never
//! counts. So replaying an event whose change a snapshot page already showed changes
//! nothing, which is what lets pages read during changes converge (API.md "The
//! snapshot contract").

use std::collections::{BTreeMap, BTreeSet};

use im_access::domain::event::{Event, Published};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A user as `/internal/users` gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub nickname: Option<String>,
    pub avatar: Option<String>,
    /// `active`, `banned` or `deleted`.
    pub state: String,
    pub banned_until: Option<String>,
}

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied; `last_seq` is its seq now.
    Done,
    /// At or below `last_seq`: already in the state (a duplicate, or older than the
    /// snapshot).
    Old,
    /// Events between `last_seq` and this one are missing: replay them first.
    Gap { after: i64, next: i64 },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    /// (from, to): from follows to.
    pub follows: BTreeSet<(i64, i64)>,
    /// (from, to): from blocks to.
    pub blocks: BTreeSet<(i64, i64)>,
    pub users: BTreeMap<i64, UserRow>,
    /// The seq of the last event applied (or the snapshot's).
    pub last_seq: i64,
}

impl Graph {
    /// Adds one snapshot page's items of `kind` (`follows`, `blocks`, `users`).
    pub fn load_page(&mut self, kind: &str, items: &[Value]) -> Result<(), String> {
        for item in items {
            match kind {
                "follows" | "blocks" => {
                    let pair = (int(item, "from_user_id")?, int(item, "to_user_id")?);
                    let set = if kind == "follows" {
                        &mut self.follows
                    } else {
                        &mut self.blocks
                    };
                    set.insert(pair);
                }
                "users" => {
                    let row: UserRow =
                        serde_json::from_value(item.clone()).map_err(|e| e.to_string())?;
                    self.users.insert(int(item, "user_id")?, row);
                }
                _ => return Err(format!("unknown kind {kind}")),
            }
        }
        Ok(())
    }

    /// Applies the next event of the stream: in order, once (by seq).
    pub fn apply(&mut self, ev: &Published) -> Applied {
        if ev.seq <= self.last_seq {
            return Applied::Old;
        }
        if ev.seq > self.last_seq + 1 {
            return Applied::Gap {
                after: self.last_seq,
                next: ev.seq,
            };
        }
        self.apply_event(&ev.event);
        self.last_seq = ev.seq;
        Applied::Done
    }

    /// The change an event describes, set onto the state (idempotent).
    pub fn apply_event(&mut self, event: &Event) {
        match event {
            Event::Followed {
                from_user_id,
                to_user_id,
            } => {
                self.follows.insert((*from_user_id, *to_user_id));
            }
            Event::Unfollowed {
                from_user_id,
                to_user_id,
            } => {
                self.follows.remove(&(*from_user_id, *to_user_id));
            }
            Event::Blocked {
                from_user_id,
                to_user_id,
            } => {
                self.blocks.insert((*from_user_id, *to_user_id));
            }
            Event::Unblocked {
                from_user_id,
                to_user_id,
            } => {
                self.blocks.remove(&(*from_user_id, *to_user_id));
            }
            Event::UserCreated { user_id, nickname } => {
                self.users.insert(
                    *user_id,
                    UserRow {
                        nickname: Some(nickname.clone()),
                        avatar: None,
                        state: "active".into(),
                        banned_until: None,
                    },
                );
            }
            Event::UserUpdated {
                user_id,
                nickname,
                avatar,
            } => {
                let row = self.user(*user_id);
                row.nickname = Some(nickname.clone());
                row.avatar = avatar.clone();
            }
            Event::UserBanned { user_id, until, .. } => {
                let row = self.user(*user_id);
                row.state = "banned".into();
                row.banned_until = until.clone();
            }
            Event::UserUnbanned { user_id } => {
                let row = self.user(*user_id);
                row.state = "active".into();
                row.banned_until = None;
            }
            // No per-relation events follow a deletion: drop them all here.
            Event::UserDeleted { user_id } => {
                let u = *user_id;
                self.follows.retain(|&(a, b)| a != u && b != u);
                self.blocks.retain(|&(a, b)| a != u && b != u);
                self.users.insert(
                    u,
                    UserRow {
                        nickname: None,
                        avatar: None,
                        state: "deleted".into(),
                        banned_until: None,
                    },
                );
            }
            // The IM server ends that device's connection; nothing to keep.
            Event::SessionRevoked { .. } => {}
        }
    }

    fn user(&mut self, id: i64) -> &mut UserRow {
        self.users.entry(id).or_insert_with(|| UserRow {
            nickname: None,
            avatar: None,
            state: "active".into(),
            banned_until: None,
        })
    }

    /// A live (not deleted) user.
    pub fn exists(&self, id: i64) -> bool {
        self.users.get(&id).is_some_and(|u| u.state != "deleted")
    }

    /// May `a` send a message to `b`: both exist and neither blocks the other.
    pub fn may_send(&self, a: i64, b: i64) -> bool {
        self.exists(a)
            && self.exists(b)
            && !self.blocks.contains(&(a, b))
            && !self.blocks.contains(&(b, a))
    }

    /// `/internal/relations/check`'s flags for (a, b): exists, follows, followed_by,
    /// blocks, blocked_by.
    pub fn flags(&self, a: i64, b: i64) -> [bool; 5] {
        let exists = self.exists(b);
        [
            exists,
            exists && self.follows.contains(&(a, b)),
            exists && self.follows.contains(&(b, a)),
            exists && self.blocks.contains(&(a, b)),
            exists && self.blocks.contains(&(b, a)),
        ]
    }
}

fn int(v: &Value, key: &str) -> Result<i64, String> {
    v[key]
        .as_i64()
        .ok_or_else(|| format!("{key} is not an integer in {v}"))
}

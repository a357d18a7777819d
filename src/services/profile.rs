//! Profiles: what other users see of a user (nickname, avatar), cached, and their
//! changes (updateuserinfo).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;

use super::Deps;
use crate::cache::NearCache;
use crate::domain::event::Event;
use crate::domain::nickname::Nickname;
use crate::domain::now_ms;
use crate::error::{ApiError, ApiResult, Invalid};
use crate::events::OutboxSignal;
use crate::media::storage::LocalStorage;
use crate::media::ProcessedAvatar;
use crate::store::{outbox, users, Db, TxError};

/// What lists and searches show of a user, as cached: the contact's JSON object is
/// rendered once, when loaded, because lists write it far more often than it changes.
#[derive(Debug)]
pub struct Profile {
    pub user_id: i64,
    /// `{"nickname":…,"avatar":…,"user_id":…}`
    json: Box<RawValue>,
    /// Set once this copy has left the profile cache or was never kept in it (see
    /// `crate::cache`): pages holding it must be rebuilt.
    retired: AtomicBool,
}

impl Profile {
    pub fn new(u: entity::user::Model, storage: &LocalStorage) -> Self {
        let contact = ContactJson {
            nickname: &u.nickname,
            avatar: u.avatar.as_deref().map(|k| storage.url(k)),
            user_id: u.id,
        };
        Profile {
            user_id: u.id,
            // Plain strings and an integer always render.
            json: serde_json::value::to_raw_value(&contact)
                .unwrap_or_else(|_| RawValue::NULL.to_owned()),
            retired: AtomicBool::new(false),
        }
    }

    /// Still the copy the profile cache holds.
    pub fn current(&self) -> bool {
        !self.retired.load(Ordering::Acquire)
    }
}

#[derive(Serialize)]
struct ContactJson<'a> {
    nickname: &'a str,
    avatar: Option<String>,
    user_id: i64,
}

/// A contact as lists show it: `{nickname, avatar, user_id}` written straight from the
/// cached profile.
#[derive(Clone, Debug)]
pub struct Contact(pub Arc<Profile>);

/// How a `Contact` is written (the wire's shape, for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[schema(as = Contact)]
#[allow(dead_code)]
struct ContactShape {
    #[schema(example = "whaha12")]
    nickname: String,
    /// The avatar's URL, or null.
    avatar: Option<String>,
    #[schema(example = 12)]
    user_id: i64,
}

impl utoipa::PartialSchema for Contact {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <ContactShape as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for Contact {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Contact")
    }
}

impl Serialize for Contact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.json.serialize(s)
    }
}

/// updateuserinfo's `data`: `user_id` is a string there, as in the seed.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileData {
    #[schema(example = "ivan")]
    pub nickname: String,
    /// The avatar's URL, or null.
    pub avatar: Option<String>,
    /// The user's id, as a string (as the seed has it).
    #[schema(example = "146382")]
    pub user_id: String,
}

pub struct ProfileService {
    db: Db,
    storage: LocalStorage,
    signal: OutboxSignal,
    cache: NearCache<i64, Arc<Profile>>,
}

impl ProfileService {
    pub fn new(d: &Deps) -> Self {
        let c = &d.settings.cache;
        ProfileService {
            cache: NearCache::retiring(
                "profiles",
                c.profiles,
                Duration::from_secs(c.ttl_secs),
                |p: &Arc<Profile>| p.retired.store(true, Ordering::Release),
            ),
            db: d.db.clone(),
            storage: d.storage.clone(),
            signal: d.signal.clone(),
        }
    }

    /// Profiles of `ids`, in that order; ids with no user are left out.
    pub async fn profiles(&self, ids: &[i64]) -> ApiResult<Vec<Arc<Profile>>> {
        let found = self
            .cache
            .get_many_or_load(ids, |missing| async move {
                let rows = users::find_many(&self.db.conn(), &missing).await?;
                Ok(rows
                    .into_iter()
                    .map(|u| (u.id, Arc::new(Profile::new(u, &self.storage))))
                    .collect())
            })
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    pub async fn profile(&self, id: i64) -> ApiResult<Option<Arc<Profile>>> {
        Ok(self.profiles(&[id]).await?.into_iter().next())
    }

    /// Changes whenever the whole cache is invalidated: a page of profiles built under
    /// another epoch is stale.
    pub fn epoch(&self) -> u64 {
        self.cache.epoch()
    }

    /// Sets the nickname and/or the avatar. The avatar file is stored first and removed
    /// again if the change does not commit; the replaced one is removed after it does.
    pub async fn update(
        &self,
        user: i64,
        nickname: Option<Nickname>,
        avatar: Option<ProcessedAvatar>,
    ) -> ApiResult<ProfileData> {
        if nickname.is_none() && avatar.is_none() {
            return Err(ApiError::Invalid(Invalid::NothingToUpdate));
        }
        let new_key = match avatar {
            Some(a) => {
                let key = LocalStorage::avatar_key(user, a.extension);
                self.storage.put(&key, a.bytes).await?;
                Some(key)
            }
            None => None,
        };
        let now = now_ms();
        let res = self
            .db
            .write(|txn| {
                let (nickname, new_key) = (nickname.clone(), new_key.clone());
                let storage = self.storage.clone();
                Box::pin(async move {
                    users::lock_users(txn, &[user]).await?;
                    let current = users::find(txn, user)
                        .await?
                        .ok_or(TxError::Api(ApiError::Unauthorized))?;
                    let nick = nickname.map_or(current.nickname, Nickname::into_string);
                    let avatar = new_key.clone().or(current.avatar.clone());
                    users::update_profile(txn, user, Some(&nick), new_key.as_deref(), now).await?;
                    let url = avatar.as_deref().map(|k| storage.url(k));
                    outbox::insert(
                        txn,
                        &Event::UserUpdated {
                            user_id: user,
                            nickname: nick.clone(),
                            avatar: url.clone(),
                        },
                    )
                    .await?;
                    Ok((current.avatar, nick, url))
                })
            })
            .await;
        match res {
            Ok((old_avatar, nickname, avatar)) => {
                self.signal.committed();
                self.cache.invalidate(&user).await;
                if let (Some(old), Some(_)) = (old_avatar, &new_key) {
                    self.storage.delete(&old).await;
                }
                Ok(ProfileData {
                    nickname,
                    avatar,
                    user_id: user.to_string(),
                })
            }
            Err(e) => {
                if let Some(k) = &new_key {
                    self.storage.delete(k).await;
                }
                Err(e)
            }
        }
    }

    /// A profile from a row read elsewhere (a search), not cached.
    pub fn uncached(&self, u: entity::user::Model) -> Arc<Profile> {
        Arc::new(Profile::new(u, &self.storage))
    }

    pub fn avatar_url(&self, key: &str) -> String {
        self.storage.url(key)
    }

    /// Drops a user's cached profile (after this process changed it).
    pub(crate) async fn forget(&self, user_id: i64) {
        self.cache.invalidate(&user_id).await;
    }

    pub(super) async fn apply(&self, event: &Event) {
        if let Event::UserUpdated { user_id, .. } | Event::UserDeleted { user_id } = event {
            self.cache.invalidate(user_id).await;
        }
    }

    pub(super) fn set_cache_enabled(&self, on: bool) {
        self.cache.set_enabled(on);
    }

    pub(super) fn record_metrics(&self) {
        self.cache.record_metrics();
    }
}

//! `RelationActor`: follows and blocks, the lists built from them, and the public
//! profiles shown in those lists (nickname changes and avatars included).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{handle, supervised_actor, Crash, MailboxGauge};
use crate::cache::NearCache;
use crate::config::Settings;
use crate::domain::nickname::Nickname;
use crate::domain::now_ms;
use crate::domain::phone::PhoneNumber;
use crate::domain::relation::{ListKind, RelationOp};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::events::{self, Event, OutboxSignal};
use crate::media::storage::LocalStorage;
use crate::media::ProcessedAvatar;
use crate::store::rate::{self, Limit};
use crate::store::relations::{self, Edge};
use crate::store::{outbox, users, Db, TxError};

/// What lists and searches show of a user, as cached: the contact's JSON object is
/// rendered once, when loaded, because lists write it far more often than it changes.
#[derive(Debug)]
pub struct Profile {
    pub user_id: i64,
    pub nation_code: Box<str>,
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
            nation_code: u.nation_code.into(),
            retired: AtomicBool::new(false),
        }
    }

    fn current(&self) -> bool {
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

impl Serialize for Contact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.json.serialize(s)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PhoneContact {
    pub nickname: String,
    pub avatar: Option<String>,
    pub user_id: i64,
    pub phone: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PageInfo {
    pub page: u64,
    pub size: u64,
    #[serde(rename = "totalPage")]
    pub total_page: u64,
    #[serde(rename = "totalCount")]
    pub total_count: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContactPage {
    pub page_info: PageInfo,
    pub list: Arc<[Contact]>,
}

/// A user's list of ids as cached, newest first, with the last page built from it.
#[derive(Debug)]
pub struct CachedList {
    ids: Box<[i64]>,
    last_page: Mutex<Option<PageSnapshot>>,
}

#[derive(Debug)]
struct PageSnapshot {
    page: u64,
    size: u64,
    /// The profile cache's epoch when the page was built.
    epoch: u64,
    contacts: Arc<[Contact]>,
}

impl CachedList {
    pub fn new(ids: Vec<i64>) -> Self {
        CachedList {
            ids: ids.into_boxed_slice(),
            last_page: Mutex::new(None),
        }
    }

    /// The page as last built, while every profile in it is still the cached one: a
    /// warm page costs no profile lookups.
    fn page(&self, page: u64, size: u64, epoch: u64) -> Option<Arc<[Contact]>> {
        let guard = self.last_page.lock().ok()?;
        let snap = guard.as_ref()?;
        (snap.page == page
            && snap.size == size
            && snap.epoch == epoch
            && snap.contacts.iter().all(|c| c.0.current()))
        .then(|| snap.contacts.clone())
    }

    pub fn keep_page(&self, page: u64, size: u64, epoch: u64, contacts: Arc<[Contact]>) {
        if let Ok(mut guard) = self.last_page.lock() {
            *guard = Some(PageSnapshot {
                page,
                size,
                epoch,
                contacts,
            });
        }
    }
}

impl std::ops::Deref for CachedList {
    type Target = [i64];

    fn deref(&self) -> &[i64] {
        &self.ids
    }
}

/// updateuserinfo's `data`: `user_id` is a string there, as in the seed.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileData {
    pub nickname: String,
    pub avatar: Option<String>,
    pub user_id: String,
}

type ListKey = (i64, ListKind);

pub struct RelationService {
    db: Db,
    settings: Arc<Settings>,
    storage: LocalStorage,
    signal: OutboxSignal,
    pub(crate) lists: NearCache<ListKey, Arc<CachedList>>,
    pub(crate) profiles: NearCache<i64, Arc<Profile>>,
}

impl RelationService {
    pub fn new(
        db: Db,
        settings: Arc<Settings>,
        storage: LocalStorage,
        signal: OutboxSignal,
    ) -> Self {
        let c = &settings.cache;
        let ttl = Duration::from_secs(c.ttl_secs);
        RelationService {
            lists: NearCache::weighted(
                "relation_lists",
                c.relation_list_bytes,
                ttl,
                |_, v: &Arc<CachedList>| list_weight(v.len()),
            ),
            profiles: NearCache::retiring("profiles", c.profiles, ttl, |p: &Arc<Profile>| {
                p.retired.store(true, Ordering::Release)
            }),
            db,
            settings,
            storage,
            signal,
        }
    }

    /// A user's list, newest first, from the cache.
    pub async fn list_ids(&self, user: i64, kind: ListKind) -> ApiResult<Arc<CachedList>> {
        if kind == ListKind::Friends {
            // Derived inside the load, so an invalidation racing it is noticed.
            return self
                .lists
                .get_or_load((user, kind), || async move {
                    let following = Box::pin(self.list_ids(user, ListKind::Following)).await?;
                    let fans = Box::pin(self.list_ids(user, ListKind::Fans)).await?;
                    let fans: HashSet<i64> = fans.iter().copied().collect();
                    Ok(Arc::new(CachedList::new(
                        following
                            .iter()
                            .copied()
                            .filter(|id| fans.contains(id))
                            .collect(),
                    )))
                })
                .await;
        }
        self.lists
            .get_or_load((user, kind), || async move {
                Ok(Arc::new(CachedList::new(
                    relations::list_ids(&self.db.conn(), user, kind).await?,
                )))
            })
            .await
    }

    /// Profiles of `ids`, in that order; ids with no user are left out.
    pub async fn profiles(&self, ids: &[i64]) -> ApiResult<Vec<Arc<Profile>>> {
        let found = self
            .profiles
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

    async fn forget_pair(&self, a: i64, b: i64) {
        self.forget_user_lists(a).await;
        self.forget_user_lists(b).await;
    }

    /// Drops what the cache holds about a user (an event from another process).
    pub async fn forget_user_lists(&self, user: i64) {
        for kind in ListKind::ALL {
            self.lists.invalidate(&(user, kind)).await;
        }
    }

    pub async fn operate(&self, from: i64, to: i64, op: RelationOp) -> ApiResult<()> {
        if from == to {
            return Err(ApiError::Invalid(Invalid::SelfRelation));
        }
        let now = now_ms();
        let changed = self
            .db
            .write(|txn| {
                Box::pin(async move {
                    // Both rows locked, in id order: operations on a pair (and every
                    // event of either user) are serialized.
                    let found = users::lock_users(txn, &[from, to]).await?;
                    if !found.contains(&to) {
                        return Err(TxError::Api(ApiError::Invalid(Invalid::UnknownUser)));
                    }
                    if !found.contains(&from) {
                        return Err(TxError::Api(ApiError::Unauthorized));
                    }
                    let mut evs = Vec::new();
                    match op {
                        RelationOp::Follow => {
                            if relations::exists(txn, Edge::Block, to, from).await? {
                                return Err(TxError::Api(ApiError::Blocked));
                            }
                            if relations::delete(txn, Edge::Block, from, to).await? {
                                evs.push(Event::relation(events::RELATION_UNBLOCKED, from, to));
                            }
                            if relations::insert(txn, Edge::Follow, from, to, now).await? {
                                evs.push(Event::relation(events::RELATION_FOLLOWED, from, to));
                            }
                        }
                        RelationOp::Unfollow => {
                            if relations::delete(txn, Edge::Follow, from, to).await? {
                                evs.push(Event::relation(events::RELATION_UNFOLLOWED, from, to));
                            }
                        }
                        RelationOp::Block => {
                            if relations::delete(txn, Edge::Follow, from, to).await? {
                                evs.push(Event::relation(events::RELATION_UNFOLLOWED, from, to));
                            }
                            if relations::delete(txn, Edge::Follow, to, from).await? {
                                evs.push(Event::relation(events::RELATION_UNFOLLOWED, to, from));
                            }
                            if relations::insert(txn, Edge::Block, from, to, now).await? {
                                evs.push(Event::relation(events::RELATION_BLOCKED, from, to));
                            }
                        }
                        RelationOp::Unblock => {
                            if relations::delete(txn, Edge::Block, from, to).await? {
                                evs.push(Event::relation(events::RELATION_UNBLOCKED, from, to));
                            }
                        }
                    }
                    outbox::insert_all(txn, &evs).await?;
                    Ok(!evs.is_empty())
                })
            })
            .await?;
        if changed {
            self.signal.committed();
            self.forget_pair(from, to).await;
        }
        Ok(())
    }

    pub async fn page(
        &self,
        user: i64,
        kind: ListKind,
        page: u64,
        size: u64,
    ) -> ApiResult<ContactPage> {
        let ids = self.list_ids(user, kind).await?;
        let total = ids.len() as u64;
        let page_info = PageInfo {
            page,
            size,
            total_page: total.div_ceil(size),
            total_count: total,
        };
        // Taken before the profiles: a whole-cache invalidation meanwhile voids the page.
        let epoch = self.profiles.epoch();
        if let Some(list) = ids.page(page, size, epoch) {
            return Ok(ContactPage { page_info, list });
        }
        let start = (page - 1).saturating_mul(size);
        let slice: &[i64] = if start >= total {
            &[]
        } else {
            &ids[start as usize..(start.saturating_add(size)).min(total) as usize]
        };
        let list: Arc<[Contact]> = self
            .profiles(slice)
            .await?
            .into_iter()
            .map(Contact)
            .collect();
        ids.keep_page(page, size, epoch, list.clone());
        Ok(ContactPage { page_info, list })
    }

    async fn blocked_by(&self, user: i64) -> ApiResult<HashSet<i64>> {
        Ok(self
            .list_ids(user, ListKind::BlockedBy)
            .await?
            .iter()
            .copied()
            .collect())
    }

    async fn take_lookup_budget(&self, caller: i64) -> ApiResult<()> {
        let now = now_ms();
        let budget = [Limit::new(
            format!("lookup:user:{caller}"),
            3_600,
            self.settings.limits.lookups_per_hour,
        )];
        let r = self
            .db
            .write(|txn| {
                let budget = budget.clone();
                Box::pin(async move { Ok(rate::take(txn, &budget, now).await?.map(drop)) })
            })
            .await?;
        r.map_err(|ex| ApiError::TooManyRequests {
            retry_after_secs: ex.retry_after_secs,
        })
    }

    pub async fn search_by_ids(&self, caller: i64, ids: Vec<i64>) -> ApiResult<ContactPage> {
        self.take_lookup_budget(caller).await?;
        let mut seen = HashSet::new();
        let ids: Vec<i64> = ids.into_iter().filter(|i| seen.insert(*i)).collect();
        let hidden = self.blocked_by(caller).await?;
        let list: Arc<[Contact]> = self
            .profiles(&ids)
            .await?
            .into_iter()
            .filter(|p| !hidden.contains(&p.user_id))
            .map(Contact)
            .collect();
        let n = list.len() as u64;
        Ok(ContactPage {
            page_info: PageInfo {
                page: 1,
                size: ids.len() as u64,
                total_page: u64::from(n > 0),
                total_count: n,
            },
            list,
        })
    }

    pub async fn search_by_nickname(&self, caller: i64, nickname: String) -> ApiResult<Contact> {
        self.take_lookup_budget(caller).await?;
        let nick =
            Nickname::parse(&nickname).ok_or(ApiError::Invalid(Invalid::NicknameNotFound))?;
        let hidden = self.blocked_by(caller).await?;
        let found = users::find_by_nickname(&self.db.conn(), nick.as_str(), 50).await?;
        found
            .into_iter()
            .find(|u| !hidden.contains(&u.id))
            .map(|u| Contact(Arc::new(Profile::new(u, &self.storage))))
            .ok_or(ApiError::Invalid(Invalid::NicknameNotFound))
    }

    pub async fn contacts(&self, caller: i64, phones: Vec<String>) -> ApiResult<Vec<PhoneContact>> {
        self.take_lookup_budget(caller).await?;
        let me = self.profile(caller).await?.ok_or(ApiError::Unauthorized)?;
        let parsed: Vec<(String, PhoneNumber)> = phones
            .into_iter()
            .filter_map(|raw| {
                let p = PhoneNumber::parse_contact(&raw, &me.nation_code).ok()?;
                Some((raw, p))
            })
            .collect();
        let numbers: Vec<PhoneNumber> = parsed.iter().map(|(_, p)| p.clone()).collect();
        let rows = users::find_by_phones(&self.db.conn(), &numbers).await?;
        let hidden = self.blocked_by(caller).await?;
        let by_phone: std::collections::HashMap<(String, String), entity::user::Model> = rows
            .into_iter()
            .map(|u| ((u.nation_code.clone(), u.phone.clone()), u))
            .collect();
        let mut seen = HashSet::new();
        Ok(parsed
            .into_iter()
            .filter_map(|(raw, p)| {
                let u = by_phone.get(&(p.nation_code().to_owned(), p.national().to_owned()))?;
                if hidden.contains(&u.id) || !seen.insert(raw.clone()) {
                    return None;
                }
                Some(PhoneContact {
                    nickname: u.nickname.clone(),
                    avatar: u.avatar.as_deref().map(|k| self.storage.url(k)),
                    user_id: u.id,
                    phone: raw,
                })
            })
            .collect())
    }

    /// getimtoken's rule: every member exists and none has blocked the caller.
    pub async fn check_members(&self, caller: i64, members: Vec<i64>) -> ApiResult<()> {
        let mut distinct = members.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let existing = users::count_existing(&self.db.conn(), &distinct).await?;
        if existing != distinct.len() as u64 {
            return Err(ApiError::Invalid(Invalid::UnknownUser));
        }
        let blockers = self.blocked_by(caller).await?;
        if members.iter().any(|m| blockers.contains(m)) {
            return Err(ApiError::Blocked);
        }
        Ok(())
    }

    pub async fn update_profile(
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
        let storage = self.storage.clone();
        let res = self
            .db
            .write(|txn| {
                let nickname = nickname.clone();
                let new_key = new_key.clone();
                let storage = storage.clone();
                Box::pin(async move {
                    users::lock_users(txn, &[user]).await?;
                    let current = users::find(txn, user)
                        .await?
                        .ok_or(TxError::Api(ApiError::Unauthorized))?;
                    let nick = nickname
                        .as_ref()
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or(current.nickname.clone());
                    let avatar = new_key.clone().or(current.avatar.clone());
                    users::update_profile(
                        txn,
                        user,
                        nickname.as_ref().map(|n| n.as_str()),
                        new_key.as_deref(),
                        now,
                    )
                    .await?;
                    let url = avatar.as_deref().map(|k| storage.url(k));
                    outbox::insert(txn, &Event::user_updated(user, &nick, url.as_deref())).await?;
                    Ok((current.avatar, nick, url))
                })
            })
            .await;
        match res {
            Ok((old_avatar, nick, url)) => {
                self.signal.committed();
                self.profiles.invalidate(&user).await;
                if let (Some(old), Some(_)) = (old_avatar, &new_key) {
                    self.storage.delete(&old).await;
                }
                Ok(ProfileData {
                    nickname: nick,
                    avatar: url,
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
}

pub struct RelationActor {
    svc: Arc<RelationService>,
    gauge: MailboxGauge,
}

impl RelationActor {
    pub fn new(svc: Arc<RelationService>, gauge: MailboxGauge) -> Self {
        RelationActor { svc, gauge }
    }
}

impl Actor for RelationActor {
    type Context = Context<Self>;
}

supervised_actor!(
    RelationActor,
    "relation",
    [
        Crash,
        Operate,
        ListPage,
        SearchByIds,
        SearchByNickname,
        Contacts,
        UpdateProfile
    ]
);

#[derive(Message)]
#[rtype(result = "ApiResult<()>")]
pub struct Operate {
    pub from: i64,
    pub to: i64,
    pub op: RelationOp,
}

#[derive(Message)]
#[rtype(result = "ApiResult<ContactPage>")]
pub struct ListPage {
    pub user: i64,
    pub kind: ListKind,
    pub page: u64,
    pub size: u64,
}

#[derive(Message)]
#[rtype(result = "ApiResult<ContactPage>")]
pub struct SearchByIds {
    pub caller: i64,
    pub ids: Vec<i64>,
}

#[derive(Message)]
#[rtype(result = "ApiResult<Contact>")]
pub struct SearchByNickname {
    pub caller: i64,
    pub nickname: String,
}

#[derive(Message)]
#[rtype(result = "ApiResult<Vec<PhoneContact>>")]
pub struct Contacts {
    pub caller: i64,
    pub phones: Vec<String>,
}

#[derive(Message)]
#[rtype(result = "ApiResult<ProfileData>")]
pub struct UpdateProfile {
    pub user: i64,
    pub nickname: Option<Nickname>,
    pub avatar: Option<ProcessedAvatar>,
}

handle!(RelationActor, "relation", Operate => (), |svc, m| svc.operate(m.from, m.to, m.op));
handle!(RelationActor, "relation", ListPage => ContactPage, |svc, m| svc
    .page(m.user, m.kind, m.page, m.size));
handle!(RelationActor, "relation", SearchByIds => ContactPage, |svc, m| svc
    .search_by_ids(m.caller, m.ids));
handle!(RelationActor, "relation", SearchByNickname => Contact, |svc, m| svc
    .search_by_nickname(m.caller, m.nickname));
handle!(RelationActor, "relation", Contacts => Vec<PhoneContact>, |svc, m| svc
    .contacts(m.caller, m.phones));
handle!(RelationActor, "relation", UpdateProfile => ProfileData, |svc, m| svc
    .update_profile(m.user, m.nickname, m.avatar));

/// What one cached list costs in bytes, moka's bookkeeping included (measured with
/// `examples/cache_footprint.rs`: 517 B for 10 ids), so `relation_list_bytes` bounds
/// real memory: the entry, its ids, and a default-size page of profile pointers.
pub fn list_weight(ids: usize) -> u32 {
    const ENTRY: usize = 290 + std::mem::size_of::<CachedList>() + 16;
    let page = 16 + 8 * ids.min(20);
    (ENTRY + page + ids.saturating_mul(8)).min(u32::MAX as usize) as u32
}

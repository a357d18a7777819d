//! Follows and blocks, the lists built from them, and the lookups that show users
//! (searches, phone contacts), which leave out whoever blocked the caller.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::profile::{Contact, ProfileService};
use super::Deps;
use crate::cache::NearCache;
use crate::config::Settings;
use crate::domain::client::ip_bucket;
use crate::domain::event::Event;
use crate::domain::nickname::Nickname;
use crate::domain::now_ms;
use crate::domain::phone::PhoneNumber;
use crate::domain::relation::{ListKind, RelationOp};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::events::OutboxSignal;
use crate::store::internal::{self, PairRows};
use crate::store::rate::{self, Limit};
use crate::store::relations::{self, Edge};
use crate::store::{outbox, users, Db, TxError};

/// A registered phone contact: the contact, and the number as the caller gave it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PhoneContact {
    #[schema(example = "whaha12")]
    pub nickname: String,
    /// The avatar's URL, or null.
    pub avatar: Option<String>,
    #[schema(example = 12)]
    pub user_id: i64,
    #[schema(example = "16533333333")]
    pub phone: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PageInfo {
    #[schema(example = 1)]
    pub page: u64,
    #[schema(example = 20)]
    pub size: u64,
    #[serde(rename = "totalPage")]
    #[schema(example = 1)]
    pub total_page: u64,
    #[serde(rename = "totalCount")]
    #[schema(example = 1)]
    pub total_count: u64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ContactPage {
    pub page_info: PageInfo,
    #[schema(value_type = Vec<Contact>)]
    pub list: Arc<[Contact]>,
}

/// How `user_id` stands with the user who asked about it (`/internal/relations/check`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PairState {
    #[schema(example = 7)]
    pub user_id: i64,
    /// A live user (false for an unknown or deleted id, whose flags are all false).
    pub exists: bool,
    /// The asking user follows this one.
    pub follows: bool,
    /// This one follows the asking user.
    pub followed_by: bool,
    /// The asking user blocks this one.
    pub blocks: bool,
    /// This one blocks the asking user.
    pub blocked_by: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RelationCheck {
    /// The last seq published when the relations were read: every change published up
    /// to it is in the answer.
    #[schema(example = 1042)]
    pub seq: i64,
    /// One per id asked, in the order asked.
    pub items: Vec<PairState>,
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

/// What one cached list costs in bytes, moka's bookkeeping included (measured with
/// `examples/cache_footprint.rs`: 517 B for 10 ids), so `relation_list_bytes` bounds
/// real memory: the entry, its ids, and a default-size page of profile pointers.
pub fn list_weight(ids: usize) -> u32 {
    const ENTRY: usize = 290 + std::mem::size_of::<CachedList>() + 16;
    let page = 16 + 8 * ids.min(20);
    (ENTRY + page + ids.saturating_mul(8)).min(u32::MAX as usize) as u32
}

type ListKey = (i64, ListKind);

pub struct RelationService {
    db: Db,
    settings: Arc<Settings>,
    signal: OutboxSignal,
    profiles: Arc<ProfileService>,
    lists: NearCache<ListKey, Arc<CachedList>>,
}

impl RelationService {
    pub fn new(d: &Deps, profiles: Arc<ProfileService>) -> Self {
        let c = &d.settings.cache;
        RelationService {
            lists: NearCache::weighted(
                "relation_lists",
                c.relation_list_bytes,
                Duration::from_secs(c.ttl_secs),
                |_, v: &Arc<CachedList>| list_weight(v.len()),
            ),
            db: d.db.clone(),
            settings: d.settings.clone(),
            signal: d.signal.clone(),
            profiles,
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

    /// Drops a user's cached lists (after this process changed them).
    pub(crate) async fn forget_lists(&self, user: i64) {
        for kind in ListKind::ALL {
            self.lists.invalidate(&(user, kind)).await;
        }
    }

    /// follow, unfollow, block, unblock (API.md "relation/operation").
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
                                evs.push(unblocked(from, to));
                            }
                            if relations::insert(txn, Edge::Follow, from, to, now).await? {
                                evs.push(followed(from, to));
                            }
                        }
                        RelationOp::Unfollow => {
                            if relations::delete(txn, Edge::Follow, from, to).await? {
                                evs.push(unfollowed(from, to));
                            }
                        }
                        RelationOp::Block => {
                            if relations::delete(txn, Edge::Follow, from, to).await? {
                                evs.push(unfollowed(from, to));
                            }
                            if relations::delete(txn, Edge::Follow, to, from).await? {
                                evs.push(unfollowed(to, from));
                            }
                            if relations::insert(txn, Edge::Block, from, to, now).await? {
                                evs.push(blocked(from, to));
                            }
                        }
                        RelationOp::Unblock => {
                            if relations::delete(txn, Edge::Block, from, to).await? {
                                evs.push(unblocked(from, to));
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
            self.forget_lists(from).await;
            self.forget_lists(to).await;
        }
        Ok(())
    }

    /// One page of a user's list, newest first (relation/followlist).
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
            .profiles
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

    /// Lookups reveal who is registered: each caller, and each client address (an
    /// IPv6 client by its network), has an hourly budget of them, so many accounts from
    /// one place don't multiply it.
    async fn take_lookup_budget(&self, caller: i64, ip: IpAddr) -> ApiResult<()> {
        let limits = &self.settings.limits;
        let budget = [
            Limit::new(
                format!("lookup:user:{caller}"),
                3_600,
                limits.lookups_per_hour,
            ),
            Limit::new(
                format!("lookup:ip:{}", ip_bucket(ip, limits.ipv6_prefix_len)),
                3_600,
                limits.lookups_per_address_hourly,
            ),
        ];
        rate::take_or_refuse(&self.db, &budget).await.map(drop)
    }

    /// searchbyuniquename: the users of `ids` in the order asked, one page.
    pub async fn search_by_ids(
        &self,
        caller: i64,
        ip: IpAddr,
        ids: Vec<i64>,
    ) -> ApiResult<ContactPage> {
        self.take_lookup_budget(caller, ip).await?;
        let mut seen = HashSet::new();
        let ids: Vec<i64> = ids.into_iter().filter(|i| seen.insert(*i)).collect();
        let hidden = self.blocked_by(caller).await?;
        let list: Arc<[Contact]> = self
            .profiles
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

    /// searchbynickname: the first user with exactly this nickname who has not
    /// blocked the caller.
    pub async fn search_by_nickname(
        &self,
        caller: i64,
        ip: IpAddr,
        nickname: Nickname,
    ) -> ApiResult<Contact> {
        self.take_lookup_budget(caller, ip).await?;
        let hidden = self.blocked_by(caller).await?;
        let found = users::find_by_nickname(&self.db.conn(), nickname.as_str(), 50).await?;
        found
            .into_iter()
            .find(|u| !hidden.contains(&u.id))
            .map(|u| Contact(self.profiles.uncached(u)))
            .ok_or(ApiError::Invalid(Invalid::NicknameNotFound))
    }

    /// contactlist: which of the caller's phone contacts are registered.
    pub async fn contacts(
        &self,
        caller: i64,
        ip: IpAddr,
        phones: Vec<String>,
    ) -> ApiResult<Vec<PhoneContact>> {
        self.take_lookup_budget(caller, ip).await?;
        // Read, not cached: the number (and so the country) may have just changed.
        let me = users::find(&self.db.conn(), caller)
            .await?
            .ok_or(ApiError::Unauthorized)?;
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
        let by_phone: HashMap<(String, String), entity::user::Model> = rows
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
                    avatar: u.avatar.as_deref().map(|k| self.profiles.avatar_url(k)),
                    user_id: u.id,
                    phone: raw,
                })
            })
            .collect())
    }

    /// getimtoken's rule: every member exists and none has blocked the caller.
    pub async fn check_members(&self, caller: i64, members: &[i64]) -> ApiResult<()> {
        let mut distinct = members.to_vec();
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

    /// `/internal/relations/check`: how `user` stands with each of `others`, in the
    /// order asked. Warm (the user's four lists cached and caches coherent): the lists,
    /// the profile cache for who exists, and one read of the seq, taken before the lists
    /// so every change published up to it is in them. Cold: one statement
    /// (`store::internal::pair_rows`), and the user's lists are loaded in the
    /// background for the next call.
    pub async fn check(self: &Arc<Self>, user: i64, others: &[i64]) -> ApiResult<RelationCheck> {
        let mut distinct = others.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let rows = match self.warm_pair_rows(user, &distinct).await? {
            Some(rows) => rows,
            None => {
                let rows = internal::pair_rows(&self.db.conn(), user, &distinct).await?;
                self.warm_lists(user);
                rows
            }
        };
        let set = |v: Vec<i64>| v.into_iter().collect::<HashSet<i64>>();
        let (live, follows, followed_by, blocks, blocked_by) = (
            set(rows.live),
            set(rows.follows),
            set(rows.followed_by),
            set(rows.blocks),
            set(rows.blocked_by),
        );
        let items = others
            .iter()
            .map(|&id| {
                let exists = live.contains(&id);
                PairState {
                    user_id: id,
                    exists,
                    follows: exists && follows.contains(&id),
                    followed_by: exists && followed_by.contains(&id),
                    blocks: exists && blocks.contains(&id),
                    blocked_by: exists && blocked_by.contains(&id),
                }
            })
            .collect();
        Ok(RelationCheck {
            seq: rows.seq,
            items,
        })
    }

    const CHECK_LISTS: [ListKind; 4] = [
        ListKind::Following,
        ListKind::Fans,
        ListKind::Blocking,
        ListKind::BlockedBy,
    ];

    /// The check's rows from the caches, or None when one of the user's lists is not
    /// cached (or the caches are off).
    async fn warm_pair_rows(&self, user: i64, others: &[i64]) -> ApiResult<Option<PairRows>> {
        for kind in Self::CHECK_LISTS {
            if self.lists.peek(&(user, kind)).await.is_none() {
                return Ok(None);
            }
        }
        let seq = internal::last_published_seq(&self.db.conn()).await?;
        // Read again after the seq: an invalidation in between makes this call cold.
        let mut lists = Vec::with_capacity(4);
        for kind in Self::CHECK_LISTS {
            match self.lists.peek(&(user, kind)).await {
                Some(l) => lists.push(l),
                None => return Ok(None),
            }
        }
        let wanted: HashSet<i64> = others.iter().copied().collect();
        let pick = |l: &Arc<CachedList>| -> Vec<i64> {
            l.iter().copied().filter(|id| wanted.contains(id)).collect()
        };
        let live = self
            .profiles
            .profiles(others)
            .await?
            .iter()
            .map(|p| p.user_id)
            .collect();
        Ok(Some(PairRows {
            seq,
            live,
            follows: pick(&lists[0]),
            followed_by: pick(&lists[1]),
            blocks: pick(&lists[2]),
            blocked_by: pick(&lists[3]),
        }))
    }

    /// Loads the user's lists into the cache, off the request's path.
    fn warm_lists(self: &Arc<Self>, user: i64) {
        if !self.lists.enabled() {
            return;
        }
        let me = self.clone();
        actix_web::rt::spawn(async move {
            for kind in Self::CHECK_LISTS {
                if let Err(e) = me.list_ids(user, kind).await {
                    tracing::debug!(user, error = %e, "warming the check's lists");
                    return;
                }
            }
        });
    }

    pub(super) async fn apply(&self, event: &Event) {
        match event {
            Event::Followed { .. }
            | Event::Unfollowed { .. }
            | Event::Blocked { .. }
            | Event::Unblocked { .. } => {
                for user in event.users().into_iter().flatten() {
                    self.forget_lists(user).await;
                }
            }
            // The event does not say whose lists held the user (no per-relation events
            // follow a deletion), and deletions are rare: every list goes.
            Event::UserDeleted { .. } => self.lists.invalidate_all(),
            _ => {}
        }
    }

    pub(super) fn set_cache_enabled(&self, on: bool) {
        self.lists.set_enabled(on);
    }

    pub(super) fn record_metrics(&self) {
        self.lists.record_metrics();
    }
}

fn followed(from_user_id: i64, to_user_id: i64) -> Event {
    Event::Followed {
        from_user_id,
        to_user_id,
    }
}

fn unfollowed(from_user_id: i64, to_user_id: i64) -> Event {
    Event::Unfollowed {
        from_user_id,
        to_user_id,
    }
}

fn blocked(from_user_id: i64, to_user_id: i64) -> Event {
    Event::Blocked {
        from_user_id,
        to_user_id,
    }
}

fn unblocked(from_user_id: i64, to_user_id: i64) -> Event {
    Event::Unblocked {
        from_user_id,
        to_user_id,
    }
}

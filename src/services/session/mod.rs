//! Sessions: sign-in by SMS code, session lookups, logout and IM tokens; and, as the
//! user's own account, their profile (`profiles`).

pub mod account;

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::profile::ProfileService;
use super::relation::RelationService;
use super::Deps;
use crate::cache::NearCache;
use crate::config::Settings;
use crate::domain::check_code::{CheckCode, CodeHasher};
use crate::domain::client::ip_bucket;
use crate::domain::device::Device;
use crate::domain::event::{Event, RevokeReason};
use crate::domain::jwt::JwtIssuer;
use crate::domain::nickname::Nickname;
use crate::domain::now_ms;
use crate::domain::phone::{PhoneNumber, TestNumbers};
use crate::domain::token::{SessionToken, TokenHash};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::events::OutboxSignal;
use crate::media::storage::LocalStorage;
use crate::store::rate::{self, Limit};
use crate::store::{outbox, sessions, sms as codes, users, Db, TxError};

/// A live session as cached: what authentication needs.
#[derive(Debug)]
pub struct SessionEntry {
    pub id: i64,
    pub user_id: i64,
    pub device: String,
    pub device_id: String,
    pub token_hash: TokenHash,
    last_used_at: AtomicI64,
    expires_at: AtomicI64,
}

impl SessionEntry {
    pub fn new(s: entity::session::Model, token_hash: TokenHash) -> Self {
        SessionEntry {
            id: s.id,
            user_id: s.user_id,
            device: s.device,
            device_id: s.device_id,
            token_hash,
            last_used_at: AtomicI64::new(s.last_used_at),
            expires_at: AtomicI64::new(s.expires_at),
        }
    }
}

/// The caller of an authenticated route.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: i64,
    pub session: Arc<SessionEntry>,
}

/// signinbysms's `data`, field types exactly as the contract has them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignInData {
    #[schema(example = "GLdKtM")]
    pub nickname: String,
    /// The avatar's URL, or null.
    pub avatar: Option<String>,
    #[schema(example = 8)]
    pub user_id: i64,
    /// The session token: send it as the `token` header.
    #[schema(
        example = "63d128f9a25196029526506804d1b0c9",
        pattern = "^[0-9a-f]{32}$"
    )]
    pub token: String,
    /// A JWT for the IM server: claims `{"unique_name": <user_id>, "exp": …}`.
    pub im_token: String,
    /// 1 on the number's first sign-in (the user was created), else 0.
    #[schema(minimum = 0, maximum = 1)]
    pub is_first_login: u8,
    /// 0 for an ordinary user.
    #[schema(example = 0)]
    pub role: i16,
    /// Unix seconds of the previous sign-in (of this one on the first).
    #[schema(example = 1609855258)]
    pub last_seen: i64,
}

pub struct SessionService {
    db: Db,
    settings: Arc<Settings>,
    hasher: CodeHasher,
    jwt: JwtIssuer,
    storage: LocalStorage,
    signal: OutboxSignal,
    test_numbers: TestNumbers,
    /// Token hash → live session. Unknown tokens are not kept here: a flood of random
    /// ones must not push live sessions out.
    cache: NearCache<TokenHash, Arc<SessionEntry>>,
    /// Tokens found unknown, in a small cache of their own (a client retrying an old
    /// token costs no query). Tokens are random, so an unknown one never becomes valid.
    unknown: moka::future::Cache<TokenHash, (), foldhash::fast::RandomState>,
    profiles: Arc<ProfileService>,
    relations: Arc<RelationService>,
}

fn session_ttl_ms(settings: &Settings) -> i64 {
    settings.session.ttl_days as i64 * 86_400_000
}

/// A code that passed its check: the row to use up in the operation's transaction
/// (`None` for a test number's fixed code, which is never used up).
struct Verified {
    code_row: Option<(i64, String)>,
}

/// Uses up a verified code; refuses if another request used it first.
async fn consume_code(
    txn: &sea_orm::DatabaseTransaction,
    code_row: &Option<(i64, String)>,
    now: i64,
) -> Result<(), TxError> {
    if let Some((id, hash)) = code_row {
        if !codes::consume(txn, *id, hash, now).await? {
            return Err(ApiError::Invalid(Invalid::CheckCode).into());
        }
    }
    Ok(())
}

/// Banned now: a ban whose end has passed no longer counts, even before the sweep
/// that lifts it has run.
pub fn banned(u: &entity::user::Model, now: i64) -> bool {
    u.banned_at.is_some() && u.banned_until.is_none_or(|until| until > now)
}

struct SignedIn {
    user: entity::user::Model,
    first: bool,
    last_seen_ms: i64,
    replaced: Option<TokenHash>,
}

impl SessionService {
    pub fn new(d: &Deps, profiles: Arc<ProfileService>, relations: Arc<RelationService>) -> Self {
        let c = &d.settings.cache;
        SessionService {
            cache: NearCache::new("sessions", c.sessions, Duration::from_secs(c.ttl_secs)),
            unknown: moka::future::Cache::builder()
                .max_capacity(c.unknown_tokens)
                .time_to_live(Duration::from_secs(c.ttl_secs))
                .build_with_hasher(Default::default()),
            test_numbers: d.test_numbers.clone(),
            db: d.db.clone(),
            settings: d.settings.clone(),
            hasher: d.codes.clone(),
            jwt: d.jwt.clone(),
            storage: d.storage.clone(),
            signal: d.signal.clone(),
            profiles,
            relations,
        }
    }

    /// The user's profile, as the user changes it (updateuserinfo).
    pub fn profiles(&self) -> &ProfileService {
        &self.profiles
    }

    pub async fn authenticate(&self, hash: TokenHash) -> ApiResult<AuthUser> {
        let entry = self
            .cache
            .get_or_load_found(hash, || async move {
                if self.unknown.contains_key(&hash) {
                    return Ok(None);
                }
                let row = sessions::find_by_hash(&self.db.conn(), &hash).await?;
                if row.is_none() {
                    self.unknown.insert(hash, ()).await;
                }
                Ok(row.map(|s| Arc::new(SessionEntry::new(s, hash))))
            })
            .await?;
        let Some(s) = entry else {
            return Err(ApiError::Unauthorized);
        };
        let now = now_ms();
        if now >= s.expires_at.load(Ordering::Relaxed) {
            self.cache.invalidate(&hash).await;
            return Err(ApiError::Unauthorized);
        }
        // Sliding expiry, written back at most once per touch interval.
        let touch_ms = self.settings.session.touch_interval_secs as i64 * 1000;
        let last = s.last_used_at.load(Ordering::Relaxed);
        if now - last >= touch_ms
            && s.last_used_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // Boxed, as the cache's misses: the update's future would otherwise
            // enlarge every authentication's.
            Box::pin(self.touch(&s, last, now)).await;
        }
        Ok(AuthUser {
            user_id: s.user_id,
            session: s,
        })
    }

    async fn touch(&self, s: &SessionEntry, last: i64, now: i64) {
        let expires = now + session_ttl_ms(&self.settings);
        s.expires_at.store(expires, Ordering::Relaxed);
        if let Err(e) = sessions::touch(&self.db.conn(), s.id, now, expires).await {
            // Not worth failing the request: the session stays valid until its
            // stored expiry, and the next request tries again.
            s.last_used_at.store(last, Ordering::Relaxed);
            tracing::warn!(error = %e, "could not record session use");
        }
    }

    /// Checks a code without using it up: wrong tries count (and burn the code after
    /// `max_attempts`) whether or not the sign-in then succeeds.
    async fn verify_code(
        &self,
        phone: &PhoneNumber,
        code: &CheckCode,
        ip: IpAddr,
    ) -> ApiResult<Verified> {
        let now = now_ms();
        let budget = [Limit::new(
            format!(
                "verify:ip:{}",
                ip_bucket(ip, self.settings.limits.ipv6_prefix_len)
            ),
            3_600,
            self.settings.sms.verify_per_ip_hourly,
        )];
        let fixed = self.test_numbers.code(phone).map(str::to_owned);
        let max = self.settings.sms.max_attempts as i32;
        // A test number's fixed code never burns by itself: its wrong tries are counted
        // like any code's (max_attempts per code lifetime, then 429 for the rest of it)
        // and capped per day, so a reviewer's code can't be found by guessing.
        let sms = &self.settings.sms;
        let number = format!("{}:{}", phone.nation_code(), phone.national());
        let test_tries = [
            Limit::new(
                format!("verify:test:{number}"),
                sms.code_ttl_secs as i64,
                sms.max_attempts,
            ),
            Limit::new(
                format!("verify:test-day:{number}"),
                86_400,
                sms.test_number_daily_wrong_tries,
            ),
        ];

        /// What the transaction found; decided outside so that the counted try and
        /// the budget commit whatever the answer is.
        enum Check {
            OverBudget(u64),
            FixedRight,
            FixedWrong,
            NoLiveCode,
            Burned(i64),
            Tried(entity::sms_code::Model),
        }
        // One transaction: the per-IP budget, then one try of the code (row locked, so
        // parallel guesses count exactly).
        let check = self
            .db
            .write(|txn| {
                let (budget, phone, fixed) = (budget.clone(), phone.clone(), fixed.clone());
                let (test_tries, code) = (test_tries.clone(), code.clone());
                Box::pin(async move {
                    if let Err(ex) = rate::take(txn, &budget, now).await? {
                        return Ok(Check::OverBudget(ex.retry_after_secs));
                    }
                    if let Some(expected) = fixed {
                        if let Some(ex) = rate::used_up(txn, &test_tries, now).await? {
                            return Ok(Check::OverBudget(ex.retry_after_secs));
                        }
                        let right: bool = subtle::ConstantTimeEq::ct_eq(
                            expected.as_bytes(),
                            code.as_str().as_bytes(),
                        )
                        .into();
                        if right {
                            return Ok(Check::FixedRight);
                        }
                        // Counted whatever else happens: the take commits with the answer.
                        let _ = rate::take(txn, &test_tries, now).await?;
                        return Ok(Check::FixedWrong);
                    }
                    let Some(row) = codes::find_for_update(txn, &phone).await? else {
                        return Ok(Check::NoLiveCode);
                    };
                    if row.consumed_at.is_some() || row.expires_at <= now {
                        return Ok(Check::NoLiveCode);
                    }
                    if row.attempts >= max {
                        return Ok(Check::Burned(row.sent_at));
                    }
                    if !codes::take_attempt(txn, row.id, &row.code_hash, max, now).await? {
                        return Ok(Check::NoLiveCode);
                    }
                    Ok(Check::Tried(row))
                })
            })
            .await?;
        match check {
            Check::OverBudget(retry_after_secs) => {
                Err(ApiError::TooManyRequests { retry_after_secs })
            }
            Check::FixedRight => Ok(Verified { code_row: None }),
            Check::FixedWrong => Err(ApiError::Invalid(Invalid::CheckCode)),
            Check::NoLiveCode => Err(ApiError::Invalid(Invalid::CheckCode)),
            // Burned until a new code is sent: retry once the send cooldown has passed.
            Check::Burned(sent_at) => Err(ApiError::TooManyRequests {
                retry_after_secs: ((sent_at + self.settings.sms.cooldown_secs as i64 * 1000 - now)
                    .max(1000) as u64)
                    .div_ceil(1000),
            }),
            Check::Tried(row) if self.hasher.verify(phone, code, &row.code_hash) => Ok(Verified {
                code_row: Some((row.id, row.code_hash)),
            }),
            Check::Tried(_) => Err(ApiError::Invalid(Invalid::CheckCode)),
        }
    }

    /// signinbysms: checks the code, creates the user on a first sign-in, and opens a
    /// session on the device type (ending the one it had).
    pub async fn sign_in(&self, m: SignIn) -> ApiResult<SignInData> {
        let verified = self.verify_code(&m.phone, &m.code, m.ip).await?;
        let now = now_ms();
        let ttl = session_ttl_ms(&self.settings);
        let token = SessionToken::generate();
        let token_hash = token.hash();
        let device = m.device.as_str();

        let done = self
            .db
            .write(|txn| {
                let phone = m.phone.clone();
                let code_row = verified.code_row.clone();
                let device_id = m.device_id.clone();

                Box::pin(async move {
                    consume_code(txn, &code_row, now).await?;
                    let (user, first) = match users::find_by_phone_for_update(txn, &phone).await? {
                        Some(u) if banned(&u, now) => return Err(ApiError::Banned.into()),
                        Some(u) => (u, false),
                        None => {
                            let nick = Nickname::random();
                            let u = users::insert(txn, &phone, nick.as_str(), now).await?;
                            outbox::insert(
                                txn,
                                &Event::UserCreated {
                                    user_id: u.id,
                                    nickname: u.nickname.clone(),
                                },
                            )
                            .await?;
                            (u, true)
                        }
                    };
                    let mut replaced = None;
                    if let Some(old) = sessions::find_for_device(txn, user.id, device).await? {
                        sessions::delete(txn, old.id).await?;
                        outbox::insert(
                            txn,
                            &Event::SessionRevoked {
                                user_id: user.id,
                                device: device.to_owned(),
                                device_id: old.device_id.clone(),
                                reason: RevokeReason::Replaced,
                            },
                        )
                        .await?;
                        replaced = TokenHash::from_hex(&old.token_hash);
                    }
                    sessions::insert(
                        txn,
                        sessions::NewSession {
                            user_id: user.id,
                            device,
                            device_id: &device_id,
                            hash: &token_hash,
                            now,
                            expires_at: now + ttl,
                        },
                    )
                    .await?;
                    users::set_last_signin(txn, user.id, now).await?;
                    let last_seen_ms = if first { now } else { user.last_signin_at };
                    Ok(SignedIn {
                        user,
                        first,
                        last_seen_ms,
                        replaced,
                    })
                })
            })
            .await?;
        self.signal.committed();
        if let Some(old) = &done.replaced {
            self.cache.invalidate(old).await;
        }
        let im_token = self
            .jwt
            .im_token(done.user.id)
            .map_err(|e| ApiError::internal("signing im_token failed", e))?;
        tracing::info!(
            user_id = done.user.id,
            device,
            first = done.first,
            "signed in"
        );
        Ok(SignInData {
            nickname: done.user.nickname,
            avatar: done.user.avatar.as_deref().map(|k| self.storage.url(k)),
            user_id: done.user.id,
            token: token.as_str().to_owned(),
            im_token,
            is_first_login: u8::from(done.first),
            role: done.user.role,
            last_seen: done.last_seen_ms / 1000,
        })
    }

    /// logout: ends the caller's session.
    pub async fn logout(&self, auth: AuthUser) -> ApiResult<()> {
        self.db
            .write(|txn| {
                let auth = auth.clone();
                Box::pin(async move {
                    users::lock_users(txn, &[auth.user_id]).await?;
                    if sessions::delete(txn, auth.session.id).await? {
                        outbox::insert(
                            txn,
                            &Event::SessionRevoked {
                                user_id: auth.user_id,
                                device: auth.session.device.clone(),
                                device_id: auth.session.device_id.clone(),
                                reason: RevokeReason::Logout,
                            },
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        self.signal.committed();
        self.cache.invalidate(&auth.session.token_hash).await;
        Ok(())
    }

    /// getimtoken: a login `im_token`, or an action token for `act` and its members.
    pub async fn im_token(
        &self,
        user_id: i64,
        act: Option<String>,
        members: Vec<i64>,
    ) -> ApiResult<String> {
        let Some(act) = act else {
            return self
                .jwt
                .im_token(user_id)
                .map_err(|e| ApiError::internal("signing im_token failed", e));
        };
        if !members.is_empty() {
            // A read of the relation directory's caches; no ordering to keep.
            self.relations.check_members(user_id, &members).await?;
        }
        let members: Vec<String> = members.iter().map(i64::to_string).collect();
        self.jwt
            .action_token(user_id, &act, &members)
            .map_err(|e| ApiError::internal("signing action token failed", e))
    }

    /// Drops the cached sessions of a user on a device type when another process
    /// revoked one (the event names the device, not the token).
    pub(super) fn apply(&self, event: &Event) {
        match event {
            Event::SessionRevoked {
                user_id, device, ..
            } => {
                let (user_id, device) = (*user_id, device.clone());
                self.cache
                    .invalidate_if(move |_, s| s.user_id == user_id && s.device == device);
            }
            Event::UserDeleted { user_id } | Event::UserBanned { user_id, .. } => {
                let user_id = *user_id;
                self.cache.invalidate_if(move |_, s| s.user_id == user_id);
            }
            _ => {}
        }
    }

    pub(super) fn set_cache_enabled(&self, on: bool) {
        self.cache.set_enabled(on);
    }

    pub(super) fn cache_enabled(&self) -> bool {
        self.cache.enabled()
    }

    pub(super) fn record_metrics(&self) {
        self.cache.record_metrics();
    }
}

/// signinbysms's input, parsed.
pub struct SignIn {
    pub phone: PhoneNumber,
    pub code: CheckCode,
    pub device: Device,
    pub device_id: String,
    pub ip: IpAddr,
}

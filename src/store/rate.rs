//! Sliding-window limits in the database, so they hold across every process.
//!
//! A limit of N per window admits a take only while fewer than N takes were counted in
//! the last window, at any moment, not per calendar window: fixed windows let 2N through
//! in a burst across a window's edge. Takes are counted per slot of 1/`SLOTS` window
//! (one row each), and a take counts until its slot is `SLOTS` slots old: for at least a
//! window, at most one slot longer. So no window-long interval ever holds more than N,
//! rows per limit stay bounded, and a refusal knows the exact wait.
//!
//! Not a two-window weighted count or GCRA: both are cheaper, but both admit more than N
//! in some window-long interval (the weighted count assumes the previous window's takes
//! were evenly spread; GCRA with a burst of N admits one more every N-th of a window).

use entity::rate_counter::{self, Entity as Counters};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::Db;
use crate::error::{ApiError, ApiResult};

/// Slots per window. A take may count up to 1/SLOTS of a window longer than the window.
const SLOTS: i64 = 30;

/// `window_start` of a limit's lock row: the row every take of an exact limit locks
/// first, so takes on one limit run one at a time (slot starts are never 0).
const LOCK_ROW: i64 = 0;

#[derive(Clone, Debug)]
pub struct Limit {
    pub bucket: String,
    pub window_secs: i64,
    pub max: u32,
    /// Rows the count is spread over. 1: exact, under one lock per limit. More: for a
    /// limit every request touches (the global SMS budget), so that requests don't queue
    /// on one row lock; the check reads the sum without locking and may overshoot by the
    /// requests in flight, which is fine for a budget.
    pub shards: u32,
}

impl Limit {
    pub fn new(bucket: impl Into<String>, window_secs: i64, max: u32) -> Self {
        Limit {
            bucket: bucket.into(),
            window_secs,
            max,
            shards: 1,
        }
    }

    pub fn sharded(bucket: impl Into<String>, window_secs: i64, max: u32, shards: u32) -> Self {
        Limit {
            shards: std::cmp::max(shards, 1),
            ..Limit::new(bucket, window_secs, max)
        }
    }

    fn shard_buckets(&self) -> Vec<String> {
        (0..self.shards)
            .map(|i| format!("{}#{i}", self.bucket))
            .collect()
    }

    fn window_ms(&self) -> i64 {
        std::cmp::max(self.window_secs, 1).saturating_mul(1000)
    }

    fn slot_ms(&self) -> i64 {
        (self.window_ms() + SLOTS - 1) / SLOTS
    }

    fn slot_start(&self, now_ms: i64) -> i64 {
        now_ms - now_ms.rem_euclid(self.slot_ms())
    }

    /// The oldest slot still counted at `now_ms`: `SLOTS` slots before the current one,
    /// so the counted span is never shorter than the window.
    fn first_counted(&self, now_ms: i64) -> i64 {
        self.slot_start(now_ms) - SLOTS * self.slot_ms()
    }

    /// When the takes of the slot starting at `start` stop counting.
    fn slot_end(&self, start: i64) -> i64 {
        start + (SLOTS + 1) * self.slot_ms()
    }

    /// Refused with `counted` (slot start, count; oldest first): the wait is until enough
    /// of the oldest slots have stopped counting to leave room for one more take.
    fn exhausted(&self, counted: &[(i64, i64)], now_ms: i64) -> Exhausted {
        let mut remaining: i64 = counted.iter().map(|(_, n)| n).sum();
        let mut free_at = now_ms + self.window_ms();
        for (start, n) in counted {
            remaining -= n;
            if remaining < i64::from(self.max) {
                free_at = self.slot_end(*start);
                break;
            }
        }
        Exhausted {
            bucket: self.bucket.clone(),
            retry_after_secs: (std::cmp::max(free_at - now_ms, 1000) as u64).div_ceil(1000),
        }
    }
}

/// Why a take was refused: which limit, and seconds until it admits one more.
#[derive(Debug, PartialEq, Eq)]
pub struct Exhausted {
    pub bucket: String,
    pub retry_after_secs: u64,
}

/// The rows one `take` counted in, for `give_back`.
#[derive(Clone, Debug, Default)]
pub struct Taken(Vec<(String, i64)>);

/// (slot start, count) of `buckets` still counted at `now_ms`, oldest first, the counts
/// of shards added up.
async fn counted(
    c: &impl ConnectionTrait,
    l: &Limit,
    buckets: Vec<String>,
    now_ms: i64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    let rows: Vec<(i64, i32)> = Counters::find()
        .select_only()
        .column(rate_counter::Column::WindowStart)
        .column(rate_counter::Column::Count)
        .filter(rate_counter::Column::Bucket.is_in(buckets))
        .filter(rate_counter::Column::WindowStart.gte(l.first_counted(now_ms)))
        .order_by_asc(rate_counter::Column::WindowStart)
        .into_tuple()
        .all(c)
        .await?;
    let mut slots: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
    for (start, n) in rows {
        match slots.last_mut() {
            Some((s, total)) if *s == start => *total += i64::from(n),
            _ => slots.push((start, i64::from(n))),
        }
    }
    Ok(slots)
}

/// Locks an exact limit's lock row, creating it when missing (a concurrent first insert
/// is a unique conflict the caller retries). The row expires like a slot and the clean-up
/// may delete it, even while a take waits on it: the next take makes it again. Its own
/// statement, before the slots are read: a read that waited for a lock would not see
/// the slot rows the transaction it waited for inserted (PostgreSQL re-reads only the
/// rows it locked).
async fn lock_limit(c: &impl ConnectionTrait, l: &Limit, now_ms: i64) -> Result<(), DbErr> {
    let row = super::lock(
        Counters::find()
            .filter(rate_counter::Column::Bucket.eq(l.bucket.as_str()))
            .filter(rate_counter::Column::WindowStart.eq(LOCK_ROW)),
    )
    .one(c)
    .await?;
    if row.is_none() {
        rate_counter::ActiveModel {
            bucket: Set(l.bucket.clone()),
            window_start: Set(LOCK_ROW),
            count: Set(0),
            expires_at: Set(l.slot_end(l.slot_start(now_ms))),
        }
        .insert(c)
        .await?;
    }
    Ok(())
}

/// Whether `l` is used up now. An exact limit is read under its lock, so what a caller
/// does next in its transaction sees no one in between.
async fn exhausted(
    c: &impl ConnectionTrait,
    l: &Limit,
    now_ms: i64,
) -> Result<Option<Exhausted>, DbErr> {
    let buckets = if l.shards > 1 {
        l.shard_buckets()
    } else {
        lock_limit(c, l, now_ms).await?;
        vec![l.bucket.clone()]
    };
    let slots = counted(c, l, buckets, now_ms).await?;
    Ok(
        (slots.iter().map(|(_, n)| n).sum::<i64>() >= i64::from(l.max))
            .then(|| l.exhausted(&slots, now_ms)),
    )
}

/// Takes one unit from every limit, or none if any is exhausted. Call inside a write
/// transaction: the lock rows (or SQLite's single writer) make concurrent takes on an
/// exact limit run one after another, and a concurrent first insert of a row is a unique
/// conflict the caller retries.
pub async fn take(
    c: &impl ConnectionTrait,
    limits: &[Limit],
    now_ms: i64,
) -> Result<Result<Taken, Exhausted>, DbErr> {
    let mut plan = Vec::with_capacity(limits.len());
    for l in limits {
        if let Some(e) = exhausted(c, l, now_ms).await? {
            return Ok(Err(e));
        }
        let bucket = if l.shards > 1 {
            format!("{}#{}", l.bucket, rand::random::<u32>() % l.shards)
        } else {
            l.bucket.clone()
        };
        plan.push((l, bucket));
    }
    let mut taken = Taken::default();
    for (l, bucket) in plan {
        let start = l.slot_start(now_ms);
        let end = l.slot_end(start);
        let updated = Counters::update_many()
            .col_expr(
                rate_counter::Column::Count,
                Expr::col(rate_counter::Column::Count).add(1),
            )
            .col_expr(rate_counter::Column::ExpiresAt, Expr::value(end))
            .filter(rate_counter::Column::Bucket.eq(bucket.as_str()))
            .filter(rate_counter::Column::WindowStart.eq(start))
            .exec(c)
            .await?;
        if updated.rows_affected == 0 {
            rate_counter::ActiveModel {
                bucket: Set(bucket.clone()),
                window_start: Set(start),
                count: Set(1),
                expires_at: Set(end),
            }
            .insert(c)
            .await?;
        }
        taken.0.push((bucket, start));
    }
    Ok(Ok(taken))
}

/// The first of `limits` that is used up, without taking from any (for counting only
/// failures: check first, then `take` when one happens). Exact limits are read under
/// their lock, so a check and its take in one transaction see no one in between.
pub async fn used_up(
    c: &impl ConnectionTrait,
    limits: &[Limit],
    now_ms: i64,
) -> Result<Option<Exhausted>, DbErr> {
    for l in limits {
        if let Some(e) = exhausted(c, l, now_ms).await? {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

/// `take` in a transaction of its own, a refusal as 429 with the wait.
pub async fn take_or_refuse(db: &Db, limits: &[Limit]) -> ApiResult<Taken> {
    let now = crate::domain::now_ms();
    let outcome = db
        .write(|txn| {
            let limits = limits.to_vec();
            Box::pin(async move { Ok(take(txn, &limits, now).await?) })
        })
        .await?;
    outcome.map_err(|ex| ApiError::TooManyRequests {
        retry_after_secs: ex.retry_after_secs,
    })
}

/// Gives back what a `take` counted (a send the provider failed).
pub async fn give_back(c: &impl ConnectionTrait, taken: &Taken) -> Result<(), DbErr> {
    for (bucket, start) in &taken.0 {
        Counters::update_many()
            .col_expr(
                rate_counter::Column::Count,
                Expr::col(rate_counter::Column::Count).sub(1),
            )
            .filter(rate_counter::Column::Bucket.eq(bucket.as_str()))
            .filter(rate_counter::Column::WindowStart.eq(*start))
            .filter(rate_counter::Column::Count.gt(0))
            .exec(c)
            .await?;
    }
    Ok(())
}

pub async fn delete_expired(c: &impl ConnectionTrait, now_ms: i64) -> Result<u64, DbErr> {
    let r = Counters::delete_many()
        .filter(rate_counter::Column::ExpiresAt.lt(now_ms))
        .exec(c)
        .await?;
    Ok(r.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_at_least_a_window_and_the_wait_is_until_room_frees() {
        let l = Limit::new("t", 3_600, 3);
        assert_eq!(l.slot_ms(), 120_000);
        let now = 1_000_000_000_000 + 5_000;
        let first = l.first_counted(now);
        assert!(now - first >= 3_600_000);
        assert!(now - first < 3_600_000 + l.slot_ms());
        // Three takes in two old slots: room for one more once the oldest has gone.
        let a = l.slot_start(now) - 10 * l.slot_ms();
        let b = l.slot_start(now) - 2 * l.slot_ms();
        let ex = l.exhausted(&[(a, 1), (b, 2)], now);
        assert_eq!(
            ex.retry_after_secs,
            ((l.slot_end(a) - now) as u64).div_ceil(1000)
        );
        // Over the limit by more (a lowered limit): the wait runs to a later slot.
        let ex = l.exhausted(&[(a, 1), (b, 4)], now);
        assert_eq!(
            ex.retry_after_secs,
            ((l.slot_end(b) - now) as u64).div_ceil(1000)
        );
        // A limit of 0 admits nothing: the wait is a window.
        let zero = Limit::new("z", 60, 0);
        assert_eq!(zero.exhausted(&[], now).retry_after_secs, 60);
    }
}

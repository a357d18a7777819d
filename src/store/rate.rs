//! Fixed-window counters in the database, so limits hold across every process.

use entity::rate_counter::{self, Entity as Counters};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};

use super::Db;
use crate::error::{ApiError, ApiResult};

#[derive(Clone, Debug)]
pub struct Limit {
    pub bucket: String,
    pub window_secs: i64,
    pub max: u32,
    /// Rows the count is spread over. 1: one exact row. More: for a limit every request
    /// touches (the global SMS budget), so that requests don't queue on one row lock;
    /// the check reads the sum without locking and may overshoot by the requests in
    /// flight, which is fine for a budget.
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

    fn window_start(&self, now_ms: i64) -> i64 {
        let w = self.window_secs * 1000;
        now_ms - now_ms.rem_euclid(w)
    }
}

/// Why a take was refused: which limit, and seconds until its window ends.
#[derive(Debug, PartialEq, Eq)]
pub struct Exhausted {
    pub bucket: String,
    pub retry_after_secs: u64,
}

/// The rows one `take` counted in, for `give_back`.
#[derive(Clone, Debug, Default)]
pub struct Taken(Vec<(String, i64)>);

/// Takes one unit from every limit, or none if any is exhausted. Call inside a write
/// transaction: the row locks (or SQLite's single writer) make concurrent takes exact,
/// and a concurrent first insert of a window is a unique conflict the caller retries.
pub async fn take(
    c: &impl ConnectionTrait,
    limits: &[Limit],
    now_ms: i64,
) -> Result<Result<Taken, Exhausted>, DbErr> {
    let mut rows = Vec::with_capacity(limits.len());
    for l in limits {
        let start = l.window_start(now_ms);
        let exhausted = || Exhausted {
            bucket: l.bucket.clone(),
            retry_after_secs: (std::cmp::max(start + l.window_secs * 1000 - now_ms, 1000) as u64)
                .div_ceil(1000),
        };
        if l.shards > 1 {
            let counts: Vec<i32> = Counters::find()
                .select_only()
                .column(rate_counter::Column::Count)
                .filter(rate_counter::Column::Bucket.is_in(l.shard_buckets()))
                .filter(rate_counter::Column::WindowStart.eq(start))
                .into_tuple()
                .all(c)
                .await?;
            if counts.iter().map(|n| *n as i64).sum::<i64>() >= l.max as i64 {
                return Ok(Err(exhausted()));
            }
        }
        let bucket = if l.shards > 1 {
            format!("{}#{}", l.bucket, rand::random::<u32>() % l.shards)
        } else {
            l.bucket.clone()
        };
        let row = super::lock(
            Counters::find()
                .filter(rate_counter::Column::Bucket.eq(bucket.as_str()))
                .filter(rate_counter::Column::WindowStart.eq(start)),
        )
        .one(c)
        .await?;
        if let Some(r) = &row {
            if l.shards == 1 && r.count as i64 >= l.max as i64 {
                return Ok(Err(exhausted()));
            }
        }
        rows.push((l, bucket, start, row));
    }
    let mut taken = Taken::default();
    for (l, bucket, start, row) in rows {
        taken.0.push((bucket.clone(), start));
        match row {
            Some(_) => {
                Counters::update_many()
                    .col_expr(
                        rate_counter::Column::Count,
                        Expr::col(rate_counter::Column::Count).add(1),
                    )
                    .filter(rate_counter::Column::Bucket.eq(bucket.as_str()))
                    .filter(rate_counter::Column::WindowStart.eq(start))
                    .exec(c)
                    .await?;
            }
            None => {
                rate_counter::ActiveModel {
                    bucket: Set(bucket),
                    window_start: Set(start),
                    count: Set(1),
                    expires_at: Set(start + l.window_secs * 1000),
                }
                .insert(c)
                .await?;
            }
        }
    }
    Ok(Ok(taken))
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

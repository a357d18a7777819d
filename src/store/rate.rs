//! Fixed-window counters in the database, so limits hold across every process.

use entity::rate_counter::{self, Entity as Counters};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};

#[derive(Clone, Debug)]
pub struct Limit {
    pub bucket: String,
    pub window_secs: i64,
    pub max: u32,
}

impl Limit {
    pub fn new(bucket: impl Into<String>, window_secs: i64, max: u32) -> Self {
        Limit {
            bucket: bucket.into(),
            window_secs,
            max,
        }
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

/// Takes one unit from every limit, or none if any is exhausted. Call inside a write
/// transaction: the row locks (or SQLite's single writer) make concurrent takes exact,
/// and a concurrent first insert of a window is a unique conflict the caller retries.
pub async fn take(
    c: &impl ConnectionTrait,
    limits: &[Limit],
    now_ms: i64,
) -> Result<Result<(), Exhausted>, DbErr> {
    let mut rows = Vec::with_capacity(limits.len());
    for l in limits {
        let start = l.window_start(now_ms);
        let row = super::lock(
            Counters::find()
                .filter(rate_counter::Column::Bucket.eq(l.bucket.as_str()))
                .filter(rate_counter::Column::WindowStart.eq(start)),
        )
        .one(c)
        .await?;
        if let Some(r) = &row {
            if r.count as i64 >= l.max as i64 {
                let end = start + l.window_secs * 1000;
                return Ok(Err(Exhausted {
                    bucket: l.bucket.clone(),
                    retry_after_secs: (std::cmp::max(end - now_ms, 1000) as u64).div_ceil(1000),
                }));
            }
        }
        rows.push((l, start, row));
    }
    for (l, start, row) in rows {
        match row {
            Some(_) => {
                Counters::update_many()
                    .col_expr(
                        rate_counter::Column::Count,
                        Expr::col(rate_counter::Column::Count).add(1),
                    )
                    .filter(rate_counter::Column::Bucket.eq(l.bucket.as_str()))
                    .filter(rate_counter::Column::WindowStart.eq(start))
                    .exec(c)
                    .await?;
            }
            None => {
                rate_counter::ActiveModel {
                    bucket: Set(l.bucket.clone()),
                    window_start: Set(start),
                    count: Set(1),
                    expires_at: Set(start + l.window_secs * 1000),
                }
                .insert(c)
                .await?;
            }
        }
    }
    Ok(Ok(()))
}

/// Gives back units taken at `taken_at` (a send the provider failed).
pub async fn give_back(
    c: &impl ConnectionTrait,
    limits: &[Limit],
    taken_at: i64,
) -> Result<(), DbErr> {
    for l in limits {
        Counters::update_many()
            .col_expr(
                rate_counter::Column::Count,
                Expr::col(rate_counter::Column::Count).sub(1),
            )
            .filter(rate_counter::Column::Bucket.eq(l.bucket.as_str()))
            .filter(rate_counter::Column::WindowStart.eq(l.window_start(taken_at)))
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

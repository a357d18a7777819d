//! Follows and blocks: two tables of the same shape (`id`, `user_id`, `target_id`,
//! `created_at`; `user_id` follows or blocks `target_id`), served by one implementation
//! that the `Edge` picks the table for.
//!
//! Why two tables rather than one with a kind column: the data, its indexes and the
//! benchmark's seeding and raw-SQL baseline stay as they are, and no migration has to
//! move existing rows; what was written twice was the code, and that is written once.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr};

use crate::domain::relation::ListKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Follow,
    Block,
}

impl Edge {
    pub(crate) fn table(self) -> Alias {
        Alias::new(match self {
            Edge::Follow => "follows",
            Edge::Block => "blocks",
        })
    }
}

fn col(name: &'static str) -> Alias {
    Alias::new(name)
}

/// The rows of the edge from `from` to `to` (at most one: unique key).
fn pair_filter(from: i64, to: i64) -> sea_orm::sea_query::Condition {
    sea_orm::sea_query::Condition::all()
        .add(Expr::col(col("user_id")).eq(from))
        .add(Expr::col(col("target_id")).eq(to))
}

pub async fn exists(
    c: &impl ConnectionTrait,
    edge: Edge,
    from: i64,
    to: i64,
) -> Result<bool, DbErr> {
    let q = Query::select()
        .expr(Expr::cust("1"))
        .from(edge.table())
        .cond_where(pair_filter(from, to))
        .limit(1)
        .to_owned();
    Ok(c.query_one(&q).await?.is_some())
}

/// Adds the edge; false if it was already there.
pub async fn insert(
    c: &impl ConnectionTrait,
    edge: Edge,
    from: i64,
    to: i64,
    now: i64,
) -> Result<bool, DbErr> {
    if exists(c, edge, from, to).await? {
        return Ok(false);
    }
    let q = Query::insert()
        .into_table(edge.table())
        .columns([col("user_id"), col("target_id"), col("created_at")])
        .values([from.into(), to.into(), now.into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    c.execute(&q).await?;
    Ok(true)
}

/// Removes the edge; false if it was not there.
pub async fn delete(
    c: &impl ConnectionTrait,
    edge: Edge,
    from: i64,
    to: i64,
) -> Result<bool, DbErr> {
    let q = Query::delete()
        .from_table(edge.table())
        .cond_where(pair_filter(from, to))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// A user's list, newest relation first. `Friends` is derived by the caller.
pub async fn list_ids(
    c: &impl ConnectionTrait,
    user: i64,
    kind: ListKind,
) -> Result<Vec<i64>, DbErr> {
    // Which table, which column holds the user, and which the listed ids.
    let (edge, mine, theirs) = match kind {
        ListKind::Following | ListKind::Friends => (Edge::Follow, "user_id", "target_id"),
        ListKind::Fans => (Edge::Follow, "target_id", "user_id"),
        ListKind::Blocking => (Edge::Block, "user_id", "target_id"),
        ListKind::BlockedBy => (Edge::Block, "target_id", "user_id"),
    };
    let q = Query::select()
        .column(col(theirs))
        .from(edge.table())
        .and_where(Expr::col(col(mine)).eq(user))
        .order_by(col("id"), Order::Desc)
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect()
}

/// Removes every follow and block from or to `user`; returns the other users involved
/// (whose lists changed), without duplicates.
pub async fn delete_all_of(c: &impl ConnectionTrait, user: i64) -> Result<Vec<i64>, DbErr> {
    let mut others = Vec::new();
    for edge in [Edge::Follow, Edge::Block] {
        let mine = sea_orm::sea_query::Condition::any()
            .add(Expr::col(col("user_id")).eq(user))
            .add(Expr::col(col("target_id")).eq(user));
        let q = Query::select()
            .columns([col("user_id"), col("target_id")])
            .from(edge.table())
            .cond_where(mine.clone())
            .to_owned();
        for row in c.query_all(&q).await? {
            let (from, to): (i64, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
            others.push(if from == user { to } else { from });
        }
        let d = Query::delete()
            .from_table(edge.table())
            .cond_where(mine)
            .to_owned();
        c.execute(&d).await?;
    }
    others.sort_unstable();
    others.dedup();
    Ok(others)
}

/// How many users `user` follows, how many follow it, and how many it blocks.
pub async fn counts(c: &impl ConnectionTrait, user: i64) -> Result<(u64, u64, u64), DbErr> {
    let count = |edge: Edge, column: &'static str| {
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(edge.table())
            .and_where(Expr::col(col(column)).eq(user))
            .to_owned()
    };
    let mut out = [0u64; 3];
    for (i, q) in [
        count(Edge::Follow, "user_id"),
        count(Edge::Follow, "target_id"),
        count(Edge::Block, "user_id"),
    ]
    .iter()
    .enumerate()
    {
        let n: i64 = match c.query_one(q).await? {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        };
        out[i] = u64::try_from(n).unwrap_or(0);
    }
    Ok((out[0], out[1], out[2]))
}

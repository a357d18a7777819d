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
    fn table(self) -> Alias {
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

//! The raw-SQL baseline of `relation/operation`: the statements and transaction the
//! server runs (`RelationService::operate` over `store::users::lock_users`,
//! `store::relations::{exists, insert, delete}` and `store::outbox::insert`), issued
//! directly with sqlx. The texts are what sea-orm sends, copied from the PostgreSQL
//! statement log; `sqlcheck` re-checks them against the running server on every run.

use anyhow::Result;
use sea_orm::sqlx::{self, postgres::PgPool};

pub const LOCK_USERS: &str = r#"SELECT "users"."id" FROM "users" WHERE "users"."id" IN ($1, $2) ORDER BY "users"."id" ASC FOR UPDATE"#;
pub const EXISTS_FOLLOW: &str =
    r#"SELECT 1 FROM "follows" WHERE "user_id" = $1 AND "target_id" = $2 LIMIT $3"#;
pub const EXISTS_BLOCK: &str =
    r#"SELECT 1 FROM "blocks" WHERE "user_id" = $1 AND "target_id" = $2 LIMIT $3"#;
pub const DELETE_FOLLOW: &str =
    r#"DELETE FROM "follows" WHERE "user_id" = $1 AND "target_id" = $2"#;
pub const DELETE_BLOCK: &str = r#"DELETE FROM "blocks" WHERE "user_id" = $1 AND "target_id" = $2"#;
pub const INSERT_FOLLOW: &str =
    r#"INSERT INTO "follows" ("user_id", "target_id", "created_at") VALUES ($1, $2, $3)"#;
pub const INSERT_BLOCK: &str =
    r#"INSERT INTO "blocks" ("user_id", "target_id", "created_at") VALUES ($1, $2, $3)"#;
/// Writers share the relay's barrier from their outbox insert to their commit.
pub const OUTBOX_BARRIER: &str = "SELECT pg_advisory_xact_lock_shared(731180642)";

/// One INSERT of all the operation's events, as `store::outbox::insert_all` sends it.
pub fn insert_outbox(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=6).map(|c| format!("${}", r * 6 + c)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    format!(
        r#"INSERT INTO "outbox" ("event_id", "event_type", "data", "occurred_at", "seq", "published_at") VALUES {}"#,
        values.join(", ")
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Follow,
    Unfollow,
    Block,
    Unblock,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Follow => "follow",
            Op::Unfollow => "unfollow",
            Op::Block => "block",
            Op::Unblock => "unblock",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Committed; this many events were written.
    Done(usize),
    /// Refused (the target blocked the caller, or a user is missing): rolled back.
    Refused,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Follow,
    Block,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn exists(tx: &mut Tx<'_>, edge: Edge, from: i64, to: i64) -> Result<bool> {
    let sql = match edge {
        Edge::Follow => EXISTS_FOLLOW,
        Edge::Block => EXISTS_BLOCK,
    };
    let row: Option<(i32,)> = sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .bind(1i64)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

async fn insert(tx: &mut Tx<'_>, edge: Edge, from: i64, to: i64, now: i64) -> Result<bool> {
    if exists(tx, edge, from, to).await? {
        return Ok(false);
    }
    let sql = match edge {
        Edge::Follow => INSERT_FOLLOW,
        Edge::Block => INSERT_BLOCK,
    };
    sqlx::query(sql)
        .bind(from)
        .bind(to)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

async fn delete(tx: &mut Tx<'_>, edge: Edge, from: i64, to: i64) -> Result<bool> {
    let sql = match edge {
        Edge::Follow => DELETE_FOLLOW,
        Edge::Block => DELETE_BLOCK,
    };
    let r = sqlx::query(sql)
        .bind(from)
        .bind(to)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() > 0)
}

async fn events(tx: &mut Tx<'_>, evs: &[(&str, i64, i64)]) -> Result<()> {
    if evs.is_empty() {
        return Ok(());
    }
    sqlx::query(OUTBOX_BARRIER).execute(&mut **tx).await?;
    let sql = insert_outbox(evs.len());
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (event_type, from, to) in evs {
        // As the server stores an event: a UUID v7 id and the data object as JSON text.
        let id = uuid::Uuid::now_v7().to_string();
        let data = serde_json::json!({"from_user_id": from, "to_user_id": to}).to_string();
        q = q
            .bind(id)
            .bind(*event_type)
            .bind(data)
            .bind(now_ms())
            .bind(None::<i64>)
            .bind(None::<i64>);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// One relation operation, as the server's transaction runs it.
pub async fn operate(pool: &PgPool, from: i64, to: i64, op: Op) -> Result<Outcome> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    // Both rows locked in id order.
    let found: Vec<i64> = sqlx::query_scalar(LOCK_USERS)
        .bind(from.min(to))
        .bind(from.max(to))
        .fetch_all(&mut *tx)
        .await?;
    if !found.contains(&to) || !found.contains(&from) {
        tx.rollback().await?;
        return Ok(Outcome::Refused);
    }
    let mut evs: Vec<(&str, i64, i64)> = Vec::new();
    match op {
        Op::Follow => {
            if exists(&mut tx, Edge::Block, to, from).await? {
                tx.rollback().await?;
                return Ok(Outcome::Refused);
            }
            if delete(&mut tx, Edge::Block, from, to).await? {
                evs.push(("relation.unblocked", from, to));
            }
            if insert(&mut tx, Edge::Follow, from, to, now).await? {
                evs.push(("relation.followed", from, to));
            }
        }
        Op::Unfollow => {
            if delete(&mut tx, Edge::Follow, from, to).await? {
                evs.push(("relation.unfollowed", from, to));
            }
        }
        Op::Block => {
            if delete(&mut tx, Edge::Follow, from, to).await? {
                evs.push(("relation.unfollowed", from, to));
            }
            if delete(&mut tx, Edge::Follow, to, from).await? {
                evs.push(("relation.unfollowed", to, from));
            }
            if insert(&mut tx, Edge::Block, from, to, now).await? {
                evs.push(("relation.blocked", from, to));
            }
        }
        Op::Unblock => {
            if delete(&mut tx, Edge::Block, from, to).await? {
                evs.push(("relation.unblocked", from, to));
            }
        }
    }
    events(&mut tx, &evs).await?;
    tx.commit().await?;
    Ok(Outcome::Done(evs.len()))
}

//! What the IM server reads (`/internal/*`): the last published `seq`, a user's
//! relations with many others in one statement, and snapshot pages by a stable key.

use entity::relay_state;
use entity::user::{self, Entity as Users};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait, Order, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::relations::Edge;

/// The seq of the last event the relay published (0 before the first). The relay
/// records it in the same transaction that numbers the outbox rows, so every change
/// with a seq at or below it has committed before this read.
pub async fn last_published_seq(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let next = relay_state::Entity::find_by_id("outbox".to_owned())
        .one(c)
        .await?
        .map(|r| r.next_seq);
    Ok(next.map_or(0, |n| Ord::max(n - 1, 0)))
}

/// What one statement tells about `user` and `others`.
#[derive(Debug, Default)]
pub struct PairRows {
    /// The last published seq, read in the same statement as the rest.
    pub seq: i64,
    /// Which of `others` are live users.
    pub live: Vec<i64>,
    /// `user` follows these.
    pub follows: Vec<i64>,
    /// These follow `user`.
    pub followed_by: Vec<i64>,
    /// `user` blocks these.
    pub blocks: Vec<i64>,
    /// These block `user`.
    pub blocked_by: Vec<i64>,
}

/// The relations between `user` and each of `others` (distinct, at most a few
/// thousand), their liveness, and the seq: one `UNION ALL` statement, so one round trip
/// and one consistent read (every change with a seq at or below `seq` is in it).
pub async fn pair_rows(
    c: &impl ConnectionTrait,
    user: i64,
    others: &[i64],
) -> Result<PairRows, DbErr> {
    let backend = c.get_database_backend();
    let parts = [
        "SELECT 's' AS k, next_seq - 1 AS v FROM relay_state WHERE name = 'outbox'",
        "SELECT 'u', id FROM users WHERE id IN (L) AND deleted_at IS NULL",
        "SELECT 'f', target_id FROM follows WHERE user_id = U AND target_id IN (L)",
        "SELECT 'g', user_id FROM follows WHERE target_id = U AND user_id IN (L)",
        "SELECT 'b', target_id FROM blocks WHERE user_id = U AND target_id IN (L)",
        "SELECT 'c', user_id FROM blocks WHERE target_id = U AND user_id IN (L)",
    ]
    .join(" UNION ALL ");
    let ids = || {
        others
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let stmt = if backend == DbBackend::Postgres {
        // One array parameter: the statement's text is the same for every call, so it
        // is parsed once per connection (with a thousand literals five times over,
        // parsing and planning alone took ~30 ms).
        let sql = parts
            .replace("IN (L)", "= ANY($2::bigint[])")
            .replace(" U ", " $1 ");
        let list = format!("{{{}}}", ids());
        Statement::from_sql_and_values(backend, sql, [user.into(), list.into()])
    } else {
        // Integers formatted by us, not text from the request: nothing to escape.
        let list = if others.is_empty() {
            "NULL".to_owned()
        } else {
            ids()
        };
        let sql = parts
            .replace("(L)", &format!("({list})"))
            .replace(" U ", &format!(" {user} "));
        Statement::from_string(backend, sql)
    };
    let rows = c.query_all_raw(stmt).await?;
    let mut out = PairRows::default();
    for row in rows {
        let kind: String = match row.try_get_by_index::<String>(0) {
            Ok(k) => k,
            // A driver may hand a literal back as bytes.
            Err(_) => String::from_utf8_lossy(&row.try_get_by_index::<Vec<u8>>(0)?).into_owned(),
        };
        let v: i64 = row.try_get_by_index(1)?;
        match kind.as_str() {
            "s" => out.seq = Ord::max(v, 0),
            "u" => out.live.push(v),
            "f" => out.follows.push(v),
            "g" => out.followed_by.push(v),
            "b" => out.blocks.push(v),
            "c" => out.blocked_by.push(v),
            _ => return Err(DbErr::Custom(format!("unexpected row kind {kind}"))),
        }
    }
    Ok(out)
}

/// One page of an edge table ordered by `(user_id, target_id)` (its unique key), after
/// `after` if given: at most `limit` pairs.
pub async fn edge_page(
    c: &impl ConnectionTrait,
    edge: Edge,
    after: Option<(i64, i64)>,
    limit: u64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    let (uid, tid) = (Alias::new("user_id"), Alias::new("target_id"));
    let mut q = Query::select();
    q.columns([uid.clone(), tid.clone()])
        .from(edge.table())
        .order_by(uid.clone(), Order::Asc)
        .order_by(tid.clone(), Order::Asc)
        .limit(limit);
    if let Some((a, b)) = after {
        // Spelled out rather than a row comparison, which not every engine uses the
        // index for.
        q.cond_where(
            Cond::any().add(Expr::col(uid.clone()).gt(a)).add(
                Cond::all()
                    .add(Expr::col(uid).eq(a))
                    .add(Expr::col(tid).gt(b)),
            ),
        );
    }
    c.query_all(&q)
        .await?
        .iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// One page of users by id after `after`, tombstones included: at most `limit` rows.
pub async fn users_page(
    c: &impl ConnectionTrait,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<user::Model>, DbErr> {
    let mut q = Users::find().order_by_asc(user::Column::Id).limit(limit);
    if let Some(a) = after {
        q = q.filter(user::Column::Id.gt(a));
    }
    q.all(c).await
}

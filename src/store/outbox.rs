//! The transactional outbox, and the relay's view of it.
//!
//! Ordering. `id` is the insertion order. The relay publishes rows in `id` order and
//! numbers them with a gap-free `seq`. Two hazards make that subtle:
//! - a transaction may insert row 10, then commit after another inserted and committed
//!   row 11. Publishing 11 first would skip 10 for good (or publish it out of order).
//!   So writers hold a shared *barrier* lock from their outbox insert to their commit,
//!   and the relay takes it exclusively for a moment to read the high-water mark: every
//!   row at or below it is committed or rolled back, none can still appear there.
//! - the events of one user must follow their commit order: every change that emits an
//!   event for a user locks that user's row first (`users::lock_users`), so of two such
//!   changes the second inserts its rows after the first committed.
//!
//! PostgreSQL uses a transaction-scoped advisory lock for the barrier, MySQL a row lock
//! on `relay_state('barrier')`; SQLite has one writer at a time and needs none.

use entity::{outbox, relay_state};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use super::Db;
use crate::domain::event::Event;
use crate::domain::now_ms;

/// The advisory lock key of the barrier (PostgreSQL).
const BARRIER_KEY: i64 = 731_180_642;
const LEASE_ROW: &str = "outbox";
const BARRIER_ROW: &str = "barrier";

/// Writes events, each with a fresh id (UUID v7) and the time; call inside the
/// transaction of the change they describe.
pub async fn insert_all(c: &impl ConnectionTrait, events: &[Event]) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    hold_barrier(c).await?;
    let now = now_ms();
    let rows = events.iter().map(|e| {
        let stored = e.stored();
        outbox::ActiveModel {
            event_id: Set(uuid::Uuid::now_v7().to_string()),
            event_type: Set(stored.event_type),
            data: Set(stored.data),
            occurred_at: Set(now),
            seq: Set(None),
            published_at: Set(None),
            ..Default::default()
        }
    });
    outbox::Entity::insert_many(rows)
        .exec_without_returning(c)
        .await?;
    Ok(())
}

/// Writes one event; call inside the transaction of the change it describes.
pub async fn insert(c: &impl ConnectionTrait, e: &Event) -> Result<(), DbErr> {
    insert_all(c, std::slice::from_ref(e)).await
}

/// The writer's side of the barrier: shared, held until the transaction ends.
async fn hold_barrier(c: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!("SELECT pg_advisory_xact_lock_shared({BARRIER_KEY})"),
        DbBackend::MySql => {
            format!("SELECT name FROM relay_state WHERE name = '{BARRIER_ROW}' LOCK IN SHARE MODE")
        }
        _ => return Ok(()),
    };
    c.execute_raw(Statement::from_string(backend, sql)).await?;
    Ok(())
}

/// The highest outbox id at or below which every row is final (committed or rolled
/// back): the relay never looks past it.
pub async fn high_water_mark(db: &Db) -> Result<i64, DbErr> {
    let backend = db.backend();
    let lock = match backend {
        DbBackend::Postgres => format!("SELECT pg_advisory_xact_lock({BARRIER_KEY})"),
        DbBackend::MySql => {
            format!("SELECT name FROM relay_state WHERE name = '{BARRIER_ROW}' FOR UPDATE")
        }
        // One writer at a time, committing atomically: what is visible is final.
        _ => return max_id(&db.conn()).await,
    };
    let bg = db.begin_background().await?;
    bg.txn
        .execute_raw(Statement::from_string(backend, lock))
        .await?;
    // READ COMMITTED: this statement sees every commit made before the lock was granted.
    let max = max_id(&bg.txn).await?;
    bg.commit().await?;
    Ok(max)
}

async fn max_id(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let max: Option<i64> = outbox::Entity::find()
        .select_only()
        .column_as(outbox::Column::Id.max(), "max")
        .into_tuple::<Option<i64>>()
        .one(c)
        .await?
        .flatten();
    Ok(max.unwrap_or(0))
}

/// Unpublished rows up to `high_water`, in id order.
pub async fn pending(
    c: &impl ConnectionTrait,
    high_water: i64,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .filter(outbox::Column::Id.lte(high_water))
        .order_by_asc(outbox::Column::PublishedAt)
        .order_by_asc(outbox::Column::Id)
        .limit(limit)
        .all(c)
        .await
}

/// Claims (or renews) the relay lease for `holder`. Returns the next `seq` to assign
/// when `holder` is the relay now, `None` while another process's lease is live.
pub async fn claim_lease(
    db: &Db,
    holder: &str,
    now: i64,
    lease_ms: i64,
) -> Result<Option<i64>, DbErr> {
    let bg = db.begin_background().await?;
    let txn = &bg.txn;
    let row = super::lock(relay_state::Entity::find_by_id(LEASE_ROW.to_owned()))
        .one(txn)
        .await?;
    let next_seq = match row {
        Some(r) if r.holder != holder && r.lease_until > now && !r.holder.is_empty() => {
            bg.commit().await?;
            return Ok(None);
        }
        Some(r) => {
            if r.holder != holder {
                tracing::info!(previous = %r.holder, "taking over the outbox relay");
            }
            let next = r.next_seq;
            let mut m: relay_state::ActiveModel = r.into();
            m.holder = Set(holder.to_owned());
            m.lease_until = Set(now + lease_ms);
            m.update(txn).await?;
            next
        }
        None => {
            relay_state::ActiveModel {
                name: Set(LEASE_ROW.to_owned()),
                holder: Set(holder.to_owned()),
                lease_until: Set(now + lease_ms),
                next_seq: Set(1),
            }
            .insert(txn)
            .await?;
            1
        }
    };
    bg.commit().await?;
    Ok(Some(next_seq))
}

/// Gives the lease up (on shutdown), so another process takes over at once.
pub async fn release_lease(c: &impl ConnectionTrait, holder: &str) -> Result<(), DbErr> {
    relay_state::Entity::update_many()
        .col_expr(relay_state::Column::LeaseUntil, Expr::value(0i64))
        .filter(relay_state::Column::Name.eq(LEASE_ROW))
        .filter(relay_state::Column::Holder.eq(holder))
        .exec(c)
        .await?;
    Ok(())
}

/// Records that the broker confirmed `ids` (in publishing order) as `first_seq`,
/// `first_seq + 1`, … and renews the lease. False, and nothing written, when `holder`
/// lost the lease meanwhile: the new holder publishes those rows again under the same
/// numbers (they are assigned by position, so the duplicates are identical).
pub async fn mark_published(
    db: &Db,
    holder: &str,
    ids: &[i64],
    first_seq: i64,
    now: i64,
    lease_ms: i64,
) -> Result<bool, DbErr> {
    let bg = db.begin_background().await?;
    let txn = &bg.txn;
    if db.backend() == DbBackend::Postgres {
        // Losing this commit in a database crash only republishes the rows under the
        // same numbers (at least once), so it need not wait for the disk.
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SET LOCAL synchronous_commit = off",
        ))
        .await?;
    }
    let row = super::lock(relay_state::Entity::find_by_id(LEASE_ROW.to_owned()))
        .one(txn)
        .await?;
    match row {
        Some(r) if r.holder == holder && r.next_seq == first_seq => {
            let n = ids.len() as i64;
            let mut m: relay_state::ActiveModel = r.into();
            m.next_seq = Set(first_seq + n);
            m.lease_until = Set(now + lease_ms);
            m.update(txn).await?;
        }
        _ => {
            bg.commit().await?;
            return Ok(false);
        }
    }
    // The batch is every unpublished row from its first id to its last (it was read in
    // id order below the high-water mark, and only the lease holder publishes), so
    // `seq` is `first_seq` plus the row's rank in that range. One short statement,
    // whatever the batch size: a statement with a parameter per row is large enough to
    // stall on TCP acknowledgements.
    let (Some(first_id), Some(last_id)) = (ids.first().copied(), ids.last().copied()) else {
        bg.commit().await?;
        return Ok(true);
    };
    let backend = db.backend();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match backend {
        DbBackend::MySql => (
            "UPDATE outbox o JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM outbox \
             WHERE published_at IS NULL AND id BETWEEN ? AND ?) r ON o.id = r.id \
             SET o.seq = ? + r.rn - 1, o.published_at = ?",
            vec![
                first_id.into(),
                last_id.into(),
                first_seq.into(),
                now.into(),
            ],
        ),
        DbBackend::Postgres => (
            "UPDATE outbox SET seq = $1 + r.rn - 1, published_at = $2 FROM (SELECT id, \
             ROW_NUMBER() OVER (ORDER BY id) AS rn FROM outbox WHERE published_at IS NULL \
             AND id BETWEEN $3 AND $4) AS r WHERE outbox.id = r.id",
            vec![
                first_seq.into(),
                now.into(),
                first_id.into(),
                last_id.into(),
            ],
        ),
        _ => (
            "UPDATE outbox SET seq = ? + r.rn - 1, published_at = ? FROM (SELECT id, \
             ROW_NUMBER() OVER (ORDER BY id) AS rn FROM outbox WHERE published_at IS NULL \
             AND id BETWEEN ? AND ?) AS r WHERE outbox.id = r.id",
            vec![
                first_seq.into(),
                now.into(),
                first_id.into(),
                last_id.into(),
            ],
        ),
    };
    let res = txn
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    if res.rows_affected() != ids.len() as u64 {
        // Can't happen while the invariants hold; refuse to number anything then.
        return Err(DbErr::Custom(format!(
            "outbox batch {first_id}..={last_id}: {} rows to mark, {} unpublished in range",
            ids.len(),
            res.rows_affected()
        )));
    }
    bg.commit().await?;
    Ok(true)
}

/// Deletes published rows older than `cutoff` (ms), at most `limit` per call.
pub async fn delete_published_before(
    c: &impl ConnectionTrait,
    cutoff: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let ids: Vec<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::PublishedAt.lt(cutoff))
        .order_by_asc(outbox::Column::PublishedAt)
        .limit(limit)
        .into_tuple()
        .all(c)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let res = outbox::Entity::delete_many()
        .filter(outbox::Column::Id.is_in(ids))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}

/// Published events after `after_seq`, in `seq` order.
pub async fn published_after(
    c: &impl ConnectionTrait,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(after_seq))
        .filter(outbox::Column::PublishedAt.is_not_null())
        .order_by_asc(outbox::Column::Seq)
        .limit(limit)
        .all(c)
        .await
}

/// The lowest `seq` still kept, if any (older ones fell out of the retention).
pub async fn oldest_seq(c: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    outbox::Entity::find()
        .select_only()
        .column_as(outbox::Column::Seq.min(), "min")
        .into_tuple::<Option<i64>>()
        .one(c)
        .await
        .map(Option::flatten)
}

/// Events not yet confirmed by the broker.
pub async fn unpublished_count(c: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(c)
        .await
}

/// When the oldest event not yet confirmed by the broker happened (ms), if any.
pub async fn oldest_unpublished(c: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    outbox::Entity::find()
        .select_only()
        .column(outbox::Column::OccurredAt)
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::PublishedAt)
        .order_by_asc(outbox::Column::Id)
        .into_tuple()
        .one(c)
        .await
}

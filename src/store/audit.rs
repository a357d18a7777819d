//! The operators' audit log: one row per change an admin key made, written in the
//! transaction of that change.

use entity::admin_audit::{self, Entity as Audit};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// What an operator did, by which key, to whom, why, in which request.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key_name: String,
    pub action: &'static str,
    pub user_id: Option<i64>,
    pub reason: Option<String>,
    pub request_id: String,
}

pub async fn insert(c: &impl ConnectionTrait, e: &Entry, now: i64) -> Result<(), DbErr> {
    admin_audit::ActiveModel {
        at: Set(now),
        key_name: Set(e.key_name.clone()),
        action: Set(e.action.to_owned()),
        user_id: Set(e.user_id),
        reason: Set(e.reason.clone()),
        request_id: Set(e.request_id.clone()),
        ..Default::default()
    }
    .insert(c)
    .await?;
    Ok(())
}

/// Entries newest first, optionally of one user, older than `before` (an id).
pub async fn list(
    c: &impl ConnectionTrait,
    user_id: Option<i64>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<admin_audit::Model>, DbErr> {
    let mut q = Audit::find();
    if let Some(u) = user_id {
        q = q.filter(admin_audit::Column::UserId.eq(u));
    }
    if let Some(b) = before {
        q = q.filter(admin_audit::Column::Id.lt(b));
    }
    q.order_by_desc(admin_audit::Column::Id)
        .limit(limit)
        .all(c)
        .await
}

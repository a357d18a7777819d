//! Sessions: one live session per user and device type.

use entity::session::{self, Entity as Sessions};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};

use crate::domain::token::TokenHash;

pub async fn find_by_hash(
    c: &impl ConnectionTrait,
    hash: &TokenHash,
) -> Result<Option<session::Model>, DbErr> {
    Sessions::find()
        .filter(session::Column::TokenHash.eq(hash.to_hex()))
        .one(c)
        .await
}

pub async fn find_for_device(
    c: &impl ConnectionTrait,
    user_id: i64,
    device: &str,
) -> Result<Option<session::Model>, DbErr> {
    Sessions::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::Device.eq(device))
        .one(c)
        .await
}

pub struct NewSession<'a> {
    pub user_id: i64,
    pub device: &'a str,
    pub device_id: &'a str,
    pub hash: &'a TokenHash,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert(c: &impl ConnectionTrait, s: NewSession<'_>) -> Result<session::Model, DbErr> {
    session::ActiveModel {
        user_id: Set(s.user_id),
        device: Set(s.device.to_owned()),
        device_id: Set(s.device_id.to_owned()),
        token_hash: Set(s.hash.to_hex()),
        created_at: Set(s.now),
        last_used_at: Set(s.now),
        expires_at: Set(s.expires_at),
        ..Default::default()
    }
    .insert(c)
    .await
}

/// Deletes a session; false if it was already gone.
pub async fn delete(c: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let r = Sessions::delete_many()
        .filter(session::Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(r.rows_affected > 0)
}

/// Records a use: the session lives `ttl` from now.
pub async fn touch(
    c: &impl ConnectionTrait,
    id: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), DbErr> {
    Sessions::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .col_expr(session::Column::ExpiresAt, Expr::value(expires_at))
        .filter(session::Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(())
}

pub async fn delete_expired(c: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    let r = Sessions::delete_many()
        .filter(session::Column::ExpiresAt.lt(now))
        .exec(c)
        .await?;
    Ok(r.rows_affected)
}

/// A user's live sessions (one per device type), oldest first.
pub async fn of_user(c: &impl ConnectionTrait, user_id: i64) -> Result<Vec<session::Model>, DbErr> {
    use sea_orm::QueryOrder;
    Sessions::find()
        .filter(session::Column::UserId.eq(user_id))
        .order_by_asc(session::Column::Id)
        .all(c)
        .await
}

/// Deletes every session of a user and returns them (for their events and caches).
pub async fn delete_all_of(
    c: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<session::Model>, DbErr> {
    let rows = of_user(c, user_id).await?;
    if !rows.is_empty() {
        Sessions::delete_many()
            .filter(session::Column::UserId.eq(user_id))
            .exec(c)
            .await?;
    }
    Ok(rows)
}

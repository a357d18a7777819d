//! Follows and blocks.

use entity::{block, follow};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::relation::ListKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Follow,
    Block,
}

pub async fn exists(
    c: &impl ConnectionTrait,
    edge: Edge,
    from: i64,
    to: i64,
) -> Result<bool, DbErr> {
    let n = match edge {
        Edge::Follow => {
            follow::Entity::find()
                .filter(follow::Column::UserId.eq(from))
                .filter(follow::Column::TargetId.eq(to))
                .count(c)
                .await?
        }
        Edge::Block => {
            block::Entity::find()
                .filter(block::Column::UserId.eq(from))
                .filter(block::Column::TargetId.eq(to))
                .count(c)
                .await?
        }
    };
    Ok(n > 0)
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
    match edge {
        Edge::Follow => {
            follow::ActiveModel {
                user_id: Set(from),
                target_id: Set(to),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(c)
            .await?;
        }
        Edge::Block => {
            block::ActiveModel {
                user_id: Set(from),
                target_id: Set(to),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(c)
            .await?;
        }
    }
    Ok(true)
}

/// Removes the edge; false if it was not there.
pub async fn delete(
    c: &impl ConnectionTrait,
    edge: Edge,
    from: i64,
    to: i64,
) -> Result<bool, DbErr> {
    let n = match edge {
        Edge::Follow => {
            follow::Entity::delete_many()
                .filter(follow::Column::UserId.eq(from))
                .filter(follow::Column::TargetId.eq(to))
                .exec(c)
                .await?
                .rows_affected
        }
        Edge::Block => {
            block::Entity::delete_many()
                .filter(block::Column::UserId.eq(from))
                .filter(block::Column::TargetId.eq(to))
                .exec(c)
                .await?
                .rows_affected
        }
    };
    Ok(n > 0)
}

/// A user's list, newest relation first. `Friends` is derived by the caller.
pub async fn list_ids(
    c: &impl ConnectionTrait,
    user: i64,
    kind: ListKind,
) -> Result<Vec<i64>, DbErr> {
    match kind {
        ListKind::Following | ListKind::Friends => {
            follow::Entity::find()
                .select_only()
                .column(follow::Column::TargetId)
                .filter(follow::Column::UserId.eq(user))
                .order_by_desc(follow::Column::Id)
                .into_tuple()
                .all(c)
                .await
        }
        ListKind::Fans => {
            follow::Entity::find()
                .select_only()
                .column(follow::Column::UserId)
                .filter(follow::Column::TargetId.eq(user))
                .order_by_desc(follow::Column::Id)
                .into_tuple()
                .all(c)
                .await
        }
        ListKind::Blocking => {
            block::Entity::find()
                .select_only()
                .column(block::Column::TargetId)
                .filter(block::Column::UserId.eq(user))
                .order_by_desc(block::Column::Id)
                .into_tuple()
                .all(c)
                .await
        }
        ListKind::BlockedBy => {
            block::Entity::find()
                .select_only()
                .column(block::Column::UserId)
                .filter(block::Column::TargetId.eq(user))
                .order_by_desc(block::Column::Id)
                .into_tuple()
                .all(c)
                .await
        }
    }
}

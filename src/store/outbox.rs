//! The transactional outbox.

use entity::outbox;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

use crate::events::Event;

/// Writes an event; call inside the transaction of the change it describes.
pub async fn insert(c: &impl ConnectionTrait, e: &Event) -> Result<(), DbErr> {
    outbox::ActiveModel {
        event_id: Set(e.id.to_string()),
        event_type: Set(e.event_type.to_owned()),
        data: Set(e.data.to_string()),
        occurred_at: Set(e.occurred_at),
        seq: Set(None),
        published_at: Set(None),
        ..Default::default()
    }
    .insert(c)
    .await?;
    Ok(())
}

/// When the oldest event not yet confirmed by the broker happened (ms), if any.
pub async fn oldest_unpublished(c: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
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

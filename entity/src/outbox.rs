use sea_orm::entity::prelude::*;

/// Transactional outbox: written in the transaction of the change it describes.
///
/// `id` is the insertion order. `seq` is assigned by the relay, in the order rows
/// become visible, when it takes them for publishing; `published_at` is set after
/// the broker confirmed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub event_id: String,
    pub event_type: String,
    /// The event's `data` object as JSON text.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    pub occurred_at: i64,
    pub seq: Option<i64>,
    pub published_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// The current sign-in code of one number (unique `nation_code, phone`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub nation_code: String,
    pub phone: String,
    /// HMAC-SHA256 of the code under the server key, hex.
    pub code_hash: String,
    pub sent_at: i64,
    pub expires_at: i64,
    pub attempts: i32,
    pub consumed_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

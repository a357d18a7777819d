use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub nation_code: String,
    pub phone: String,
    pub nickname: String,
    /// Storage key of the avatar (`avatar/ab12cd/8_20240101120000.png`), not a URL:
    /// URLs are built from the configured public base URL when answering.
    pub avatar: Option<String>,
    pub role: i16,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the user last signed in (ms); answered as `last_seen` at the next sign-in.
    pub last_signin_at: i64,
    /// Set when the account was deleted: the row stays as a tombstone (ids are never
    /// reused), with nickname, avatar and number erased.
    pub deleted_at: Option<i64>,
    /// Set while the account is banned (ms).
    pub banned_at: Option<i64>,
    /// When the ban ends by itself (ms); `None` with `banned_at` set: no end.
    pub banned_until: Option<i64>,
    pub ban_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Sign-in codes, one row per number.

use entity::sms_code::{self, Entity as SmsCodes};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};

use crate::domain::phone::PhoneNumber;

pub async fn find(
    c: &impl ConnectionTrait,
    phone: &PhoneNumber,
) -> Result<Option<sms_code::Model>, DbErr> {
    SmsCodes::find()
        .filter(sms_code::Column::NationCode.eq(phone.nation_code()))
        .filter(sms_code::Column::Phone.eq(phone.national()))
        .one(c)
        .await
}

pub async fn find_for_update(
    c: &impl ConnectionTrait,
    phone: &PhoneNumber,
) -> Result<Option<sms_code::Model>, DbErr> {
    super::lock(
        SmsCodes::find()
            .filter(sms_code::Column::NationCode.eq(phone.nation_code()))
            .filter(sms_code::Column::Phone.eq(phone.national())),
    )
    .one(c)
    .await
}

/// Stores a fresh code for the number, replacing the previous one.
pub async fn put(
    c: &impl ConnectionTrait,
    existing: Option<sms_code::Model>,
    phone: &PhoneNumber,
    code_hash: String,
    now: i64,
    expires_at: i64,
) -> Result<(), DbErr> {
    match existing {
        Some(row) => {
            let mut m: sms_code::ActiveModel = row.into();
            m.code_hash = Set(code_hash);
            m.sent_at = Set(now);
            m.expires_at = Set(expires_at);
            m.attempts = Set(0);
            m.consumed_at = Set(None);
            m.update(c).await?;
        }
        None => {
            sms_code::ActiveModel {
                nation_code: Set(phone.nation_code().to_owned()),
                phone: Set(phone.national().to_owned()),
                code_hash: Set(code_hash),
                sent_at: Set(now),
                expires_at: Set(expires_at),
                attempts: Set(0),
                consumed_at: Set(None),
                ..Default::default()
            }
            .insert(c)
            .await?;
        }
    }
    Ok(())
}

/// Undoes the cooldown of a send the provider failed: the code never arrived.
pub async fn void_send(
    c: &impl ConnectionTrait,
    id_phone: &PhoneNumber,
    now: i64,
) -> Result<(), DbErr> {
    SmsCodes::update_many()
        .col_expr(sms_code::Column::SentAt, Expr::value(0i64))
        .col_expr(sms_code::Column::ConsumedAt, Expr::value(Some(now)))
        .filter(sms_code::Column::NationCode.eq(id_phone.nation_code()))
        .filter(sms_code::Column::Phone.eq(id_phone.national()))
        .exec(c)
        .await?;
    Ok(())
}

/// Takes one try of a live code. False when the code is used up, burned or replaced:
/// the conditional update makes concurrent guesses count exactly.
pub async fn take_attempt(
    c: &impl ConnectionTrait,
    id: i64,
    code_hash: &str,
    max_attempts: i32,
    now: i64,
) -> Result<bool, DbErr> {
    let r = SmsCodes::update_many()
        .col_expr(
            sms_code::Column::Attempts,
            Expr::col(sms_code::Column::Attempts).add(1),
        )
        .filter(sms_code::Column::Id.eq(id))
        .filter(sms_code::Column::CodeHash.eq(code_hash))
        .filter(sms_code::Column::Attempts.lt(max_attempts))
        .filter(sms_code::Column::ConsumedAt.is_null())
        .filter(sms_code::Column::ExpiresAt.gt(now))
        .exec(c)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Marks the code used; false if another sign-in used it first.
pub async fn consume(
    c: &impl ConnectionTrait,
    id: i64,
    code_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let r = SmsCodes::update_many()
        .col_expr(sms_code::Column::ConsumedAt, Expr::value(Some(now)))
        .filter(sms_code::Column::Id.eq(id))
        .filter(sms_code::Column::CodeHash.eq(code_hash))
        .filter(sms_code::Column::ConsumedAt.is_null())
        .exec(c)
        .await?;
    Ok(r.rows_affected == 1)
}

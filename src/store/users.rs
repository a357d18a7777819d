//! Users: profiles and the row lock that orders every change of a user.
//!
//! A deleted user's row stays as a tombstone (`deleted_at` set; nickname, avatar and
//! number erased) so its id is never reused; every lookup here leaves tombstones out,
//! so a deleted id behaves like one that never existed.

use entity::user::{self, Entity as Users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::phone::PhoneNumber;

fn live() -> sea_orm::sea_query::SimpleExpr {
    user::Column::DeletedAt.is_null()
}

pub async fn find(c: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>, DbErr> {
    Users::find_by_id(id).filter(live()).one(c).await
}

pub async fn find_many(c: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<user::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Users::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .filter(live())
        .all(c)
        .await
}

/// Rows of `ids`, tombstones included (the IM server asks about deleted users too).
pub async fn find_many_with_deleted(
    c: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<user::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Users::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(c)
        .await
}

/// The live user with this number, without a lock.
pub async fn find_by_phone(
    c: &impl ConnectionTrait,
    phone: &PhoneNumber,
) -> Result<Option<user::Model>, DbErr> {
    Users::find()
        .filter(user::Column::NationCode.eq(phone.nation_code()))
        .filter(user::Column::Phone.eq(phone.national()))
        .filter(live())
        .one(c)
        .await
}

pub async fn find_by_phone_for_update(
    c: &impl ConnectionTrait,
    phone: &PhoneNumber,
) -> Result<Option<user::Model>, DbErr> {
    super::lock(
        Users::find()
            .filter(user::Column::NationCode.eq(phone.nation_code()))
            .filter(user::Column::Phone.eq(phone.national()))
            .filter(live()),
    )
    .one(c)
    .await
}

/// Locks the users' rows in id order (so two transactions never deadlock on them) and
/// returns the ids of the live (not deleted) ones. Every change that emits an event for
/// a user holds this lock, so the events of one user are inserted in the order their
/// changes commit.
pub async fn lock_users(c: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(i64, Option<i64>)> = super::lock(
        Users::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::DeletedAt)
            .filter(user::Column::Id.is_in(ids))
            .order_by_asc(user::Column::Id),
    )
    .into_tuple()
    .all(c)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, deleted)| deleted.is_none())
        .map(|(id, _)| id)
        .collect())
}

/// Locks one user's row and reads it; `None` if there is no such live user.
pub async fn lock_user(c: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>, DbErr> {
    super::lock(Users::find_by_id(id).filter(live()))
        .one(c)
        .await
}

/// Moves the user to another number (the caller checked it is free).
pub async fn set_phone(
    c: &impl ConnectionTrait,
    id: i64,
    phone: &PhoneNumber,
    now: i64,
) -> Result<(), DbErr> {
    Users::update_many()
        .col_expr(user::Column::NationCode, Expr::value(phone.nation_code()))
        .col_expr(user::Column::Phone, Expr::value(phone.national()))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(())
}

/// Turns the row into a tombstone: nickname, avatar and number erased (the number is
/// replaced by a placeholder no client can type, so it may sign up again), ban cleared.
pub async fn erase(c: &impl ConnectionTrait, id: i64, now: i64) -> Result<(), DbErr> {
    Users::update_many()
        .col_expr(user::Column::Nickname, Expr::value(""))
        .col_expr(user::Column::Avatar, Expr::value(None::<String>))
        .col_expr(user::Column::NationCode, Expr::value(""))
        .col_expr(user::Column::Phone, Expr::value(format!("deleted:{id}")))
        .col_expr(user::Column::DeletedAt, Expr::value(Some(now)))
        .col_expr(user::Column::BannedAt, Expr::value(None::<i64>))
        .col_expr(user::Column::BannedUntil, Expr::value(None::<i64>))
        .col_expr(user::Column::BanReason, Expr::value(None::<String>))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(())
}

pub async fn insert(
    c: &impl ConnectionTrait,
    phone: &PhoneNumber,
    nickname: &str,
    now: i64,
) -> Result<user::Model, DbErr> {
    user::ActiveModel {
        nation_code: Set(phone.nation_code().to_owned()),
        phone: Set(phone.national().to_owned()),
        nickname: Set(nickname.to_owned()),
        avatar: Set(None),
        role: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        last_signin_at: Set(now),
        ..Default::default()
    }
    .insert(c)
    .await
}

pub async fn set_last_signin(c: &impl ConnectionTrait, id: i64, now: i64) -> Result<(), DbErr> {
    Users::update_many()
        .col_expr(user::Column::LastSigninAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(())
}

pub async fn update_profile(
    c: &impl ConnectionTrait,
    id: i64,
    nickname: Option<&str>,
    avatar: Option<&str>,
    now: i64,
) -> Result<(), DbErr> {
    let mut q = Users::update_many()
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id));
    if let Some(n) = nickname {
        q = q.col_expr(user::Column::Nickname, Expr::value(n));
    }
    if let Some(a) = avatar {
        q = q.col_expr(user::Column::Avatar, Expr::value(a));
    }
    q.exec(c).await?;
    Ok(())
}

pub async fn find_by_nickname(
    c: &impl ConnectionTrait,
    nickname: &str,
    limit: u64,
) -> Result<Vec<user::Model>, DbErr> {
    Users::find()
        .filter(user::Column::Nickname.eq(nickname))
        .filter(live())
        .order_by_asc(user::Column::Id)
        .limit(limit)
        .all(c)
        .await
}

pub async fn find_by_phones(
    c: &impl ConnectionTrait,
    phones: &[PhoneNumber],
) -> Result<Vec<user::Model>, DbErr> {
    if phones.is_empty() {
        return Ok(Vec::new());
    }
    // (nation_code, phone) pairs: filter by phone (indexed with nation_code second is
    // not usable, but the unique index leads with nation_code) per nation code.
    let mut cond = sea_orm::Condition::any();
    for p in phones {
        cond = cond.add(
            sea_orm::Condition::all()
                .add(user::Column::NationCode.eq(p.nation_code()))
                .add(user::Column::Phone.eq(p.national())),
        );
    }
    Users::find().filter(cond).filter(live()).all(c).await
}

pub async fn count_existing(c: &impl ConnectionTrait, ids: &[i64]) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    if ids.is_empty() {
        return Ok(0);
    }
    Users::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .filter(live())
        .count(c)
        .await
}

/// Bans the user (or replaces the reason and end of a ban): `until` in ms, `None` for
/// no end.
pub async fn set_ban(
    c: &impl ConnectionTrait,
    id: i64,
    until: Option<i64>,
    reason: &str,
    now: i64,
) -> Result<(), DbErr> {
    Users::update_many()
        .col_expr(user::Column::BannedAt, Expr::value(Some(now)))
        .col_expr(user::Column::BannedUntil, Expr::value(until))
        .col_expr(user::Column::BanReason, Expr::value(Some(reason)))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(())
}

/// Lifts the user's ban; with `ended_by`, only a ban whose end is at or before it.
/// False if there was no such ban: the condition is in the statement, so of two
/// transactions lifting one ban exactly one sees it done.
pub async fn lift_ban(
    c: &impl ConnectionTrait,
    id: i64,
    ended_by: Option<i64>,
    now: i64,
) -> Result<bool, DbErr> {
    let mut q = Users::update_many()
        .col_expr(user::Column::BannedAt, Expr::value(None::<i64>))
        .col_expr(user::Column::BannedUntil, Expr::value(None::<i64>))
        .col_expr(user::Column::BanReason, Expr::value(None::<String>))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::BannedAt.is_not_null());
    if let Some(t) = ended_by {
        q = q.filter(user::Column::BannedUntil.lte(t));
    }
    Ok(q.exec(c).await?.rows_affected > 0)
}

/// Ids of live users whose ban has ended by `now` (`ix_users_banned_until`), oldest end
/// first.
pub async fn ended_bans(c: &impl ConnectionTrait, now: i64, limit: u64) -> Result<Vec<i64>, DbErr> {
    Users::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::BannedUntil.lte(now))
        .filter(user::Column::BannedAt.is_not_null())
        .filter(live())
        .order_by_asc(user::Column::BannedUntil)
        .limit(limit)
        .into_tuple()
        .all(c)
        .await
}

//! Users: profiles and the row lock that orders every change of a user.

use entity::user::{self, Entity as Users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::phone::PhoneNumber;

pub async fn find(c: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>, DbErr> {
    Users::find_by_id(id).one(c).await
}

pub async fn find_many(c: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<user::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Users::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(c)
        .await
}

pub async fn find_by_phone_for_update(
    c: &impl ConnectionTrait,
    phone: &PhoneNumber,
) -> Result<Option<user::Model>, DbErr> {
    super::lock(
        Users::find()
            .filter(user::Column::NationCode.eq(phone.nation_code()))
            .filter(user::Column::Phone.eq(phone.national())),
    )
    .one(c)
    .await
}

/// Locks the users' rows in id order (so two transactions never deadlock on them) and
/// returns the ids that exist. Every change that emits an event for a user holds this
/// lock, so the events of one user are inserted in the order their changes commit.
pub async fn lock_users(c: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<i64> = super::lock(
        Users::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(ids))
            .order_by_asc(user::Column::Id),
    )
    .into_tuple()
    .all(c)
    .await?;
    Ok(rows)
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
    Users::find().filter(cond).all(c).await
}

pub async fn count_existing(c: &impl ConnectionTrait, ids: &[i64]) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    if ids.is_empty() {
        return Ok(0);
    }
    Users::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .count(c)
        .await
}

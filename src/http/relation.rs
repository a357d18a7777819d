//! `relation/*`: follow and block, lists, phone contacts.

use actix_web::web;
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::Auth;
use super::params::Params;
use super::validation_error;
use crate::actors::relation::{ContactPage, Contacts, ListPage, Operate, PhoneContact};
use crate::actors::Actors;
use crate::domain::relation::{ListKind, RelationOp};
use crate::error::{ApiError, ApiResult, Invalid};

#[utoipa::path(
    post,
    path = "/relation/operation",
    tag = "relation",
    params(
        ("token" = String, Header, description = "Session token"),
        ("to_user_id" = String, Query, description = "The other user's id"),
        ("type" = String, Query, description = "follow, unfollow, block or unblock"),
    ),
    responses((status = 200, description = "Envelope; data \"ok\". Errors: 1 unknown user or self, 401, 403 blocked by the target"))
)]
pub async fn operation(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<&'static str>> {
    let to = p.i64("to_user_id")?;
    if to <= 0 {
        return Err(ApiError::Invalid(Invalid::UnknownUser));
    }
    let op = RelationOp::parse(p.str("type")?).ok_or_else(|| ApiError::param("type"))?;
    let (a, b) = (user.user_id.min(to), user.user_id.max(to));
    actors
        .relations
        .send(
            &(a, b),
            Operate {
                from: user.user_id,
                to,
                op,
            },
        )
        .await?;
    Ok(ok())
}

#[derive(Validate)]
struct ListInput {
    #[validate(range(min = 1, max = 1_000_000))]
    page: i64,
    #[validate(range(min = 1, max = 100))]
    size: i64,
}

#[utoipa::path(
    post,
    path = "/relation/followlist",
    tag = "relation",
    params(
        ("token" = String, Header, description = "Session token"),
        ("type" = String, Query, description = "follow, black (or block), fans, friend"),
        ("page" = Option<i64>, Query, description = "From 1, default 1"),
        ("size" = Option<i64>, Query, description = "1-100, default 20"),
    ),
    responses((status = 200, description = "Envelope; data {page_info {page, size, totalPage, totalCount}, list [{nickname, avatar, user_id}]}"))
)]
pub async fn follow_list(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<ContactPage>> {
    let kind = ListKind::parse_list_type(p.str("type")?).ok_or_else(|| ApiError::param("type"))?;
    let input = ListInput {
        page: p.opt_i64("page")?.unwrap_or(1),
        size: p.opt_i64("size")?.unwrap_or(20),
    };
    input.validate().map_err(validation_error)?;
    let page = actors
        .relations
        .send(
            &user.user_id,
            ListPage {
                user: user.user_id,
                kind,
                page: input.page as u64,
                size: input.size as u64,
            },
        )
        .await?;
    Ok(Reply(page))
}

#[derive(Validate)]
struct ContactsInput {
    #[validate(length(min = 1, max = 100))]
    phones: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/relation/contactlist",
    tag = "relation",
    params(
        ("token" = String, Header, description = "Session token"),
        ("phones" = Vec<String>, Query, description = "Up to 100 numbers; without + they are read in the caller's country"),
    ),
    responses((status = 200, description = "Envelope; data [{nickname, avatar, user_id, phone}] for the numbers with a user. Errors: 429 rate limited"))
)]
pub async fn contact_list(
    actors: web::Data<Actors>,
    Auth(user): Auth,
    p: Params,
) -> ApiResult<Reply<Vec<PhoneContact>>> {
    let input = ContactsInput {
        phones: p.opt_list("phones")?.unwrap_or_default(),
    };
    if input.phones.is_empty() {
        return Err(ApiError::missing("phones"));
    }
    input.validate().map_err(validation_error)?;
    let list = actors
        .relations
        .send(
            &user.user_id,
            Contacts {
                caller: user.user_id,
                phones: input.phones,
            },
        )
        .await?;
    Ok(Reply(list))
}

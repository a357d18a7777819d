//! `relation/*`: follow and block, lists, phone contacts.

use actix_web::web;
use serde::Deserialize;
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::{Auth, ClientIp};
use super::params::Params;
use crate::actors::Actors;
use crate::domain::relation::{ListKind, RelationOp};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::services::relation::{ContactPage, PhoneContact};

#[derive(Deserialize, Validate)]
struct OperationInput {
    to_user_id: i64,
    #[serde(rename = "type")]
    op: String,
}

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
    let input: OperationInput = p.parse()?;
    let to = input.to_user_id;
    if to <= 0 {
        return Err(ApiError::Invalid(Invalid::UnknownUser));
    }
    let op = RelationOp::parse(&input.op).ok_or_else(|| ApiError::param("type"))?;
    let me = user.user_id;
    actors
        .relations
        .run(me, move |s| async move { s.operate(me, to, op).await })
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Validate)]
struct ListInput {
    #[serde(rename = "type")]
    kind: String,
    #[validate(range(min = 1, max = 1_000_000))]
    page: Option<i64>,
    #[validate(range(min = 1, max = 100))]
    size: Option<i64>,
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
    let input: ListInput = p.parse()?;
    let kind = ListKind::parse_list_type(&input.kind).ok_or_else(|| ApiError::param("type"))?;
    let (page, size) = (
        input.page.unwrap_or(1) as u64,
        input.size.unwrap_or(20) as u64,
    );
    let me = user.user_id;
    let page = actors
        .relations
        .run(
            me,
            move |s| async move { s.page(me, kind, page, size).await },
        )
        .await?;
    Ok(Reply(page))
}

#[derive(Deserialize, Validate)]
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
    ClientIp(ip): ClientIp,
    p: Params,
) -> ApiResult<Reply<Vec<PhoneContact>>> {
    let input: ContactsInput = p.parse()?;
    let me = user.user_id;
    let list = actors
        .relations
        .run(me, move |s| async move {
            s.contacts(me, ip, input.phones).await
        })
        .await?;
    Ok(Reply(list))
}

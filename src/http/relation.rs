//! `relation/*`: follow and block, lists, phone contacts.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use super::envelope::{ok, Reply};
use super::extract::{Auth, ClientIp};
use super::openapi::{int_or_digits, Done, Envelope};
use super::params::Params;
use crate::actors::Actors;
use crate::domain::relation::{ListKind, RelationOp};
use crate::error::{ApiError, ApiResult, Invalid};
use crate::services::relation::{ContactPage, PhoneContact};

#[derive(Deserialize, Validate, ToSchema)]
pub struct OperationInput {
    /// The other user's id (a number or a string of digits).
    #[schema(schema_with = int_or_digits)]
    to_user_id: i64,
    /// `follow`, `unfollow`, `block` or `unblock`.
    #[serde(rename = "type")]
    #[schema(value_type = OperationType)]
    op: String,
}

/// An operation on a relation (surrounding spaces are ignored).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // describes the wire
enum OperationType {
    Follow,
    Unfollow,
    Block,
    Unblock,
}

#[utoipa::path(
    post,
    path = "/relation/operation",
    tag = "relation",
    summary = "Follow, unfollow, block or unblock another user (idempotent)",
    request_body(content(
        (OperationInput = "application/x-www-form-urlencoded"),
        (OperationInput = "application/json"),
        (OperationInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Done>, description = "Codes: 0; 1 用户不存在 (unknown user), 不能对自己进行此操作 (self), 参数 type 无效; 401; 403 对方已将你拉黑 (following someone who blocked you)",
            links(("follow_list" = (operation_id = "follow_list", description = "The lists the operation changed")))),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("token" = []))
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

#[derive(Deserialize, Validate, ToSchema)]
pub struct ListInput {
    /// `follow` (whom I follow), `fans` (who follows me), `friend` (both), `black` or
    /// `block` (whom I blocked).
    #[serde(rename = "type")]
    #[schema(value_type = ListType)]
    kind: String,
    /// From 1 (default 1).
    #[validate(range(min = 1, max = 1_000_000))]
    #[schema(minimum = 1, maximum = 1_000_000, example = 1)]
    page: Option<i64>,
    /// 1–100 (default 20).
    #[validate(range(min = 1, max = 100))]
    #[schema(minimum = 1, maximum = 100, example = 20)]
    size: Option<i64>,
}

/// A list of the caller's (surrounding spaces are ignored).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // describes the wire
enum ListType {
    Follow,
    Fans,
    Friend,
    Black,
    Block,
}

#[utoipa::path(
    post,
    path = "/relation/followlist",
    tag = "relation",
    summary = "A page of the caller's follows, fans, friends or blacklist, newest first",
    request_body(content(
        (ListInput = "application/x-www-form-urlencoded"),
        (ListInput = "application/json"),
        (ListInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<ContactPage>, description = "Codes: 0; 1 参数 type/page/size 无效; 401",
            links(("search_by_unique_name" = (operation_id = "search_by_unique_name", parameters(("unique_names" = "$response.body#/data/list/0/user_id")), description = "A user listed, by id")))),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("token" = []))
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

#[derive(Deserialize, Validate, ToSchema)]
pub struct ContactsInput {
    /// Up to 100 numbers; without `+` they are read in the caller's own country.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_items = 1, max_items = 100, example = json!(["16533333333", "+8616544444444"]))]
    phones: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/relation/contactlist",
    tag = "relation",
    summary = "Which of the caller's phone contacts are registered (rate limited: it reveals who is)",
    request_body(content(
        (ContactsInput = "application/json"),
        (ContactsInput = "application/x-www-form-urlencoded"),
        (ContactsInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<Vec<PhoneContact>>, description = "The numbers with a user (who has not blocked the caller). Codes: 0; 1 缺少参数 phones / 参数 phones 数量过多; 401; 429 lookups per hour (Retry-After)", headers(("Retry-After" = u64, description = "Seconds to wait, with code 429")),
            links(("search_by_unique_name" = (operation_id = "search_by_unique_name", parameters(("unique_names" = "$response.body#/data/0/user_id")), description = "A contact found, by id")))),
        (status = 413, body = Envelope<Done>, description = "Body over the limit"),
    ),
    security(("token" = []))
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

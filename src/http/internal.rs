//! `/internal/*`: the IM server's routes (a service key, `extract::ServiceKey`):
//! relations of one user with many, users with their state, and snapshots to start
//! from. The event replay route is in `ops`.

use actix_web::web;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::envelope::Reply;
use super::extract::ServiceKey;
use super::openapi::Envelope;
use super::params::Params;
use super::{AppState, UserId};
use crate::actors::Actors;
use crate::error::ApiResult;
use crate::services::internal::{self, Cursor, ImUser, SnapshotKind, SnapshotPage};
use crate::services::relation::RelationCheck;

#[derive(Deserialize, Validate, ToSchema)]
pub struct CheckInput {
    /// The user the answer is about (6 in "6 follows 7").
    user_id: UserId,
    /// The others, 1 to 1000, answered in this order (repeats answered again).
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_items = 1, max_items = 1000, example = json!([7, 8]))]
    others: Vec<UserId>,
}

#[utoipa::path(
    post,
    path = "/internal/relations/check",
    tag = "internal",
    summary = "How one user stands with up to 1000 others: exists, follows, followed_by, blocks, blocked_by",
    description = "`follows`: user_id follows the other; `blocked_by`: the other blocks user_id. An unknown or deleted other has exists false and every flag false. Answered from the caches when the user's lists are in them, else from one database statement; `seq` is the last published event seq when read.",
    request_body(content(
        (CheckInput = "application/json"),
        (CheckInput = "application/x-www-form-urlencoded"),
        (CheckInput = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = Envelope<RelationCheck>, description = "Codes: 0; 1 缺少参数/参数无效 (user_id, others; more than 1000 others); 401 wrong key. HTTP 404 when no IM-server key is configured"),
        (status = 413, body = Envelope<RelationCheck>, description = "Body over the limit"),
    ),
    security(("service_key" = []))
)]
pub async fn check(
    _key: ServiceKey,
    actors: web::Data<Actors>,
    p: Params,
) -> ApiResult<Reply<RelationCheck>> {
    let input: CheckInput = p.parse()?;
    let user = input.user_id.0;
    let others = UserId::all(input.others);
    let answer = actors
        .relations
        .run(user, move |s| async move { s.check(user, &others).await })
        .await?;
    Ok(Reply(answer))
}

#[derive(Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersInput {
    /// User ids, 1 to 1000, answered in this order: `ids[]=6&ids[]=7` (or `ids=6,7`).
    #[validate(length(min = 1, max = 1000))]
    #[param(style = Form, explode, min_items = 1, max_items = 1000, example = json!([6, 7]))]
    ids: Vec<UserId>,
}

#[utoipa::path(
    get,
    path = "/internal/users",
    tag = "internal",
    summary = "Users by id with their state (active, banned, deleted), in the order asked",
    description = "Ids that never existed are left out. A deleted user is answered with state deleted and null nickname and avatar.",
    params(UsersInput),
    responses(
        (status = 200, body = Envelope<Vec<ImUser>>, description = "Codes: 0; 1 缺少参数/参数无效 ids (more than 1000); 401 wrong key. HTTP 404 when no IM-server key is configured"),
    ),
    security(("service_key" = []))
)]
pub async fn users(
    _key: ServiceKey,
    state: web::Data<AppState>,
    p: Params,
) -> ApiResult<Reply<Vec<ImUser>>> {
    let input: UsersInput = p.parse()?;
    let ids = UserId::all(input.ids);
    let found = internal::users(&state.db, &state.services.profiles, &ids).await?;
    Ok(Reply(found))
}

const SNAPSHOT_DEFAULT_LIMIT: u64 = 1000;

#[derive(Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotInput {
    /// What to walk.
    #[param(inline)]
    kind: SnapshotKind,
    /// The `next` of the previous page; absent on the first page.
    after: Option<String>,
    /// Items per page, 1–5000 (default 1000).
    #[validate(range(min = 1, max = 5000))]
    #[param(minimum = 1, maximum = 5000, example = 1000)]
    limit: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/internal/snapshot",
    tag = "internal",
    summary = "One page of every follow, block or user, by a stable key, with the seq to replay events after",
    description = "Walk a kind from the first page (no `after`) to the page whose `next` is null, passing each `next` as `after`. `snapshot_seq` is the last event seq published when the walk's first page was read, the same on every page. Load the three kinds, then apply every event with seq > snapshot_seq (the smallest of the three walks' values) in seq order: the result is the current state, even if changes were made during the walk. Follows and blocks are ordered by (from_user_id, to_user_id), users by user_id; deleted users appear with state deleted.",
    params(SnapshotInput),
    responses(
        (status = 200, body = Envelope<SnapshotPage>, description = "Codes: 0; 1 缺少参数 kind, 参数 kind/after/limit 无效 (an unknown kind, a cursor of another kind or that does not decode, a limit outside 1–5000); 401 wrong key. HTTP 404 when no IM-server key is configured"),
    ),
    security(("service_key" = []))
)]
pub async fn snapshot(
    _key: ServiceKey,
    state: web::Data<AppState>,
    p: Params,
) -> ApiResult<Reply<SnapshotPage>> {
    let input: SnapshotInput = p.parse()?;
    let after = match input.after.as_deref() {
        Some(text) => Some(Cursor::decode(input.kind, text)?),
        None => None,
    };
    let limit = input.limit.unwrap_or(SNAPSHOT_DEFAULT_LIMIT);
    let page = internal::snapshot(
        &state.db,
        &state.services.profiles,
        input.kind,
        after,
        limit,
    )
    .await?;
    Ok(Reply(page))
}

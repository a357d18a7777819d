//! The OpenAPI document (`/openapi.json`, `im-access openapi`, the `/docs` page): made
//! from the handlers' `#[utoipa::path]`s and from the same input and output types the
//! handlers read and answer, so it cannot drift from the code.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

/// Every answer: the route's `data` on success (`code` 0), `null` with an error code
/// otherwise. HTTP status is 200 for everything a route produces (API.md "Envelope").
#[derive(ToSchema)]
#[allow(dead_code)] // a description of the wire, never built
pub struct Envelope<T> {
    /// 0 on success; else an error code (API.md "Error codes"): 1 invalid input or a
    /// rule refused it, 401 sign in again, 403 not allowed, 413, 415, 429 too many
    /// requests (with `Retry-After`), 500, 503.
    #[schema(example = 0)]
    code: u16,
    /// "ok" on success; else what went wrong, in Chinese or (`Accept-Language: en`)
    /// English.
    #[schema(example = "ok")]
    message: String,
    /// The route's data on success; null on failure (see `NullOnFailure`).
    #[schema(required = true)]
    data: Option<T>,
    /// 32 lowercase hex digits, also in the `X-Request-Id` header.
    #[schema(
        rename = "request-id",
        example = "4bf92f3577b34da6a3ce929d0e0e4736",
        pattern = "^[0-9a-f]{32}$"
    )]
    request_id: String,
}

/// The `data` of a route with nothing to return: the string `"ok"`.
pub struct Done;

impl PartialSchema for Done {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .enum_values(Some(["ok"]))
            .into()
    }
}

impl ToSchema for Done {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Done")
    }
}

/// An integer that may also arrive as a string of digits (`12` and `"12"` are the same).
pub fn int_or_digits() -> Schema {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Integer)))
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .pattern(Some(r"^\s*[+-]?[0-9]+\s*$")),
        )
        .into()
}

/// A list that may also arrive as a comma-separated string (`6,7`).
pub fn ids_or_csv() -> Schema {
    OneOfBuilder::new()
        .item(
            utoipa::openapi::schema::ArrayBuilder::new().items(
                OneOfBuilder::new()
                    .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Integer)))
                    .item(
                        ObjectBuilder::new()
                            .schema_type(SchemaType::new(Type::String))
                            .pattern(Some(r"^\s*[+-]?[0-9]+\s*$")),
                    ),
            ),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .pattern(Some(r"^[0-9, ]*$")),
        )
        .into()
}

/// The three ways to be let in: a user's session token, the IM server's key, an
/// operator's key.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "token",
                "The session token from signinbysms (32 lowercase hex). `Authorization: Bearer <token>` works too.",
            ))),
        );
        components.add_security_scheme(
            "service_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "One of the IM server's keys (`[internal] keys`, or `events.replay_key`). No key configured: every /internal/* route answers 404.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The secret of one of the operators' keys (`[admin] keys`). No key configured: every /admin/* route answers 404.",
                    ))
                    .build(),
            ),
        );
    }
}

/// A handler serving several methods (`searchbynickname` by GET and POST,
/// `updateuserinfo` by POST and PUT) is one operation per method: each gets its own
/// operation id, the function's name with the method after it for all but the first.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut seen = std::collections::HashSet::new();
        for item in doc.paths.paths.values_mut() {
            for (method, op) in [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ] {
                let Some(op) = op else { continue };
                if let Some(id) = &mut op.operation_id {
                    if !seen.insert(id.clone()) {
                        id.push('_');
                        id.push_str(method);
                        seen.insert(id.clone());
                    }
                }
            }
        }
    }
}

/// Every envelope's `data` may be null (on failure): `oneOf [the route's data, null]`.
/// (A derived generic field takes the argument's schema as is.)
struct NullOnFailure;

impl Modify for NullOnFailure {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for (name, schema) in components.schemas.iter_mut() {
            if !name.starts_with("Envelope_") {
                continue;
            }
            if let RefOr::T(Schema::Object(envelope)) = schema {
                if let Some(data) = envelope.properties.remove("data") {
                    let nullable = OneOfBuilder::new()
                        .item(data)
                        .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Null)));
                    envelope.properties.insert("data".into(), nullable.into());
                }
            }
        }
    }
}

/// utoipa 5 writes a Link object's fields in snake case (`operation_id`,
/// `request_body`), which no tool reads: each response's links are written here in
/// OpenAPI's spelling (`operationId`, `requestBody`, `operationRef`) instead.
struct SpecLinks;

impl Modify for SpecLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                for response in op.responses.responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if response.links.is_empty() {
                        continue;
                    }
                    let links: serde_json::Map<String, serde_json::Value> =
                        std::mem::take(&mut response.links)
                            .into_iter()
                            .filter_map(|(name, link)| Some((name, spec_link(link)?)))
                            .collect();
                    response
                        .extensions
                        .get_or_insert_with(Default::default)
                        .insert("links".into(), links.into());
                }
            }
        }
    }
}

fn spec_link(link: RefOr<utoipa::openapi::link::Link>) -> Option<serde_json::Value> {
    let mut value = serde_json::to_value(link).ok()?;
    if let Some(fields) = value.as_object_mut() {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(v) = fields.remove(from) {
                fields.insert(to.into(), v);
            }
        }
    }
    Some(value)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "im-access",
        description = "IM access server: SMS sign-in, profiles, relations, accounts and IM tokens for clients; events, snapshots and checks for the IM server; account actions for operators. Every route answers the envelope {code, message, data, request-id} with HTTP 200 (clients branch on `code`); the framework's own 404, 405, 408 and 413 keep their status and carry the envelope too. Parameters of POST routes may come form-urlencoded, multipart, as JSON or in the query string (a body value wins)."
    ),
    modifiers(&Security, &UniqueOperationIds, &NullOnFailure, &SpecLinks),
    components(schemas(super::UserId)),
    paths(
        super::sms::send,
        super::accessuser::signin,
        super::accessuser::update_user_info,
        super::accessuser::get_im_token,
        super::accessuser::search_by_unique_name,
        super::accessuser::search_by_nickname,
        super::accessuser::logout,
        super::accessuser::session_list,
        super::accessuser::revoke_session,
        super::accessuser::change_phone,
        super::accessuser::delete_account,
        super::relation::operation,
        super::relation::follow_list,
        super::relation::contact_list,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
        super::ops::openapi,
        super::ops::docs,
        super::ops::jwks,
        super::ops::replay_events,
        super::internal::check,
        super::internal::users,
        super::internal::snapshot,
        super::admin::lookup,
        super::admin::ban,
        super::admin::unban,
        super::admin::revoke,
        super::admin::delete,
        super::admin::audit,
    )
)]
pub struct ApiDoc;

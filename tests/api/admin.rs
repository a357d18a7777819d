//! The operators' API (`/admin/*`): keys, lookups, bans and their end, forced logout,
//! deletion, and the audit log written with every change.

use crate::common::SendForEnvelope;
use std::time::{Duration, Instant};

use im_access::config::AdminKey;
use im_access::Settings;
use serde_json::{json, Value};

use crate::common::{assert_envelope, metric_sum, new_phone, spawn_app_with, SignedIn, TestApp};

pub const ALICE: &str = "alice-admin-secret-0123456789abcdef-alice";
const BOB: &str = "bob-admin-secret-0123456789abcdef-bob-bob";
const IM_KEY: &str = "im-server-key-0123456789abcdef-0123456789";

pub fn admin_key(name: &str, secret: &str) -> AdminKey {
    AdminKey {
        name: name.to_owned(),
        secret: secret.to_owned().into(),
    }
}

/// An app with two admin keys (alice, bob) and an IM-server key; no SMS cooldown, so a
/// number can sign in on several devices.
pub async fn admin_app_with(configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    spawn_app_with(|s| {
        s.sms.cooldown_secs = 0;
        s.admin.keys = vec![admin_key("alice", ALICE), admin_key("bob", BOB)];
        s.internal.keys = vec![IM_KEY.to_owned().into()];
        configure(s);
    })
    .await
}

async fn admin_app() -> Option<TestApp> {
    admin_app_with(|_| {}).await
}

async fn get(app: &TestApp, path_and_query: &str, secret: &str) -> Value {
    let res = app
        .client
        .get(app.url(path_and_query))
        .bearer_auth(secret)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200, "{path_and_query}");
    res.json().await.expect("envelope")
}

async fn post(app: &TestApp, path: &str, body: Value, secret: &str) -> Value {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("envelope")
}

async fn lookup(app: &TestApp, user: i64) -> Value {
    get(app, &format!("/admin/users/lookup?user_id={user}"), ALICE).await
}

/// The audit log as the API answers it (`query` without the leading `?`).
async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let v = get(app, &format!("/admin/audit?{query}"), ALICE).await;
    assert_envelope(&v, 0);
    v["data"].as_array().expect("an array of entries").clone()
}

/// Every audit row in the database.
async fn audit_rows(app: &TestApp) -> Vec<entity::admin_audit::Model> {
    use sea_orm::{EntityTrait, QueryOrder};
    entity::admin_audit::Entity::find()
        .order_by_asc(entity::admin_audit::Column::Id)
        .all(&app.state.db.conn())
        .await
        .expect("audit rows")
}

async fn events_since(app: &TestApp, mark: usize) -> Vec<(String, Value)> {
    app.outbox().await.into_iter().skip(mark).collect()
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

/// Every route a signed-in client uses, with a valid body, and what to send.
const CLIENT_ROUTES: &[(&str, &[(&str, &str)])] = &[
    ("/accessuser/updateuserinfo", &[("nickname", "still-me")]),
    ("/accessuser/getimtoken", &[]),
    ("/accessuser/searchbyuniquename", &[("unique_names[]", "1")]),
    ("/accessuser/searchbynickname", &[("nickname", "someone")]),
    ("/accessuser/logout", &[]),
    ("/accessuser/sessionlist", &[]),
    ("/accessuser/revokesession", &[("device", "web")]),
    (
        "/accessuser/changephone",
        &[
            ("nation_code", "86"),
            ("phone", "13912345678"),
            ("check_code", "123456"),
        ],
    ),
    ("/accessuser/deleteaccount", &[("check_code", "123456")]),
    (
        "/relation/operation",
        &[("to_user_id", "1"), ("type", "follow")],
    ),
    ("/relation/followlist", &[("type", "follow")]),
    ("/relation/contactlist", &[("phones[]", "13912345678")]),
];

/// The six routes, each with a well-formed request.
fn admin_requests(user: i64) -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "GET",
            format!("/admin/users/lookup?user_id={user}"),
            json!(null),
        ),
        (
            "POST",
            "/admin/users/ban".into(),
            json!({"user_id": user, "reason": "spam"}),
        ),
        (
            "POST",
            "/admin/users/unban".into(),
            json!({ "user_id": user }),
        ),
        (
            "POST",
            "/admin/sessions/revoke".into(),
            json!({ "user_id": user }),
        ),
        (
            "POST",
            "/admin/users/delete".into(),
            json!({"user_id": user, "reason": "asked"}),
        ),
        ("GET", "/admin/audit".into(), json!(null)),
    ]
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: &Value,
    auth: Auth<'_>,
) -> (u16, Value) {
    let mut req = match method {
        "GET" => app.client.get(app.url(path)),
        _ => app.client.post(app.url(path)).json(body),
    };
    req = match auth {
        Auth::None => req,
        Auth::Bearer(s) => req.bearer_auth(s),
        Auth::Token(t) => req.header("token", t),
    };
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("envelope"))
}

#[derive(Clone, Copy, Debug)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    Token(&'a str),
}

#[actix_web::test]
async fn without_admin_keys_every_admin_path_is_404() {
    let Some(app) = spawn_app_with(|s| s.internal.keys = vec![IM_KEY.to_owned().into()]).await
    else {
        return;
    };
    let me = app.new_user().await;
    let mut requests = admin_requests(me.user_id);
    for page in ["/admin/", "/admin/console.js", "/admin/console.css"] {
        requests.push(("GET", page.to_owned(), json!(null)));
    }
    // A method the route does not take is 404 too: nothing exists there.
    requests.push(("GET", "/admin/users/ban".into(), json!(null)));
    for (method, path, body) in &requests {
        for auth in [
            Auth::None,
            Auth::Bearer(ALICE),
            Auth::Bearer(IM_KEY),
            Auth::Token(&me.token),
        ] {
            let (status, v) = send(&app, method, path, body, auth).await;
            assert_eq!(status, 404, "{method} {path} {auth:?}");
            assert_envelope(&v, 404);
        }
    }
    assert!(audit_rows(&app).await.is_empty());
    assert_eq!(lookup_state(&app, &me).await, "signed in");
}

/// The user's own view: their token still works.
async fn lookup_state(app: &TestApp, me: &SignedIn) -> &'static str {
    let v = app
        .post_form("/accessuser/getimtoken", &[], Some(&me.token))
        .await;
    if v["code"] == 0 {
        "signed in"
    } else {
        "refused"
    }
}

#[actix_web::test]
async fn admin_routes_take_only_an_admin_key() {
    let Some(app) = admin_app().await else { return };
    let me = app.new_user().await;
    let wrong = "alice-admin-secret-0123456789abcdef-alicf";
    for (method, path, body) in admin_requests(me.user_id) {
        for auth in [
            Auth::None,
            Auth::Bearer(""),
            Auth::Bearer(wrong),
            Auth::Bearer(IM_KEY),
            Auth::Bearer(&me.token),
            Auth::Token(&me.token),
            Auth::Token(ALICE),
        ] {
            let (status, v) = send(&app, method, &path, &body, auth).await;
            assert_eq!(status, 200, "{method} {path} {auth:?}");
            assert_envelope(&v, 401);
        }
    }
    // Nothing happened: no audit row, the user is untouched.
    assert!(audit_rows(&app).await.is_empty());
    assert_eq!(lookup_state(&app, &me).await, "signed in");
    // And an admin key is no IM-server key.
    for auth in [Auth::Bearer(ALICE), Auth::Bearer(BOB)] {
        let (_, v) = send(&app, "GET", "/internal/events", &json!(null), auth).await;
        assert_envelope(&v, 401);
    }
    let (_, v) = send(
        &app,
        "GET",
        "/internal/events",
        &json!(null),
        Auth::Bearer(IM_KEY),
    )
    .await;
    assert_envelope(&v, 0);
    // Either admin key works.
    for key in [ALICE, BOB] {
        let v = get(&app, "/admin/audit", key).await;
        assert_envelope(&v, 0);
    }
}

#[actix_web::test]
async fn lookup_by_id_or_number_shows_profile_state_sessions_and_counts() {
    let Some(app) = admin_app().await else { return };
    let phone = new_phone();
    let me = app
        .sign_in_device(&phone, "android", "android-device-0001")
        .await;
    let _web = app.sign_in_device(&phone, "web", "").await;
    let (a, b, c) = (
        app.new_user().await,
        app.new_user().await,
        app.new_user().await,
    );
    assert_envelope(&app.relate(&me, a.user_id, "follow").await, 0);
    assert_envelope(&app.relate(&me, b.user_id, "follow").await, 0);
    assert_envelope(&app.relate(&a, me.user_id, "follow").await, 0);
    assert_envelope(&app.relate(&me, c.user_id, "block").await, 0);

    let v = lookup(&app, me.user_id).await;
    assert_envelope(&v, 0);
    let d = &v["data"];
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avatar",
            "ban_reason",
            "banned_until",
            "counts",
            "created_at",
            "last_seen",
            "nation_code",
            "nickname",
            "phone",
            "sessions",
            "state",
            "user_id"
        ]
    );
    assert_eq!(d["user_id"], me.user_id);
    assert_eq!(d["nickname"], me.data["nickname"]);
    assert_eq!(d["avatar"], Value::Null);
    assert_eq!(
        (d["nation_code"].as_str(), d["phone"].as_str()),
        (Some("86"), Some(phone.as_str()))
    );
    assert_eq!(d["state"], "active");
    assert_eq!(
        (&d["banned_until"], &d["ban_reason"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(d["counts"], json!({"follows": 2, "fans": 1, "blocks": 1}));
    let now = chrono::Utc::now().timestamp();
    for field in ["created_at", "last_seen"] {
        let t = d[field].as_i64().expect("unix seconds");
        assert!((now - 600..=now + 1).contains(&t), "{field} {t}");
    }
    // Every live session, its device id in full.
    let sessions = d["sessions"].as_array().unwrap();
    let mut devices: Vec<(&str, &str)> = sessions
        .iter()
        .map(|s| {
            (
                s["device"].as_str().unwrap(),
                s["device_id"].as_str().unwrap(),
            )
        })
        .collect();
    devices.sort_unstable();
    assert_eq!(devices, [("android", "android-device-0001"), ("web", "")]);
    for s in sessions {
        assert!(
            s["created_at"].is_i64() && s["last_active_at"].is_i64(),
            "{s}"
        );
        assert_eq!(s["current"], false);
    }

    // By number: the same card.
    let by_phone = get(
        &app,
        &format!("/admin/users/lookup?nation_code=86&phone={phone}"),
        BOB,
    )
    .await;
    assert_envelope(&by_phone, 0);
    assert_eq!(by_phone["data"], v["data"]);
    let by_intl = get(
        &app,
        &format!("/admin/users/lookup?nation_code=%2B86&phone={phone}"),
        BOB,
    )
    .await;
    assert_eq!(by_intl["data"]["user_id"], me.user_id, "{by_intl}");
}

#[actix_web::test]
async fn lookup_input_errors_and_unknown_users() {
    let Some(app) = admin_app().await else { return };
    let gone = app.new_user().await;
    assert_envelope(&app.delete_account(&gone).await, 0);
    for (query, message) in [
        ("", "缺少参数 user_id"),
        ("nation_code=86", "缺少参数 phone"),
        ("user_id=abc", "参数 user_id 无效"),
        ("user_id=0", "参数 user_id 无效"),
        ("user_id=-3", "参数 user_id 无效"),
        ("nation_code=86&phone=123", "无效的号码"),
        ("user_id=999999999", "用户不存在"),
        ("nation_code=86&phone=13900000000", "用户不存在"),
    ] {
        let v = get(&app, &format!("/admin/users/lookup?{query}"), ALICE).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], message, "{query}");
    }
    // A deleted account is not found, by id or by its old number.
    let v = lookup(&app, gone.user_id).await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "用户不存在");
    let v = get(
        &app,
        &format!("/admin/users/lookup?nation_code=86&phone={}", gone.phone),
        ALICE,
    )
    .await;
    assert_envelope(&v, 1);
}

/// The RFC 3339 text of unix seconds, as the API writes it.
fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[actix_web::test]
async fn a_ban_revokes_every_session_at_once_with_its_events_and_audit_row() {
    let Some(app) = admin_app().await else { return };
    let phone = new_phone();
    let android = app.sign_in_device(&phone, "android", "device-a").await;
    let web = app.sign_in_device(&phone, "web", "").await;
    let me = android.user_id;
    let mark = app.outbox_len().await;
    let until = chrono::Utc::now().timestamp() + 2 * 86_400;

    let res = app
        .client
        .post(app.url("/admin/users/ban"))
        .bearer_auth(ALICE)
        .json(&json!({"user_id": me, "reason": "  spam flood  ", "until": rfc3339(until)}))
        .send()
        .await
        .unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");

    // Both tokens refused at once.
    for s in [&android, &web] {
        assert_eq!(lookup_state(&app, s).await, "refused");
    }
    let events = events_since(&app, mark).await;
    assert_eq!(
        types(&events),
        ["session.revoked", "session.revoked", "user.banned"]
    );
    let mut revoked: Vec<(&str, &str)> = events[..2]
        .iter()
        .map(|(_, d)| {
            assert_eq!(
                (d["user_id"].as_i64(), d["reason"].as_str()),
                (Some(me), Some("banned"))
            );
            (
                d["device"].as_str().unwrap(),
                d["device_id"].as_str().unwrap(),
            )
        })
        .collect();
    revoked.sort_unstable();
    assert_eq!(revoked, [("android", "device-a"), ("web", "")]);
    assert_eq!(
        events[2].1,
        json!({"user_id": me, "until": rfc3339(until), "reason": "spam flood"})
    );

    let d = lookup(&app, me).await["data"].clone();
    assert_eq!(d["state"], "banned");
    assert_eq!(d["banned_until"], rfc3339(until));
    assert_eq!(d["ban_reason"], "spam flood");
    assert_eq!(d["sessions"], json!([]));

    let rows = audit(&app, "").await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["key"], "alice");
    assert_eq!(row["action"], "users.ban");
    assert_eq!(row["user_id"], me);
    assert_eq!(row["reason"], "spam flood");
    assert_eq!(row["request_id"], request_id.as_str());
    assert_eq!(row["request_id"], v["request-id"]);

    // Banning again replaces reason and end, and says so again; given in unix seconds.
    let mark = app.outbox_len().await;
    let v = post(
        &app,
        "/admin/users/ban",
        json!({"user_id": me, "reason": "fraud"}),
        BOB,
    )
    .await;
    assert_envelope(&v, 0);
    assert_eq!(
        events_since(&app, mark).await,
        [(
            "user.banned".to_owned(),
            json!({"user_id": me, "until": null, "reason": "fraud"})
        )]
    );
    let d = lookup(&app, me).await["data"].clone();
    assert_eq!(
        (d["state"].as_str(), d["ban_reason"].as_str()),
        (Some("banned"), Some("fraud"))
    );
    assert_eq!(d["banned_until"], Value::Null);
    let later = chrono::Utc::now().timestamp() + 3600;
    let v = post(
        &app,
        "/admin/users/ban",
        json!({"user_id": me, "reason": "fraud", "until": later}),
        BOB,
    )
    .await;
    assert_envelope(&v, 0);
    assert_eq!(
        lookup(&app, me).await["data"]["banned_until"],
        rfc3339(later)
    );
    let rows = audit(&app, "").await;
    assert_eq!(
        rows.iter()
            .map(|r| r["key"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["bob", "bob", "alice"]
    );
}

#[actix_web::test]
async fn refused_bans_change_nothing_and_write_no_audit_row() {
    let Some(app) = admin_app().await else { return };
    let me = app.new_user().await;
    let gone = app.new_user().await;
    assert_envelope(&app.delete_account(&gone).await, 0);
    let mark = app.outbox_len().await;
    let now = chrono::Utc::now().timestamp();
    let id = me.user_id;
    let long = "x".repeat(201);
    for (body, message) in [
        (json!({"reason": "spam"}), "缺少参数 user_id"),
        (json!({"user_id": id}), "缺少参数 reason"),
        (json!({"user_id": id, "reason": "   "}), "缺少参数 reason"),
        (json!({"user_id": id, "reason": long}), "参数 reason 无效"),
        (
            json!({"user_id": id, "reason": "a\u{7}b"}),
            "参数 reason 无效",
        ),
        (
            json!({"user_id": id, "reason": "spam", "until": now - 10}),
            "参数 until 无效",
        ),
        (
            json!({"user_id": id, "reason": "spam", "until": rfc3339(now - 10)}),
            "参数 until 无效",
        ),
        (
            json!({"user_id": id, "reason": "spam", "until": "next week"}),
            "参数 until 无效",
        ),
        (
            json!({"user_id": id, "reason": "spam", "until": "2030-01-01 00:00:00"}),
            "参数 until 无效",
        ),
        (
            json!({"user_id": "x", "reason": "spam"}),
            "参数 user_id 无效",
        ),
        (
            json!({"user_id": 999_999_999, "reason": "spam"}),
            "用户不存在",
        ),
        (
            json!({"user_id": gone.user_id, "reason": "spam"}),
            "用户不存在",
        ),
    ] {
        let v = post(&app, "/admin/users/ban", body.clone(), ALICE).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], message, "{body}");
    }
    let v = post(
        &app,
        "/admin/users/unban",
        json!({"user_id": 999_999_999}),
        ALICE,
    )
    .await;
    assert_envelope(&v, 1);
    let v = post(&app, "/admin/users/unban", json!({}), ALICE).await;
    assert_envelope(&v, 1);
    assert!(audit_rows(&app).await.is_empty());
    assert_eq!(app.outbox_len().await, mark);
    assert_eq!(lookup(&app, id).await["data"]["state"], "active");
    assert_eq!(lookup_state(&app, &me).await, "signed in");
    // English, by Accept-Language.
    let v: Value = app
        .client
        .post(app.url("/admin/users/ban"))
        .bearer_auth(ALICE)
        .header("accept-language", "en")
        .json(&json!({"user_id": 999_999_999, "reason": "spam"}))
        .envelope()
        .await;
    assert_eq!(v["message"], "no such user");
}

#[actix_web::test]
async fn a_change_that_fails_in_the_database_leaves_no_trace() {
    use sea_orm::ConnectionTrait;
    let Some(app) = admin_app().await else { return };
    let me = app.new_user().await;
    let mark = app.outbox_len().await;
    let db = app.state.db.conn();
    // The audit insert, the last statement of the ban's transaction, fails.
    db.execute_unprepared("ALTER TABLE admin_audit RENAME TO admin_audit_away")
        .await
        .unwrap();
    let v = post(
        &app,
        "/admin/users/ban",
        json!({"user_id": me.user_id, "reason": "spam"}),
        ALICE,
    )
    .await;
    let v2 = post(
        &app,
        "/admin/sessions/revoke",
        json!({"user_id": me.user_id}),
        ALICE,
    )
    .await;
    db.execute_unprepared("ALTER TABLE admin_audit_away RENAME TO admin_audit")
        .await
        .unwrap();
    assert_envelope(&v, 500);
    assert_envelope(&v2, 500);
    // The ban, the revocations and the events were rolled back with it.
    assert_eq!(lookup(&app, me.user_id).await["data"]["state"], "active");
    assert_eq!(lookup_state(&app, &me).await, "signed in");
    assert_eq!(app.outbox_len().await, mark);
    assert!(audit_rows(&app).await.is_empty());
}

#[actix_web::test]
async fn a_banned_user_is_out_of_every_client_route_and_gets_no_sms() {
    // A cooldown, to show a banned number's sends keep to it like anyone's.
    const COOLDOWN: Duration = Duration::from_secs(3);
    let Some(app) = admin_app_with(|s| s.sms.cooldown_secs = COOLDOWN.as_secs()).await else {
        return;
    };
    let me = app.new_user().await;
    let other = app.new_user().await;
    assert_envelope(&app.relate(&other, me.user_id, "follow").await, 0);
    tokio::time::sleep(COOLDOWN).await;
    // A code sent before the ban.
    let code = app.send_code(&me.phone).await;
    let code_sent = Instant::now();
    let sent_before = app.codes_sent(&me.phone).len();
    let v = post(
        &app,
        "/admin/users/ban",
        json!({"user_id": me.user_id, "reason": "abuse"}),
        ALICE,
    )
    .await;
    assert_envelope(&v, 0);

    for (path, form) in CLIENT_ROUTES {
        let v = app.post_form(path, form, Some(&me.token)).await;
        assert_envelope(&v, 401);
    }
    // Sign-in is refused in words, even with a right code.
    for (lang, message) in [("zh-CN", "账号已被封禁"), ("en", "this account is banned")] {
        let v: Value = app
            .client
            .post(app.url("/accessuser/signinbysms"))
            .header("accept-language", lang)
            .form(&[
                ("nation_code", "86"),
                ("phone", me.phone.as_str()),
                ("check_code", code.as_str()),
                ("device", "web"),
            ])
            .envelope()
            .await;
        assert_envelope(&v, 403);
        assert_eq!(v["message"], message);
    }

    // sms/send answers as for anyone, cooldown included, and sends nothing.
    tokio::time::sleep(COOLDOWN.saturating_sub(code_sent.elapsed()) + Duration::from_millis(200))
        .await;
    let before = metric_sum(
        &app.metrics().await,
        "im_sms_suppressed_total",
        &[r#"reason="banned""#],
    );
    let control = new_phone();
    for phone in [&me.phone, &control] {
        let v = app
            .post_form(
                "/sms/send",
                &[("nation_code", "86"), ("phone", phone)],
                None,
            )
            .await;
        assert_envelope(&v, 0);
        let again = app
            .client
            .post(app.url("/sms/send"))
            .form(&[("nation_code", "86"), ("phone", phone.as_str())])
            .send()
            .await
            .unwrap();
        assert!(again.headers().contains_key("retry-after"));
        let again: Value = again.json().await.unwrap();
        assert_envelope(&again, 429);
    }
    assert_eq!(
        app.codes_sent(&me.phone).len(),
        sent_before,
        "a code was sent to a banned number"
    );
    assert_eq!(app.codes_sent(&control).len(), 1);
    let after = metric_sum(
        &app.metrics().await,
        "im_sms_suppressed_total",
        &[r#"reason="banned""#],
    );
    assert!(
        after >= before + 1.0,
        "suppressed sends {before} -> {after}"
    );

    // Others still see the banned user's profile.
    let v = app
        .get(
            &format!(
                "/accessuser/searchbyuniquename?unique_names[]={}",
                me.user_id
            ),
            Some(&other.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["list"][0]["user_id"], me.user_id);
    assert_eq!(app.list_ids(&other, "follow").await, [me.user_id]);
}

#[actix_web::test]
async fn unban_lets_the_user_back_and_an_active_user_stays_as_is() {
    let Some(app) = admin_app().await else { return };
    let me = app.new_user().await;
    assert_envelope(
        &post(
            &app,
            "/admin/users/ban",
            json!({"user_id": me.user_id, "reason": "spam"}),
            ALICE,
        )
        .await,
        0,
    );
    let mark = app.outbox_len().await;
    let v = post(
        &app,
        "/admin/users/unban",
        json!({"user_id": me.user_id}),
        BOB,
    )
    .await;
    assert_envelope(&v, 0);
    assert_eq!(
        events_since(&app, mark).await,
        [("user.unbanned".to_owned(), json!({"user_id": me.user_id}))]
    );
    let d = lookup(&app, me.user_id).await["data"].clone();
    assert_eq!(d["state"], "active");
    assert_eq!(
        (&d["banned_until"], &d["ban_reason"]),
        (&Value::Null, &Value::Null)
    );
    // Codes are sent again, and sign-in works: the same account.
    let again = app.sign_in_device(&me.phone, "android", "device-1").await;
    assert_eq!(again.user_id, me.user_id);

    // An active user: ok, no event, no change; the call itself is audited.
    let mark = app.outbox_len().await;
    let v = post(
        &app,
        "/admin/users/unban",
        json!({"user_id": me.user_id}),
        BOB,
    )
    .await;
    assert_envelope(&v, 0);
    assert_eq!(app.outbox_len().await, mark);
    assert_eq!(lookup_state(&app, &again).await, "signed in");
    let actions: Vec<(String, String)> = audit(&app, "")
        .await
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("bob".into(), "users.unban".into()),
            ("bob".into(), "users.unban".into()),
            ("alice".into(), "users.ban".into())
        ]
    );
}

#[actix_web::test]
async fn a_ban_ends_by_itself_at_its_end_once() {
    let Some(app) = admin_app().await else { return };
    let me = app.new_user().await;
    let forever = app.new_user().await;
    let until = chrono::Utc::now().timestamp() + 2;
    let v = post(
        &app,
        "/admin/users/ban",
        json!({"user_id": me.user_id, "reason": "cool off", "until": until}),
        ALICE,
    )
    .await;
    assert_envelope(&v, 0);
    assert_envelope(
        &post(
            &app,
            "/admin/users/ban",
            json!({"user_id": forever.user_id, "reason": "fraud"}),
            ALICE,
        )
        .await,
        0,
    );
    assert_eq!(lookup(&app, me.user_id).await["data"]["state"], "banned");

    let started = Instant::now();
    let unbanned = |events: &[(String, Value)], who: i64| {
        events
            .iter()
            .filter(|(t, d)| t == "user.unbanned" && d["user_id"] == who)
            .count()
    };
    while unbanned(&app.outbox().await, me.user_id) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the ban never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(chrono::Utc::now().timestamp() >= until);
    // A few more sweeps: still once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let events = app.outbox().await;
    assert_eq!(unbanned(&events, me.user_id), 1);
    assert_eq!(unbanned(&events, forever.user_id), 0);
    let d = lookup(&app, me.user_id).await["data"].clone();
    assert_eq!(d["state"], "active");
    assert_eq!(
        lookup(&app, forever.user_id).await["data"]["state"],
        "banned"
    );
    let rows = audit(&app, &format!("user_id={}", me.user_id)).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0]["key"].as_str(), rows[0]["action"].as_str()),
        (Some("(system)"), Some("users.unban"))
    );
    assert_eq!(rows[0]["reason"], "ban ended");
    assert_eq!(rows[0]["request_id"].as_str().map(str::len), Some(32));
    let again = app.sign_in_device(&me.phone, "web", "").await;
    assert_eq!(again.user_id, me.user_id);
}

#[actix_web::test]
async fn force_logout_of_one_device_type_or_all() {
    let Some(app) = admin_app().await else { return };
    let phone = new_phone();
    let android = app.sign_in_device(&phone, "android", "device-a").await;
    let web = app.sign_in_device(&phone, "web", "").await;
    let me = android.user_id;
    let mark = app.outbox_len().await;
    let v = post(
        &app,
        "/admin/sessions/revoke",
        json!({"user_id": me, "device": "android"}),
        ALICE,
    )
    .await;
    assert_envelope(&v, 0);
    assert_eq!(lookup_state(&app, &android).await, "refused");
    assert_eq!(lookup_state(&app, &web).await, "signed in");
    assert_eq!(
        events_since(&app, mark).await,
        [(
            "session.revoked".to_owned(),
            json!({"user_id": me, "device": "android", "device_id": "device-a", "reason": "admin"})
        )]
    );
    let v = post(
        &app,
        "/admin/sessions/revoke",
        json!({"user_id": me}),
        ALICE,
    )
    .await;
    assert_envelope(&v, 0);
    assert_eq!(lookup_state(&app, &web).await, "refused");
    assert_eq!(lookup(&app, me).await["data"]["sessions"], json!([]));
    // The account itself is not touched.
    assert_eq!(lookup(&app, me).await["data"]["state"], "active");

    let mark = app.outbox_len().await;
    for (body, message) in [
        (
            json!({"user_id": me, "device": "pager"}),
            "参数 device 无效",
        ),
        (json!({"device": "web"}), "缺少参数 user_id"),
        (json!({"user_id": 999_999_999}), "用户不存在"),
    ] {
        let v = post(&app, "/admin/sessions/revoke", body.clone(), ALICE).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], message, "{body}");
    }
    assert_eq!(app.outbox_len().await, mark);
    let rows = audit(&app, "").await;
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r["action"] == "sessions.revoke" && r["user_id"] == me && r["reason"].is_null()));
}

/// A user with two sessions, a follow each way, a block and being blocked.
async fn busy_user(app: &TestApp, friend: &SignedIn, foe: &SignedIn) -> SignedIn {
    let phone = new_phone();
    let me = app.sign_in_device(&phone, "android", "device-a").await;
    let _web = app.sign_in_device(&phone, "web", "").await;
    assert_envelope(&app.relate(&me, friend.user_id, "follow").await, 0);
    assert_envelope(&app.relate(friend, me.user_id, "follow").await, 0);
    assert_envelope(&app.relate(&me, foe.user_id, "block").await, 0);
    me
}

#[actix_web::test]
async fn deleting_by_an_operator_is_what_deleteaccount_does() {
    let Some(app) = admin_app().await else { return };
    let (friend, foe) = (app.new_user().await, app.new_user().await);
    let by_user = busy_user(&app, &friend, &foe).await;
    let by_admin = busy_user(&app, &friend, &foe).await;

    let mark = app.outbox_len().await;
    let v = app.delete_account(&by_user).await;
    assert_envelope(&v, 0);
    let own = events_since(&app, mark).await;

    let mark = app.outbox_len().await;
    let v = post(
        &app,
        "/admin/users/delete",
        json!({"user_id": by_admin.user_id, "reason": "asked by the user"}),
        ALICE,
    )
    .await;
    assert_envelope(&v, 0);
    let theirs = events_since(&app, mark).await;

    // The same events, with the other user's id.
    let shape = |events: &[(String, Value)], id: i64| -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> = events
            .iter()
            .map(|(t, d)| {
                let mut d = d.clone();
                assert_eq!(d["user_id"], id);
                d["user_id"] = json!("me");
                (t.clone(), d)
            })
            .collect();
        v[..2].sort_by_key(|(_, d)| d["device"].as_str().map(str::to_owned));
        v
    };
    assert_eq!(
        shape(&own, by_user.user_id),
        shape(&theirs, by_admin.user_id)
    );
    assert_eq!(types(&theirs).last(), Some(&"user.deleted"));
    assert_eq!(theirs[0].1["reason"], "deleted");
    // Gone everywhere alike.
    for gone in [&by_user, &by_admin] {
        assert_envelope(&lookup(&app, gone.user_id).await, 1);
        assert_eq!(lookup_state(&app, gone).await, "refused");
        let v = app
            .get(
                &format!(
                    "/accessuser/searchbyuniquename?unique_names[]={}",
                    gone.user_id
                ),
                Some(&friend.token),
            )
            .await;
        assert_eq!(v["data"]["list"], json!([]));
    }
    assert!(app.list_ids(&friend, "follow").await.is_empty());
    assert!(app.list_ids(&friend, "fans").await.is_empty());

    let rows = audit(&app, "").await;
    assert_eq!(rows.len(), 1, "deleteaccount is not an operator's action");
    assert_eq!(
        (
            rows[0]["action"].as_str(),
            rows[0]["user_id"].as_i64(),
            rows[0]["reason"].as_str()
        ),
        (
            Some("users.delete"),
            Some(by_admin.user_id),
            Some("asked by the user")
        )
    );

    let mark = app.outbox_len().await;
    for (body, message) in [
        (json!({"user_id": friend.user_id}), "缺少参数 reason"),
        (
            json!({"user_id": by_admin.user_id, "reason": "again"}),
            "用户不存在",
        ),
        (json!({"reason": "why"}), "缺少参数 user_id"),
    ] {
        let v = post(&app, "/admin/users/delete", body.clone(), ALICE).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], message, "{body}");
    }
    assert_eq!(app.outbox_len().await, mark);
    assert_eq!(audit(&app, "").await.len(), 1);
    assert_eq!(lookup_state(&app, &friend).await, "signed in");
}

#[actix_web::test]
async fn the_audit_log_pages_newest_first_and_filters_by_user() {
    let Some(app) = admin_app().await else { return };
    let (a, b) = (app.new_user().await, app.new_user().await);
    let mut request_ids = Vec::new();
    for (path, body, key) in [
        (
            "/admin/users/ban",
            json!({"user_id": a.user_id, "reason": "one"}),
            ALICE,
        ),
        ("/admin/sessions/revoke", json!({"user_id": b.user_id}), BOB),
        ("/admin/users/unban", json!({"user_id": a.user_id}), ALICE),
        (
            "/admin/users/ban",
            json!({"user_id": b.user_id, "reason": "two"}),
            BOB,
        ),
        (
            "/admin/users/delete",
            json!({"user_id": a.user_id, "reason": "three"}),
            ALICE,
        ),
    ] {
        let v = post(&app, path, body, key).await;
        assert_envelope(&v, 0);
        request_ids.push(v["request-id"].as_str().unwrap().to_owned());
    }
    let all = audit(&app, "").await;
    assert_eq!(all.len(), 5);
    let ids: Vec<i64> = all.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let mut keys: Vec<&str> = all[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "action",
            "at",
            "id",
            "key",
            "reason",
            "request_id",
            "user_id"
        ]
    );
    let summary: Vec<(&str, &str, i64, Option<&str>, &str)> = all
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
                r["user_id"].as_i64().unwrap(),
                r["reason"].as_str(),
                r["request_id"].as_str().unwrap(),
            )
        })
        .collect();
    let rid = |i: usize| request_ids[i].as_str();
    assert_eq!(
        summary,
        [
            ("alice", "users.delete", a.user_id, Some("three"), rid(4)),
            ("bob", "users.ban", b.user_id, Some("two"), rid(3)),
            ("alice", "users.unban", a.user_id, None, rid(2)),
            ("bob", "sessions.revoke", b.user_id, None, rid(1)),
            ("alice", "users.ban", a.user_id, Some("one"), rid(0)),
        ]
    );
    for r in &all {
        let at = chrono::DateTime::parse_from_rfc3339(r["at"].as_str().unwrap()).expect("RFC 3339");
        assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 600);
    }

    // Pages: limit, then `after` the last id shown.
    let page1 = audit(&app, "limit=2").await;
    assert_eq!(page1, all[..2]);
    let page2 = audit(&app, &format!("limit=2&after={}", ids[1])).await;
    assert_eq!(page2, all[2..4]);
    let page3 = audit(&app, &format!("limit=2&after={}", ids[3])).await;
    assert_eq!(page3, all[4..]);
    assert!(audit(&app, &format!("after={}", ids[4])).await.is_empty());
    // One user's entries.
    let of_b = audit(&app, &format!("user_id={}", b.user_id)).await;
    assert_eq!(of_b, [all[1].clone(), all[3].clone()]);
    let of_a = audit(
        &app,
        &format!("user_id={}&limit=1&after={}", a.user_id, ids[0]),
    )
    .await;
    assert_eq!(of_a, [all[2].clone()]);

    for (query, message) in [
        ("limit=0", "参数 limit 无效"),
        ("limit=501", "参数 limit 无效"),
        ("limit=x", "参数 limit 无效"),
        ("after=0", "参数 after 无效"),
        ("after=-1", "参数 after 无效"),
        ("user_id=0", "参数 user_id 无效"),
    ] {
        let v = get(&app, &format!("/admin/audit?{query}"), ALICE).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], message, "{query}");
    }
    assert_eq!(audit(&app, "limit=500").await.len(), 5);
    // Reading the log is not an action.
    assert_eq!(audit_rows(&app).await.len(), 5);
}

#[actix_web::test]
async fn openapi_describes_the_admin_routes_and_their_bearer_key() {
    let Some(app) = admin_app().await else { return };
    let doc: Value = app.client.get(app.url("/openapi.json")).envelope().await;
    let scheme = &doc["components"]["securitySchemes"]["admin_key"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer")),
        "{scheme}"
    );
    assert!(scheme["description"].as_str().unwrap().contains("404"));
    for (path, method, params) in [
        (
            "/admin/users/lookup",
            "get",
            &["user_id", "nation_code", "phone"][..],
        ),
        ("/admin/users/ban", "post", &["user_id", "reason", "until"]),
        ("/admin/users/unban", "post", &["user_id"]),
        ("/admin/sessions/revoke", "post", &["user_id", "device"]),
        ("/admin/users/delete", "post", &["user_id", "reason"]),
        ("/admin/audit", "get", &["user_id", "after", "limit"]),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert_eq!(op["security"], json!([{"admin_key": []}]), "{path}");
        // GET: query parameters; POST: the body's fields, in each media type.
        let names: Vec<String> = if method == "get" {
            op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        } else {
            let content = op["requestBody"]["content"].as_object().unwrap();
            assert_eq!(content.len(), 3, "{path}: {content:?}");
            let schema = &content["application/json"]["schema"];
            let name = schema["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
            let fields = &doc["components"]["schemas"][name]["properties"];
            fields.as_object().unwrap().keys().cloned().collect()
        };
        let mut want: Vec<&str> = params.to_vec();
        let mut got: Vec<&str> = names.iter().map(String::as_str).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "{path}");
        let ok = &op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
        assert!(
            ok.as_str().is_some_and(|r| r.contains("Envelope")),
            "{path}: {ok}"
        );
    }
}

#[actix_web::test]
async fn the_console_is_served_when_admin_keys_are_set() {
    let Some(app) =
        admin_app_with(|s| s.server.public_base_url = "https://cdn.example.com/im".into()).await
    else {
        return;
    };
    let res = app.client.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("img-src 'self' https://cdn.example.com;"),
        "{csp}"
    );
    assert!(
        csp.contains("script-src 'self';") && csp.contains("connect-src 'self';"),
        "{csp}"
    );
    assert!(res.text().await.unwrap().contains("console.js"));
    for asset in [
        "/admin/console.js",
        "/admin/console.css",
        "/admin/favicon.svg",
    ] {
        let res = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
    }
    // The page needs no key; the API does.
    let res = app
        .client
        .get(app.url("/admin/audit"))
        .send()
        .await
        .unwrap();
    assert_envelope(&res.json().await.unwrap(), 401);
}

/// The server binary, its log (JSON lines) going to a file; killed when dropped.
struct Logged {
    child: std::process::Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn admin_secrets_never_reach_the_logs_or_the_audit() {
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_im-access");
    const SECRET: &str = "ops-carol-console-secret-0123456789abcdef";
    const WRONG: &str = "ops-carol-console-secret-0123456789abcdeX";
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("IM_") {
            cmd.env_remove(k);
        }
    }
    let log = dir.path().join("server.log");
    let sms = dir.path().join("sms.jsonl");
    let child = cmd
        .current_dir(dir.path())
        .env("IM_CONFIG_DIR", dir.path().join("no-config"))
        .env("IM_ENV_FILE", dir.path().join("no.env"))
        .env("IM__APP__DATA_DIR", dir.path().join("data"))
        .env("IM__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("IM__SMS__PROVIDER", "file")
        .env("IM__SMS__FILE_PATH", &sms)
        .env("IM__SMS__COOLDOWN_SECS", "0")
        .env("IM__JWT__SECRET", "admin-log-test-secret-admin-log-test")
        .env("IM__ADMIN__KEYS", format!("ops-carol:{SECRET}"))
        .env("IM__LOG__FORMAT", "json")
        .env("IM__LOG__LEVEL", "debug")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let server = Logged {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = |method: &'static str, path: String, body: Value, key: &'static str| {
        let url = format!("{}{path}", server.base);
        let req = match method {
            "GET" => client.get(url),
            _ => client.post(url).json(&body),
        };
        async move {
            req.bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };

    // A user signs in; the operator does everything once, and tries a wrong key.
    let phone = new_phone();
    let form = |extra: &[(&str, &str)]| {
        let mut f = vec![("nation_code", "86"), ("phone", phone.as_str())];
        f.extend_from_slice(extra);
        f.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>()
    };
    let send = |f: Vec<(String, String)>, path: &'static str| {
        client
            .post(format!("{}{path}", server.base))
            .form(&f)
            .send()
    };
    send(form(&[]), "/sms/send").await.unwrap();
    let code = std::fs::read_to_string(&sms).unwrap();
    let code: Value = serde_json::from_str(code.lines().last().unwrap()).unwrap();
    let signed: Value = send(
        form(&[
            ("check_code", code["code"].as_str().unwrap()),
            ("device", "web"),
        ]),
        "/accessuser/signinbysms",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let user = signed["data"]["user_id"].as_i64().expect("signed in");
    let until = chrono::Utc::now().timestamp() + 86_400;
    for (method, path, body, key, code) in [
        (
            "GET",
            format!("/admin/users/lookup?user_id={user}"),
            json!(null),
            SECRET,
            0,
        ),
        (
            "GET",
            format!("/admin/users/lookup?nation_code=86&phone={phone}"),
            json!(null),
            SECRET,
            0,
        ),
        (
            "GET",
            format!("/admin/users/lookup?user_id={user}"),
            json!(null),
            WRONG,
            401,
        ),
        (
            "POST",
            "/admin/users/ban".into(),
            json!({"user_id": user, "reason": "spam", "until": until}),
            SECRET,
            0,
        ),
        (
            "POST",
            "/admin/users/ban".into(),
            json!({"user_id": user, "reason": "spam"}),
            WRONG,
            401,
        ),
        (
            "POST",
            "/admin/users/unban".into(),
            json!({ "user_id": user }),
            SECRET,
            0,
        ),
        (
            "POST",
            "/admin/sessions/revoke".into(),
            json!({ "user_id": user }),
            SECRET,
            0,
        ),
        (
            "GET",
            "/admin/audit?limit=10".into(),
            json!(null),
            SECRET,
            0,
        ),
        (
            "POST",
            "/admin/users/delete".into(),
            json!({"user_id": user, "reason": "asked"}),
            SECRET,
            0,
        ),
    ] {
        let v = call(method, path.clone(), body, key).await;
        assert_eq!(v["code"], code, "{method} {path}: {v}");
    }
    let page = client
        .get(format!("{}/admin/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    // The audit names the key, never its secret.
    let audit = call("GET", "/admin/audit?limit=500".into(), json!(null), SECRET).await;
    let rows = audit["data"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["key"] == "ops-carol"));
    let text = audit["data"].to_string();
    assert!(!text.contains(SECRET) && !text.contains(WRONG), "{text}");

    let stopped = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let log = loop {
        let text = std::fs::read_to_string(&server.log).unwrap();
        if text.contains("im-access stopped") || started.elapsed() > Duration::from_secs(60) {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in log.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        for leak in [SECRET, WRONG, phone.as_str()] {
            assert!(!line.contains(leak), "leaked {leak}: {line}");
        }
    }
    // The log was written, and names the operator's key.
    assert!(
        log.lines()
            .any(|l| l.contains("account banned") && l.contains("ops-carol")),
        "{log}"
    );
}

#[test]
fn the_production_profile_refuses_a_short_admin_secret_without_printing_it() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let short = "short-admin-secret-31-characters";
    let short = &short[..31];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_im-access"));
    for (k, _) in std::env::vars() {
        if k.starts_with("IM_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(dir.path())
        .env("IM_CONFIG_DIR", dir.path().join("no-config"))
        .env("IM_ENV_FILE", dir.path().join("no.env"))
        .env("IM__APP__DATA_DIR", dir.path().join("data"))
        .env("IM__APP__PROFILE", "production")
        .env("IM__SERVER__BIND", "127.0.0.1:0")
        .env("IM__JWT__SECRET", "0123456789abcdef0123456789abcdef-secret")
        .env("IM__SMS__PROVIDER", "webhook")
        .env("IM__SMS__WEBHOOK__URL", "https://sms.example.com/send")
        .env("IM__SERVER__PUBLIC_BASE_URL", "https://cdn.example.com")
        .env("IM__ADMIN__KEYS", format!("ops-dave:{short}"))
        .output()
        .expect("runs");
    assert!(!out.status.success(), "started with a short admin secret");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin.keys") && err.contains("ops-dave"),
        "{err}"
    );
    assert!(!err.contains(short), "the secret is printed: {err}");
}

//! The account lifecycle routes: sessionlist, revokesession, changephone, deleteaccount.

use crate::common::SendForEnvelope;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::common::{
    amqp_url, assert_envelope, new_phone, skip_or_fail, spawn_app_with, Backend, EventTap,
    Multipart, SendMultipart, SignedIn, TestApp,
};

/// Codes on demand: no cooldown, so a test can send several to one number.
async fn app() -> Option<TestApp> {
    spawn_app_with(|s| s.sms.cooldown_secs = 0).await
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([200, 30, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

impl TestApp {
    async fn post_auth(&self, path: &str, form: &[(&str, &str)], who: &SignedIn) -> Value {
        self.post_form(path, form, Some(&who.token)).await
    }

    async fn count_rows(&self, sql: &str) -> i64 {
        let conn = self.state.db.conn();
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

#[actix_web::test]
async fn the_session_list_has_one_item_per_device_type_and_marks_the_callers() {
    let Some(app) = app().await else { return };
    let phone = new_phone();
    let android = app.sign_in_device(&phone, "android", "qbfkdvkjdckci").await;
    let web = app.sign_in_device(&phone, "web", "").await;
    let started = chrono::Utc::now().timestamp();
    let v = app
        .post_auth("/accessuser/sessionlist", &[], &android)
        .await;
    assert_envelope(&v, 0);
    let mut items = v["data"].as_array().unwrap().clone();
    items.sort_by_key(|i| i["device"].as_str().unwrap().to_owned());
    assert_eq!(items.len(), 2, "{v}");
    let (a, w) = (&items[0], &items[1]);
    assert_eq!(a["device"], "android");
    assert_eq!(a["device_id"], "…ckci", "only the last 4 characters");
    assert_eq!(a["current"], true);
    assert_eq!(w["device"], "web");
    assert_eq!(w["device_id"], "");
    assert_eq!(w["current"], false);
    for i in &items {
        let keys: Vec<&str> = i.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys.len(),
            5,
            "device, device_id, created_at, last_active_at, current: {i}"
        );
        for k in ["created_at", "last_active_at"] {
            let t = i[k].as_i64().expect("unix seconds as a number");
            assert!((started - 60..=started + 60).contains(&t), "{k} {t}");
        }
    }
    // The web session sees itself as the current one.
    let v = app.post_auth("/accessuser/sessionlist", &[], &web).await;
    let current: Vec<&Value> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], "web");
    assert_envelope(
        &app.post_form("/accessuser/sessionlist", &[], None).await,
        401,
    );
}

#[actix_web::test]
async fn revoking_a_device_ends_its_session_at_once_and_tells_the_im_server() {
    let Some(app) = app().await else { return };
    let phone = new_phone();
    let android = app.sign_in_device(&phone, "android", "phone-1").await;
    let web = app.sign_in_device(&phone, "web", "tab-1").await;
    let before = app.outbox_len().await;
    // Every input spelling: the device in the query string.
    let res = app
        .client
        .post(app.url("/accessuser/revokesession?device=web"))
        .header("token", &android.token)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");
    assert_envelope(
        &app.post_auth("/accessuser/sessionlist", &[], &web).await,
        401,
    );
    assert_envelope(
        &app.post_auth("/accessuser/sessionlist", &[], &android)
            .await,
        0,
    );
    let events = app.outbox().await;
    assert_eq!(
        events[before..],
        [(
            "session.revoked".to_owned(),
            json!({"user_id": android.user_id, "device": "web", "device_id": "tab-1", "reason": "logout"})
        )]
    );
    // Again (JSON body): nothing left there, ok, and nothing more is emitted.
    let v = app
        .post_json(
            "/accessuser/revokesession",
            json!({"device": "web"}),
            Some(&android.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(app.outbox_len().await, before + 1);
    // Bad input.
    let v = app
        .post_auth("/accessuser/revokesession", &[("device", "tv")], &android)
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "参数 device 无效");
    let v = app
        .post_auth("/accessuser/revokesession", &[], &android)
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "缺少参数 device");
    assert_envelope(
        &app.post_form("/accessuser/revokesession", &[("device", "web")], None)
            .await,
        401,
    );
    // Revoking the caller's own device type works like logout.
    let v = app
        .post_auth(
            "/accessuser/revokesession",
            &[("device", "android")],
            &android,
        )
        .await;
    assert_envelope(&v, 0);
    assert_envelope(
        &app.post_auth("/accessuser/sessionlist", &[], &android)
            .await,
        401,
    );
}

#[actix_web::test]
async fn changing_the_number_needs_a_code_for_the_new_one_and_frees_the_old() {
    let Some(app) = app().await else { return };
    let (old, new) = (new_phone(), new_phone());
    let a = app.sign_in_device(&old, "android", "a").await;
    let code = app.send_code(&new).await;
    // A wrong code, an invalid number, missing parameters.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for (form, message) in [
        (
            vec![
                ("nation_code", "86"),
                ("phone", new.as_str()),
                ("check_code", wrong),
            ],
            "无效的用户信息",
        ),
        (
            vec![
                ("nation_code", "86"),
                ("phone", "123"),
                ("check_code", code.as_str()),
            ],
            "无效的号码",
        ),
        (
            vec![("nation_code", "86"), ("phone", new.as_str())],
            "缺少参数 check_code",
        ),
    ] {
        let v = app.post_auth("/accessuser/changephone", &form, &a).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], message);
    }
    // The right code, as multipart.
    let form = Multipart::new()
        .text("nation_code", "86")
        .text("phone", &new)
        .text("check_code", &code);
    let v: Value = app
        .client
        .post(app.url("/accessuser/changephone"))
        .header("token", &a.token)
        .form_data(form)
        .envelope()
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");
    // Sessions stay.
    assert_envelope(&app.post_auth("/accessuser/sessionlist", &[], &a).await, 0);
    // The new number signs in to the same account, the old one makes a new account.
    let again = app.sign_in_device(&new, "web", "").await;
    assert_eq!(again.user_id, a.user_id);
    assert_eq!(again.data["is_first_login"], 0);
    let fresh = app.sign_in_device(&old, "web", "").await;
    assert_ne!(fresh.user_id, a.user_id);
    assert_eq!(fresh.data["is_first_login"], 1);
    // A number another account uses is refused, with a valid code for it.
    let code = app.send_code(&new).await;
    let v = app
        .client
        .post(app.url("/accessuser/changephone"))
        .header("token", &fresh.token)
        .header("accept-language", "en")
        .json(&json!({"nation_code": "86", "phone": new, "check_code": code}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "this number is in use");
    assert_eq!(
        app.sign_in_device(&new, "ios", "i").await.user_id,
        a.user_id
    );
}

#[actix_web::test]
async fn two_accounts_racing_for_one_number_exactly_one_wins() {
    // Review numbers accept a fixed code any number of times: both racers hold a valid
    // code, so the race is decided by the database, not by who used the code first.
    let numbers: Vec<String> = (0..6).map(|i| format!("1650000{i:04}")).collect();
    let list = numbers.clone();
    let Some(app) = spawn_app_with(move |s| {
        s.sms.cooldown_secs = 0;
        s.sms.test_numbers = list
            .iter()
            .map(|p| im_access::config::TestNumber {
                nation_code: "86".into(),
                phone: p.clone(),
                code: "246810".into(),
            })
            .collect();
    })
    .await
    else {
        return;
    };
    for target in &numbers {
        let a = app.new_user().await;
        let b = app.new_user().await;
        let form = [
            ("nation_code", "86"),
            ("phone", target.as_str()),
            ("check_code", "246810"),
        ];
        let (va, vb) = futures_util::join!(
            app.post_auth("/accessuser/changephone", &form, &a),
            app.post_auth("/accessuser/changephone", &form, &b)
        );
        let codes = [va["code"].as_u64(), vb["code"].as_u64()];
        assert!(
            codes == [Some(0), Some(1)] || codes == [Some(1), Some(0)],
            "exactly one wins: {va} {vb}"
        );
        let (winner, loser) = if va["code"] == 0 { (&a, vb) } else { (&b, va) };
        assert_envelope(&loser, 1);
        assert_eq!(loser["message"], "号码已被使用");
        let owners = app
            .count_rows(&format!(
                "SELECT COUNT(*) FROM users WHERE nation_code = '86' AND phone = '{target}'"
            ))
            .await;
        assert_eq!(owners, 1);
        let v = app
            .post_form(
                "/accessuser/signinbysms",
                &[
                    ("nation_code", "86"),
                    ("phone", target),
                    ("check_code", "246810"),
                    ("device", "web"),
                ],
                None,
            )
            .await;
        assert_eq!(v["data"]["user_id"], winner.user_id);
    }
}

/// A follows B and B follows A (friends), C blocks A, A blocks D, E follows A.
struct World {
    a: SignedIn,
    a_web: SignedIn,
    b: SignedIn,
    c: SignedIn,
    d: SignedIn,
    e: SignedIn,
    avatar_url: String,
    nickname: String,
}

async fn world(app: &TestApp) -> World {
    let phone = new_phone();
    let a = app.sign_in_device(&phone, "android", "a-phone").await;
    let a_web = app.sign_in_device(&phone, "web", "").await;
    let (b, c, d, e) = (
        app.new_user().await,
        app.new_user().await,
        app.new_user().await,
        app.new_user().await,
    );
    let nickname = format!("gone{}", a.user_id);
    let form = Multipart::new()
        .text("nickname", &nickname)
        .file("avatar", "a.png", &png());
    let v: Value = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", &a.token)
        .form_data(form)
        .envelope()
        .await;
    assert_envelope(&v, 0);
    let avatar_url = v["data"]["avatar"].as_str().unwrap().to_owned();
    for (who, to, op) in [
        (&a, b.user_id, "follow"),
        (&b, a.user_id, "follow"),
        (&c, a.user_id, "block"),
        (&a, d.user_id, "block"),
        (&e, a.user_id, "follow"),
    ] {
        assert_envelope(&app.relate(who, to, op).await, 0);
    }
    World {
        a,
        a_web,
        b,
        c,
        d,
        e,
        avatar_url,
        nickname,
    }
}

#[actix_web::test]
async fn a_deleted_account_is_gone_everywhere_and_its_number_may_sign_up_again() {
    // Four sends to a number a day: the sign-ins, the deletion's code, the new sign-up.
    let Some(app) = spawn_app_with(|s| {
        s.sms.cooldown_secs = 0;
        s.sms.per_number_daily = 4;
    })
    .await
    else {
        return;
    };
    let w = world(&app).await;
    let before = app.outbox_len().await;
    // Warm every cache that holds A: lists, profiles, sessions.
    for who in [&w.b, &w.c, &w.d, &w.e] {
        for kind in ["follow", "fans", "friend", "black"] {
            assert_envelope(&app.list(who, kind, 1, 20).await, 0);
        }
    }
    assert_eq!(app.list_ids(&w.b, "friend").await, vec![w.a.user_id]);

    let v = app.delete_account(&w.a).await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");

    // The events: one session.revoked per session, then user.deleted; nothing per relation.
    let events = app.outbox().await[before..].to_vec();
    let kinds: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        kinds,
        ["session.revoked", "session.revoked", "user.deleted"],
        "{events:?}"
    );
    let mut devices: Vec<&str> = events[..2]
        .iter()
        .map(|(_, d)| {
            assert_eq!(d["reason"], "deleted");
            assert_eq!(d["user_id"], w.a.user_id);
            d["device"].as_str().unwrap()
        })
        .collect();
    devices.sort_unstable();
    assert_eq!(devices, ["android", "web"]);
    assert_eq!(events[2].1, json!({"user_id": w.a.user_id}));

    // Old tokens.
    for who in [&w.a, &w.a_web] {
        assert_envelope(
            &app.post_auth("/accessuser/sessionlist", &[], who).await,
            401,
        );
        assert_envelope(&app.list(who, "follow", 1, 20).await, 401);
    }
    // Every list of the others drops A at once, with the right totals.
    for (who, kind) in [
        (&w.b, "follow"),
        (&w.b, "fans"),
        (&w.b, "friend"),
        (&w.c, "black"),
        (&w.e, "follow"),
    ] {
        let v = app.list(who, kind, 1, 20).await;
        assert_envelope(&v, 0);
        assert_eq!(v["data"]["list"], json!([]), "{kind}: {v}");
        assert_eq!(v["data"]["page_info"]["totalCount"], 0, "{kind}");
        assert_eq!(v["data"]["page_info"]["totalPage"], 0, "{kind}");
    }
    // The id is unknown on every route that takes one.
    let id = w.a.user_id.to_string();
    for op in ["follow", "unfollow", "block", "unblock"] {
        let v = app.relate(&w.b, w.a.user_id, op).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], "用户不存在", "{op}");
    }
    let v = app
        .post_auth(
            "/accessuser/getimtoken",
            &[("act", "conv.create"), ("members", &id)],
            &w.b,
        )
        .await;
    assert_envelope(&v, 1);
    let v = app
        .get(
            &format!(
                "/accessuser/searchbyuniquename?unique_names[]={id}&unique_names[]={}",
                w.e.user_id
            ),
            Some(&w.b.token),
        )
        .await;
    assert_envelope(&v, 0);
    let found: Vec<i64> = v["data"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(found, vec![w.e.user_id]);
    let v = app
        .get(
            &format!("/accessuser/searchbynickname?nickname={}", w.nickname),
            Some(&w.b.token),
        )
        .await;
    assert_envelope(&v, 1);
    let v = app
        .post_json(
            "/relation/contactlist",
            json!({"phones": [w.a.phone.clone()]}),
            Some(&w.b.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"], json!([]));
    // The avatar file is gone, and so is every row of A's relations and sessions.
    let res = app.client.get(&w.avatar_url).send().await.unwrap();
    assert_eq!(res.status(), 404, "{}", w.avatar_url);
    let a = w.a.user_id;
    for sql in [
        format!("SELECT COUNT(*) FROM follows WHERE user_id = {a} OR target_id = {a}"),
        format!("SELECT COUNT(*) FROM blocks WHERE user_id = {a} OR target_id = {a}"),
        format!("SELECT COUNT(*) FROM sessions WHERE user_id = {a}"),
        format!(
            "SELECT COUNT(*) FROM users WHERE id = {a} AND (nickname <> '' OR avatar IS NOT NULL OR phone = '{}')",
            w.a.phone
        ),
    ] {
        assert_eq!(app.count_rows(&sql).await, 0, "{sql}");
    }
    // The number signs up again as a new user; the id is never reused.
    let again = app.sign_in_device(&w.a.phone, "android", "a-phone").await;
    assert!(again.user_id > w.e.user_id, "a new id");
    assert_eq!(again.data["is_first_login"], 1);
    // Deleting did not reset the number's SMS counters: the daily cap holds.
    let v = app
        .post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", &w.a.phone)],
            None,
        )
        .await;
    assert_envelope(&v, 429);
}

#[actix_web::test]
async fn a_stolen_token_alone_cannot_delete_the_account() {
    let Some(app) = app().await else { return };
    let a = app.new_user().await;
    let other = app.new_user().await;
    let v = app.post_auth("/accessuser/deleteaccount", &[], &a).await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "缺少参数 check_code");
    // A code sent to another number does not work.
    let code = app.send_code(&other.phone).await;
    let v = app
        .post_auth("/accessuser/deleteaccount", &[("check_code", &code)], &a)
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "无效的用户信息");
    // Wrong codes count like sign-in's: five burn the code.
    let code = app.send_code(&a.phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let v = app
            .post_auth("/accessuser/deleteaccount", &[("check_code", wrong)], &a)
            .await;
        assert_envelope(&v, 1);
    }
    let v = app
        .post_auth("/accessuser/deleteaccount", &[("check_code", &code)], &a)
        .await;
    assert_envelope(&v, 429);
    // Still there.
    assert_envelope(&app.post_auth("/accessuser/sessionlist", &[], &a).await, 0);
    assert_envelope(
        &app.post_form(
            "/accessuser/deleteaccount",
            &[("check_code", "123456")],
            None,
        )
        .await,
        401,
    );
}

/// Makes the database refuse the last step of a deletion (erasing the user row), so
/// the steps before it ran and must be rolled back with it.
async fn fail_erasing(app: &TestApp, on: bool) {
    let conn = app.state.db.conn();
    let sql: &[&str] = match (app.backend, on) {
        (Backend::Sqlite, true) => &["CREATE TRIGGER fail_erase BEFORE UPDATE OF deleted_at ON users WHEN NEW.deleted_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
        (Backend::Sqlite, false) => &["DROP TRIGGER fail_erase"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION fail_erase() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_erase BEFORE UPDATE ON users FOR EACH ROW WHEN (NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION fail_erase()",
        ],
        (Backend::Postgres, false) => &["DROP TRIGGER fail_erase ON users", "DROP FUNCTION fail_erase()"],
        (Backend::MySql, true) => &["CREATE TRIGGER fail_erase BEFORE UPDATE ON users FOR EACH ROW BEGIN IF NEW.deleted_at IS NOT NULL THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END"],
        (Backend::MySql, false) => &["DROP TRIGGER fail_erase"],
    };
    for s in sql {
        conn.execute_unprepared(s).await.unwrap();
    }
}

#[actix_web::test]
async fn a_deletion_that_fails_midway_leaves_the_whole_account() {
    let Some(app) = app().await else { return };
    let w = world(&app).await;
    let before = app.outbox_len().await;
    fail_erasing(&app, true).await;
    let code = app.send_code(&w.a.phone).await;
    let v = app
        .post_auth("/accessuser/deleteaccount", &[("check_code", &code)], &w.a)
        .await;
    assert_envelope(&v, 500);
    assert_eq!(v["message"], "服务器错误", "no internals in the answer");
    // Nothing of it happened: sessions, relations, profile, avatar, events.
    assert_eq!(app.outbox_len().await, before);
    for who in [&w.a, &w.a_web] {
        assert_envelope(&app.post_auth("/accessuser/sessionlist", &[], who).await, 0);
    }
    assert_eq!(app.list_ids(&w.b, "friend").await, vec![w.a.user_id]);
    assert_eq!(app.list_ids(&w.a, "black").await, vec![w.d.user_id]);
    assert_eq!(app.list_ids(&w.e, "follow").await, vec![w.a.user_id]);
    let res = app.client.get(&w.avatar_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v = app
        .get(
            &format!("/accessuser/searchbynickname?nickname={}", w.nickname),
            Some(&w.b.token),
        )
        .await;
    assert_eq!(v["data"]["user_id"], w.a.user_id);
    // The code was not used up either: once the database works, the same code deletes.
    fail_erasing(&app, false).await;
    let v = app
        .post_auth("/accessuser/deleteaccount", &[("check_code", &code)], &w.a)
        .await;
    assert_envelope(&v, 0);
    assert_envelope(
        &app.post_auth("/accessuser/sessionlist", &[], &w.a).await,
        401,
    );
    let _ = (&w.c, &w.d);
}

#[actix_web::test]
async fn deleting_while_others_follow_leaves_no_follow_and_no_half_state() {
    let Some(app) = app().await else { return };
    let x = app.new_user().await;
    let mut others = Vec::new();
    for _ in 0..8 {
        others.push(app.new_user().await);
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let follow_loop = |who: &SignedIn| {
        let (app, stop, x) = (&app, &stop, x.user_id);
        let token = who.token.clone();
        async move {
            let mut codes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for op in ["follow", "unfollow", "follow"] {
                    let v = app
                        .post_form(
                            "/relation/operation",
                            &[("to_user_id", &x.to_string()), ("type", op)],
                            Some(&token),
                        )
                        .await;
                    codes.push(v["code"].as_u64().unwrap());
                }
            }
            codes
        }
    };
    let deleter = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let v = app.delete_account(&x).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        v
    };
    let (v, answers) = futures_util::join!(
        deleter,
        futures_util::future::join_all(others.iter().map(follow_loop))
    );
    assert_envelope(&v, 0);
    for codes in answers {
        // ok before the deletion, "no such user" after: nothing else.
        assert!(codes.iter().all(|c| *c == 0 || *c == 1), "{codes:?}");
        assert_eq!(codes.last(), Some(&1), "after the deletion: no such user");
        let first_gone = codes.iter().position(|c| *c == 1).unwrap();
        assert!(codes[first_gone..].iter().all(|c| *c == 1), "{codes:?}");
    }
    let a = x.user_id;
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) FROM follows WHERE user_id = {a} OR target_id = {a}"
        ))
        .await,
        0
    );
    for o in &others {
        assert_eq!(app.list_ids(o, "follow").await, Vec::<i64>::new());
    }
    // No relation event names the user after its user.deleted.
    let events = app.outbox().await;
    let deleted_at = events
        .iter()
        .position(|(t, d)| t == "user.deleted" && d["user_id"] == a)
        .unwrap();
    assert!(events[deleted_at + 1..]
        .iter()
        .all(|(_, d)| d["from_user_id"] != a && d["to_user_id"] != a));
}

#[actix_web::test]
async fn deleting_a_user_with_1000_fans_and_1000_follows_is_one_transaction_with_its_events() {
    let exchange = format!("im.test.accounts.{}", rand::random::<u32>());
    let Some(mut tap) = EventTap::bind(&exchange, None).await else {
        skip_or_fail("RabbitMQ");
        return;
    };
    let ex = exchange.clone();
    let Some(app) = spawn_app_with(move |s| {
        s.sms.cooldown_secs = 0;
        s.amqp.url = amqp_url().into();
        s.amqp.exchange = ex;
        s.amqp.poll_ms = 50;
    })
    .await
    else {
        return;
    };
    let x = app.new_user().await;
    // 1000 other users, each following X and followed by X, written directly.
    let conn = app.state.db.conn();
    let now = chrono::Utc::now().timestamp_millis();
    let base = 10_000_000 + (x.user_id * 10_000) % 80_000_000;
    let users: Vec<entity::user::ActiveModel> = (0..1000)
        .map(|i| entity::user::ActiveModel {
            nation_code: sea_orm::Set("86".into()),
            phone: sea_orm::Set(format!("137{:08}", base + i)),
            nickname: sea_orm::Set(format!("fan{i}")),
            role: sea_orm::Set(0),
            created_at: sea_orm::Set(now),
            updated_at: sea_orm::Set(now),
            last_signin_at: sea_orm::Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in users.chunks(250) {
        entity::user::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&conn)
            .await
            .unwrap();
    }
    let ids: Vec<i64> = entity::user::Entity::find()
        .filter(sea_orm::ColumnTrait::like(
            &entity::user::Column::Nickname,
            "fan%",
        ))
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids.len(), 1000);
    let edges: Vec<entity::follow::ActiveModel> = ids
        .iter()
        .flat_map(|&u| [(u, x.user_id), (x.user_id, u)])
        .map(|(from, to)| entity::follow::ActiveModel {
            user_id: sea_orm::Set(from),
            target_id: sea_orm::Set(to),
            created_at: sea_orm::Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in edges.chunks(500) {
        entity::follow::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&conn)
            .await
            .unwrap();
    }
    let v = app.list(&x, "fans", 1, 20).await;
    assert_eq!(v["data"]["page_info"]["totalCount"], 1000);
    assert_eq!(
        app.list(&x, "follow", 1, 20).await["data"]["page_info"]["totalCount"],
        1000
    );
    // What X's sign-up emitted is on the wire first.
    let early = tap.collect(1, Duration::from_secs(20)).await;
    assert_eq!(
        early[0].body["type"], "user.created",
        "the setup's one event"
    );

    let code = app.send_code(&x.phone).await;
    let started = Instant::now();
    let v = app
        .post_auth("/accessuser/deleteaccount", &[("check_code", &code)], &x)
        .await;
    let took = started.elapsed();
    assert_envelope(&v, 0);
    eprintln!(
        "deleting a user with 1000 fans and 1000 follows on {:?} took {} ms",
        app.backend,
        took.as_millis()
    );
    let got = tap.collect(2, Duration::from_secs(20)).await;
    let kinds: Vec<(&str, &Value)> = got
        .iter()
        .map(|m| (m.body["type"].as_str().unwrap(), &m.body["data"]))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "session.revoked",
                &json!({"user_id": x.user_id, "device": "android", "device_id": "device-1", "reason": "deleted"})
            ),
            ("user.deleted", &json!({"user_id": x.user_id}))
        ]
    );
    assert!(
        tap.next(Duration::from_millis(500)).await.is_none(),
        "no per-relation events"
    );
    let left = entity::follow::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(sea_orm::ColumnTrait::eq(
                    &entity::follow::Column::UserId,
                    x.user_id,
                ))
                .add(sea_orm::ColumnTrait::eq(
                    &entity::follow::Column::TargetId,
                    x.user_id,
                )),
        )
        .count(&conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
    app.stop().await;
}

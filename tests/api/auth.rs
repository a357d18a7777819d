//! Sessions, logout and IM tokens.

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::common::{assert_envelope, new_phone, spawn_app, spawn_app_with};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret";

fn claims(jwt: &str) -> Value {
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_aud = false;
    v.required_spec_claims.clear();
    decode::<Value>(jwt, &DecodingKey::from_secret(SECRET), &v)
        .expect("signed with the shared secret")
        .claims
}

#[actix_web::test]
async fn missing_malformed_and_unknown_tokens_are_401() {
    let Some(app) = spawn_app().await else { return };
    for token in [
        None,
        Some("short"),
        Some("0123456789abcdef0123456789abcdef"),
    ] {
        let v = app
            .post_form("/relation/followlist", &[("type", "follow")], token)
            .await;
        assert_envelope(&v, 401);
        assert_eq!(v["message"], "请重新登录");
    }
    for path in [
        "/accessuser/getimtoken",
        "/accessuser/logout",
        "/relation/operation",
        "/relation/contactlist",
        "/accessuser/updateuserinfo",
    ] {
        let v = app.post_form(path, &[], None).await;
        assert_envelope(&v, 401);
    }
    for path in [
        "/accessuser/searchbyuniquename?unique_names[]=1",
        "/accessuser/searchbynickname?nickname=a",
    ] {
        let v = app.get(path, None).await;
        assert_envelope(&v, 401);
    }
}

#[actix_web::test]
async fn a_second_android_sign_in_revokes_the_first() {
    let Some(app) = spawn_app_with(|s| s.sms.cooldown_secs = 0).await else {
        return;
    };
    let phone = new_phone();
    let first = app.sign_in_device(&phone, "android", "phone-a").await;
    let web = app.sign_in_device(&phone, "web", "").await;
    let second = app.sign_in_device(&phone, "android", "phone-b").await;
    assert_ne!(first.token, second.token);
    let v = app
        .post_form("/accessuser/getimtoken", &[], Some(&first.token))
        .await;
    assert_envelope(&v, 401);
    assert_envelope(
        &app.post_form("/accessuser/getimtoken", &[], Some(&second.token))
            .await,
        0,
    );
    assert_envelope(
        &app.post_form("/accessuser/getimtoken", &[], Some(&web.token))
            .await,
        0,
    );
    let revoked: Vec<Value> = app
        .outbox()
        .await
        .into_iter()
        .filter(|(t, _)| t == "session.revoked")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        revoked,
        vec![
            serde_json::json!({"user_id": first.user_id, "device": "android", "device_id": "phone-a", "reason": "replaced"})
        ]
    );
}

#[actix_web::test]
async fn logout_stops_the_token_at_once() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    // Warm the session cache first.
    assert_envelope(
        &app.post_form("/accessuser/getimtoken", &[], Some(&me.token))
            .await,
        0,
    );
    let v = app
        .post_form("/accessuser/logout", &[], Some(&me.token))
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"], "ok");
    assert_envelope(
        &app.post_form("/accessuser/getimtoken", &[], Some(&me.token))
            .await,
        401,
    );
    assert_envelope(
        &app.post_form("/accessuser/logout", &[], Some(&me.token))
            .await,
        401,
    );
    let (t, d) = app.outbox().await.pop().unwrap();
    assert_eq!(t, "session.revoked");
    assert_eq!(
        d,
        serde_json::json!({"user_id": me.user_id, "device": "android", "device_id": "device-1", "reason": "logout"})
    );
}

#[actix_web::test]
async fn expired_sessions_are_refused() {
    let Some(app) = spawn_app_with(|s| s.session.ttl_days = 0).await else {
        return;
    };
    let me = app.new_user().await;
    assert_envelope(
        &app.post_form("/accessuser/getimtoken", &[], Some(&me.token))
            .await,
        401,
    );
}

#[actix_web::test]
async fn sign_in_im_token_and_plain_getimtoken() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let c = claims(me.data["im_token"].as_str().unwrap());
    assert_eq!(c["unique_name"], me.user_id);
    assert!(c["unique_name"].is_i64());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        86_400
    );
    let v = app
        .post_form("/accessuser/getimtoken", &[], Some(&me.token))
        .await;
    assert_envelope(&v, 0);
    let c = claims(v["data"].as_str().unwrap());
    assert_eq!(c["unique_name"], me.user_id);
}

#[actix_web::test]
async fn action_token_members_hash_matches_the_seed() {
    let Some(app) = spawn_app().await else { return };
    let mut users = Vec::new();
    for _ in 0..7 {
        users.push(app.new_user().await);
    }
    let ids: Vec<i64> = users.iter().map(|u| u.user_id).collect();
    let (six, seven) = (ids[5], ids[6]);
    let me = &users[0];
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[
                ("act", "conv.create"),
                ("members[]", &six.to_string()),
                ("members[]", &seven.to_string()),
            ],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 0);
    let c = claims(v["data"].as_str().unwrap());
    assert_eq!(c["aud"], me.user_id);
    assert_eq!(c["act"], "conv.create");
    let expected = md5_of(&format!("[\"{six}\",\"{seven}\"]"));
    assert_eq!(c["members"], expected);
    if (six, seven) == (6, 7) {
        assert_eq!(c["members"], "4da3203c3552dab1c183da893a483ede");
    }
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    // Order given matters; a comma-separated string is the same list.
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[
                ("act", "conv.create"),
                ("members", &format!("{seven},{six}")),
            ],
            Some(&me.token),
        )
        .await;
    let c = claims(v["data"].as_str().unwrap());
    assert_eq!(c["members"], md5_of(&format!("[\"{seven}\",\"{six}\"]")));
    // No members: the hash of [].
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[("act", "conv.list")],
            Some(&me.token),
        )
        .await;
    let c = claims(v["data"].as_str().unwrap());
    assert_eq!(c["members"], md5_of("[]"));
}

fn md5_of(s: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

#[actix_web::test]
async fn action_tokens_refuse_unknown_members_bad_acts_and_blockers() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let friend = app.new_user().await;
    let blocker = app.new_user().await;
    assert_envelope(&app.relate(&blocker, me.user_id, "block").await, 0);
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[("act", "conv.create"), ("members[]", "999999")],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "用户不存在");
    for act in ["Conv", "conv-create", "1x", &"a".repeat(65)] {
        let v = app
            .post_form("/accessuser/getimtoken", &[("act", act)], Some(&me.token))
            .await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], "参数 act 无效", "{act}");
    }
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[("act", "conv.create"), ("members[]", "x")],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 1);
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[
                ("act", "conv.create"),
                ("members[]", &friend.user_id.to_string()),
                ("members[]", &blocker.user_id.to_string()),
            ],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 403);
    assert_eq!(v["message"], "对方已将你拉黑");
    // The blocker itself may still create with me.
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[
                ("act", "conv.create"),
                ("members[]", &me.user_id.to_string()),
            ],
            Some(&blocker.token),
        )
        .await;
    assert_envelope(&v, 0);
}

#[actix_web::test]
async fn a_generated_jwt_secret_is_kept_across_restarts() {
    if crate::common::backend() != crate::common::Backend::Sqlite {
        return; // About the data folder, not the database.
    }
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let start = |dir: std::path::PathBuf| {
        crate::common::spawn_on(crate::common::Backend::Sqlite, None, move |s| {
            s.jwt.secret = String::new().into();
            s.app.data_dir = dir.clone();
            s.database.url = format!("sqlite://{}?mode=rwc", dir.join("im.db").display()).into();
        })
    };
    let app = start(dir.clone()).await;
    let first = app.new_user().await;
    let secret = std::fs::read_to_string(dir.join("jwt.secret")).unwrap();
    assert!(secret.trim().len() >= 32);
    app.stop().await;
    let app = start(dir.clone()).await;
    assert_eq!(
        std::fs::read_to_string(dir.join("jwt.secret")).unwrap(),
        secret
    );
    // The session from before the restart still works, and tokens use the same secret.
    let v = app
        .post_form("/accessuser/getimtoken", &[], Some(&first.token))
        .await;
    assert_envelope(&v, 0);
    let mut val = Validation::new(Algorithm::HS256);
    val.required_spec_claims.clear();
    for jwt in [
        first.data["im_token"].as_str().unwrap(),
        v["data"].as_str().unwrap(),
    ] {
        decode::<Value>(
            jwt,
            &DecodingKey::from_secret(secret.trim().as_bytes()),
            &val,
        )
        .expect("same secret");
    }
}

#[actix_web::test]
async fn first_sign_in_writes_user_created() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let events = app.outbox().await;
    assert_eq!(
        events,
        vec![(
            "user.created".to_owned(),
            serde_json::json!({"user_id": me.user_id, "nickname": me.data["nickname"]})
        )]
    );
    use sea_orm::EntityTrait;
    let rows = entity::outbox::Entity::find()
        .all(&app.state.db.conn())
        .await
        .unwrap();
    let row = &rows[0];
    assert_eq!(row.event_id.len(), 36);
    assert_eq!(
        uuid::Uuid::parse_str(&row.event_id)
            .unwrap()
            .get_version_num(),
        7
    );
    assert!(
        row.seq.is_none() && row.published_at.is_none(),
        "no broker: the event waits in the outbox"
    );
    assert!((chrono::Utc::now().timestamp_millis() - row.occurred_at).abs() < 60_000);
}

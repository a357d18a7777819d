//! sms/send and accessuser/signinbysms: codes, limits, sign-in.

use serde_json::Value;

use crate::common::{assert_envelope, new_phone, spawn_app, spawn_app_with};

async fn sign_in_with(app: &crate::common::TestApp, phone: &str, code: &str) -> Value {
    app.post_form(
        "/accessuser/signinbysms",
        &[
            ("nation_code", "86"),
            ("phone", phone),
            ("check_code", code),
            ("device", "android"),
            ("device_id", "dev-1"),
        ],
        None,
    )
    .await
}

fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[actix_web::test]
async fn invalid_and_non_mobile_numbers_are_refused() {
    let Some(app) = spawn_app().await else { return };
    for (cc, phone) in [
        ("86", "123"),
        ("86", "abcdefghijk"),
        ("86", "4001234567"),
        ("86", "1012345678"),
        ("999", "16522222222"),
        ("", "16522222222"),
    ] {
        let v = app
            .post_form("/sms/send", &[("nation_code", cc), ("phone", phone)], None)
            .await;
        assert_envelope(&v, 1);
        assert_eq!(
            v["message"],
            if cc.is_empty() {
                "缺少参数 nation_code"
            } else {
                "无效的号码"
            },
            "{cc} {phone}"
        );
    }
    let v = app
        .post_form("/sms/send", &[("nation_code", "86")], None)
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "缺少参数 phone");
    assert!(app.codes_sent("4001234567").is_empty());
}

#[actix_web::test]
async fn cooldown_answers_429_with_retry_after() {
    let Some(app) = spawn_app().await else { return };
    let phone = new_phone();
    app.send_code(&phone).await;
    let res = app
        .client
        .post(app.url("/sms/send"))
        .form(&[("nation_code", "86"), ("phone", phone.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 429);
    assert_eq!(v["message"], "操作过于频繁");
    assert_eq!(
        app.codes_sent(&phone).len(),
        1,
        "nothing sent during the cooldown"
    );
}

#[actix_web::test]
async fn daily_cap_per_number_and_hourly_cap_per_ip() {
    let Some(app) = spawn_app_with(|s| {
        s.sms.cooldown_secs = 0;
        s.sms.per_number_daily = 3;
        s.sms.per_ip_hourly = 5;
    })
    .await
    else {
        return;
    };
    let phone = new_phone();
    for _ in 0..3 {
        app.send_code(&phone).await;
    }
    let v = app
        .post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", &phone)],
            None,
        )
        .await;
    assert_envelope(&v, 429);
    assert_eq!(app.codes_sent(&phone).len(), 3);
    // Two more numbers use up the IP's 5 per hour.
    app.send_code(&new_phone()).await;
    app.send_code(&new_phone()).await;
    let other = new_phone();
    let v = app
        .post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", &other)],
            None,
        )
        .await;
    assert_envelope(&v, 429);
    assert!(app.codes_sent(&other).is_empty());
}

#[actix_web::test]
async fn five_wrong_codes_burn_the_code() {
    let Some(app) = spawn_app().await else { return };
    let phone = new_phone();
    let code = app.send_code(&phone).await;
    for _ in 0..5 {
        let v = sign_in_with(&app, &phone, &wrong(&code)).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], "无效的用户信息");
    }
    let v = sign_in_with(&app, &phone, &code).await;
    assert_envelope(&v, 429);
    // A new code (after the cooldown) works again.
}

#[actix_web::test]
async fn four_wrong_then_right_signs_in_and_codes_are_single_use() {
    let Some(app) = spawn_app().await else { return };
    let phone = new_phone();
    let code = app.send_code(&phone).await;
    for _ in 0..4 {
        assert_envelope(&sign_in_with(&app, &phone, &wrong(&code)).await, 1);
    }
    let v = sign_in_with(&app, &phone, &code).await;
    assert_envelope(&v, 0);
    let again = sign_in_with(&app, &phone, &code).await;
    assert_envelope(&again, 1);
    assert_eq!(again["message"], "无效的用户信息");
}

#[actix_web::test]
async fn concurrent_wrong_guesses_cannot_exceed_the_limit() {
    let Some(app) = spawn_app().await else { return };
    let phone = new_phone();
    let code = app.send_code(&phone).await;
    // 20 parallel guesses of all-wrong codes: only 5 may be checked.
    let guesses: Vec<String> = (0..20)
        .map(|i| {
            let n: u32 = code.parse().unwrap();
            format!("{:06}", (n + 1 + i) % 1_000_000)
        })
        .collect();
    let results =
        futures_util::future::join_all(guesses.iter().map(|g| sign_in_with(&app, &phone, g))).await;
    let checked = results.iter().filter(|v| v["code"] == 1).count();
    let limited = results.iter().filter(|v| v["code"] == 429).count();
    assert_eq!(checked + limited, 20);
    assert!(checked <= 5, "{checked} guesses were checked");
    let v = sign_in_with(&app, &phone, &code).await;
    assert_envelope(&v, 429);
}

#[actix_web::test]
async fn expired_codes_are_refused() {
    let Some(app) = spawn_app_with(|s| s.sms.code_ttl_secs = 1).await else {
        return;
    };
    let phone = new_phone();
    let code = app.send_code(&phone).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let v = sign_in_with(&app, &phone, &code).await;
    assert_envelope(&v, 1);
}

#[actix_web::test]
async fn a_new_code_replaces_the_previous_one() {
    let Some(app) = spawn_app_with(|s| s.sms.cooldown_secs = 0).await else {
        return;
    };
    let phone = new_phone();
    let first = app.send_code(&phone).await;
    let second = app.send_code(&phone).await;
    if first != second {
        assert_envelope(&sign_in_with(&app, &phone, &first).await, 1);
    }
    assert_envelope(&sign_in_with(&app, &phone, &second).await, 0);
}

#[actix_web::test]
async fn test_numbers_send_nothing_and_take_their_fixed_code() {
    let Some(app) = spawn_app_with(|s| {
        s.sms.test_numbers = vec![im_access::config::TestNumber {
            nation_code: "86".into(),
            phone: "10000000000".into(),
            code: "246810".into(),
        }];
    })
    .await
    else {
        return;
    };
    let v = app
        .post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", "10000000000")],
            None,
        )
        .await;
    assert_envelope(&v, 0);
    assert!(app.codes_sent("10000000000").is_empty());
    assert_envelope(&sign_in_with(&app, "10000000000", "111111").await, 1);
    let v = sign_in_with(&app, "10000000000", "246810").await;
    assert_envelope(&v, 0);
    // Reusable: reviewers sign in again and again.
    let v2 = sign_in_with(&app, "10000000000", "246810").await;
    assert_envelope(&v2, 0);
    assert_eq!(v2["data"]["user_id"], v["data"]["user_id"]);
    assert_eq!(v2["data"]["is_first_login"], 0);
}

#[actix_web::test]
async fn first_and_later_sign_ins() {
    let Some(app) = spawn_app_with(|s| s.sms.cooldown_secs = 0).await else {
        return;
    };
    let phone = new_phone();
    let first = app.sign_in_device(&phone, "android", "a").await;
    assert_eq!(first.data["is_first_login"], 1);
    let first_seen = first.data["last_seen"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now - first_seen).abs() < 60);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = app.sign_in_device(&phone, "ios", "b").await;
    assert_eq!(later.data["is_first_login"], 0);
    assert_eq!(later.user_id, first.user_id);
    assert_eq!(
        later.data["last_seen"], first_seen,
        "last_seen is the previous sign-in"
    );
    assert_eq!(later.data["nickname"], first.data["nickname"]);
}

#[actix_web::test]
async fn two_concurrent_first_sign_ins_make_one_user() {
    let Some(app) = spawn_app_with(|s| {
        s.sms.test_numbers = vec![im_access::config::TestNumber {
            nation_code: "86".into(),
            phone: "13800000001".into(),
            code: "135790".into(),
        }];
    })
    .await
    else {
        return;
    };
    let sign = |device: &'static str| {
        let app = &app;
        async move {
            app.post_form(
                "/accessuser/signinbysms",
                &[
                    ("nation_code", "86"),
                    ("phone", "13800000001"),
                    ("check_code", "135790"),
                    ("device", device),
                    ("device_id", device),
                ],
                None,
            )
            .await
        }
    };
    let results = futures_util::future::join_all(["android", "ios", "web", "h5"].map(sign)).await;
    let ids: Vec<i64> = results
        .iter()
        .map(|v| {
            assert_envelope(v, 0);
            v["data"]["user_id"].as_i64().unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let firsts = results
        .iter()
        .filter(|v| v["data"]["is_first_login"] == 1)
        .count();
    assert_eq!(firsts, 1);
    let created = app
        .outbox()
        .await
        .into_iter()
        .filter(|(t, _)| t == "user.created")
        .count();
    assert_eq!(created, 1);
}

#[actix_web::test]
async fn sign_in_input_errors() {
    let Some(app) = spawn_app().await else { return };
    let phone = new_phone();
    let code = app.send_code(&phone).await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("nation_code", "86"),
                ("phone", &phone),
                ("check_code", &code),
                ("device", "tv"),
            ],
            "参数 device 无效",
        ),
        (
            vec![
                ("nation_code", "86"),
                ("phone", &phone),
                ("check_code", &code),
                ("device", "android"),
            ],
            "缺少参数 device_id",
        ),
        (
            vec![("nation_code", "86"), ("phone", &phone), ("device", "web")],
            "缺少参数 check_code",
        ),
        (
            vec![
                ("nation_code", "86"),
                ("phone", &phone),
                ("check_code", "12ab56"),
                ("device", "web"),
            ],
            "无效的用户信息",
        ),
    ];
    for (form, message) in cases {
        let v = app.post_form("/accessuser/signinbysms", &form, None).await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], message, "{form:?}");
    }
    let long = "x".repeat(129);
    let v = app
        .post_form(
            "/accessuser/signinbysms",
            &[
                ("nation_code", "86"),
                ("phone", &phone),
                ("check_code", &code),
                ("device", "ios"),
                ("device_id", &long),
            ],
            None,
        )
        .await;
    assert_envelope(&v, 1);
    // None of those used the code up.
    let v = app
        .post_form(
            "/accessuser/signinbysms",
            &[
                ("nation_code", "86"),
                ("phone", &phone),
                ("check_code", &code),
                ("device", "web"),
            ],
            None,
        )
        .await;
    assert_envelope(&v, 0);
}

#[actix_web::test]
async fn codes_are_stored_hashed() {
    let Some(app) = spawn_app().await else { return };
    let phone = new_phone();
    let code = app.send_code(&phone).await;
    use sea_orm::EntityTrait;
    let rows = entity::sms_code::Entity::find()
        .all(&app.state.db.conn())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].code_hash.contains(&code));
    assert_eq!(rows[0].code_hash.len(), 64);
}

#[actix_web::test]
async fn country_allowlist_and_global_budget() {
    let Some(app) = spawn_app_with(|s| {
        s.sms.allowed_nation_codes = vec!["86".into()];
        s.sms.global_daily_budget = 2;
    })
    .await
    else {
        return;
    };
    let refused = |text: &str, reason: &str| {
        crate::common::metric_sum(
            text,
            "im_sms_refused_total",
            &[&format!("reason=\"{reason}\"")],
        )
    };
    let before = app.metrics().await;
    // A valid US mobile number, but the US is not served.
    let v = app
        .post_form(
            "/sms/send",
            &[("nation_code", "1"), ("phone", "4155552671")],
            None,
        )
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "暂不支持该国家或地区的号码");
    app.send_code(&new_phone()).await;
    app.send_code(&new_phone()).await;
    let phone = new_phone();
    let res = app
        .client
        .post(app.url("/sms/send"))
        .form(&[("nation_code", "86"), ("phone", phone.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 429);
    assert!(app.codes_sent(&phone).is_empty());
    // Both refusals are counted by reason (the series exist from the start, at 0).
    let after = app.metrics().await;
    for reason in ["global_budget", "country"] {
        assert!(
            refused(&after, reason) > refused(&before, reason),
            "{reason}: {after}"
        );
    }
}

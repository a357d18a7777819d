//! relation/operation rules, lists, searches and contacts, and the events they write.

use crate::common::SendForEnvelope;
use serde_json::{json, Value};

use crate::common::{
    assert_envelope, spawn_app, spawn_app_with, Multipart, SendMultipart, TestApp,
};

fn ev(t: &str, from: i64, to: i64) -> (String, Value) {
    (
        t.to_owned(),
        json!({"from_user_id": from, "to_user_id": to}),
    )
}

/// Outbox rows written after `mark` rows, relation events only.
async fn relation_events_since(app: &TestApp, mark: usize) -> Vec<(String, Value)> {
    app.outbox()
        .await
        .into_iter()
        .skip(mark)
        .filter(|(t, _)| t.starts_with("relation."))
        .collect()
}

#[actix_web::test]
async fn follow_unfollow_block_unblock_rules_and_their_events() {
    let Some(app) = spawn_app().await else { return };
    let a = app.new_user().await;
    let b = app.new_user().await;
    let (ai, bi) = (a.user_id, b.user_id);
    let mark = app.outbox_len().await;

    // Both follow each other.
    assert_envelope(&app.relate(&a, bi, "follow").await, 0);
    assert_envelope(&app.relate(&b, ai, "follow").await, 0);
    assert_eq!(app.list_ids(&a, "follow").await, vec![bi]);
    assert_eq!(app.list_ids(&a, "fans").await, vec![bi]);
    assert_eq!(app.list_ids(&a, "friend").await, vec![bi]);

    // A blocks B: both follows go, unfollowed events first, then blocked.
    assert_envelope(&app.relate(&a, bi, "block").await, 0);
    assert!(app.list_ids(&a, "follow").await.is_empty());
    assert!(app.list_ids(&b, "follow").await.is_empty());
    assert!(app.list_ids(&a, "friend").await.is_empty());
    assert_eq!(app.list_ids(&a, "black").await, vec![bi]);
    assert_eq!(app.list_ids(&a, "block").await, vec![bi]);

    // B may not follow A now.
    let v = app.relate(&b, ai, "follow").await;
    assert_envelope(&v, 403);
    assert_eq!(v["message"], "对方已将你拉黑");
    assert!(app.list_ids(&b, "follow").await.is_empty());

    // A unblocks: follows stay gone.
    assert_envelope(&app.relate(&a, bi, "unblock").await, 0);
    assert!(app.list_ids(&a, "black").await.is_empty());
    assert!(app.list_ids(&a, "follow").await.is_empty());

    // A blocks again, then follows: the follow lifts A's own block.
    assert_envelope(&app.relate(&a, bi, "block").await, 0);
    assert_envelope(&app.relate(&a, bi, "follow").await, 0);
    assert!(app.list_ids(&a, "black").await.is_empty());
    assert_eq!(app.list_ids(&a, "follow").await, vec![bi]);

    // Unfollow.
    assert_envelope(&app.relate(&a, bi, "unfollow").await, 0);
    assert!(app.list_ids(&a, "follow").await.is_empty());

    assert_eq!(
        relation_events_since(&app, mark).await,
        vec![
            ev("relation.followed", ai, bi),
            ev("relation.followed", bi, ai),
            ev("relation.unfollowed", ai, bi),
            ev("relation.unfollowed", bi, ai),
            ev("relation.blocked", ai, bi),
            ev("relation.unblocked", ai, bi),
            ev("relation.blocked", ai, bi),
            ev("relation.unblocked", ai, bi),
            ev("relation.followed", ai, bi),
            ev("relation.unfollowed", ai, bi),
        ]
    );
}

#[actix_web::test]
async fn repeated_operations_answer_ok_and_change_nothing() {
    let Some(app) = spawn_app().await else { return };
    let a = app.new_user().await;
    let b = app.new_user().await;
    for op in ["follow", "block", "unblock", "unfollow"] {
        assert_envelope(&app.relate(&a, b.user_id, op).await, 0);
        let mark = app.outbox_len().await;
        for _ in 0..2 {
            let v = app.relate(&a, b.user_id, op).await;
            assert_envelope(&v, 0);
            assert_eq!(v["data"], "ok");
        }
        assert_eq!(app.outbox_len().await, mark, "repeating {op} wrote events");
    }
    // Unfollowing or unblocking someone never followed or blocked: ok, nothing written.
    let c = app.new_user().await;
    let mark = app.outbox_len().await;
    assert_envelope(&app.relate(&a, c.user_id, "unfollow").await, 0);
    assert_envelope(&app.relate(&a, c.user_id, "unblock").await, 0);
    assert_eq!(app.outbox_len().await, mark);
}

#[actix_web::test]
async fn operation_input_errors() {
    let Some(app) = spawn_app().await else { return };
    let a = app.new_user().await;
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![
                ("to_user_id", a.user_id.to_string()),
                ("type", "follow".into()),
            ],
            "不能对自己进行此操作",
        ),
        (
            vec![("to_user_id", "99999999".into()), ("type", "follow".into())],
            "用户不存在",
        ),
        (
            vec![("to_user_id", "0".into()), ("type", "follow".into())],
            "用户不存在",
        ),
        (
            vec![("to_user_id", "abc".into()), ("type", "follow".into())],
            "参数 to_user_id 无效",
        ),
        (vec![("type", "follow".into())], "缺少参数 to_user_id"),
        (
            vec![("to_user_id", "1".into()), ("type", "like".into())],
            "参数 type 无效",
        ),
        (vec![("to_user_id", "1".into())], "缺少参数 type"),
    ];
    for (form, msg) in cases {
        let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let v = app
            .post_form("/relation/operation", &f, Some(&a.token))
            .await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], msg, "{form:?}");
    }
}

#[actix_web::test]
async fn pagination_totals_newest_first_and_past_the_end() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let mut targets = Vec::new();
    for _ in 0..5 {
        let u = app.new_user().await;
        assert_envelope(&app.relate(&me, u.user_id, "follow").await, 0);
        targets.push(u.user_id);
    }
    let newest_first: Vec<i64> = targets.iter().rev().copied().collect();
    let mut seen = Vec::new();
    for page in 1..=3 {
        let v = app.list(&me, "follow", page, 2).await;
        assert_envelope(&v, 0);
        assert_eq!(
            v["data"]["page_info"],
            json!({"page": page, "size": 2, "totalPage": 3, "totalCount": 5})
        );
        for item in v["data"]["list"].as_array().unwrap() {
            assert!(item["user_id"].is_i64());
            assert!(item["nickname"].is_string());
            assert!(item["avatar"].is_null() || item["avatar"].is_string());
            seen.push(item["user_id"].as_i64().unwrap());
        }
    }
    assert_eq!(seen, newest_first);
    let v = app.list(&me, "follow", 4, 2).await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["list"], json!([]));
    assert_eq!(
        v["data"]["page_info"],
        json!({"page": 4, "size": 2, "totalPage": 3, "totalCount": 5})
    );
    // Defaults: page 1, size 20.
    let v = app
        .post_form(
            "/relation/followlist",
            &[("type", "follow")],
            Some(&me.token),
        )
        .await;
    assert_eq!(
        v["data"]["page_info"],
        json!({"page": 1, "size": 20, "totalPage": 1, "totalCount": 5})
    );
    // An empty list.
    let v = app.list(&me, "black", 1, 20).await;
    assert_eq!(
        v["data"]["page_info"],
        json!({"page": 1, "size": 20, "totalPage": 0, "totalCount": 0})
    );
    // Bad input.
    for (k, val) in [("page", "0"), ("size", "0"), ("size", "101"), ("page", "x")] {
        let v = app
            .post_form(
                "/relation/followlist",
                &[("type", "follow"), (k, val)],
                Some(&me.token),
            )
            .await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], format!("参数 {k} 无效"));
    }
    let v = app
        .post_form(
            "/relation/followlist",
            &[("type", "enemies")],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 1);
}

#[actix_web::test]
async fn concurrent_follow_and_block_on_one_pair_end_in_a_serial_state() {
    let Some(app) = spawn_app_with(|s| s.database.max_connections = 16).await else {
        return;
    };
    for round in 0..6 {
        let a = app.new_user().await;
        let b = app.new_user().await;
        let ops = [
            (&a, b.user_id, "follow"),
            (&b, a.user_id, "follow"),
            (&a, b.user_id, "block"),
            (&b, a.user_id, "block"),
            (&a, b.user_id, "unblock"),
            (&b, a.user_id, "follow"),
        ];
        let results = futures_util::future::join_all(
            ops.iter().map(|(who, to, op)| app.relate(who, *to, op)),
        )
        .await;
        for r in &results {
            assert!(r["code"] == 0 || r["code"] == 403, "{r}");
        }
        let a_follows = app.list_ids(&a, "follow").await.contains(&b.user_id);
        let b_follows = app.list_ids(&b, "follow").await.contains(&a.user_id);
        let a_blocks = app.list_ids(&a, "black").await.contains(&b.user_id);
        let b_blocks = app.list_ids(&b, "black").await.contains(&a.user_id);
        // Invariants every serial order keeps: nobody follows someone who blocks them,
        // and a block never coexists with a follow in either direction.
        assert!(!(a_follows && b_blocks), "round {round}");
        assert!(!(b_follows && a_blocks), "round {round}");
        assert!(!(a_follows && a_blocks), "round {round}");
        assert!(!(b_follows && b_blocks), "round {round}");
        // The events replay to the same state.
        let mut state = std::collections::HashSet::new();
        for (t, d) in app.outbox().await {
            let (f, to) = (
                d["from_user_id"].as_i64().unwrap_or(0),
                d["to_user_id"].as_i64().unwrap_or(0),
            );
            if ![a.user_id, b.user_id].contains(&f) {
                continue;
            }
            match t.as_str() {
                "relation.followed" => assert!(state.insert(("f", f, to))),
                "relation.unfollowed" => assert!(state.remove(&("f", f, to))),
                "relation.blocked" => assert!(state.insert(("b", f, to))),
                "relation.unblocked" => assert!(state.remove(&("b", f, to))),
                _ => {}
            }
        }
        assert_eq!(state.contains(&("f", a.user_id, b.user_id)), a_follows);
        assert_eq!(state.contains(&("f", b.user_id, a.user_id)), b_follows);
        assert_eq!(state.contains(&("b", a.user_id, b.user_id)), a_blocks);
        assert_eq!(state.contains(&("b", b.user_id, a.user_id)), b_blocks);
    }
}

#[actix_web::test]
async fn search_by_ids_in_the_order_asked_without_blockers() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let x = app.new_user().await;
    let y = app.new_user().await;
    let z = app.new_user().await;
    assert_envelope(&app.relate(&z, me.user_id, "block").await, 0);
    let q = format!(
        "/accessuser/searchbyuniquename?unique_names[]={}&unique_names[]={}&unique_names[]={}&unique_names[]=99999999",
        y.user_id, z.user_id, x.user_id
    );
    let v = app.get(&q, Some(&me.token)).await;
    assert_envelope(&v, 0);
    let ids: Vec<i64> = v["data"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![y.user_id, x.user_id]);
    assert_eq!(v["data"]["page_info"]["totalCount"], 2);
    assert_eq!(v["data"]["page_info"]["page"], 1);
    let many: String = (1..=101).map(|i| format!("unique_names[]={i}&")).collect();
    let v = app
        .get(
            &format!("/accessuser/searchbyuniquename?{many}"),
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 1);
    let v = app
        .get("/accessuser/searchbyuniquename", Some(&me.token))
        .await;
    assert_envelope(&v, 1);
}

#[actix_web::test]
async fn search_by_nickname_exact_and_hidden_by_blocks() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let x = app.new_user().await;
    let form = Multipart::new().text("nickname", "whaha12");
    let v: Value = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", &x.token)
        .form_data(form)
        .envelope()
        .await;
    assert_envelope(&v, 0);
    let v = app
        .get(
            "/accessuser/searchbynickname?nickname=whaha12",
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(
        v["data"],
        json!({"nickname": "whaha12", "avatar": null, "user_id": x.user_id})
    );
    let v = app
        .get(
            "/accessuser/searchbynickname?nickname=whaha1",
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "没有使用该昵称的用户");
    assert_envelope(&app.relate(&x, me.user_id, "block").await, 0);
    let v = app
        .get(
            "/accessuser/searchbynickname?nickname=whaha12",
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 1);
}

#[actix_web::test]
async fn contact_list_finds_registered_numbers() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let x = app.new_user().await;
    let y = app.new_user().await;
    let blocker = app.new_user().await;
    assert_envelope(&app.relate(&blocker, me.user_id, "block").await, 0);
    let intl = format!("+86{}", y.phone);
    let v = app
        .post_json(
            "/relation/contactlist",
            json!({"phones": [x.phone, intl, "13900000000", "not a number", blocker.phone]}),
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(
        v["data"],
        json!([
            {"nickname": x.data["nickname"], "avatar": null, "user_id": x.user_id, "phone": x.phone},
            {"nickname": y.data["nickname"], "avatar": null, "user_id": y.user_id, "phone": intl},
        ])
    );
    let too_many: Vec<String> = (0..101).map(|i| format!("1390000{i:04}")).collect();
    let v = app
        .post_json(
            "/relation/contactlist",
            json!({"phones": too_many}),
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 1);
    let v = app
        .post_json("/relation/contactlist", json!({}), Some(&me.token))
        .await;
    assert_envelope(&v, 1);
}

#[actix_web::test]
async fn lookups_are_rate_limited_per_caller() {
    let Some(app) = spawn_app_with(|s| s.limits.lookups_per_hour = 3).await else {
        return;
    };
    let me = app.new_user().await;
    let other = app.new_user().await;
    for _ in 0..3 {
        let v = app
            .post_json(
                "/relation/contactlist",
                json!({"phones": ["13900000000"]}),
                Some(&me.token),
            )
            .await;
        assert_envelope(&v, 0);
    }
    let res = app
        .client
        .post(app.url("/relation/contactlist"))
        .header("token", &me.token)
        .json(&json!({"phones": ["13900000000"]}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert_envelope(&v, 429);
    let v = app
        .get(
            &format!(
                "/accessuser/searchbyuniquename?unique_names[]={}",
                me.user_id
            ),
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 429);
    // Another caller has their own budget.
    let v = app
        .post_json(
            "/relation/contactlist",
            json!({"phones": ["13900000000"]}),
            Some(&other.token),
        )
        .await;
    assert_envelope(&v, 0);
}

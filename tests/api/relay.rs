//! The outbox relay against the machine's real RabbitMQ: what arrives, with which
//! properties, in which order, and what a broker outage does. Runs on the database
//! `IM_TEST_DATABASE` selects (SQLite by default); `.ci/run` runs it on all three.
//! Without a reachable broker the tests say so and skip, unless
//! `IM_TEST_REQUIRE_SERVICES=1`.

use crate::common::SendForEnvelope;
use std::collections::HashMap;
use std::time::Duration;

use crate::common::{
    self, amqp_url, assert_envelope, skip_or_fail, spawn_app_with, EventTap, Received, TestApp,
};
use serde_json::{json, Value};

/// Tests here share the one broker, and one of them stops it.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const REPLAY_KEY: &str = "replay-key-for-tests-0123456789";

fn exchange() -> String {
    format!("im.test.relay.{}", rand::random::<u32>())
}

async fn app_with_broker(exchange: &str) -> Option<TestApp> {
    let exchange = exchange.to_owned();
    spawn_app_with(move |s| {
        s.amqp.url = amqp_url().into();
        s.amqp.exchange = exchange;
        s.amqp.poll_ms = 50;
        s.events.replay_key = REPLAY_KEY.to_owned().into();
        s.sms.cooldown_secs = 0;
    })
    .await
}

/// A tap on `exchange`; without RabbitMQ, `None` after saying so (or failing, when
/// services are required).
async fn tap_or_skip(exchange: &str, queue: Option<&str>) -> Option<EventTap> {
    let tap = EventTap::bind(exchange, queue).await;
    if tap.is_none() {
        skip_or_fail("RabbitMQ");
    }
    tap
}

fn is_rfc3339_millis_utc(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') && s.len() == 24
}

/// Checks one message against the contract and returns (seq, type, data).
fn check_message(m: &Received) -> (i64, String, Value) {
    let b = &m.body;
    let mut keys: Vec<&str> = b
        .as_object()
        .expect("object body")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["data", "id", "occurred_at", "seq", "type"], "{b}");
    let id = b["id"].as_str().expect("id string");
    let uuid = uuid::Uuid::parse_str(id).expect("id is a uuid");
    assert_eq!(uuid.get_version_num(), 7, "uuid v7: {id}");
    assert!(
        is_rfc3339_millis_utc(b["occurred_at"].as_str().expect("occurred_at")),
        "{b}"
    );
    let t = b["type"].as_str().expect("type").to_owned();
    assert_eq!(m.routing_key, t, "routing key is the event type");
    let p = &m.properties;
    assert_eq!(p.delivery_mode(), &Some(2), "persistent");
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(
        p.message_id().as_ref().map(|s| s.as_str()),
        Some(id),
        "message_id is the event id"
    );
    (b["seq"].as_i64().expect("seq number"), t, b["data"].clone())
}

#[actix_web::test]
async fn every_event_type_arrives_in_commit_order_with_the_contract_properties() {
    let _serial = BROKER.lock().await;
    let ex = exchange();
    let Some(mut tap) = tap_or_skip(&ex, None).await else {
        return;
    };
    let Some(app) = app_with_broker(&ex).await else {
        return;
    };

    // A scripted session touching every event type.
    let phone_a = common::new_phone();
    let a1 = app.sign_in_device(&phone_a, "web", "browser-1").await;
    let a = app.sign_in_device(&phone_a, "web", "browser-2").await; // replaces browser-1
    let b = app.new_user().await;
    let v = app
        .post_form(
            "/accessuser/updateuserinfo",
            &[("nickname", "Alice")],
            Some(&a.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_envelope(&app.relate(&a, b.user_id, "follow").await, 0);
    assert_envelope(&app.relate(&b, a.user_id, "follow").await, 0);
    assert_envelope(&app.relate(&a, b.user_id, "block").await, 0); // removes both follows
    assert_envelope(&app.relate(&a, b.user_id, "unblock").await, 0);
    assert_envelope(
        &app.post_form("/accessuser/logout", &[], Some(&a.token))
            .await,
        0,
    );

    let (ua, ub) = (a.user_id, b.user_id);
    let nick_a = a1.data["nickname"].as_str().unwrap_or_default().to_owned();
    let nick_b = b.data["nickname"].as_str().unwrap_or_default().to_owned();
    let rel =
        |t: &str, f: i64, to: i64| (t.to_owned(), json!({"from_user_id": f, "to_user_id": to}));
    let expected = vec![
        (
            "user.created".to_owned(),
            json!({"user_id": ua, "nickname": nick_a}),
        ),
        (
            "session.revoked".to_owned(),
            json!({"user_id": ua, "device": "web", "device_id": "browser-1", "reason": "replaced"}),
        ),
        (
            "user.created".to_owned(),
            json!({"user_id": ub, "nickname": nick_b}),
        ),
        (
            "user.updated".to_owned(),
            json!({"user_id": ua, "nickname": "Alice", "avatar": null}),
        ),
        rel("relation.followed", ua, ub),
        rel("relation.followed", ub, ua),
        rel("relation.unfollowed", ua, ub),
        rel("relation.unfollowed", ub, ua),
        rel("relation.blocked", ua, ub),
        rel("relation.unblocked", ua, ub),
        (
            "session.revoked".to_owned(),
            json!({"user_id": ua, "device": "web", "device_id": "browser-2", "reason": "logout"}),
        ),
    ];

    let got = tap.collect(expected.len(), Duration::from_secs(20)).await;
    assert_eq!(got.len(), expected.len(), "every event arrives once");
    let mut seqs = Vec::new();
    let mut events = Vec::new();
    for m in &got {
        let (seq, t, data) = check_message(m);
        seqs.push(seq);
        events.push((t, data));
    }
    assert_eq!(events, expected, "types, bodies and order");
    assert_eq!(
        seqs,
        (1..=expected.len() as i64).collect::<Vec<_>>(),
        "seq numbers the stream without gaps"
    );
    // The bodies carry the outbox rows' ids, and every row is marked published with its
    // seq (the mark follows the broker's confirm, which may come after the delivery).
    let rows = published_rows(&app).await;
    for (i, (id, t, data, seq, published)) in rows.iter().enumerate() {
        assert_eq!(got[i].body["id"], *id);
        assert_eq!((t, data), (&events[i].0, &events[i].1));
        assert_eq!(*seq, Some(i as i64 + 1));
        assert!(published);
    }
    assert!(
        tap.next(Duration::from_millis(300)).await.is_none(),
        "nothing published twice"
    );

    // /readyz reports the broker and an empty backlog.
    let v = app.get("/readyz", None).await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["broker"], "up", "{v}");
    assert_eq!(v["data"]["outbox"]["backlog"], 0, "{v}");
    assert_eq!(v["data"]["outbox"]["oldest_age_seconds"], 0.0, "{v}");
    let metrics = app.metrics().await;
    assert!(metrics.contains("im_broker_connected 1"), "{metrics}");
    assert!(metrics.contains("im_outbox_backlog_events 0"), "{metrics}");
    assert!(
        crate::common::metric_value(&metrics, "im_relay_published_total")
            .is_some_and(|n| n >= events.len() as f64),
        "{metrics}"
    );

    // Replay: the same bodies, from the outbox, page by page.
    let replay = |q: String, key: Option<&'static str>| replay(&app, q, key);
    let v = replay("?after_seq=0&limit=4".into(), Some(REPLAY_KEY)).await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["oldest_seq"], 1);
    assert_eq!(v["data"]["next_after_seq"], 4);
    let page1 = v["data"]["events"].as_array().unwrap().clone();
    let v = replay("?after_seq=4&limit=1000".into(), Some(REPLAY_KEY)).await;
    let page2 = v["data"]["events"].as_array().unwrap().clone();
    assert_eq!(v["data"]["next_after_seq"], expected.len());
    let replayed: Vec<Value> = page1.into_iter().chain(page2).collect();
    let delivered: Vec<Value> = got.iter().map(|m| m.body.clone()).collect();
    assert_eq!(replayed, delivered, "replay gives the published bodies");
    let v = replay(format!("?after_seq={}", expected.len()), Some(REPLAY_KEY)).await;
    assert_eq!(v["data"]["events"], json!([]));
    assert_eq!(v["data"]["next_after_seq"], expected.len());
    // A wrong or missing key, and bad parameters.
    assert_envelope(&replay("?after_seq=0".into(), Some("wrong")).await, 401);
    assert_envelope(&replay("?after_seq=0".into(), None).await, 401);
    assert_envelope(&replay("?after_seq=-1".into(), Some(REPLAY_KEY)).await, 1);
    assert_envelope(&replay("?limit=0".into(), Some(REPLAY_KEY)).await, 1);
    assert_envelope(&replay("?limit=1001".into(), Some(REPLAY_KEY)).await, 1);
    assert_envelope(&replay("?after_seq=x".into(), Some(REPLAY_KEY)).await, 1);
    app.stop().await;
}

#[actix_web::test]
async fn replay_is_off_without_a_key() {
    let Some(app) = spawn_app_with(|_| {}).await else {
        return;
    };
    let v = app.get("/internal/events?after_seq=0", None).await;
    assert_envelope(&v, 404);
    // No broker configured: readyz says so, events stay in the outbox.
    let u = app.new_user().await;
    let v = app.get("/readyz", None).await;
    assert_eq!(v["data"]["broker"], "disabled", "{v}");
    assert_eq!(v["data"]["outbox"]["backlog"], 1, "{v}");
    let rows = common::outbox_rows(&app.state.db.conn()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3, None, "unpublished rows have no seq");
    assert!(!rows[0].4);
    let _ = u;
    app.stop().await;
}

#[actix_web::test]
async fn an_event_committed_after_a_later_one_is_neither_skipped_nor_overtaken() {
    use sea_orm::TransactionTrait;
    use secrecy::ExposeSecret;
    let _serial = BROKER.lock().await;
    let ex = exchange();
    let Some(mut tap) = tap_or_skip(&ex, None).await else {
        return;
    };
    let Some(app) = app_with_broker(&ex).await else {
        return;
    };
    if app.backend == common::Backend::Sqlite {
        // One writer at a time: a transaction can't commit out of insertion order.
        return;
    }
    let a = app.new_user().await;
    let b = app.new_user().await;
    assert_eq!(tap.collect(2, Duration::from_secs(10)).await.len(), 2);

    // A writer inserts its event first and holds its transaction open...
    let other = sea_orm::Database::connect(app.settings.database.url.expose_secret())
        .await
        .unwrap();
    let slow = other.begin().await.unwrap();
    let early = im_access::domain::event::Event::Followed {
        from_user_id: b.user_id,
        to_user_id: a.user_id,
    };
    im_access::store::outbox::insert(&slow, &early)
        .await
        .unwrap();
    // ...while a later insert commits at once.
    assert_envelope(&app.relate(&a, b.user_id, "follow").await, 0);
    // The relay waits for the open transaction rather than publish past it.
    assert!(
        tap.next(Duration::from_millis(700)).await.is_none(),
        "an event was published while an earlier-inserted one was uncommitted"
    );
    slow.commit().await.unwrap();
    let got = tap.collect(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].body["data"]["from_user_id"], b.user_id,
        "insertion order kept"
    );
    assert_eq!(got[0].body["seq"], 3);
    assert_eq!(got[1].body["type"], "relation.followed");
    assert_eq!(got[1].body["data"]["from_user_id"], a.user_id);
    assert_eq!(got[1].body["seq"], 4);
    app.stop().await;
}

/// `GET /internal/events{query}`, with the bearer `key` if any.
async fn replay(app: &TestApp, query: String, key: Option<&str>) -> Value {
    let mut req = app.client.get(app.url(&format!("/internal/events{query}")));
    if let Some(k) = key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    req.envelope().await
}

/// The outbox once every row is marked published (or as it is after 10 s).
async fn published_rows(app: &TestApp) -> Vec<(String, String, Value, Option<i64>, bool)> {
    let started = std::time::Instant::now();
    loop {
        let rows = common::outbox_rows(&app.state.db.conn()).await;
        if rows.iter().all(|r| r.4) || started.elapsed() > Duration::from_secs(10) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn published_events_past_the_retention_are_cleaned_up_and_seq_continues() {
    let _serial = BROKER.lock().await;
    let ex = exchange();
    let Some(mut tap) = tap_or_skip(&ex, None).await else {
        return;
    };
    let exchange = ex.clone();
    let Some(app) = spawn_app_with(move |s| {
        s.amqp.url = amqp_url().into();
        s.amqp.exchange = exchange;
        s.events.replay_key = REPLAY_KEY.to_owned().into();
        // Everything published is past a zero retention at the next clean-up.
        s.events.retention_hours = 0;
        s.events.cleanup_every_secs = 1;
    })
    .await
    else {
        return;
    };
    let a = app.new_user().await;
    let b = app.new_user().await;
    assert_eq!(tap.collect(2, Duration::from_secs(10)).await.len(), 2);
    let started = std::time::Instant::now();
    while !common::outbox_rows(&app.state.db.conn()).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "published rows were not cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = |q: &str| replay(&app, q.to_owned(), Some(REPLAY_KEY));
    let v = page("?after_seq=0").await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["events"], json!([]));
    assert_eq!(v["data"]["oldest_seq"], Value::Null);
    // The stream goes on where it was: seq 3, and replay shows the older ones are gone.
    assert_envelope(&app.relate(&a, b.user_id, "follow").await, 0);
    let m = tap.next(Duration::from_secs(10)).await.expect("the follow");
    assert_eq!(m.body["seq"], 3);
    assert_eq!(m.body["type"], "relation.followed");
    let v = page("?after_seq=0").await;
    if v["data"]["events"] != json!([]) {
        // Not cleaned up yet: then it is the one event, and the oldest kept.
        assert_eq!(v["data"]["oldest_seq"], 3, "{v}");
        assert_eq!(v["data"]["events"][0]["seq"], 3, "{v}");
    }
    app.stop().await;
}

fn rabbitmqctl(arg: &str) -> bool {
    std::process::Command::new("rabbitmqctl")
        .args(["-q", arg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts the broker's app again even if the test fails half way.
struct RestartBroker;

impl Drop for RestartBroker {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
    }
}

#[actix_web::test]
async fn a_broker_outage_delays_events_and_loses_none() {
    let _serial = BROKER.lock().await;
    common::stops_servers().await;
    let ex = exchange();
    let queue = format!("im.test.outage.{}", rand::random::<u32>());
    let Some(mut tap) = tap_or_skip(&ex, Some(&queue)).await else {
        return;
    };
    if !rabbitmqctl("status") {
        skip_or_fail("rabbitmqctl (to stop and start the broker)");
        return;
    }
    let Some(app) = app_with_broker(&ex).await else {
        return;
    };
    let a = app.new_user().await;
    let b = app.new_user().await;

    // A stream of operations; the broker stops after the first third and comes back
    // after the second.
    let ops = ["follow", "unfollow", "block", "unblock"];
    let mut answered = 0;
    let _restart = RestartBroker;
    for i in 0..60 {
        if i == 20 {
            assert!(rabbitmqctl("stop_app"), "rabbitmqctl stop_app");
        }
        if i == 40 {
            // During the outage: every route still answers, events wait in the outbox.
            let v = app.get("/readyz", None).await;
            assert_envelope(&v, 0);
            assert_ne!(v["data"]["broker"], "up", "{v}");
            assert!(v["data"]["outbox"]["backlog"].as_u64().unwrap() > 0, "{v}");
            assert_envelope(&app.list(&a, "follow", 1, 20).await, 0);
            assert!(rabbitmqctl("start_app"), "rabbitmqctl start_app");
        }
        let (who, to) = if i % 3 == 0 {
            (&b, a.user_id)
        } else {
            (&a, b.user_id)
        };
        let v = app.relate(who, to, ops[i % 4]).await;
        assert!(v["code"] == 0 || v["code"] == 403, "{v}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(answered, 60);

    let rows = common::outbox_rows(&app.state.db.conn()).await;
    // Our consumer's connection died with the broker: a new one reads the durable queue.
    let mut tap2 = None;
    for _ in 0..100 {
        if let Some(t) = EventTap::bind(&ex, Some(&queue)).await {
            tap2 = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(tap);
    tap = tap2.expect("the broker is back");
    // What arrived before the outage was acknowledged; count what is still owed.
    let got = tap.collect(rows.len(), Duration::from_secs(60)).await;
    let mut by_id: HashMap<String, i64> = HashMap::new();
    for m in &got {
        let (seq, _, _) = check_message(m);
        let id = m.body["id"].as_str().unwrap().to_owned();
        if let Some(prev) = by_id.insert(id, seq) {
            assert_eq!(prev, seq, "a duplicate carries the same seq");
        }
    }
    // Every event is published, in outbox order, numbered without gaps.
    let rows = published_rows(&app).await;
    for (i, (_, _, _, seq, published)) in rows.iter().enumerate() {
        assert!(published, "row {i} published");
        assert_eq!(*seq, Some(i as i64 + 1));
    }
    // The messages after the outage start where the acknowledged ones stopped and
    // run to the end, in order.
    let mut seqs: Vec<i64> = got
        .iter()
        .map(|m| m.body["seq"].as_i64().unwrap())
        .collect();
    seqs.dedup();
    let first = *seqs.first().expect("events after the outage");
    // Nothing was acknowledged before the outage: the durable queue kept it all.
    assert_eq!(first, 1);
    assert_eq!(
        seqs,
        (first..=rows.len() as i64).collect::<Vec<_>>(),
        "in order, none missing"
    );
    for m in &got {
        let seq = m.body["seq"].as_i64().unwrap() as usize;
        assert_eq!(m.body["id"], rows[seq - 1].0);
    }
    let v = app.get("/readyz", None).await;
    assert_eq!(v["data"]["broker"], "up", "{v}");
    tap.delete_queue().await;
    app.stop().await;
}

//! The database goes away under load (PostgreSQL restarted): requests in that window
//! answer 503 with a clear message, nothing is half-applied, and the server recovers
//! by itself. Needs the machine's PostgreSQL and the right to restart it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, assert_envelope, fresh_database, skip_or_fail, spawn_on, Backend};
use serde_json::Value;

/// Stops PostgreSQL, keeps it down for `down`, and starts it again. The pause makes
/// the outage outlast the app's 1 s acquire timeout: a bare restart can be quicker
/// than that, and a request waiting for a connection would then just succeed late.
fn restart_postgres(down: Duration) -> bool {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string());
    let Some(version) = version else { return false };
    let ctl = |args: &[&str]| {
        std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main"])
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let stopped = ctl(&["stop", "-m", "fast"]);
    std::thread::sleep(down);
    // Started again even if the stop failed half-way, so the machine is left running.
    ctl(&["start"]) && stopped
}

#[actix_web::test]
async fn postgres_restart_under_load_answers_503_and_recovers() {
    if std::env::var("IM_TEST_DATABASE").as_deref() != Ok("postgres") {
        eprintln!("SKIPPED: set IM_TEST_DATABASE=postgres to restart PostgreSQL under load");
        return;
    }
    common::stops_servers().await;
    let Some(url) = fresh_database(Backend::Postgres).await else {
        skip_or_fail("PostgreSQL");
        return;
    };
    let app = spawn_on(Backend::Postgres, Some(url), |s| {
        s.database.acquire_timeout_secs = 1;
        s.database.connect_timeout_secs = 1;
        s.sms.cooldown_secs = 0;
        s.limits.lookups_per_hour = 1_000_000;
    })
    .await;
    let app = Arc::new(app);
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(app.new_user().await);
    }
    let users = Arc::new(users);

    let running = Arc::new(AtomicBool::new(true));
    let mut workers = Vec::new();
    for w in 0..6usize {
        let (app, users, running) = (app.clone(), users.clone(), running.clone());
        workers.push(actix_web::rt::spawn(async move {
            let mut seen: Vec<(Instant, u64, String)> = Vec::new();
            let mut i = 0usize;
            while running.load(Ordering::Relaxed) {
                i += 1;
                let me = &users[w];
                let other = &users[(w + 1 + i % 5) % 6];
                let op = ["follow", "block", "unblock", "unfollow"][i % 4];
                let res = app
                    .client
                    .post(app.url("/relation/operation"))
                    .header("token", &me.token)
                    .form(&[
                        ("to_user_id", other.user_id.to_string()),
                        ("type", op.to_owned()),
                    ])
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .expect("no connection is reset or refused");
                assert_eq!(res.status(), 200);
                let v: Value = res.json().await.expect("an envelope");
                seen.push((
                    Instant::now(),
                    v["code"].as_u64().unwrap(),
                    v["message"].as_str().unwrap_or("").to_owned(),
                ));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restart_at = Instant::now();
    let probe = {
        let app = app.clone();
        let running = running.clone();
        actix_web::rt::spawn(async move {
            let mut codes = Vec::new();
            while running.load(Ordering::Relaxed) {
                let v = app.get("/readyz", None).await;
                codes.push(v["code"].as_u64().unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            codes
        })
    };
    let restarted = tokio::task::spawn_blocking(|| restart_postgres(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(restarted, "pg_ctlcluster restart failed");
    let back_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    running.store(false, Ordering::Relaxed);
    let ready = probe.await.unwrap();
    assert!(
        ready.contains(&503),
        "/readyz never reported the outage: {ready:?}"
    );
    assert_eq!(ready.last(), Some(&0), "/readyz did not recover");
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let codes: std::collections::BTreeMap<u64, usize> =
        all.iter().fold(Default::default(), |mut m, (_, c, _)| {
            *m.entry(*c).or_default() += 1;
            m
        });
    eprintln!(
        "answers by code: {codes:?}, restart took {:?}",
        back_at - restart_at
    );
    for (_, code, message) in &all {
        assert!(
            [0, 403, 503].contains(code),
            "unexpected code {code}: {message}"
        );
        if *code == 503 {
            assert_eq!(message, "服务暂不可用");
        }
    }
    assert!(
        codes.get(&503).copied().unwrap_or(0) > 0,
        "no request saw the outage: {codes:?}"
    );
    // Recovered by itself: the last second of answers are all successes.
    let tail: Vec<_> = all
        .iter()
        .filter(|(t, _, _)| *t > back_at + Duration::from_secs(2))
        .collect();
    assert!(!tail.is_empty());
    assert!(
        tail.iter().all(|(_, c, _)| *c == 0 || *c == 403),
        "not recovered: {tail:?}"
    );

    // Nothing half-applied: the outbox replays to exactly the relations in the tables.
    let mut replay = std::collections::BTreeSet::new();
    for (t, d) in app.outbox().await {
        let pair = (
            d["from_user_id"].as_i64().unwrap_or(0),
            d["to_user_id"].as_i64().unwrap_or(0),
        );
        match t.as_str() {
            "relation.followed" => assert!(replay.insert(("follow", pair))),
            "relation.unfollowed" => assert!(replay.remove(&("follow", pair))),
            "relation.blocked" => assert!(replay.insert(("block", pair))),
            "relation.unblocked" => assert!(replay.remove(&("block", pair))),
            _ => {}
        }
    }
    use sea_orm::EntityTrait;
    let db = &app.state.db.conn();
    let mut actual = std::collections::BTreeSet::new();
    for f in entity::follow::Entity::find().all(db).await.unwrap() {
        actual.insert(("follow", (f.user_id, f.target_id)));
    }
    for b in entity::block::Entity::find().all(db).await.unwrap() {
        actual.insert(("block", (b.user_id, b.target_id)));
    }
    assert_eq!(replay, actual);
    let v = app.list(&users[0], "follow", 1, 20).await;
    assert_envelope(&v, 0);
}

//! Several server processes on one PostgreSQL database and one RabbitMQ behave as one
//! server: codes, limits, revocations and relation changes hold across them, and a
//! change made on one process is served by every other within one second.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, amqp_url, free_port, fresh_database, new_phone, skip_or_fail, Backend};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_im-access");
const ADMIN_SECRET: &str = "cluster-admin-secret-0123456789abcdef";
/// The bound the README states for cross-process staleness.
const BOUND: Duration = Duration::from_secs(1);

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn broker_up() -> bool {
    lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
        .await
        .is_ok()
}

fn start(dir: &Path, db_url: &str, exchange: &str, n: usize) -> Proc {
    let port = free_port();
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("IM_") {
            c.env_remove(k);
        }
    }
    let data = dir.join(format!("p{n}"));
    let child = c
        .current_dir(dir)
        .env("IM_CONFIG_DIR", dir.join("no-config"))
        .env("IM_ENV_FILE", dir.join("no.env"))
        .env("IM__APP__DATA_DIR", &data)
        .env("IM__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("IM__DATABASE__URL", db_url)
        .env("IM__AMQP__URL", amqp_url())
        .env("IM__AMQP__EXCHANGE", exchange)
        .env("IM__SMS__PROVIDER", "file")
        .env("IM__SMS__FILE_PATH", dir.join("sms.jsonl"))
        .env("IM__JWT__SECRET", "cluster-test-secret-cluster-test-secret")
        .env("IM__STORAGE__DIR", dir.join("resource"))
        .env("IM__LOG__LEVEL", "warn")
        // A short lease, so the takeover test doesn't wait long.
        .env("IM__AMQP__LEASE_SECS", "2")
        // Short enough that a number can sign in twice in one test, long enough to
        // show the cooldown holds across processes.
        .env("IM__SMS__COOLDOWN_SECS", "2")
        .env("IM__ADMIN__KEYS", format!("ops:{ADMIN_SECRET}"))
        // Every test user signs in from 127.0.0.1.
        .env("IM__SMS__PER_IP_HOURLY", "1000")
        .env("IM__SMS__VERIFY_PER_IP_HOURLY", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server process starts");
    Proc {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

struct Cluster {
    procs: Vec<Proc>,
    client: reqwest::Client,
    dir: tempfile::TempDir,
    db: String,
    db_url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.procs.clear();
        common::drop_database(Backend::Postgres, self.db.clone());
    }
}

impl Cluster {
    async fn post(
        &self,
        p: usize,
        path: &str,
        form: &[(&str, &str)],
        token: Option<&str>,
    ) -> Value {
        let mut req = self
            .client
            .post(format!("{}{path}", self.procs[p].base))
            .form(form);
        if let Some(t) = token {
            req = req.header("token", t);
        }
        req.send()
            .await
            .expect("request")
            .json()
            .await
            .expect("envelope")
    }

    /// An operator's call (JSON body, or the query for GET).
    async fn admin(&self, p: usize, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.procs[p].base);
        let req = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url).json(&body),
        };
        req.bearer_auth(ADMIN_SECRET)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("envelope")
    }

    fn codes(&self, phone: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("sms.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["phone"] == phone)
            .filter_map(|v| v["code"].as_str().map(str::to_owned))
            .collect()
    }

    async fn sign_in(
        &self,
        send_on: usize,
        sign_on: usize,
        phone: &str,
        device: &str,
    ) -> (i64, String) {
        let started = Instant::now();
        loop {
            let v = self
                .post(
                    send_on,
                    "/sms/send",
                    &[("nation_code", "86"), ("phone", phone)],
                    None,
                )
                .await;
            // A number signing in again waits out the cooldown.
            if v["code"] == 429 && started.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert_eq!(v["code"], 0, "{v}");
            break;
        }
        let code = self.codes(phone).pop().expect("code sent");
        let v = self
            .post(
                sign_on,
                "/accessuser/signinbysms",
                &[
                    ("nation_code", "86"),
                    ("phone", phone),
                    ("check_code", &code),
                    ("device", device),
                    ("device_id", device),
                ],
                None,
            )
            .await;
        assert_eq!(v["code"], 0, "{v}");
        (
            v["data"]["user_id"].as_i64().unwrap(),
            v["data"]["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Polls `check` on process `p` until it holds; how long that took.
    async fn until(
        &self,
        p: usize,
        what: &str,
        check: impl Fn(&Value) -> bool,
        probe: impl Fn(usize) -> futures_util::future::BoxFuture<'static, Value>,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let v = probe(p).await;
            if check(&v) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "process {p}: {what} never happened: {v}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A probe that uses `token` on process `p`: `getimtoken` is cheap and answers 401 once
/// the session is gone.
fn auth(
    c: std::sync::Arc<Cluster>,
    token: String,
) -> impl Fn(usize) -> futures_util::future::BoxFuture<'static, Value> {
    move |p| {
        let (c, token) = (c.clone(), token.clone());
        Box::pin(async move { c.post(p, "/accessuser/getimtoken", &[], Some(&token)).await })
    }
}

/// Waits until each of `processes` refuses `token` after `what`, within the staleness
/// bound README states.
async fn refused_within_bound(
    c: &std::sync::Arc<Cluster>,
    processes: &[usize],
    what: &str,
    token: &str,
) {
    for &p in processes {
        let took = c
            .until(
                p,
                what,
                |v| v["code"] == 401,
                auth(c.clone(), token.to_owned()),
            )
            .await;
        eprintln!("{what}: process {p} refused the token after {took:?}");
        assert!(
            took <= BOUND,
            "process {p} accepted the token for {took:?} after {what}"
        );
    }
}

async fn cluster(n: usize) -> Option<Cluster> {
    cluster_on(n, &format!("im.test.cluster.{}", rand::random::<u32>())).await
}

async fn cluster_on(n: usize, exchange: &str) -> Option<Cluster> {
    common::uses_servers().await;
    if !broker_up().await {
        skip_or_fail("RabbitMQ");
        return None;
    }
    let Some(db) = fresh_database(Backend::Postgres).await else {
        skip_or_fail("PostgreSQL");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = url::Url::parse(&db)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let procs: Vec<Proc> = (0..n)
        .map(|i| start(dir.path(), &db, exchange, i))
        .collect();
    let client = reqwest::Client::new();
    let c = Cluster {
        procs,
        client,
        dir,
        db: name,
        db_url: db.clone(),
    };
    // Ready: database reachable and the broker connected on every process.
    let deadline = Instant::now() + Duration::from_secs(60);
    for p in &c.procs {
        loop {
            let ready = async {
                let v: Value = c
                    .client
                    .get(format!("{}/readyz", p.base))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                (v["code"] == 0 && v["data"]["broker"] == "up").then_some(())
            };
            if ready.await.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "process did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Some(c)
}

#[actix_web::test]
async fn three_processes_behave_as_one_server() {
    let Some(c) = cluster(3).await else { return };
    let c = std::sync::Arc::new(c);

    // A code sent through one process signs in through another.
    let phone = new_phone();
    let (me, token) = c.sign_in(0, 1, &phone, "android").await;

    // SMS limits hold across processes: the cooldown started on 0 refuses on 2.
    let other_phone = new_phone();
    assert_eq!(
        c.post(
            0,
            "/sms/send",
            &[("nation_code", "86"), ("phone", &other_phone)],
            None
        )
        .await["code"],
        0
    );
    let v = c
        .post(
            2,
            "/sms/send",
            &[("nation_code", "86"), ("phone", &other_phone)],
            None,
        )
        .await;
    assert_eq!(v["code"], 429, "{v}");

    // A relation change on one process shows in every process's lists within the bound.
    let (friend, friend_token) = c.sign_in(2, 2, &new_phone(), "ios").await;
    let list = |c: std::sync::Arc<Cluster>, token: String| {
        move |p: usize| -> futures_util::future::BoxFuture<'static, Value> {
            let (c, token) = (c.clone(), token.clone());
            Box::pin(async move {
                c.post(
                    p,
                    "/relation/followlist",
                    &[("type", "follow")],
                    Some(&token),
                )
                .await
            })
        }
    };
    for p in 0..3 {
        let v = list(c.clone(), token.clone())(p).await; // warm every process's cache
        assert_eq!(v["data"]["page_info"]["totalCount"], 0);
    }
    assert_eq!(
        c.post(
            0,
            "/relation/operation",
            &[("to_user_id", &friend.to_string()), ("type", "follow")],
            Some(&token)
        )
        .await["code"],
        0
    );
    for p in 1..3 {
        let took = c
            .until(
                p,
                "the follow",
                |v| v["data"]["list"][0]["user_id"] == friend,
                list(c.clone(), token.clone()),
            )
            .await;
        eprintln!("follow on process 0 seen by process {p} after {took:?}");
        assert!(
            took <= BOUND,
            "process {p} served a stale list for {took:?}"
        );
    }

    // A profile change on one process shows in the other processes' warm pages.
    for p in 0..3 {
        let v = list(c.clone(), token.clone())(p).await; // the page with `friend`, kept
        assert_eq!(v["data"]["list"][0]["user_id"], friend);
    }
    assert_eq!(
        c.post(
            1,
            "/accessuser/updateuserinfo",
            &[("nickname", "renamed")],
            Some(&friend_token)
        )
        .await["code"],
        0
    );
    for p in [0, 2] {
        let took = c
            .until(
                p,
                "the rename",
                |v| v["data"]["list"][0]["nickname"] == "renamed",
                list(c.clone(), token.clone()),
            )
            .await;
        eprintln!("rename on process 1 seen by process {p} after {took:?}");
        assert!(
            took <= BOUND,
            "process {p} showed a stale profile for {took:?}"
        );
    }

    // A token revoked on one process is refused by every other within the bound:
    // logout on 1, and a newer android sign-in on 2.
    for p in 0..3 {
        assert_eq!(auth(c.clone(), friend_token.clone())(p).await["code"], 0); // cached everywhere
    }
    assert_eq!(
        c.post(1, "/accessuser/logout", &[], Some(&friend_token))
            .await["code"],
        0
    );
    refused_within_bound(&c, &[0, 2], "logout", &friend_token).await;
    for p in 0..3 {
        assert_eq!(auth(c.clone(), token.clone())(p).await["code"], 0);
    }
    let (again, _newer) = c.sign_in(2, 2, &phone, "android").await;
    assert_eq!(again, me);
    refused_within_bound(&c, &[0, 1], "replacement", &token).await;
}

#[actix_web::test]
async fn concurrent_operations_on_one_pair_through_different_processes_serialize() {
    let Some(c) = cluster(3).await else { return };
    let (a, ta) = c.sign_in(0, 0, &new_phone(), "web").await;
    let (b, tb) = c.sign_in(1, 1, &new_phone(), "web").await;
    for round in 0..5 {
        let ops = [
            (0, &ta, b, "follow"),
            (1, &tb, a, "follow"),
            (2, &ta, b, "block"),
            (0, &tb, a, "block"),
            (1, &ta, b, "unblock"),
            (2, &tb, a, "follow"),
            (0, &ta, b, "follow"),
        ];
        let results = futures_util::future::join_all(ops.iter().map(|(p, t, to, op)| {
            let c = &c;
            async move {
                let to = to.to_string();
                c.post(
                    *p,
                    "/relation/operation",
                    &[("to_user_id", &to), ("type", op)],
                    Some(t),
                )
                .await
            }
        }))
        .await;
        for r in &results {
            assert!(r["code"] == 0 || r["code"] == 403, "{r}");
        }
        // Read the truth from one process after the others' changes have propagated.
        tokio::time::sleep(BOUND).await;
        let ids = |v: Value| -> Vec<i64> {
            v["data"]["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["user_id"].as_i64().unwrap())
                .collect()
        };
        let a_follows = ids(c
            .post(2, "/relation/followlist", &[("type", "follow")], Some(&ta))
            .await)
        .contains(&b);
        let b_follows = ids(c
            .post(1, "/relation/followlist", &[("type", "follow")], Some(&tb))
            .await)
        .contains(&a);
        let a_blocks = ids(c
            .post(0, "/relation/followlist", &[("type", "black")], Some(&ta))
            .await)
        .contains(&b);
        let b_blocks = ids(c
            .post(2, "/relation/followlist", &[("type", "black")], Some(&tb))
            .await)
        .contains(&a);
        assert!(!(a_follows && (b_blocks || a_blocks)), "round {round}");
        assert!(!(b_follows && (a_blocks || b_blocks)), "round {round}");
    }
}

/// One pair's relation state, to predict the events a sequence of operations emits
/// (the rules of API.md).
#[derive(Default)]
struct PairState {
    /// follows[i]: member i follows the other; blocks likewise.
    follows: [bool; 2],
    blocks: [bool; 2],
}

impl PairState {
    /// The answer code and the events (type, from member, to member) of `op` by `i`.
    fn apply(&mut self, i: usize, op: &str) -> (u64, Vec<(&'static str, usize, usize)>) {
        let j = 1 - i;
        let mut ev = Vec::new();
        match op {
            "follow" => {
                if self.blocks[j] {
                    return (403, ev);
                }
                if std::mem::take(&mut self.blocks[i]) {
                    ev.push(("relation.unblocked", i, j));
                }
                if !std::mem::replace(&mut self.follows[i], true) {
                    ev.push(("relation.followed", i, j));
                }
            }
            "unfollow" => {
                if std::mem::take(&mut self.follows[i]) {
                    ev.push(("relation.unfollowed", i, j));
                }
            }
            "block" => {
                if std::mem::take(&mut self.follows[i]) {
                    ev.push(("relation.unfollowed", i, j));
                }
                if std::mem::take(&mut self.follows[j]) {
                    ev.push(("relation.unfollowed", j, i));
                }
                if !std::mem::replace(&mut self.blocks[i], true) {
                    ev.push(("relation.blocked", i, j));
                }
            }
            _ => {
                if std::mem::take(&mut self.blocks[i]) {
                    ev.push(("relation.unblocked", i, j));
                }
            }
        }
        (0, ev)
    }
}

/// The process id in the relay lease's holder (`host/pid/nonce`).
async fn relay_holder_pid(db: &sea_orm::DatabaseConnection) -> u32 {
    use sea_orm::EntityTrait;
    let holder = entity::relay_state::Entity::find_by_id("outbox".to_owned())
        .one(db)
        .await
        .unwrap()
        .expect("the lease row")
        .holder;
    holder.split('/').nth(1).unwrap().parse().unwrap()
}

#[actix_web::test]
async fn two_processes_publish_one_gap_free_stream_and_a_survivor_takes_over() {
    let exchange = format!("im.test.relay2.{}", rand::random::<u32>());
    let queue = format!("im.test.relay2.{}", rand::random::<u32>());
    let Some(mut tap) = common::EventTap::bind(&exchange, Some(&queue)).await else {
        skip_or_fail("RabbitMQ");
        return;
    };
    let Some(c) = cluster_on(2, &exchange).await else {
        return;
    };
    let c = std::sync::Arc::new(c);

    const PAIRS: usize = 4;
    const OPS: usize = 14;
    let mut users = Vec::new();
    for k in 0..PAIRS * 2 {
        users.push(c.sign_in(k % 2, k % 2, &new_phone(), "web").await);
    }
    let users = std::sync::Arc::new(users);
    let ops = [
        "follow", "block", "unfollow", "follow", "unblock", "block", "follow",
    ];

    // Operations on each pair run in order (one client per pair), the pairs at once.
    let run = |phase: usize, procs: Vec<usize>| {
        let c = c.clone();
        let users = users.clone();
        async move {
            let tasks = (0..PAIRS).map(|p| {
                let (c, users, procs) = (c.clone(), users.clone(), procs.clone());
                async move {
                    let mut done = Vec::new();
                    for k in 0..OPS {
                        let i = (k * 7 + p + phase) % 3 % 2;
                        let op = ops[(k + p * 3 + phase) % ops.len()];
                        let (me, other) = (&users[2 * p + i], &users[2 * p + 1 - i]);
                        let proc_ = procs[k % procs.len()];
                        let v = c
                            .post(
                                proc_,
                                "/relation/operation",
                                &[("to_user_id", &other.0.to_string()), ("type", op)],
                                Some(&me.1),
                            )
                            .await;
                        done.push((i, op, v["code"].as_u64().unwrap_or(999)));
                    }
                    done
                }
            });
            futures_util::future::join_all(tasks).await
        }
    };
    let mut history: Vec<Vec<(usize, &str, u64)>> = run(0, vec![0, 1]).await;

    // Kill the relaying process (SIGKILL: no goodbye, its lease must run out).
    let db = sea_orm::Database::connect(&c.db_url).await.unwrap();
    let pid = relay_holder_pid(&db).await;
    let leader = c
        .procs
        .iter()
        .position(|p| p.child.id() == pid)
        .expect("the lease holder is one of ours");
    let survivor = 1 - leader;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let phase2 = run(1, vec![survivor]).await;
    for (h, more) in history.iter_mut().zip(phase2) {
        h.extend(more);
    }

    // Predict each pair's events from its operations, checking every answer.
    let mut expected: Vec<Vec<(String, i64, i64)>> = Vec::new();
    for (p, h) in history.iter().enumerate() {
        let mut st = PairState::default();
        let mut evs = Vec::new();
        for (i, op, code) in h {
            let (want, e) = st.apply(*i, op);
            assert_eq!(*code, want, "pair {p}: {op} by member {i}");
            for (t, f, to) in e {
                evs.push((t.to_owned(), users[2 * p + f].0, users[2 * p + to].0));
            }
        }
        expected.push(evs);
    }

    // Everything in the outbox arrives; seq is one gap-free stream.
    let rows = common::outbox_rows(&db).await;
    let got = tap.collect(rows.len(), Duration::from_secs(60)).await;
    let mut seq_of: std::collections::HashMap<String, i64> = Default::default();
    for m in &got {
        let id = m.body["id"].as_str().unwrap().to_owned();
        let seq = m.body["seq"].as_i64().unwrap();
        if let Some(prev) = seq_of.insert(id, seq) {
            assert_eq!(
                prev, seq,
                "a duplicate (after the takeover) carries the same seq"
            );
        }
    }
    assert_eq!(
        seq_of.len(),
        rows.len(),
        "every event arrives at least once"
    );
    let mut seqs: Vec<i64> = seq_of.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=rows.len() as i64).collect::<Vec<_>>(),
        "gap-free"
    );
    // In seq order, each pair's events are the ones its operations made, in their order.
    let mut by_seq: Vec<&common::Received> = got.iter().collect();
    by_seq.sort_by_key(|m| m.body["seq"].as_i64());
    by_seq.dedup_by_key(|m| m.body["seq"].as_i64());
    for (p, want) in expected.iter().enumerate() {
        let pair = [users[2 * p].0, users[2 * p + 1].0];
        let seen: Vec<(String, i64, i64)> = by_seq
            .iter()
            .filter(|m| m.body["type"].as_str().unwrap().starts_with("relation."))
            .map(|m| {
                (
                    m.body["type"].as_str().unwrap().to_owned(),
                    m.body["data"]["from_user_id"].as_i64().unwrap(),
                    m.body["data"]["to_user_id"].as_i64().unwrap(),
                )
            })
            .filter(|(_, f, t)| pair.contains(f) && pair.contains(t))
            .collect();
        assert_eq!(&seen, want, "pair {p} in commit order");
    }
    // The survivor relays now.
    assert_eq!(relay_holder_pid(&db).await, c.procs[survivor].child.id());
    tap.delete_queue().await;
}

#[actix_web::test]
async fn a_ban_on_one_process_holds_on_every_process() {
    let Some(c) = cluster(3).await else { return };
    let c = std::sync::Arc::new(c);
    let phone = new_phone();
    let (me, token) = c.sign_in(0, 0, &phone, "android").await;
    for p in 0..3 {
        assert_eq!(auth(c.clone(), token.clone())(p).await["code"], 0); // cached everywhere
    }
    // A code sent before the ban, for the sign-in attempts below.
    tokio::time::sleep(Duration::from_secs(2)).await; // the cooldown of the sign-in's code
    let v = c
        .post(
            2,
            "/sms/send",
            &[("nation_code", "86"), ("phone", &phone)],
            None,
        )
        .await;
    assert_eq!(v["code"], 0, "{v}");
    let code = c.codes(&phone).pop().unwrap();
    let sent = c.codes(&phone).len();

    let v = c
        .admin(
            0,
            "POST",
            "/admin/users/ban",
            serde_json::json!({"user_id": me, "reason": "spam"}),
        )
        .await;
    assert_eq!(v["code"], 0, "{v}");
    refused_within_bound(&c, &[1, 2], "the ban", &token).await;
    for p in [1, 2] {
        let v = c
            .post(
                p,
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
        assert_eq!(v["code"], 403, "process {p}: {v}");
        let lookup = c
            .admin(
                p,
                "GET",
                &format!("/admin/users/lookup?user_id={me}"),
                Value::Null,
            )
            .await;
        assert_eq!(lookup["data"]["state"], "banned", "process {p}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // the cooldown again
    let v = c
        .post(
            1,
            "/sms/send",
            &[("nation_code", "86"), ("phone", &phone)],
            None,
        )
        .await;
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(
        c.codes(&phone).len(),
        sent,
        "a code went to a banned number"
    );

    // Unbanned on another process: signing in works again anywhere.
    let v = c
        .admin(
            2,
            "POST",
            "/admin/users/unban",
            serde_json::json!({ "user_id": me }),
        )
        .await;
    assert_eq!(v["code"], 0, "{v}");
    let (again, _) = c.sign_in(1, 0, &phone, "android").await;
    assert_eq!(again, me);
}

#[actix_web::test]
async fn bans_end_by_themselves_once_with_three_processes_sweeping() {
    let Some(c) = cluster(3).await else { return };
    // Enough users that lifting their bans takes a while, so the processes' sweeps
    // (each on its own one-second tick) run into each other.
    const USERS: usize = 120;
    let c = &c;
    let users: Vec<i64> = futures_util::future::join_all(
        (0..USERS).map(|k| async move { c.sign_in(k % 3, k % 3, &new_phone(), "web").await.0 }),
    )
    .await;
    // All end at the same instant, so every process's sweep finds them together.
    let until = chrono::Utc::now().timestamp() + 5;
    let bans = futures_util::future::join_all(users.iter().enumerate().map(|(k, u)| {
        c.admin(
            k % 3,
            "POST",
            "/admin/users/ban",
            serde_json::json!({"user_id": u, "reason": "cool off", "until": until}),
        )
    }))
    .await;
    for v in bans {
        assert_eq!(v["code"], 0, "{v}");
    }
    let db = sea_orm::Database::connect(&c.db_url).await.unwrap();
    let unbanned = |rows: &[(String, String, Value, Option<i64>, bool)], u: i64| {
        rows.iter()
            .filter(|r| r.1 == "user.unbanned" && r.2["user_id"] == u)
            .count()
    };
    let started = Instant::now();
    loop {
        let rows = common::outbox_rows(&db).await;
        if users.iter().all(|u| unbanned(&rows, *u) > 0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "bans did not end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more sweeps of every process.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = common::outbox_rows(&db).await;
    for u in &users {
        assert_eq!(unbanned(&rows, *u), 1, "user {u}");
    }
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let audit = entity::admin_audit::Entity::find()
        .filter(entity::admin_audit::Column::KeyName.eq("(system)"))
        .all(&db)
        .await
        .unwrap();
    let mut audited: Vec<i64> = audit.iter().filter_map(|a| a.user_id).collect();
    audited.sort_unstable();
    let mut want = users.clone();
    want.sort_unstable();
    assert_eq!(audited, want, "one audit row per ended ban");
    for (p, u) in users.iter().take(3).enumerate() {
        let v = c
            .admin(
                p,
                "GET",
                &format!("/admin/users/lookup?user_id={u}"),
                Value::Null,
            )
            .await;
        assert_eq!(v["data"]["state"], "active");
    }
}

/// An account deleted through one process is gone from every other within the bound:
/// its token, its place in other users' lists, its profile, its id.
#[actix_web::test]
async fn an_account_deleted_on_one_process_is_gone_on_every_other() {
    let Some(c) = cluster(3).await else { return };
    let c = std::sync::Arc::new(c);
    let phone = new_phone();
    let (gone, gone_token) = c.sign_in(0, 0, &phone, "android").await;
    let (friend, friend_token) = c.sign_in(1, 1, &new_phone(), "ios").await;
    for (token, to) in [(&gone_token, friend), (&friend_token, gone)] {
        let v = c
            .post(
                2,
                "/relation/operation",
                &[("to_user_id", &to.to_string()), ("type", "follow")],
                Some(token),
            )
            .await;
        assert_eq!(v["code"], 0, "{v}");
    }
    type Probe = Box<dyn Fn(usize) -> futures_util::future::BoxFuture<'static, Value>>;
    type Check = (&'static str, Probe, fn(&Value) -> bool);
    let probe = |path: &'static str, form: Vec<(&'static str, String)>, token: &str| -> Probe {
        let (c, token) = (c.clone(), token.to_owned());
        Box::new(move |p| {
            let (c, token, form) = (c.clone(), token.clone(), form.clone());
            Box::pin(async move {
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                c.post(p, path, &form, Some(&token)).await
            })
        })
    };
    let by_id = vec![("unique_names", gone.to_string())];
    let checks: Vec<Check> = vec![
        (
            "the deleted user's token",
            probe("/accessuser/getimtoken", vec![], &gone_token),
            |v| v["code"] == 401,
        ),
        (
            "the friend's follow list",
            probe(
                "/relation/followlist",
                vec![("type", "follow".into())],
                &friend_token,
            ),
            |v| v["code"] == 0 && v["data"]["page_info"]["totalCount"] == 0,
        ),
        (
            "the friend's fans",
            probe(
                "/relation/followlist",
                vec![("type", "fans".into())],
                &friend_token,
            ),
            |v| v["code"] == 0 && v["data"]["page_info"]["totalCount"] == 0,
        ),
        (
            "the profile by id",
            probe("/accessuser/searchbyuniquename", by_id, &friend_token),
            |v| v["code"] == 0 && v["data"]["list"] == serde_json::json!([]),
        ),
    ];
    // Warm: every process has the token, the lists and the profile cached.
    for p in 0..3 {
        for (what, probe, gone_yet) in &checks {
            let v = probe(p).await;
            assert_eq!(v["code"], 0, "{what} on {p}: {v}");
            assert!(!gone_yet(&v), "{what} on {p} before the deletion: {v}");
        }
    }
    // Delete through process 0 (a code to its own number, through process 0 too).
    let started = Instant::now();
    let code = loop {
        let v = c
            .post(
                0,
                "/sms/send",
                &[("nation_code", "86"), ("phone", &phone)],
                None,
            )
            .await;
        if v["code"] == 429 && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        assert_eq!(v["code"], 0, "{v}");
        break c.codes(&phone).pop().unwrap();
    };
    let v = c
        .post(
            0,
            "/accessuser/deleteaccount",
            &[("check_code", &code)],
            Some(&gone_token),
        )
        .await;
    assert_eq!(v["code"], 0, "{v}");
    for p in [1, 2] {
        for (what, probe, gone_yet) in &checks {
            let took = c.until(p, what, gone_yet, probe).await;
            eprintln!("deletion on process 0: {what} on process {p} after {took:?}");
            assert!(took <= BOUND, "process {p} served {what} for {took:?}");
        }
        let v = c
            .post(
                p,
                "/relation/operation",
                &[("to_user_id", &gone.to_string()), ("type", "follow")],
                Some(&friend_token),
            )
            .await;
        assert_eq!(v["code"], 1, "an unknown user: {v}");
    }
}

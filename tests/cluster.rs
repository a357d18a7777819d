//! Several server processes on one PostgreSQL database and one RabbitMQ behave as one
//! server: codes, limits, revocations and relation changes hold across them, and a
//! change made on one process is served by every other within one second.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{fresh_database, new_phone, skip_or_fail, Backend};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_im-access");
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn amqp_url() -> String {
    std::env::var("IM_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
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
        let v = self
            .post(
                send_on,
                "/sms/send",
                &[("nation_code", "86"), ("phone", phone)],
                None,
            )
            .await;
        assert_eq!(v["code"], 0, "{v}");
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

async fn cluster(n: usize) -> Option<Cluster> {
    if !broker_up().await {
        skip_or_fail("RabbitMQ");
        return None;
    }
    let Some(db) = fresh_database(Backend::Postgres).await else {
        skip_or_fail("PostgreSQL");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let exchange = format!("im.test.cluster.{}", rand::random::<u32>());
    let name = url::Url::parse(&db)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let procs: Vec<Proc> = (0..n)
        .map(|i| start(dir.path(), &db, &exchange, i))
        .collect();
    let client = reqwest::Client::new();
    let c = Cluster {
        procs,
        client,
        dir,
        db: name,
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

    // A token revoked on one process is refused by every other within the bound:
    // logout on 1, and a newer android sign-in on 2.
    let auth = |c: std::sync::Arc<Cluster>, token: String| {
        move |p: usize| -> futures_util::future::BoxFuture<'static, Value> {
            let (c, token) = (c.clone(), token.clone());
            Box::pin(async move { c.post(p, "/accessuser/getimtoken", &[], Some(&token)).await })
        }
    };
    for p in 0..3 {
        assert_eq!(auth(c.clone(), friend_token.clone())(p).await["code"], 0); // cached everywhere
    }
    assert_eq!(
        c.post(1, "/accessuser/logout", &[], Some(&friend_token))
            .await["code"],
        0
    );
    for p in [0, 2] {
        let took = c
            .until(
                p,
                "logout",
                |v| v["code"] == 401,
                auth(c.clone(), friend_token.clone()),
            )
            .await;
        eprintln!("logout on process 1 refused by process {p} after {took:?}");
        assert!(
            took <= BOUND,
            "process {p} accepted a revoked token for {took:?}"
        );
    }
    for p in 0..3 {
        assert_eq!(auth(c.clone(), token.clone())(p).await["code"], 0);
    }
    let (again, _newer) = c.sign_in(2, 2, &phone, "android").await;
    assert_eq!(again, me);
    for p in [0, 1] {
        let took = c
            .until(
                p,
                "replacement",
                |v| v["code"] == 401,
                auth(c.clone(), token.clone()),
            )
            .await;
        eprintln!("sign-in on process 2 revoked the old token on process {p} after {took:?}");
        assert!(took <= BOUND);
    }
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

//! Hardening, second round (SECURITY.md): test numbers, SMS pumping, token floods.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::common::{free_port, metric_sum, new_phone};

const BIN: &str = env!("CARGO_BIN_EXE_im-access");

/// The server as its own process, for a test that reads its `/metrics` (in the test
/// process every app shares one metrics registry).
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("IM_") {
                c.env_remove(k);
            }
        }
        c.current_dir(dir.path())
            .env("IM_CONFIG_DIR", dir.path().join("no-config"))
            .env("IM_ENV_FILE", dir.path().join("no.env"))
            .env("IM__APP__DATA_DIR", dir.path().join("data"))
            .env("IM__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("IM__SMS__PROVIDER", "file")
            .env("IM__SMS__FILE_PATH", dir.path().join("sms.jsonl"))
            .env("IM__SMS__COOLDOWN_SECS", "0")
            .env("IM__LOG__LEVEL", "warn");
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            client: reqwest::Client::new(),
        };
        let started = Instant::now();
        while server
            .client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server never came up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], token: Option<&str>) -> Value {
        let mut req = self.client.post(format!("{}{path}", self.base)).form(form);
        if let Some(t) = token {
            req = req.header("token", t);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    async fn sign_in(&self) -> String {
        let phone = new_phone();
        let v = self
            .post(
                "/sms/send",
                &[("nation_code", "86"), ("phone", &phone)],
                None,
            )
            .await;
        assert_eq!(v["code"], 0, "{v}");
        let sent = std::fs::read_to_string(self.dir.path().join("sms.jsonl")).unwrap();
        let code = sent
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["phone"] == phone)
            .filter_map(|v| v["code"].as_str().map(str::to_owned))
            .next_back()
            .unwrap();
        let v = self
            .post(
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
        v["data"]["token"].as_str().unwrap().to_owned()
    }

    /// (hits, misses) of the session cache.
    async fn session_cache(&self) -> (f64, f64) {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |result: &str| {
            metric_sum(
                &text,
                "im_cache_requests_total",
                &["cache=\"sessions\"", &format!("result=\"{result}\"")],
            )
        };
        (count("hit"), count("miss"))
    }

    async fn renew(&self, token: &str) -> u64 {
        let v = self.post("/accessuser/getimtoken", &[], Some(token)).await;
        v["code"].as_u64().unwrap()
    }
}

/// Random tokens, each tried a few times (so a frequency-based cache would rate them
/// above the live sessions), must not push live sessions out of the session cache.
#[actix_web::test]
async fn a_flood_of_unknown_tokens_does_not_push_live_sessions_out() {
    let server = Server::start(&[("IM__CACHE__SESSIONS", "64")]).await;
    let mut tokens = Vec::new();
    for _ in 0..16 {
        tokens.push(server.sign_in().await);
    }
    for t in &tokens {
        assert_eq!(server.renew(t).await, 0);
    }
    let flood: Vec<String> = (0..600)
        .map(|_| hex::encode(rand::random::<[u8; 16]>()))
        .collect();
    let answers: Vec<u64> = futures_util::stream::iter(flood.iter().cycle().take(1800))
        .map(|t| server.renew(t))
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(answers.iter().all(|c| *c == 401));
    let (hits, misses) = server.session_cache().await;
    for t in &tokens {
        for _ in 0..3 {
            assert_eq!(server.renew(t).await, 0);
        }
    }
    let (hits_after, misses_after) = server.session_cache().await;
    assert_eq!(
        misses_after - misses,
        0.0,
        "every live session's lookup after the flood is a cache hit"
    );
    assert_eq!(hits_after - hits, (tokens.len() * 3) as f64);
}

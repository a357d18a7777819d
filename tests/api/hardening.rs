//! Hardening, second round (SECURITY.md): test numbers, SMS pumping, token floods.

use crate::common::SendForEnvelope;
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
        req.envelope().await
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

/// Lookups and contact matching are limited per client address too (an IPv6 client by
/// its /64): accounts spread over one network share one budget.
#[actix_web::test]
async fn lookups_from_one_network_share_one_budget_whoever_makes_them() {
    let Some(app) = crate::common::spawn_app_with(|s| {
        s.limits.lookups_per_address_hourly = 3;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let users = [
        app.new_user().await,
        app.new_user().await,
        app.new_user().await,
    ];
    let lookup = |who: usize, from: String| {
        let (app, token, other) = (&app, users[who].token.clone(), users[(who + 1) % 3].user_id);
        async move {
            let v: Value = app
                .client
                .get(app.url(&format!(
                    "/accessuser/searchbyuniquename?unique_names[]={other}"
                )))
                .header("token", token)
                .header("x-forwarded-for", from)
                .envelope()
                .await;
            v["code"].as_u64().unwrap()
        }
    };
    let contacts = |who: usize, from: String| {
        let (app, token) = (&app, users[who].token.clone());
        async move {
            let v: Value = app
                .client
                .post(app.url("/relation/contactlist"))
                .header("token", token)
                .header("x-forwarded-for", from)
                .json(&serde_json::json!({"phones": ["16533333333"]}))
                .envelope()
                .await;
            v["code"].as_u64().unwrap()
        }
    };
    let v6 = |net: &str, host: u32| format!("2001:db8:{net}::{host:x}");
    // Three users from three addresses of one /64: three lookups in all.
    assert_eq!(lookup(0, v6("5:5", 1)).await, 0);
    assert_eq!(lookup(1, v6("5:5", 2)).await, 0);
    assert_eq!(contacts(2, v6("5:5", 3)).await, 0);
    for (who, host) in [(0, 4), (1, 5), (2, 6)] {
        assert_eq!(lookup(who, v6("5:5", host)).await, 429, "user {who}");
        assert_eq!(contacts(who, v6("5:5", host)).await, 429, "user {who}");
    }
    // Another network, and an IPv4 address, have their own.
    assert_eq!(lookup(0, v6("5:6", 1)).await, 0);
    assert_eq!(contacts(1, "198.51.100.9".into()).await, 0);
}

async fn review_sign_in(app: &crate::common::TestApp, code: &str, from: &str) -> Value {
    app.client
        .post(app.url("/accessuser/signinbysms"))
        .header("x-forwarded-for", from)
        .form(&[
            ("nation_code", "86"),
            ("phone", "10000000000"),
            ("check_code", code),
            ("device", "web"),
        ])
        .envelope()
        .await
}

/// A review number's fixed code burns like any code: five wrong tries and even the right
/// code gets 429 until the code's lifetime has passed; and wrong tries are capped per
/// day whatever address they come from.
#[actix_web::test]
async fn wrong_codes_for_a_test_number_count_like_any_codes() {
    let Some(app) = crate::common::spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.sms.code_ttl_secs = 2;
        s.sms.test_number_daily_wrong_tries = 7;
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
    // Each try from its own address: the per-address budget is not what stops them.
    let from = |i: u32| format!("198.51.100.{i}");
    for i in 0..5 {
        let v = review_sign_in(&app, "111111", &from(i)).await;
        crate::common::assert_envelope(&v, 1);
    }
    let v = review_sign_in(&app, "246810", &from(9)).await;
    crate::common::assert_envelope(&v, 429);
    // The window (the code's lifetime) passes; the right code works again.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let v = review_sign_in(&app, "246810", &from(10)).await;
    crate::common::assert_envelope(&v, 0);
    // Two more wrong tries reach the daily cap of seven: then nothing gets in today.
    for i in 11..13 {
        crate::common::assert_envelope(&review_sign_in(&app, "111111", &from(i)).await, 1);
    }
    let res = app
        .client
        .post(app.url("/accessuser/signinbysms"))
        .header("x-forwarded-for", from(20))
        .form(&[
            ("nation_code", "86"),
            ("phone", "10000000000"),
            ("check_code", "246810"),
            ("device", "web"),
        ])
        .send()
        .await
        .unwrap();
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry > 3_600,
        "the day's cap, not the code's window: {retry} s"
    );
    crate::common::assert_envelope(&res.json::<Value>().await.unwrap(), 429);
}

async fn send(app: &crate::common::TestApp, cc: &str, phone: &str) -> Value {
    app.post_form("/sms/send", &[("nation_code", cc), ("phone", phone)], None)
        .await
}

/// SMS pumping: satellite and international-network numbers get no codes by default,
/// and each foreign country has a daily budget, which says so in the metrics when it
/// trips.
#[actix_web::test]
async fn satellite_numbers_get_no_codes_and_foreign_countries_have_a_budget() {
    let Some(app) = crate::common::spawn_app_with(|s| {
        s.sms.foreign_country_daily = 2;
        s.sms.per_ip_hourly = 100;
    })
    .await
    else {
        return;
    };
    for (cc, phone) in [("881", "612345678"), ("870", "773111632")] {
        let v = send(&app, cc, phone).await;
        crate::common::assert_envelope(&v, 1);
        assert_eq!(v["message"], "暂不支持该国家或地区的号码", "+{cc} {phone}");
        assert!(app.codes_sent(phone).is_empty());
    }
    // The United Kingdom is not home: two sends a day, to any of its numbers.
    let before = metric_sum(
        &app.metrics().await,
        "im_sms_country_budget_exhausted_total",
        &["nation_code=\"44\""],
    );
    for phone in ["7400123451", "7400123452"] {
        crate::common::assert_envelope(&send(&app, "44", phone).await, 0);
    }
    let v = send(&app, "44", "7400123453").await;
    crate::common::assert_envelope(&v, 429);
    assert!(app.codes_sent("7400123453").is_empty());
    let after = metric_sum(
        &app.metrics().await,
        "im_sms_country_budget_exhausted_total",
        &["nation_code=\"44\""],
    );
    assert_eq!(after - before, 1.0);
    // Home numbers are not counted against it.
    for _ in 0..3 {
        crate::common::assert_envelope(&send(&app, "86", &new_phone()).await, 0);
    }
    // The deny list is configuration: emptied, a satellite number gets its code.
    let Some(open) = crate::common::spawn_app_with(|s| s.sms.denied_nation_codes = vec![]).await
    else {
        return;
    };
    crate::common::assert_envelope(&send(&open, "881", "612345678").await, 0);
    assert_eq!(open.codes_sent("612345678").len(), 1);
}

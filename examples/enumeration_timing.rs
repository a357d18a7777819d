//! Measures whether `sms/send` and a wrong-code `accessuser/signinbysms` take longer for
//! a registered number than for an unregistered one (an enumeration side channel).
//!
//! ```sh
//! cargo run --release --example enumeration_timing              # SQLite in a temp folder
//! TIMING_DB=postgres://postgres@127.0.0.1:5432/<db> TIMING_N=2000 cargo run --release --example enumeration_timing
//! ```
//!
//! Requests alternate between the two groups (so drift on a noisy machine hits both
//! alike); per route it prints the medians, the median difference with a bootstrap 95 %
//! interval, and a permutation test's p-value for "the medians differ".

use std::time::Instant;

use im_access::config::SmsProviderKind;
use im_access::{Application, Settings};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Bootstrap 95 % interval of median(a) - median(b), and a two-sided permutation p-value.
fn compare(a: &[f64], b: &[f64]) -> (f64, f64, f64, f64) {
    let diff = median(&mut a.to_vec()) - median(&mut b.to_vec());
    let mut rng = rand::rng();
    let mut boots = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut ra: Vec<f64> = (0..a.len())
            .map(|_| a[rand::Rng::random_range(&mut rng, 0..a.len())])
            .collect();
        let mut rb: Vec<f64> = (0..b.len())
            .map(|_| b[rand::Rng::random_range(&mut rng, 0..b.len())])
            .collect();
        boots.push(median(&mut ra) - median(&mut rb));
    }
    boots.sort_by(|x, y| x.total_cmp(y));
    let (lo, hi) = (boots[25], boots[975]);
    let mut pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let mut extreme = 0;
    for _ in 0..1000 {
        rand::seq::SliceRandom::shuffle(pooled.as_mut_slice(), &mut rng);
        let (pa, pb) = pooled.split_at(a.len());
        let d = median(&mut pa.to_vec()) - median(&mut pb.to_vec());
        if d.abs() >= diff.abs() {
            extreme += 1;
        }
    }
    (diff, lo, hi, extreme as f64 / 1000.0)
}

fn phone(i: usize, registered: bool) -> String {
    format!("13{}{:08}", if registered { 8 } else { 9 }, i)
}

#[actix_web::main]
async fn main() {
    let n: usize = std::env::var("TIMING_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::load_from(None, false).unwrap();
    s.app.data_dir = dir.path().to_path_buf();
    s.server.bind = "127.0.0.1:0".into();
    s.database.url = std::env::var("TIMING_DB")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("im.db").display()))
        .into();
    s.sms.provider = SmsProviderKind::File;
    s.sms.file_path = dir.path().join("sms.jsonl");
    s.storage.dir = dir.path().join("resource");
    s.jwt.secret = "timing-secret-timing-secret-timing".to_owned().into();
    s.log.level = "error".into();
    // Measure the work, not the limits.
    s.sms.cooldown_secs = 0;
    s.sms.per_number_daily = 1_000_000;
    s.sms.per_ip_hourly = 1_000_000;
    s.sms.verify_per_ip_hourly = 1_000_000;
    s.sms.global_daily_budget = 1_000_000_000;
    let app = Application::build(s.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        let req = client.post(format!("{base}{path}")).form(&form);
        async move {
            let t = Instant::now();
            let v: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            (t.elapsed().as_secs_f64() * 1e6, v)
        }
    };
    let codes = |p: &str| -> Option<String> {
        std::fs::read_to_string(&s.sms.file_path)
            .ok()?
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["phone"] == p)
            .and_then(|v| v["code"].as_str().map(str::to_owned))
    };
    // Register the first group.
    for i in 0..n {
        let p = phone(i, true);
        post(
            "/sms/send",
            vec![("nation_code", "86".into()), ("phone", p.clone())],
        )
        .await;
        let code = codes(&p).unwrap();
        let (_, v) = post(
            "/accessuser/signinbysms",
            vec![
                ("nation_code", "86".into()),
                ("phone", p),
                ("check_code", code),
                ("device", "web".into()),
            ],
        )
        .await;
        assert_eq!(v["code"], 0, "{v}");
    }
    let (mut send_r, mut send_u, mut wrong_r, mut wrong_u) = (vec![], vec![], vec![], vec![]);
    for round in 0..2 {
        for i in 0..n {
            for registered in [true, false] {
                let p = phone(i, registered);
                let (us, v) = post(
                    "/sms/send",
                    vec![("nation_code", "86".into()), ("phone", p.clone())],
                )
                .await;
                assert_eq!(v["code"], 0, "{v}");
                let (uw, w) = post(
                    "/accessuser/signinbysms",
                    vec![
                        ("nation_code", "86".into()),
                        ("phone", p),
                        ("check_code", "000000".into()),
                        ("device", "web".into()),
                    ],
                )
                .await;
                assert_eq!(w["code"], 1, "{w}");
                if round == 0 {
                    continue; // warm-up
                }
                if registered {
                    send_r.push(us);
                    wrong_r.push(uw);
                } else {
                    send_u.push(us);
                    wrong_u.push(uw);
                }
            }
        }
    }
    println!("| route | registered median µs | unregistered median µs | difference (95 % CI) µs | p (medians differ) |");
    println!("|---|---|---|---|---|");
    for (name, r, u) in [
        ("sms/send", &send_r, &send_u),
        ("signinbysms, wrong code", &wrong_r, &wrong_u),
    ] {
        let (d, lo, hi, p) = compare(r, u);
        println!(
            "| {name} | {:.0} | {:.0} | {d:+.1} ({lo:+.1} … {hi:+.1}) | {p:.2} |",
            median(&mut r.clone()),
            median(&mut u.clone())
        );
    }
    println!("n = {n} per group, alternating, after a warm-up round of the same size");
}

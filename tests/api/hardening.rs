//! Hardening, second round (SECURITY.md): test numbers, SMS pumping, token floods.

use futures_util::StreamExt;

use crate::common::{assert_envelope, metric_sum, spawn_app_with, SignedIn, TestApp};

async fn session_cache_counts(app: &TestApp) -> (f64, f64) {
    let text = app.metrics().await;
    let count = |result: &str| {
        metric_sum(
            &text,
            "im_cache_requests_total",
            &["cache=\"sessions\"", &format!("result=\"{result}\"")],
        )
    };
    (count("hit"), count("miss"))
}

async fn renew(app: &TestApp, token: &str) -> u64 {
    let v = app
        .post_form("/accessuser/getimtoken", &[], Some(token))
        .await;
    v["code"].as_u64().unwrap()
}

/// Random tokens, each tried a few times (so a frequency-based cache would rate them
/// above the live sessions), must not push live sessions out of the session cache.
#[actix_web::test]
async fn a_flood_of_unknown_tokens_does_not_push_live_sessions_out() {
    let Some(app) = spawn_app_with(|s| s.cache.sessions = 64).await else {
        return;
    };
    let mut users: Vec<SignedIn> = Vec::new();
    for _ in 0..16 {
        users.push(app.new_user().await);
    }
    for u in &users {
        assert_eq!(renew(&app, &u.token).await, 0);
    }
    let flood: Vec<String> = (0..600)
        .map(|_| hex::encode(rand::random::<[u8; 16]>()))
        .collect();
    let answers: Vec<u64> = futures_util::stream::iter(flood.iter().cycle().take(1800))
        .map(|t| renew(&app, t))
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(answers.iter().all(|c| *c == 401));
    let (hits, misses) = session_cache_counts(&app).await;
    for u in &users {
        for _ in 0..3 {
            assert_eq!(renew(&app, &u.token).await, 0);
        }
    }
    let (hits_after, misses_after) = session_cache_counts(&app).await;
    assert_eq!(
        misses_after - misses,
        0.0,
        "every live session's lookup after the flood is a cache hit"
    );
    assert_eq!(hits_after - hits, (users.len() * 3) as f64);
}

//! `--only internal`: the IM server's routes (issue 15). Figures, not targets:
//! - the snapshot of every follow, walked in pages of 5000, with the server's peak RSS
//!   (VmHWM) before and after: the walk must not hold the table;
//! - `relations/check` with 1000 others, cold (a user asked for the first time) and warm
//!   (asked again once its lists are cached), sequential, with the database
//!   transactions each costs: `pg_stat_database.xact_commit` of the bench database over
//!   the calls, less the idle rate over as long, read after PostgreSQL flushed its
//!   backends' counters (they flush when a backend has been idle ~10 s). Every
//!   statement the server sends outside a transaction is one transaction.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sea_orm::sqlx::{self, Connection, PgConnection};

use crate::http::{self, Conn};
use crate::procstat;
use crate::server::INTERNAL_KEY;

/// The counters of a backend reach pg_stat_database once it has been idle this long.
const FLUSH: Duration = Duration::from_secs(12);
const OTHERS: usize = 1000;

pub struct Figures {
    pub lines: Vec<String>,
}

async fn xacts(admin: &mut PgConnection, database: &str) -> Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(admin)
    .await?;
    Ok(n)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn check_request(addr: SocketAddr, user: i64, users: u64) -> Vec<u8> {
    let others: Vec<String> = (0..OTHERS)
        .map(|_| rand::random_range(1..=users as i64).to_string())
        .collect();
    let body = format!("{{\"user_id\":{user},\"others\":[{}]}}", others.join(","));
    format!(
        "POST /internal/relations/check HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {INTERNAL_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Times each request on one connection; returns the latencies (ms, sorted) and the
/// wall time.
async fn timed(addr: SocketAddr, reqs: &[Vec<u8>]) -> Result<(Vec<f64>, Duration)> {
    let mut conn = Conn::new(addr);
    let mut out = Vec::with_capacity(reqs.len());
    let started = Instant::now();
    for r in reqs {
        let t = Instant::now();
        conn.request(r).await?.ensure_ok()?;
        out.push(ms(t.elapsed()));
    }
    let wall = started.elapsed();
    out.sort_by(f64::total_cmp);
    Ok((out, wall))
}

pub async fn run(
    addr: SocketAddr,
    pid: u32,
    pg_base: &str,
    database: &str,
    users: u64,
    follows: u64,
) -> Result<Figures> {
    let mut lines = Vec::new();
    let mut say = |s: String| {
        eprintln!("bench: internal: {s}");
        lines.push(s);
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    say(format!("load average before: {}", load.trim()));

    // The snapshot of every follow, pages of 5000.
    let hwm_before = procstat::status_kb(pid, "VmHWM").unwrap_or(0);
    let rss_before = procstat::status_kb(pid, "VmRSS").unwrap_or(0);
    let mut conn = Conn::new(addr);
    let (mut pages, mut items, mut bytes) = (0u64, 0u64, 0u64);
    let mut after: Option<String> = None;
    let started = Instant::now();
    loop {
        let mut path = "/internal/snapshot?kind=follows&limit=5000".to_owned();
        if let Some(a) = &after {
            path.push_str("&after=");
            path.push_str(a);
        }
        let req = http::with_header(
            http::get(addr, &path),
            "Authorization",
            &format!("Bearer {INTERNAL_KEY}"),
        );
        let r = conn.request(&req).await?;
        r.ensure_ok()?;
        bytes += r.body.len() as u64;
        let v: serde_json::Value = serde_json::from_slice(r.body).context("snapshot page")?;
        items += v["data"]["items"].as_array().map_or(0, |a| a.len() as u64);
        pages += 1;
        match v["data"]["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    let walk = started.elapsed();
    let hwm_after = procstat::status_kb(pid, "VmHWM").unwrap_or(0);
    let rss_after = procstat::status_kb(pid, "VmRSS").unwrap_or(0);
    if items != follows {
        bail!("the snapshot gave {items} follows, {follows} were seeded");
    }
    say(format!(
        "snapshot of {items} follows: {pages} pages of 5000 in {:.1} s ({:.0} follows/s, {:.1} MB of JSON); \
         server VmHWM {hwm_before} → {hwm_after} kB (peak growth {:.1} MB), VmRSS {rss_before} → {rss_after} kB",
        walk.as_secs_f64(),
        items as f64 / walk.as_secs_f64(),
        bytes as f64 / 1e6,
        hwm_after.saturating_sub(hwm_before) as f64 / 1024.0
    ));

    // relations/check, 1000 others: cold, then warm, each between two counter reads.
    let mut admin = PgConnection::connect(&crate::pg::url(pg_base, "postgres")).await?;
    let samples = 100usize.min(users as usize / 2);
    let cold_users: Vec<i64> = (0..samples as i64).map(|i| users as i64 - i).collect();
    let cold_reqs: Vec<Vec<u8>> = cold_users
        .iter()
        .map(|&u| check_request(addr, u, users))
        .collect();

    tokio::time::sleep(FLUSH).await;
    let x0 = xacts(&mut admin, database).await?;
    tokio::time::sleep(FLUSH).await;
    let x1 = xacts(&mut admin, database).await?;
    let idle_rate = (x1 - x0) as f64 / FLUSH.as_secs_f64();

    let (cold, cold_wall) = timed(addr, &cold_reqs).await?;
    tokio::time::sleep(FLUSH).await;
    let x2 = xacts(&mut admin, database).await?;
    let cold_per =
        ((x2 - x1) as f64 - idle_rate * (cold_wall + FLUSH).as_secs_f64()) / samples as f64;
    say(format!(
        "relations/check, {OTHERS} others, cold ({samples} users, each asked once): p50 {:.2} ms, \
         p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {cold_per:.2} database transactions per call \
         (idle rate {idle_rate:.2}/s subtracted): one statement answers, and the user's four lists \
         are then loaded off the request's path (4 more)",
        pct(&cold, 0.5),
        pct(&cold, 0.9),
        pct(&cold, 0.99),
        pct(&cold, 1.0)
    ));

    // Warm: the same users (their lists now cached), same others as before, 3 times each.
    let warm_reqs: Vec<Vec<u8>> = (0..3).flat_map(|_| cold_reqs.iter().cloned()).collect();
    // One pass loads the others' profiles into the cache; not counted.
    timed(addr, &cold_reqs).await?;
    tokio::time::sleep(FLUSH).await;
    let x3 = xacts(&mut admin, database).await?;
    let (warm, warm_wall) = timed(addr, &warm_reqs).await?;
    tokio::time::sleep(FLUSH).await;
    let x4 = xacts(&mut admin, database).await?;
    let warm_per =
        ((x4 - x3) as f64 - idle_rate * (warm_wall + FLUSH).as_secs_f64()) / warm_reqs.len() as f64;
    say(format!(
        "relations/check, {OTHERS} others, warm ({} calls): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; {warm_per:.2} database transactions per call (the seq read)",
        warm_reqs.len(),
        pct(&warm, 0.5),
        pct(&warm, 0.9),
        pct(&warm, 0.99),
        pct(&warm, 1.0)
    ));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    say(format!("load average after: {}", load.trim()));
    Ok(Figures { lines })
}

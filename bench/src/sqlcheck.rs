//! Checks that the raw baseline runs the server's SQL: in a scratch database with
//! `log_statement = 'all'`, one script of relation operations goes through the server
//! over HTTP and the same script through `raw::operate`; the PostgreSQL log of each
//! side is cut into transactions (per backend, BEGIN … COMMIT/ROLLBACK) and their
//! statement texts compared.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use sea_orm::sqlx::{self, Connection};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::http::{self, Conn};
use crate::pg;
use crate::raw::{self, Op, Outcome};
use crate::server::{Server, ServerConfig};

/// (caller is the pair's first user?, operation); the target is the other user.
const SCRIPT: [(bool, Op); 8] = [
    (true, Op::Follow),
    (false, Op::Follow),
    (true, Op::Block),   // removes both follows
    (false, Op::Follow), // refused: blocked (rolled back)
    (true, Op::Unblock),
    (true, Op::Follow),
    (true, Op::Unfollow),
    (true, Op::Unfollow), // nothing to do: no event
];

#[derive(Clone, Debug, Serialize)]
pub struct CheckedOp {
    pub op: String,
    pub server_ok: bool,
    pub raw_outcome: String,
    pub same: bool,
    pub server_sql: Vec<String>,
    pub raw_sql: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SqlCheck {
    /// "match", "mismatch" or "skipped".
    pub status: String,
    pub detail: String,
    pub ops: Vec<CheckedOp>,
    /// Server statements outside any transaction during the script (session lookups).
    pub server_outside_tx: Vec<String>,
}

impl SqlCheck {
    pub fn skipped(why: impl Into<String>) -> Self {
        SqlCheck {
            status: "skipped".into(),
            detail: why.into(),
            ops: Vec::new(),
            server_outside_tx: Vec::new(),
        }
    }
}

fn log_len(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

fn read_from(path: &Path, from: u64, to: u64) -> Result<String> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.take(to.saturating_sub(from)).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Statements of one database from a log slice: (pid, statement text). Parameters
/// (DETAIL lines) are ignored; prepared-statement names are stripped.
fn statements(log: &str, database: &str) -> Vec<(u32, String)> {
    let tag = format!("@{database} ");
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut last_was_ours = false;
    for line in log.lines() {
        if line.starts_with('\t') {
            // Continuation of a multi-line statement.
            if last_was_ours {
                if let Some(l) = out.last_mut() {
                    l.1.push(' ');
                    l.1.push_str(line.trim());
                }
            }
            continue;
        }
        last_was_ours = false;
        if !line.contains(&tag) {
            continue;
        }
        let pid = line
            .split_once(" [")
            .and_then(|(_, r)| r.split_once(']'))
            .and_then(|(p, _)| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let Some((_, msg)) = line.split_once(" LOG:  ") else {
            continue;
        };
        let text = if let Some(s) = msg.strip_prefix("statement: ") {
            s
        } else if let Some(s) = msg.strip_prefix("execute ") {
            match s.split_once(": ") {
                Some((_, s)) => s,
                None => continue,
            }
        } else {
            continue;
        };
        out.push((pid, text.trim().to_string()));
        last_was_ours = true;
    }
    out
}

/// Transactions in order of their BEGIN, and the statements outside any transaction.
fn transactions(stmts: &[(u32, String)]) -> (Vec<Vec<String>>, Vec<String>) {
    let mut open: HashMap<u32, usize> = HashMap::new();
    let mut txs: Vec<Vec<String>> = Vec::new();
    let mut outside = Vec::new();
    for (pid, s) in stmts {
        let upper = s.to_ascii_uppercase();
        if let Some(&i) = open.get(pid) {
            txs[i].push(s.clone());
            if upper == "COMMIT" || upper == "ROLLBACK" {
                open.remove(pid);
            }
        } else if upper == "BEGIN" {
            open.insert(*pid, txs.len());
            txs.push(vec![s.clone()]);
        } else {
            outside.push(s.clone());
        }
    }
    (txs, outside)
}

pub struct CheckEnv<'a> {
    pub pg_base: &'a str,
    pub pg_log: &'a Path,
    pub database: String,
    pub server: ServerConfig,
}

/// Runs the check in its own scratch database; never fails the bench (problems are
/// reported as a skipped or mismatched check).
pub async fn run(env: CheckEnv<'_>) -> SqlCheck {
    match run_inner(&env).await {
        Ok(c) => c,
        Err(e) => SqlCheck::skipped(format!("{e:#}")),
    }
}

async fn run_inner(env: &CheckEnv<'_>) -> Result<SqlCheck> {
    if let Err(e) = log_len(env.pg_log) {
        return Ok(SqlCheck::skipped(format!(
            "PostgreSQL log not readable ({e:#}); pass --pg-log"
        )));
    }
    let mut admin = pg::admin(env.pg_base).await?;
    let db = &env.database;
    pg::create_database(&mut admin, db).await?;
    let res = async {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{db}\" SET log_statement = 'all'"
        )))
        .execute(&mut admin)
        .await?;
        let url = pg::url(env.pg_base, db);
        let mut server = Server::start(&ServerConfig {
            database_url: url.clone(),
            ..clone_cfg(&env.server)
        })
        .await?;
        let out = script(env, &url, &server).await;
        server.stop()?;
        out
    }
    .await;
    let _ = pg::drop_database(&mut admin, db).await;
    res
}

fn clone_cfg(c: &ServerConfig) -> ServerConfig {
    ServerConfig {
        bin: c.bin.clone(),
        dir: c.dir.clone(),
        database_url: c.database_url.clone(),
        db_pool: c.db_pool,
        workers: c.workers,
        log_level: c.log_level.clone(),
        extra_env: c.extra_env.clone(),
    }
}

async fn script(env: &CheckEnv<'_>, url: &str, server: &Server) -> Result<SqlCheck> {
    // Four users: 1 and 2 for the server, 3 and 4 for the raw baseline.
    let tokens: Vec<String> = (1..=2)
        .map(|i| format!("{:032x}", 0xbe4c_0000_u64 + i))
        .collect();
    {
        let mut c = sqlx::postgres::PgConnection::connect(url).await?;
        sqlx::raw_sql(
            "INSERT INTO users (nation_code, phone, nickname, role, created_at, updated_at, last_signin_at) \
             SELECT '86', '1380000000' || g, 'check' || g, 0, 1, 1, 1 FROM generate_series(1, 4) g",
        )
        .execute(&mut c)
        .await?;
        for (i, t) in tokens.iter().enumerate() {
            let hash = hex::encode(Sha256::digest(t.as_bytes()));
            sqlx::query(
                "INSERT INTO sessions (user_id, device, device_id, token_hash, created_at, last_used_at, expires_at) \
                 VALUES ($1, 'ios', 'check', $2, 1, 9000000000000, 9000000000000)",
            )
            .bind(i as i64 + 1)
            .bind(hash)
            .execute(&mut c)
            .await?;
        }
        c.close().await?;
    }

    let log = env.pg_log;
    let o1 = log_len(log)?;
    let mut server_ok = Vec::new();
    let mut conn = Conn::new(server.addr);
    for (first, op) in SCRIPT {
        let (me, other) = if first { (0, 2) } else { (1, 1) };
        let body = format!("to_user_id={other}&type={}", op.as_str());
        let req = http::post_form(server.addr, "/relation/operation", Some(&tokens[me]), &body);
        let r = conn.request(&req).await?;
        server_ok.push(r.is_ok_envelope());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o2 = log_len(log)?;
    let pool = pg::pool(url, 1).await?;
    let mut raw_out = Vec::new();
    for (first, op) in SCRIPT {
        let (me, other) = if first { (3, 4) } else { (4, 3) };
        raw_out.push(raw::operate(&pool, me, other, op).await?);
    }
    pool.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o3 = log_len(log)?;

    let (server_tx, server_outside) =
        transactions(&statements(&read_from(log, o1, o2)?, &env.database));
    let (raw_tx, _) = transactions(&statements(&read_from(log, o2, o3)?, &env.database));
    let mut ops = Vec::new();
    let mut all_same = server_tx.len() == SCRIPT.len() && raw_tx.len() == SCRIPT.len();
    for (i, (first, op)) in SCRIPT.iter().enumerate() {
        let s = server_tx.get(i).cloned().unwrap_or_default();
        let r = raw_tx.get(i).cloned().unwrap_or_default();
        let raw_ok = matches!(raw_out[i], Outcome::Done(_));
        let same = s == r && raw_ok == server_ok[i];
        all_same &= same;
        ops.push(CheckedOp {
            op: format!(
                "{} {} {}",
                if *first { "A" } else { "B" },
                op.as_str(),
                if *first { "B" } else { "A" }
            ),
            server_ok: server_ok[i],
            raw_outcome: format!("{:?}", raw_out[i]),
            same,
            server_sql: s,
            raw_sql: r,
        });
    }
    let detail = format!(
        "{} server transactions and {} raw transactions logged for {} operations",
        server_tx.len(),
        raw_tx.len(),
        SCRIPT.len()
    );
    Ok(SqlCheck {
        status: if all_same { "match" } else { "mismatch" }.into(),
        detail,
        ops,
        server_outside_tx: server_outside,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_groups_the_statement_log() {
        let log = "\
2026-11-28 09:01:54.972 UTC [4433] postgres@b1 LOG:  execute sqlx_s_3: SELECT 1 FROM \"sessions\"
2026-11-28 09:01:54.972 UTC [4433] postgres@b1 DETAIL:  parameters: $1 = 'x'
2026-11-28 09:01:54.973 UTC [4440] postgres@b1 LOG:  statement: BEGIN
2026-11-28 09:01:54.973 UTC [9999] postgres@other LOG:  statement: BEGIN
2026-11-28 09:01:54.975 UTC [4440] postgres@b1 LOG:  execute sqlx_s_4: SELECT \"users\".\"id\" FROM \"users\"
2026-11-28 09:01:54.999 UTC [4440] postgres@b1 LOG:  statement: COMMIT
2026-11-28 09:01:55.000 UTC [4441] postgres@b1 LOG:  statement: BEGIN
2026-11-28 09:01:55.001 UTC [4441] postgres@b1 LOG:  execute <unnamed>: DELETE
\tFROM x
2026-11-28 09:01:55.002 UTC [4441] postgres@b1 LOG:  statement: ROLLBACK
";
        let s = statements(log, "b1");
        assert_eq!(s.len(), 7);
        let (tx, outside) = transactions(&s);
        assert_eq!(outside, vec!["SELECT 1 FROM \"sessions\"".to_string()]);
        assert_eq!(tx.len(), 2);
        assert_eq!(
            tx[0],
            vec!["BEGIN", "SELECT \"users\".\"id\" FROM \"users\"", "COMMIT"]
        );
        assert_eq!(tx[1], vec!["BEGIN", "DELETE FROM x", "ROLLBACK"]);
    }
}

//! PostgreSQL: the throw-away bench database and the data seeded into the server's own
//! tables (after the server has run its migrations), with `COPY`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, Connection};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub fn url(base: &str, database: &str) -> String {
    format!("{}/{database}", base.trim_end_matches('/'))
}

pub async fn admin(base: &str) -> Result<PgConnection> {
    PgConnection::connect(&url(base, "postgres"))
        .await
        .with_context(|| format!("connecting to {}", url(base, "postgres")))
}

pub async fn create_database(admin: &mut PgConnection, name: &str) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(admin)
        .await
        .with_context(|| format!("CREATE DATABASE {name}"))?;
    Ok(())
}

pub async fn drop_database(admin: &mut PgConnection, name: &str) -> Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(admin)
    .await
    .with_context(|| format!("DROP DATABASE {name}"))?;
    Ok(())
}

pub async fn version(admin: &mut PgConnection) -> Result<String> {
    Ok(sqlx::query_scalar::<_, String>("SELECT version()")
        .fetch_one(admin)
        .await?)
}

/// A pool like the server's: same size, same acquire check (sqlx's default, which the
/// server also sets), so the raw baseline pays what the server pays for connections.
pub async fn pool(url: &str, max: u32) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(true)
        .connect(url)
        .await?)
}

/// What to seed.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Base users, ids 1..=users.
    pub users: u64,
    /// Follows among base users, spread evenly (each user follows users/follows others,
    /// chosen at random), inserted round by round so a user's rows are spread over the
    /// table as they would be after years of use.
    pub follows: u64,
    /// Base users 1..=sessions get an `ios` session.
    pub sessions: u64,
    /// One extra user per size, following base users 1..=size.
    pub growth: Vec<u64>,
    /// Extra users for the write scenario (no seeded relations).
    pub write_users: u64,
}

/// What the harness knows of the seeded data.
pub struct Seeded {
    /// Session token by user id - 1 (every seeded user has one unless `sessions` < `users`).
    pub tokens: Vec<Option<String>>,
    /// (size, user id) of the growth users.
    pub growth: Vec<(u64, i64)>,
    pub write_first: i64,
    pub follow_rows: u64,
    pub session_rows: u64,
    pub user_rows: u64,
    pub secs: f64,
}

impl Seeded {
    pub fn token(&self, user: i64) -> Option<&str> {
        self.tokens.get((user - 1) as usize)?.as_deref()
    }
}

pub fn phone_of(user: i64) -> String {
    format!("138{user:08}")
}

fn new_token(rng: &mut impl Rng) -> (String, String) {
    let t = hex::encode(rng.random::<[u8; 16]>());
    let h = hex::encode(Sha256::digest(t.as_bytes()));
    (t, h)
}

struct Copy<'c> {
    inner: sqlx::postgres::PgCopyIn<&'c mut PgConnection>,
    buf: String,
    rows: u64,
}

impl<'c> Copy<'c> {
    async fn begin(conn: &'c mut PgConnection, stmt: &str) -> Result<Copy<'c>> {
        Ok(Copy {
            inner: conn.copy_in_raw(stmt).await.context("COPY")?,
            buf: String::with_capacity(1 << 21),
            rows: 0,
        })
    }

    async fn row(&mut self, line: std::fmt::Arguments<'_>) -> Result<()> {
        self.buf
            .write_fmt(line)
            .unwrap_or_else(|_| unreachable!("writing to a String"));
        self.buf.push('\n');
        self.rows += 1;
        if self.buf.len() >= 1 << 20 {
            let chunk = std::mem::replace(&mut self.buf, String::with_capacity(1 << 21));
            self.inner.send(chunk.into_bytes()).await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<u64> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.inner.send(chunk.into_bytes()).await?;
        }
        let n = self.inner.finish().await?;
        if n != self.rows {
            bail!("COPY wrote {n} rows, expected {}", self.rows);
        }
        Ok(n)
    }
}

/// Seeds `plan` into an empty, migrated database.
pub async fn seed(url: &str, plan: &Plan) -> Result<Seeded> {
    let started = Instant::now();
    if plan.sessions > plan.users {
        bail!("sessions ({}) > users ({})", plan.sessions, plan.users);
    }
    if plan.users >= 2 && plan.follows / plan.users >= plan.users - 1 {
        bail!("too many follows for {} users", plan.users);
    }
    if let Some(&g) = plan.growth.iter().max() {
        if g > plan.users {
            bail!("a growth user cannot follow {g} of {} users", plan.users);
        }
    }
    let mut conn = PgConnection::connect(url).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let expires = now + 30 * 86_400_000;
    let growth_first = plan.users as i64 + 1;
    let write_first = growth_first + plan.growth.len() as i64;
    let total_users = plan.users + plan.growth.len() as u64 + plan.write_users;
    let mut rng = rand::rng();

    // Users.
    let mut copy = Copy::begin(
        &mut conn,
        "COPY users (id, nation_code, phone, nickname, avatar, role, created_at, updated_at, last_signin_at) FROM STDIN",
    )
    .await?;
    for id in 1..=total_users as i64 {
        let created = now - 86_400_000 + id;
        copy.row(format_args!(
            "{id}\t86\t{}\tu{id}\t\\N\t0\t{created}\t{created}\t{created}",
            phone_of(id)
        ))
        .await?;
    }
    let user_rows = copy.finish().await?;

    // Sessions: base users 1..=sessions, every growth and write user.
    let mut tokens: Vec<Option<String>> = vec![None; total_users as usize];
    let mut copy = Copy::begin(
        &mut conn,
        "COPY sessions (id, user_id, device, device_id, token_hash, created_at, last_used_at, expires_at) FROM STDIN",
    )
    .await?;
    let mut sid = 0i64;
    for id in 1..=total_users as i64 {
        if id as u64 > plan.sessions && id < growth_first {
            continue;
        }
        sid += 1;
        let (token, hash) = new_token(&mut rng);
        // last_used_at = now: no sliding-expiry write-back happens during the bench,
        // as for any session used within the last touch interval.
        copy.row(format_args!(
            "{sid}\t{id}\tios\tbench-{id}\t{hash}\t{now}\t{now}\t{expires}"
        ))
        .await?;
        tokens[(id - 1) as usize] = Some(token);
    }
    let session_rows = copy.finish().await?;

    // Follows.
    let mut copy = Copy::begin(
        &mut conn,
        "COPY follows (id, user_id, target_id, created_at) FROM STDIN",
    )
    .await?;
    let mut fid = 0i64;
    let base_ms = now - 3_600_000_000;
    if plan.users >= 2 && plan.follows > 0 {
        let per = plan.follows / plan.users;
        let extra = plan.follows % plan.users;
        let mut picked: Vec<Vec<u32>> = vec![Vec::new(); plan.users as usize];
        let mut seeded = StdRng::seed_from_u64(0x1a_cce5);
        for round in 0..=per {
            for u in 1..=plan.users {
                let want = per + u64::from(u <= extra);
                if round >= want {
                    continue;
                }
                let mine = &mut picked[(u - 1) as usize];
                let target = loop {
                    let t = seeded.random_range(1..=plan.users as u32);
                    if t as u64 != u && !mine.contains(&t) {
                        break t;
                    }
                };
                mine.push(target);
                fid += 1;
                copy.row(format_args!("{fid}\t{u}\t{target}\t{}", base_ms + fid))
                    .await?;
            }
        }
    }
    let mut growth = Vec::new();
    for (i, &size) in plan.growth.iter().enumerate() {
        let g = growth_first + i as i64;
        for target in 1..=size {
            fid += 1;
            copy.row(format_args!("{fid}\t{g}\t{target}\t{}", base_ms + fid))
                .await?;
        }
        growth.push((size, g));
    }
    let follow_rows = copy.finish().await?;

    for table in ["users", "sessions", "follows"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"
        )))
        .execute(&mut conn)
        .await?;
    }
    // A settled database: statistics and visibility map as after autovacuum.
    sqlx::raw_sql("VACUUM ANALYZE users, sessions, follows")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(Seeded {
        tokens,
        growth,
        write_first,
        follow_rows,
        session_rows,
        user_rows,
        secs: started.elapsed().as_secs_f64(),
    })
}

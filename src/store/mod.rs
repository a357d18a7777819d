//! Persistence through sea-orm: the connection, write transactions with retry, and the
//! queries of each aggregate (functions over any `ConnectionTrait`).

pub mod audit;
pub mod internal;
pub mod outbox;
pub mod rate;
pub mod relations;
pub mod sessions;
pub mod sms;
pub mod users;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use migration::MigratorTrait;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;
use crate::error::{is_retryable, ApiError, ApiResult};

/// A failure inside a write transaction: a database error (maybe worth a retry) or a
/// refusal that rolls the transaction back.
#[derive(Debug)]
pub enum TxError {
    Db(DbErr),
    Api(ApiError),
}

impl From<DbErr> for TxError {
    fn from(e: DbErr) -> Self {
        TxError::Db(e)
    }
}

impl From<ApiError> for TxError {
    fn from(e: ApiError) -> Self {
        TxError::Api(e)
    }
}

pub type TxResult<T> = Result<T, TxError>;

#[derive(Clone)]
pub struct Db {
    /// Start-up, background work and threads without a pool of their own.
    conn: DatabaseConnection,
    /// PostgreSQL and MySQL: each thread that serves requests gets its own pool.
    per_thread: Option<Arc<ThreadPools>>,
    backend: DbBackend,
    /// SQLite has one writer at a time; queueing writers here is cheaper than letting
    /// them poll the database lock.
    sqlite_writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

const WRITE_ATTEMPTS: u32 = 5;

/// See `Db::begin_background`. Fields drop in order: the transaction before the guard.
pub struct BackgroundTxn {
    pub txn: DatabaseTransaction,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl BackgroundTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl Db {
    /// Connects one pool of `max_connections`, for tools and tests.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbErr> {
        Self::connect_for(settings, 0).await
    }

    /// Connects for a server whose requests are served by `request_threads` threads.
    /// On PostgreSQL and MySQL each of them gets a pool of its own (see
    /// `serve_on_this_thread`), out of `max_connections`: a few connections stay in a
    /// shared pool for start-up and background work, the rest are split evenly. With
    /// too few connections for one per thread, everything shares one pool.
    pub async fn connect_for(
        settings: &DatabaseSettings,
        request_threads: usize,
    ) -> Result<Db, DbErr> {
        let url = settings.url.expose_secret().to_owned();
        let split = ThreadPools::plan(&url, settings, request_threads);
        let shared_max = split
            .as_ref()
            .map_or(settings.max_connections, |(shared, _)| *shared);
        let per_thread = split.map(|(_, pools)| Arc::new(pools));
        let mut opt = pool_options(&url, settings, shared_max);
        opt.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .create_if_missing(true)
        });
        let conn = Database::connect(opt).await?;
        let backend = conn.get_database_backend();
        Ok(Db {
            sqlite_writer: (backend == DbBackend::Sqlite)
                .then(|| Arc::new(tokio::sync::Mutex::new(()))),
            conn,
            per_thread,
            backend,
        })
    }

    /// The connection pool of the calling thread: its own when it serves requests
    /// (see `serve_on_this_thread`), the shared one otherwise.
    pub fn conn(&self) -> DatabaseConnection {
        self.per_thread
            .as_ref()
            .and_then(|p| p.current())
            .unwrap_or_else(|| self.conn.clone())
    }

    /// Gives the calling thread its own pool, for a thread that serves requests (an
    /// HTTP worker or an actor thread). Each actix thread runs its own event loop, and
    /// a connection's socket is driven by the loop that opened it: shared between
    /// threads, every reply from the database would cost a cross-thread wake-up. Call
    /// it from inside the thread's runtime (the pool's upkeep task is spawned there).
    /// No-op when the connections are not split (SQLite, too few connections).
    pub fn serve_on_this_thread(&self) {
        if let Some(p) = &self.per_thread {
            p.bind();
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Applies pending migrations. Several processes starting at once take turns on a
    /// database lock (PostgreSQL advisory lock, MySQL named lock).
    pub async fn migrate(&self) -> Result<(), DbErr> {
        let pending = migration::Migrator::get_pending_migrations(&self.conn)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        self.migrate_locked().await?;
        if pending > 0 {
            tracing::info!(applied = pending, "database migrations applied");
        }
        Ok(())
    }

    async fn migrate_locked(&self) -> Result<(), DbErr> {
        match self.backend {
            DbBackend::Postgres => {
                // Session-level lock: hold one connection for the whole run.
                let pool = self.conn.get_postgres_connection_pool();
                let mut c = pool
                    .acquire()
                    .await
                    .map_err(|e| DbErr::Custom(format!("migration lock: {e}")))?;
                sea_orm::sqlx::query("SELECT pg_advisory_lock(731180641)")
                    .execute(&mut *c)
                    .await
                    .map_err(|e| DbErr::Custom(format!("migration lock: {e}")))?;
                let res = migration::Migrator::up(&self.conn, None).await;
                let _ = sea_orm::sqlx::query("SELECT pg_advisory_unlock(731180641)")
                    .execute(&mut *c)
                    .await;
                res
            }
            DbBackend::MySql => {
                let pool = self.conn.get_mysql_connection_pool();
                let mut c = pool
                    .acquire()
                    .await
                    .map_err(|e| DbErr::Custom(format!("migration lock: {e}")))?;
                sea_orm::sqlx::query("SELECT GET_LOCK('im_access_migrate', 120)")
                    .execute(&mut *c)
                    .await
                    .map_err(|e| DbErr::Custom(format!("migration lock: {e}")))?;
                let res = migration::Migrator::up(&self.conn, None).await;
                let _ = sea_orm::sqlx::query("SELECT RELEASE_LOCK('im_access_migrate')")
                    .execute(&mut *c)
                    .await;
                res
            }
            _ => migration::Migrator::up(&self.conn, None).await,
        }
    }

    /// Pool use over every pool of the process, for the metrics.
    pub fn record_pool_gauges(&self) {
        let mut pools = vec![self.conn.clone()];
        if let Some(p) = &self.per_thread {
            pools.extend(p.all());
        }
        let (mut size, mut idle, mut max) = (0u64, 0u64, 0u64);
        for c in &pools {
            let (s, i, m) = pool_use(c, self.backend);
            size += u64::from(s);
            idle += i as u64;
            max += u64::from(m);
        }
        metrics::gauge!("im_db_pool_connections", "state" => "open").set(size as f64);
        metrics::gauge!("im_db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("im_db_pool_connections", "state" => "max").set(max as f64);
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn().ping().await
    }

    async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let opts = match self.backend {
            // Take the write lock at BEGIN, so a transaction never fails to upgrade.
            DbBackend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            },
            // Reads after our row locks must see the latest commits, not a snapshot.
            DbBackend::MySql => TransactionOptions {
                isolation_level: Some(IsolationLevel::ReadCommitted),
                ..Default::default()
            },
            _ => TransactionOptions::default(),
        };
        self.conn().begin_with_options(opts).await
    }

    /// A write transaction for background work (the relay), under the same discipline
    /// as `write` (on SQLite: the writer queue and an IMMEDIATE transaction), without
    /// retries; errors stay database errors.
    pub async fn begin_background(&self) -> Result<BackgroundTxn, DbErr> {
        let guard = match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let txn = self.begin_write().await?;
        Ok(BackgroundTxn { txn, _guard: guard })
    }

    /// Runs `op` in a write transaction and commits. Conflicts that a second try resolves
    /// (unique key raced, deadlock, serialization failure) are retried from the start;
    /// any other error rolls back and is returned.
    pub async fn write<T, F>(&self, mut op: F) -> ApiResult<T>
    where
        F: for<'t> FnMut(&'t DatabaseTransaction) -> BoxFuture<'t, TxResult<T>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let _writer = match &self.sqlite_writer {
                Some(lock) => Some(lock.lock().await),
                None => None,
            };
            let txn = self.begin_write().await?;
            let err = match op(&txn).await {
                Ok(v) => match txn.commit().await {
                    Ok(()) => return Ok(v),
                    Err(e) => e,
                },
                Err(TxError::Api(e)) => {
                    let _ = txn.rollback().await;
                    return Err(e);
                }
                Err(TxError::Db(e)) => {
                    let _ = txn.rollback().await;
                    e
                }
            };
            if attempt < WRITE_ATTEMPTS && is_retryable(&err) {
                tracing::debug!(error = %err, attempt, "retrying transaction after a conflict");
                let jitter = rand::random::<u64>() % (5 * attempt as u64 + 1);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                continue;
            }
            return Err(err.into());
        }
    }
}

/// Every pool's settings, at `max` connections.
fn pool_options(url: &str, settings: &DatabaseSettings, max: u32) -> ConnectOptions {
    let mut opt = ConnectOptions::new(url);
    opt.max_connections(max)
        .min_connections(settings.min_connections.min(max))
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .idle_timeout(Duration::from_secs(600))
        // A connection that died with its server is found out before it is handed out.
        .test_before_acquire(true)
        .sqlx_logging(false);
    opt
}

/// (open, idle, max) of one pool.
fn pool_use(c: &DatabaseConnection, backend: DbBackend) -> (u32, usize, u32) {
    match backend {
        DbBackend::Postgres => {
            let p = c.get_postgres_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        DbBackend::MySql => {
            let p = c.get_mysql_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
        _ => {
            let p = c.get_sqlite_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        }
    }
}

/// At most this many connections stay shared when request threads have their own:
/// start-up (migrations), the relay (its LISTEN connection and one round at a time),
/// the cluster watchdog and the periodic clean-up.
const SHARED_CONNECTIONS: u32 = 4;

/// The request threads' own pools. A pool is created (lazily connected) when its
/// thread calls `bind`, and found again through a thread-local keyed by `id`, since
/// one process (a test) may hold several databases.
struct ThreadPools {
    id: u64,
    /// Each thread's pool: the shared pool's settings at the per-thread size,
    /// connecting lazily, so its connections open on the thread that uses them.
    options: ConnectOptions,
    /// Every pool handed out, for the gauges.
    pools: Mutex<Vec<DatabaseConnection>>,
}

static NEXT_POOLS_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_POOLS: RefCell<Vec<(u64, DatabaseConnection)>> = const { RefCell::new(Vec::new()) };
}

impl ThreadPools {
    /// How `max_connections` splits over `threads`: the shared pool's size and the
    /// threads' pools; `None` to keep one pool.
    fn plan(url: &str, settings: &DatabaseSettings, threads: usize) -> Option<(u32, Self)> {
        if !(DbBackend::Postgres.is_prefix_of(url) || DbBackend::MySql.is_prefix_of(url)) {
            return None;
        }
        // At least two: migrating holds one for the lock and runs on another.
        let shared = (settings.max_connections / 4).clamp(2, SHARED_CONNECTIONS);
        let threads = u32::try_from(threads).unwrap_or(u32::MAX);
        let per_thread = settings
            .max_connections
            .saturating_sub(shared)
            .checked_div(threads)
            .unwrap_or(0);
        if per_thread == 0 {
            return None;
        }
        let mut options = pool_options(url, settings, per_thread);
        options.connect_lazy(true);
        Some((
            shared,
            ThreadPools {
                id: NEXT_POOLS_ID.fetch_add(1, Ordering::Relaxed),
                options,
                pools: Mutex::new(Vec::new()),
            },
        ))
    }

    fn current(&self) -> Option<DatabaseConnection> {
        THREAD_POOLS.with_borrow(|bound| {
            bound
                .iter()
                .find(|(id, _)| *id == self.id)
                .map(|(_, c)| c.clone())
        })
    }

    fn bind(&self) {
        if self.current().is_some() {
            return;
        }
        // Connecting lazily, sea-orm's connect has nothing to wait for: it is done at
        // its first poll. Should that change, the thread keeps using the shared pool.
        let connect = Database::connect(self.options.clone());
        let Some(Ok(conn)) = futures_util::FutureExt::now_or_never(connect) else {
            tracing::warn!("no database pool of its own for this thread; it uses the shared one");
            return;
        };
        if let Ok(mut all) = self.pools.lock() {
            all.push(conn.clone());
        }
        THREAD_POOLS.with_borrow_mut(|bound| bound.push((self.id, conn)));
    }

    fn all(&self) -> Vec<DatabaseConnection> {
        self.pools.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// `SELECT ... FOR UPDATE` where the backend has row locks; SQLite's write transaction
/// already excludes every other writer.
pub fn lock<S: sea_orm::QuerySelect>(q: S) -> S {
    q.lock_exclusive()
}

//! Persistence through sea-orm: the connection, write transactions with retry, and the
//! queries of each aggregate (functions over any `ConnectionTrait`).

pub mod outbox;
pub mod rate;
pub mod relations;
pub mod sessions;
pub mod sms;
pub mod users;

use std::sync::Arc;
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
    conn: DatabaseConnection,
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
    pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbErr> {
        let url = settings.url.expose_secret().to_owned();
        let mut opt = ConnectOptions::new(url);
        opt.max_connections(settings.max_connections)
            .min_connections(settings.min_connections)
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
            .idle_timeout(Duration::from_secs(600))
            // A connection that died with its server is found out before it is handed out.
            .test_before_acquire(true)
            .sqlx_logging(false);
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
            backend,
        })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
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

    /// Pool use, for the metrics.
    pub fn record_pool_gauges(&self) {
        let (size, idle, max) = match self.backend {
            DbBackend::Postgres => {
                let p = self.conn.get_postgres_connection_pool();
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
            DbBackend::MySql => {
                let p = self.conn.get_mysql_connection_pool();
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
            _ => {
                let p = self.conn.get_sqlite_connection_pool();
                (p.size(), p.num_idle(), p.options().get_max_connections())
            }
        };
        metrics::gauge!("im_db_pool_connections", "state" => "open").set(size as f64);
        metrics::gauge!("im_db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("im_db_pool_connections", "state" => "max").set(max as f64);
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.ping().await
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
        self.conn.begin_with_options(opts).await
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

/// `SELECT ... FOR UPDATE` where the backend has row locks; SQLite's write transaction
/// already excludes every other writer.
pub fn lock<S: sea_orm::QuerySelect>(q: S) -> S {
    q.lock_exclusive()
}

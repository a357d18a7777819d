//! Database connections per request thread (PostgreSQL and MySQL): each thread that
//! serves requests draws on a pool of its own, the process as a whole stays within
//! `database.max_connections`, and with too few connections to split everything
//! shares one pool.

use std::collections::BTreeSet;
use std::sync::Arc;

use im_access::store::Db;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::Barrier;

use crate::common::{backend, fresh_database, skip_or_fail, test_settings, Backend};

/// Runs `n` queries at once, each holding its connection for a moment, so that they
/// need `n` connections when the pool has them. Returns the server-side ids of the
/// connections they ran on, and the most connections to the database seen meanwhile.
async fn connection_ids(db: &Db, n: usize) -> (BTreeSet<i64>, i64) {
    let sql = match db.backend() {
        DbBackend::Postgres => {
            "SELECT pg_backend_pid()::bigint, (SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database())::bigint FROM pg_sleep(0.2)"
        }
        _ => {
            "SELECT CAST(CONNECTION_ID() AS SIGNED), (SELECT COUNT(*) FROM \
             information_schema.processlist WHERE db = DATABASE()) FROM (SELECT SLEEP(0.2)) AS s"
        }
    };
    let queries = (0..n).map(|_| async {
        let conn = db.conn();
        let row = conn
            .query_one_raw(Statement::from_string(db.backend(), sql))
            .await
            .expect("query runs")
            .expect("one row");
        let id: i64 = row.try_get_by_index(0).expect("an id");
        let open: i64 = row.try_get_by_index(1).expect("a count");
        (id, open)
    });
    let rows = futures_util::future::join_all(queries).await;
    let most = rows.iter().map(|(_, open)| *open).max().unwrap_or(0);
    (rows.into_iter().map(|(id, _)| id).collect(), most)
}

/// Runs `connection_ids` on a request thread of its own with its own event loop, as an
/// HTTP worker has. The loop stays up until everyone passed `done`: a shared pool's
/// connection is driven by the loop that opened it, and a server's workers outlive its
/// requests.
async fn on_thread(db: Db, n: usize, done: Arc<Barrier>) -> (BTreeSet<i64>, i64) {
    // Joined off the test's own event loop: a connection of a shared pool may be
    // driven by it.
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            db.serve_on_this_thread();
            let seen = connection_ids(&db, n).await;
            done.wait().await;
            seen
        })
    })
    .await
    .expect("thread")
}

/// `connection_ids` at once on two request threads (a, b) and on the test's own
/// thread, which serves no requests.
async fn two_threads_and_here(db: &Db, n: usize) -> [(BTreeSet<i64>, i64); 3] {
    let done = Arc::new(Barrier::new(3));
    let (a, b, here) = tokio::join!(
        on_thread(db.clone(), n, done.clone()),
        on_thread(db.clone(), n, done.clone()),
        async {
            let seen = connection_ids(db, n).await;
            done.wait().await;
            seen
        },
    );
    [a, b, here]
}

/// A fresh database connected for 2 request threads with `max_connections` and no idle
/// connections kept; None (skipped) on SQLite or without the server.
async fn split_db(max_connections: u32) -> Option<Db> {
    if backend() == Backend::Sqlite {
        eprintln!("SKIPPED: SQLite keeps one pool; run with IM_TEST_DATABASE=postgres or mysql");
        return None;
    }
    let Some(url) = fresh_database(backend()).await else {
        skip_or_fail(&format!("{:?} test database", backend()));
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path(), Some(url));
    settings.database.max_connections = max_connections;
    settings.database.min_connections = 0;
    Some(
        Db::connect_for(&settings.database, 2)
            .await
            .expect("connects"),
    )
}

#[actix_web::test]
async fn each_request_thread_has_its_own_connections_within_the_limit() {
    // 8 connections, 2 request threads: 2 stay shared, 3 for each thread.
    let Some(db) = split_db(8).await else {
        return;
    };
    let [(a, open_a), (b, open_b), (shared, open_s)] = two_threads_and_here(&db, 6).await;
    assert_eq!(a.len(), 3, "thread a's connections: {a:?}");
    assert_eq!(b.len(), 3, "thread b's connections: {b:?}");
    assert_eq!(shared.len(), 2, "shared connections: {shared:?}");
    assert!(a.is_disjoint(&b), "threads share a connection: {a:?} {b:?}");
    assert!(
        a.is_disjoint(&shared) && b.is_disjoint(&shared),
        "a request thread used the shared pool: {a:?} {b:?} {shared:?}"
    );
    let most = open_a.max(open_b).max(open_s);
    assert!(most <= 8, "{most} connections open at once");
}

#[actix_web::test]
async fn with_fewer_connections_than_threads_every_thread_shares_one_pool() {
    // Two connections would stay shared, leaving none for the threads.
    let Some(db) = split_db(2).await else {
        return;
    };
    let [(a, open_a), (b, open_b), (main, open_main)] = two_threads_and_here(&db, 4).await;
    let most = open_a.max(open_b).max(open_main);
    assert_eq!(
        most, 2,
        "one pool of max_connections, used to the full: {a:?} {b:?} {main:?}"
    );
}

#[actix_web::test]
async fn a_small_pool_still_migrates_at_start() {
    // 4 connections over 2 threads: 2 shared, 1 each. Migrating holds one shared
    // connection for the lock and needs another (with 1 shared, start-up timed out).
    let Some(db) = split_db(4).await else {
        return;
    };
    db.migrate().await.expect("migrations run on a pool of 4");
    let [(a, _), (b, _), (shared, open)] = two_threads_and_here(&db, 2).await;
    assert_eq!(
        (a.len(), b.len(), shared.len()),
        (1, 1, 2),
        "{a:?} {b:?} {shared:?}"
    );
    assert!(open <= 4, "{open} connections open at once");
}

//! Test support shared by the test modules: an `Application` on port 0 over a fresh
//! database, an HTTP client, and helpers for the envelope.
//!
//! Backends: SQLite by default (nothing to install). `IM_TEST_DATABASE=postgres` or
//! `=mysql` runs against the servers at `IM_TEST_POSTGRES_URL` / `IM_TEST_MYSQL_URL`,
//! one fresh database per test. When such a server is unreachable the test says so and
//! is skipped, unless `IM_TEST_REQUIRE_SERVICES=1` (set by `.ci/run`) makes it fail.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use im_access::Settings;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

pub const POSTGRES_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";

pub fn required() -> bool {
    std::env::var("IM_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Reports a missing service: a failure when services are required, else a visible skip.
pub fn skip_or_fail(what: &str) {
    if required() {
        panic!("{what} is required (IM_TEST_REQUIRE_SERVICES=1) but unavailable");
    }
    eprintln!("SKIPPED: {what} unavailable; set it up to run this test");
}

/// Every test runs in one process, in parallel, and two of them stop a server that others
/// use (PostgreSQL in `resilience`, RabbitMQ in `relay`). A test that uses a server holds
/// a shared claim from its first use until it ends; a test that stops one holds the
/// exclusive claim, so it waits for the others and they wait for it.
static SERVERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

enum Claim {
    Shared(tokio::sync::RwLockReadGuard<'static, ()>),
    Exclusive(tokio::sync::RwLockWriteGuard<'static, ()>),
}

thread_local! {
    // libtest runs each test on a thread of its own (the async ones on a runtime on that
    // thread), so a claim kept here is released when the test ends, pass or fail.
    static CLAIM: std::cell::RefCell<Option<Claim>> = const { std::cell::RefCell::new(None) };
}

fn claimed() -> bool {
    CLAIM.with(|c| c.borrow().is_some())
}

/// Called before a test first talks to PostgreSQL, MariaDB or RabbitMQ.
pub async fn uses_servers() {
    if !claimed() {
        let guard = SERVERS.read().await;
        CLAIM.with(|c| *c.borrow_mut() = Some(Claim::Shared(guard)));
    }
}

/// Called first by a test that stops a server: no other test uses one until it ends.
/// (With `RUST_TEST_THREADS=1` every test runs on one thread, one at a time, and the
/// claim an earlier test left is enough.)
pub async fn stops_servers() {
    if !claimed() {
        let guard = SERVERS.write().await;
        CLAIM.with(|c| *c.borrow_mut() = Some(Claim::Exclusive(guard)));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

pub fn backend() -> Backend {
    match std::env::var("IM_TEST_DATABASE").as_deref() {
        Ok("postgres") | Ok("postgresql") => Backend::Postgres,
        Ok("mysql") | Ok("mariadb") => Backend::MySql,
        _ => Backend::Sqlite,
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// A fresh, empty database on the server at `admin_url`; None if it is unreachable.
pub async fn fresh_database(backend: Backend) -> Option<String> {
    if backend != Backend::Sqlite {
        uses_servers().await;
    }
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let admin = std::env::var("IM_TEST_POSTGRES_URL").unwrap_or(POSTGRES_DEFAULT.into());
            let conn = Database::connect(&admin).await.ok()?;
            let name = unique("im_test");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .ok()?;
            let mut url = url::Url::parse(&admin).ok()?;
            url.set_path(&format!("/{name}"));
            Some(url.to_string())
        }
        Backend::MySql => {
            let admin = std::env::var("IM_TEST_MYSQL_URL").unwrap_or(MYSQL_DEFAULT.into());
            let conn = Database::connect(&admin).await.ok()?;
            let name = unique("im_test");
            conn.execute_unprepared(&format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ))
            .await
            .ok()?;
            let mut url = url::Url::parse(&admin).ok()?;
            url.set_path(&format!("/{name}"));
            Some(url.to_string())
        }
    }
}

/// Settings for a test: port 0, everything under `dir`, the file SMS provider.
pub fn test_settings(dir: &std::path::Path, database_url: Option<String>) -> Settings {
    let mut s = Settings::load_from(None, false).expect("default settings load");
    s.app.data_dir = dir.to_path_buf();
    s.server.bind = "127.0.0.1:0".into();
    s.server.workers = 2;
    s.server.shutdown_timeout_secs = 5;
    s.database.url = database_url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("im.db").display()))
        .into();
    s.database.max_connections = 8;
    s.sms.provider = im_access::config::SmsProviderKind::File;
    s.sms.file_path = dir.join("sms.jsonl");
    s.storage.dir = dir.join("resource");
    s.jwt.secret = "test-secret-test-secret-test-secret".to_owned().into();
    s.log.level = "warn".into();
    s
}

pub struct TestApp {
    /// The server database this test created (dropped with the app).
    pub database: Option<(Backend, String)>,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    pub state: actix_web::web::Data<im_access::http::AppState>,
    pub handle: actix_web::dev::ServerHandle,
    pub backend: Backend,
}

/// Starts an app on the backend chosen by `IM_TEST_DATABASE`; None when that backend's
/// server is unavailable (and not required).
pub async fn spawn_app() -> Option<TestApp> {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let backend = backend();
    let db = match backend {
        Backend::Sqlite => None,
        b => match fresh_database(b).await {
            Some(url) => Some(url),
            None => {
                skip_or_fail(&format!("{b:?} test database"));
                return None;
            }
        },
    };
    Some(spawn_on(backend, db, configure).await)
}

pub async fn spawn_on(
    backend: Backend,
    database_url: Option<String>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    im_access::telemetry::init(&im_access::config::LogSettings {
        format: im_access::config::LogFormat::Text,
        level: std::env::var("IM_TEST_LOG").unwrap_or_else(|_| "warn".into()),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path(), database_url);
    configure(&mut settings);
    if !secrecy::ExposeSecret::expose_secret(&settings.amqp.url).is_empty() {
        uses_servers().await;
    }
    let database = settings_database(backend, &settings);
    let app = im_access::Application::build(settings.clone())
        .await
        .expect("application starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        database,
        base,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        dir,
        settings,
        state,
        handle,
        backend,
    }
}

fn settings_database(backend: Backend, settings: &Settings) -> Option<(Backend, String)> {
    use secrecy::ExposeSecret;
    if backend == Backend::Sqlite {
        return None;
    }
    let url = url::Url::parse(settings.database.url.expose_secret()).ok()?;
    Some((backend, url.path().trim_start_matches('/').to_owned()))
}

/// Drops a test database, on a thread of its own (Drop can't await).
pub fn drop_database(backend: Backend, name: String) {
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let (admin, sql) = match backend {
                Backend::Postgres => (
                    std::env::var("IM_TEST_POSTGRES_URL").unwrap_or(POSTGRES_DEFAULT.into()),
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ),
                Backend::MySql => (
                    std::env::var("IM_TEST_MYSQL_URL").unwrap_or(MYSQL_DEFAULT.into()),
                    format!("DROP DATABASE IF EXISTS {name}"),
                ),
                Backend::Sqlite => return,
            };
            if let Ok(conn) = Database::connect(&admin).await {
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    conn.execute_unprepared(&sql),
                )
                .await;
            }
        });
    })
    .join();
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((backend, name)) = self.database.take() {
            if name.starts_with("im_test_") {
                drop_database(backend, name);
            }
        }
    }
}

pub fn assert_envelope(v: &Value, code: u64) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "data", "message", "request-id"], "{v}");
    assert_eq!(v["code"].as_u64(), Some(code), "{v}");
    assert!(v["message"].is_string(), "{v}");
    let id = v["request-id"].as_str().expect("request-id is a string");
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "request-id {id}"
    );
    if code == 0 {
        assert!(!v["data"].is_null(), "data is never null on success: {v}");
    } else {
        assert!(v["data"].is_null(), "{v}");
    }
}

pub struct SignedIn {
    pub user_id: i64,
    pub token: String,
    pub phone: String,
    pub data: Value,
}

/// A valid Chinese mobile number no other test uses.
pub fn new_phone() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = (N.fetch_add(1, Ordering::Relaxed)
        + std::process::id() as u64 * 1000
        + rand::random::<u32>() as u64)
        % 100_000_000;
    format!("139{n:08}")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)], token: Option<&str>) -> Value {
        let mut req = self.client.post(self.url(path)).form(form);
        if let Some(t) = token {
            req = req.header("token", t);
        }
        let res = req.send().await.expect("request");
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.expect("json envelope")
    }

    pub async fn post_json(&self, path: &str, body: Value, token: Option<&str>) -> Value {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.header("token", t);
        }
        let res = req.send().await.expect("request");
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.expect("json envelope")
    }

    pub async fn get(&self, path_and_query: &str, token: Option<&str>) -> Value {
        let mut req = self.client.get(self.url(path_and_query));
        if let Some(t) = token {
            req = req.header("token", t);
        }
        let res = req.send().await.expect("request");
        res.json().await.expect("json envelope")
    }

    /// The codes the file provider recorded for a number, oldest first.
    pub fn codes_sent(&self, phone: &str) -> Vec<String> {
        let path = self.settings.sms.file_path.clone();
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["phone"] == phone)
            .filter_map(|v| v["code"].as_str().map(str::to_owned))
            .collect()
    }

    pub async fn send_code(&self, phone: &str) -> String {
        let v = self
            .post_form(
                "/sms/send",
                &[("nation_code", "86"), ("phone", phone)],
                None,
            )
            .await;
        assert_envelope(&v, 0);
        self.codes_sent(phone).pop().expect("a code was sent")
    }

    pub async fn sign_in_device(&self, phone: &str, device: &str, device_id: &str) -> SignedIn {
        let code = self.send_code(phone).await;
        let v = self
            .post_form(
                "/accessuser/signinbysms",
                &[
                    ("nation_code", "86"),
                    ("phone", phone),
                    ("check_code", &code),
                    ("device", device),
                    ("device_id", device_id),
                ],
                None,
            )
            .await;
        assert_envelope(&v, 0);
        SignedIn {
            user_id: v["data"]["user_id"].as_i64().expect("user_id"),
            token: v["data"]["token"].as_str().expect("token").to_owned(),
            phone: phone.to_owned(),
            data: v["data"].clone(),
        }
    }

    /// A new user signed in on android.
    /// Deletes `who`'s account the way the app does: a code to its number, then
    /// `deleteaccount` with it. The envelope.
    pub async fn delete_account(&self, who: &SignedIn) -> Value {
        let code = self.send_code(&who.phone).await;
        self.post_form(
            "/accessuser/deleteaccount",
            &[("check_code", &code)],
            Some(&who.token),
        )
        .await
    }

    pub async fn new_user(&self) -> SignedIn {
        let phone = new_phone();
        self.sign_in_device(&phone, "android", "device-1").await
    }

    pub async fn relate(&self, who: &SignedIn, to: i64, op: &str) -> Value {
        self.post_form(
            "/relation/operation",
            &[("to_user_id", &to.to_string()), ("type", op)],
            Some(&who.token),
        )
        .await
    }

    pub async fn list(&self, who: &SignedIn, kind: &str, page: u64, size: u64) -> Value {
        self.post_form(
            "/relation/followlist",
            &[
                ("type", kind),
                ("page", &page.to_string()),
                ("size", &size.to_string()),
            ],
            Some(&who.token),
        )
        .await
    }

    pub async fn list_ids(&self, who: &SignedIn, kind: &str) -> Vec<i64> {
        let v = self.list(who, kind, 1, 100).await;
        assert_envelope(&v, 0);
        v["data"]["list"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["user_id"].as_i64().expect("user_id number"))
            .collect()
    }

    /// Outbox rows in insertion order: (type, data).
    pub async fn outbox(&self) -> Vec<(String, Value)> {
        use sea_orm::{EntityTrait, QueryOrder};
        let rows = entity::outbox::Entity::find()
            .order_by_asc(entity::outbox::Column::Id)
            .all(&self.state.db.conn())
            .await
            .expect("outbox rows");
        rows.into_iter()
            .map(|r| {
                (
                    r.event_type,
                    serde_json::from_str(&r.data).expect("data json"),
                )
            })
            .collect()
    }

    pub async fn outbox_len(&self) -> usize {
        self.outbox().await.len()
    }

    /// The `/metrics` text (see `metric_sum`).
    pub async fn metrics(&self) -> String {
        let _one_at_a_time = scraping().await;
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Held while reading `/metrics`. The recorder is one per process and a scrape first
/// sets the scraping app's gauges and cache counts in it, so two apps scraped at once
/// could each read the other's values.
pub async fn scraping() -> tokio::sync::MutexGuard<'static, ()> {
    static SCRAPE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SCRAPE.lock().await
}

/// A `multipart/form-data` body built part by part: what the tests send as uploads and
/// feed straight to the decoder, so no test writes the framing by hand.
pub struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Default for Multipart {
    /// A random boundary, as a client picks one (binary parts can't spell it).
    fn default() -> Self {
        Self::with_boundary(&format!("im-test-{:032x}", rand::random::<u128>()))
    }
}

impl Multipart {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fixed boundary, for bodies a test spells out (and compares byte for byte).
    pub fn with_boundary(boundary: &str) -> Self {
        Multipart {
            boundary: boundary.to_owned(),
            body: Vec::new(),
        }
    }

    /// Text before the first boundary: parsers skip it, limits must still count it.
    pub fn preamble(mut self, text: &str) -> Self {
        self.body.extend_from_slice(text.as_bytes());
        self
    }

    pub fn text(self, name: &str, value: &str) -> Self {
        self.part(name, None, None, value.as_bytes())
    }

    pub fn file(self, name: &str, file_name: &str, bytes: &[u8]) -> Self {
        self.part(name, Some(file_name), None, bytes)
    }

    /// A file part that declares its own `Content-Type`.
    pub fn file_as(self, name: &str, file_name: &str, content_type: &str, bytes: &[u8]) -> Self {
        self.part(name, Some(file_name), Some(content_type), bytes)
    }

    fn part(
        mut self,
        name: &str,
        file_name: Option<&str>,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Self {
        let mut head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"",
            self.boundary
        );
        if let Some(f) = file_name {
            head.push_str(&format!("; filename=\"{f}\""));
        }
        if let Some(t) = content_type {
            head.push_str(&format!("\r\nContent-Type: {t}"));
        }
        head.push_str("\r\n\r\n");
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    /// The request's `Content-Type` header value.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The body, closed by the final delimiter.
    pub fn finish(mut self) -> Vec<u8> {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        self.body
    }
}

/// Sends a `Multipart` body with its content type.
pub trait SendMultipart {
    fn form_data(self, form: Multipart) -> Self;
}

impl SendMultipart for reqwest::RequestBuilder {
    fn form_data(self, form: Multipart) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, form.content_type())
            .body(form.finish())
    }
}

/// Sends a request and reads its JSON answer (the envelope), whatever the status.
pub trait SendForEnvelope {
    fn envelope(self) -> impl std::future::Future<Output = Value> + Send;
}

impl SendForEnvelope for reqwest::RequestBuilder {
    async fn envelope(self) -> Value {
        let res = self.send().await.expect("request");
        res.json().await.expect("json envelope")
    }
}

pub const AMQP_DEFAULT: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A port for a server process the test starts. `bind("127.0.0.1:0")` alone lets two
/// tests running at once (or an outgoing connection) get the same port before the child
/// binds it, and a request then reaches another test's server. Ports come from below
/// the kernel's ephemeral range, each once per test process, and only if free now.
pub fn free_port() -> u16 {
    use std::sync::atomic::AtomicU16;
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Test processes (other checkouts' runs) may overlap: spread them by process id.
    let base = (std::process::id() % u32::from(SPAN)) as u16;
    loop {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(i < SPAN, "no free port left for server processes");
        let port = FIRST + (base + i) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn amqp_url() -> String {
    std::env::var("IM_TEST_AMQP_URL").unwrap_or_else(|_| AMQP_DEFAULT.into())
}

/// A message as the IM server receives it.
#[derive(Debug)]
pub struct Received {
    pub routing_key: String,
    pub properties: lapin::BasicProperties,
    pub body: Value,
    pub redelivered: bool,
}

/// A consumer on the events exchange, the way an IM server would bind one.
pub struct EventTap {
    pub conn: lapin::Connection,
    pub channel: lapin::Channel,
    consumer: lapin::Consumer,
    pub queue: String,
}

impl EventTap {
    /// Declares `exchange` (durable topic, as the relay does) and a queue bound to every
    /// event type: durable and named when `queue` is given (it survives a broker
    /// restart), else exclusive. None when the broker is unreachable.
    pub async fn bind(exchange: &str, queue: Option<&str>) -> Option<EventTap> {
        use lapin::options::*;
        use lapin::types::FieldTable;
        uses_servers().await;
        let conn = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .ok()?;
        let channel = conn.create_channel().await.ok()?;
        im_access::broker::declare_exchange(&channel, exchange)
            .await
            .ok()?;
        let q = channel
            .queue_declare(
                queue.unwrap_or("").into(),
                QueueDeclareOptions {
                    durable: queue.is_some(),
                    exclusive: queue.is_none(),
                    auto_delete: queue.is_none(),
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .ok()?;
        let name = q.name().as_str().to_owned();
        for t in ["user.*", "session.*", "relation.*"] {
            channel
                .queue_bind(
                    name.as_str().into(),
                    exchange.into(),
                    t.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .ok()?;
        }
        let consumer = channel
            .basic_consume(
                name.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .ok()?;
        Some(EventTap {
            conn,
            channel,
            consumer,
            queue: name,
        })
    }

    /// The next message (acknowledged), or None after `wait` without one.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<Received> {
        use futures_util::StreamExt;
        let d = tokio::time::timeout(wait, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        d.ack(lapin::options::BasicAckOptions::default())
            .await
            .ok()?;
        Some(Received {
            routing_key: d.routing_key.as_str().to_owned(),
            properties: d.properties.clone(),
            body: serde_json::from_slice(&d.data).expect("message body is JSON"),
            redelivered: d.redelivered,
        })
    }

    /// Messages until `n` distinct event ids arrived (duplicates kept, in arrival
    /// order), or `deadline` passed.
    pub async fn collect(&mut self, n: usize, deadline: std::time::Duration) -> Vec<Received> {
        let started = std::time::Instant::now();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        while seen.len() < n {
            let left = deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            match self.next(left).await {
                Some(m) => {
                    seen.insert(m.body["id"].as_str().unwrap_or_default().to_owned());
                    out.push(m);
                }
                None => break,
            }
        }
        out
    }

    pub async fn delete_queue(&self) {
        let _ = self
            .channel
            .queue_delete(
                self.queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
}

/// Outbox rows in id order with their seq and publication state:
/// (event_id, type, data, seq, published).
pub async fn outbox_rows(
    db: &sea_orm::DatabaseConnection,
) -> Vec<(String, String, Value, Option<i64>, bool)> {
    use sea_orm::{EntityTrait, QueryOrder};
    entity::outbox::Entity::find()
        .order_by_asc(entity::outbox::Column::Id)
        .all(db)
        .await
        .expect("outbox rows")
        .into_iter()
        .map(|r| {
            (
                r.event_id,
                r.event_type,
                serde_json::from_str(&r.data).expect("data json"),
                r.seq,
                r.published_at.is_some(),
            )
        })
        .collect()
}

/// The sum of `metric`'s samples in a `/metrics` text whose labels include each of
/// `labels` (written `name="value"`).
/// The value of a metric without labels, if the scrape has it.
pub fn metric_value(text: &str, metric: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(metric)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

pub fn metric_sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    let prefix = format!("{metric}{{");
    text.lines()
        .filter(|l| l.starts_with(&prefix) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

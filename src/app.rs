//! `Application::build(settings)` wires everything and binds the listener (port 0 picks
//! a free one, which the tests use); `run_until_stopped` serves until shutdown.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::actors::{ActorThreads, Actors, Gauges, Placement};
use crate::broker::BrokerStatus;
use crate::config::Settings;
use crate::domain::check_code::CodeHasher;
use crate::domain::jwt::JwtIssuer;
use crate::domain::phone::TestNumbers;
use crate::events::OutboxSignal;
use crate::http::AppState;
use crate::media::storage::LocalStorage;
use crate::media::Avatars;
use crate::services::{Deps, Services};
use crate::store::Db;

pub struct Application {
    port: u16,
    base_url: String,
    server: Server,
    state: web::Data<AppState>,
    threads: Option<Arc<ActorThreads>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A secret from configuration, or one generated once and kept in `data_dir` so that
/// tokens survive restarts.
fn secret_or_generated(
    configured: &SecretString,
    data_dir: &Path,
    file: &str,
) -> Result<(Vec<u8>, bool), StartError> {
    let s = configured.expose_secret();
    if !s.is_empty() {
        return Ok((s.as_bytes().to_vec(), false));
    }
    let path = data_dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let t = existing.trim();
        if t.len() >= 32 {
            return Ok((t.as_bytes().to_vec(), true));
        }
    }
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &fresh)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok((fresh.into_bytes(), true))
}

/// A key for a purpose, derived from a master secret.
fn derive_key(master: &[u8], purpose: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl Application {
    /// Must run inside an actix System (`#[actix_web::main]`, `#[actix_web::test]`).
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        settings
            .validate()
            .map_err(|e| StartError::Config(e.to_string()))?;
        std::fs::create_dir_all(&settings.app.data_dir)?;

        let keyed = settings
            .jwt
            .keyed_issuer()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let code_key_set = !settings.sms.code_key.expose_secret().is_empty();
        // jwt.secret (or a generated one) signs when there is no key list, and derives the
        // SMS code key when sms.code_key is empty.
        let jwt_secret = if keyed.is_none() || !code_key_set {
            let (secret, generated) =
                secret_or_generated(&settings.jwt.secret, &settings.app.data_dir, "jwt.secret")?;
            let path = settings.app.data_dir.join("jwt.secret");
            if generated && keyed.is_none() {
                tracing::warn!(
                    path = %path.display(),
                    "no jwt.secret configured: using a generated one kept in the data folder; set IM__JWT__SECRET to the secret shared with the IM server"
                );
            } else if generated {
                tracing::warn!(
                    path = %path.display(),
                    "neither sms.code_key nor jwt.secret configured: SMS codes are hashed with a key from a generated secret kept in the data folder; set IM__SMS__CODE_KEY when several instances share the database"
                );
            }
            secret
        } else {
            Vec::new()
        };
        let code_key = match settings.sms.code_key.expose_secret() {
            k if !k.is_empty() => k.as_bytes().to_vec(),
            _ => derive_key(&jwt_secret, "im-access sms code key"),
        };
        let jwt = match keyed {
            Some(issuer) => {
                tracing::info!(
                    kid = issuer.current_kid().unwrap_or_default(),
                    algorithm = ?issuer.algorithm(),
                    published = issuer.jwks().keys.len(),
                    "IM tokens signed with a configured key"
                );
                issuer
            }
            None => JwtIssuer::hs256(
                &jwt_secret,
                settings.jwt.im_token_ttl_secs,
                settings.jwt.action_token_ttl_secs,
            ),
        };

        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get().min(512)),
            n => n,
        };
        // The threads that run the actors serve the requests' database work.
        let request_threads = match settings.actors.threads {
            0 => workers,
            n => n,
        };
        let db = Db::connect_for(&settings.database, request_threads).await?;
        if settings.database.migrate_on_start {
            db.migrate().await?;
        }

        let listener = TcpListener::bind(&settings.server.bind)?;
        let addr = listener.local_addr()?;
        let base_url = if settings.server.public_base_url.is_empty() {
            format!("http://{addr}")
        } else {
            settings.server.public_base_url.clone()
        };
        let storage = LocalStorage::new(settings.storage.dir.clone(), base_url.clone())?;
        let provider = crate::sms::build(&settings.sms).map_err(StartError::Config)?;

        let settings = Arc::new(settings);
        let signal = OutboxSignal::default();
        let test_numbers = TestNumbers::new(
            settings
                .sms
                .test_numbers
                .iter()
                .map(|t| (t.nation_code.as_str(), t.phone.as_str(), t.code.as_str())),
        );
        let sms_provider = provider.name();
        let services = Services::new(Deps {
            db: db.clone(),
            settings: settings.clone(),
            storage: storage.clone(),
            signal: signal.clone(),
            test_numbers: test_numbers.clone(),
            codes: CodeHasher::new(&code_key),
            jwt: jwt.clone(),
            sms_provider: provider,
        });
        let gauges = Gauges::default();
        // actors.threads = 0: every HTTP worker runs its own shards on its own thread.
        let threads = (settings.actors.threads > 0)
            .then(|| Arc::new(ActorThreads::new(settings.actors.threads)));
        // The threads that run the actors do the database work: each gets its own pool.
        if let Some(t) = &threads {
            t.each(|| {
                let db = db.clone();
                move || db.serve_on_this_thread()
            });
        }
        let dedicated = threads.as_ref().map(|t| {
            web::Data::new(Actors::start(
                &services,
                &gauges,
                &settings.actors,
                Placement::Threads(t),
            ))
        });

        let broker = Arc::new(BrokerStatus::default());
        let state = web::Data::new(AppState {
            test_numbers,
            avatars: Avatars::new(&settings.storage, &settings.limits),
            settings: settings.clone(),
            db: db.clone(),
            services: services.clone(),
            gauges: gauges.clone(),
            broker: broker.clone(),
            keys: crate::http::extract::AccessKeys::new(&settings),
            jwt,
        });
        crate::metrics::handle();
        let relays = !settings.amqp.url.expose_secret().is_empty();
        crate::metrics::configured(&settings, sms_provider, relays);
        // Without a broker (one process) the caches stay on; with one, `cluster` turns
        // them on once its feed is live.
        crate::metrics::cache_coherent(services.caches_enabled());

        let resource_dir = storage.root().to_owned();
        let server_state = state.clone();
        let route_settings = settings.clone();
        let worker_db = db.clone();
        let server = HttpServer::new(move || {
            let actors = match &dedicated {
                Some(shared) => shared.clone(),
                // Runs on the worker's own thread: these shards live with it.
                None => {
                    worker_db.serve_on_this_thread();
                    web::Data::new(Actors::start(
                        &services,
                        &gauges,
                        &route_settings.actors,
                        Placement::Here,
                    ))
                }
            };
            App::new()
                .app_data(server_state.clone())
                .app_data(actors)
                // No allowlist, no CORS: browsers then keep to same-origin by themselves.
                .wrap(actix_web::middleware::Condition::new(
                    !route_settings.server.cors_allowed_origins.is_empty(),
                    cors(&route_settings.server.cors_allowed_origins),
                ))
                .wrap(from_fn(crate::http::middleware::request_context))
                .service(
                    web::scope("/resource")
                        // Stored files are ours, re-encoded, under names we made; the
                        // headers make sure no browser reads them as anything else.
                        .wrap(
                            actix_web::middleware::DefaultHeaders::new()
                                .add(("X-Content-Type-Options", "nosniff"))
                                .add(("Content-Security-Policy", "default-src 'none'"))
                                .add(("Cache-Control", "public, max-age=31536000, immutable")),
                        )
                        .service(
                            actix_files::Files::new("", resource_dir.clone())
                                .use_etag(true)
                                .use_last_modified(true),
                        ),
                )
                .configure(|cfg| crate::http::routes(cfg, &route_settings))
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_millis(
            settings.server.client_request_timeout_ms,
        ))
        .max_connections(settings.server.max_connections_per_worker)
        .workers(workers)
        .run();

        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut background = vec![
            tokio::spawn(maintenance(db.clone(), stop_rx.clone())),
            tokio::spawn(crate::services::session::admin::sweep_bans(
                state.services.sessions.clone(),
                stop_rx.clone(),
            )),
        ];
        if relays {
            let relay = crate::events::relay::Relay::new(
                db.clone(),
                settings.amqp.clone(),
                &settings.events,
                signal.clone(),
                broker.clone(),
            );
            background.push(tokio::spawn(relay.run(stop_rx.clone())));
            background.push(tokio::spawn(crate::cluster::run(
                db.clone(),
                settings.amqp.clone(),
                state.services.clone(),
                stop_rx.clone(),
            )));
        }
        tracing::info!(%addr, public_base_url = %base_url, database = ?db.backend(), "im-access listening");
        Ok(Application {
            port: addr.port(),
            base_url,
            server,
            state,
            threads,
            background,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The public base URL (avatar URLs start with it).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle that stops the server gracefully (what SIGTERM does).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGTERM/SIGINT or a handle), then stops the
    /// background work and the actor threads.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let res = self.server.await;
        let _ = self.stop.send(true);
        for task in self.background {
            // Tasks that watch `stop` end by themselves; the rest are cut off.
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        if let Some(threads) = &self.threads {
            threads.stop();
        }
        tracing::info!("im-access stopped");
        res
    }
}

/// CORS for browser clients (web, h5): only the configured origins, with the headers
/// the routes read.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "OPTIONS"])
        .allowed_headers([
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::ACCEPT_LANGUAGE,
            actix_web::http::header::HeaderName::from_static("token"),
            actix_web::http::header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            actix_web::http::header::RETRY_AFTER,
        ])
        .max_age(3600);
    for o in origins {
        c = c.allowed_origin(o);
    }
    c
}

/// Deletes what has expired: rate windows and sessions past their lifetime.
async fn maintenance(db: Db, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now = crate::domain::now_ms();
        if let Err(e) = crate::store::rate::delete_expired(&db.conn(), now).await {
            tracing::debug!(error = %e, "rate counter cleanup failed");
        }
        if let Err(e) = crate::store::sessions::delete_expired(&db.conn(), now).await {
            tracing::debug!(error = %e, "session cleanup failed");
        }
    }
}

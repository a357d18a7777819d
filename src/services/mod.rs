//! Services: the rules of each operation and the transaction that applies it, with the
//! near-caches they keep. Handlers reach them through the actors (`crate::actors`);
//! nothing else touches their caches: a change another process made reaches them as an
//! event, through `Services::apply`.
//!
//! An operation is one service function: it checks its rules and commits, in one write
//! transaction (`store::Db::write`), the change and the events that describe it
//! (`store::outbox`); after the commit it wakes the relay and drops what it made stale
//! in this process's caches.

pub mod internal;
pub mod profile;
pub mod relation;
pub mod session;
pub mod sms;

use std::sync::Arc;

pub use profile::ProfileService;
pub use relation::RelationService;
pub use session::SessionService;
pub use sms::SmsService;

use crate::config::Settings;
use crate::domain::check_code::CodeHasher;
use crate::domain::event::Event;
use crate::domain::jwt::JwtIssuer;
use crate::domain::phone::TestNumbers;
use crate::events::OutboxSignal;
use crate::media::storage::LocalStorage;
use crate::sms::SmsProvider;
use crate::store::Db;

/// What every service is built from.
pub struct Deps {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub storage: LocalStorage,
    pub signal: OutboxSignal,
    pub test_numbers: TestNumbers,
    /// Hashes stored SMS codes.
    pub codes: CodeHasher,
    pub jwt: JwtIssuer,
    pub sms_provider: Arc<dyn SmsProvider>,
}

/// Every service of the process, each once.
#[derive(Clone)]
pub struct Services {
    pub sms: Arc<SmsService>,
    pub sessions: Arc<SessionService>,
    pub profiles: Arc<ProfileService>,
    pub relations: Arc<RelationService>,
}

impl Services {
    pub fn new(d: Deps) -> Self {
        let profiles = Arc::new(ProfileService::new(&d));
        let relations = Arc::new(RelationService::new(&d, profiles.clone()));
        let sessions = Arc::new(SessionService::new(&d, profiles.clone(), relations.clone()));
        let sms = Arc::new(SmsService::new(d));
        Services {
            sms,
            sessions,
            profiles,
            relations,
        }
    }

    /// Drops what an event committed by another process makes stale here.
    pub async fn apply(&self, event: &Event) {
        self.sessions.apply(event);
        self.profiles.apply(event).await;
        self.relations.apply(event).await;
    }

    /// Switches the near-caches off (every read goes to the database) or back on: off
    /// while changes made elsewhere might not reach them in time (`crate::cluster`).
    pub fn set_caches_enabled(&self, on: bool) {
        self.sessions.set_cache_enabled(on);
        self.profiles.set_cache_enabled(on);
        self.relations.set_cache_enabled(on);
    }

    pub fn caches_enabled(&self) -> bool {
        self.sessions.cache_enabled()
    }

    /// Cache gauges, at scrape time.
    pub fn record_metrics(&self) {
        self.sessions.record_metrics();
        self.profiles.record_metrics();
        self.relations.record_metrics();
    }
}

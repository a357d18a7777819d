//! The outbox relay: publishes committed outbox rows to RabbitMQ, in order, with
//! publisher confirms, and marks a row published only after the broker confirmed it.
//!
//! One process at a time relays (a lease in `relay_state`); the others keep a broker
//! connection open and take over when the lease runs out, so a relay that dies
//! mid-batch is replaced within `amqp.lease_secs`. A round: take up to `batch_size`
//! unpublished rows below the high-water mark (see `store::outbox`) in id order, publish
//! them as `seq = next_seq + position` (mandatory, persistent), wait for every confirm,
//! then mark the confirmed prefix published and advance `next_seq` in one transaction.
//! A nack, a returned (unroutable) message or a lost connection fails the round: the
//! unconfirmed rows go out again, under the same numbers, after a reconnect.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use sea_orm::DbBackend;
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::broker::BrokerStatus;
use crate::config::{AmqpSettings, EventsSettings};
use crate::domain::event::render_body;
use crate::domain::now_ms;
use crate::events::OutboxSignal;
use crate::store::{outbox, Db};

/// The PostgreSQL channel a process NOTIFYs after committing events it does not relay.
const NOTIFY_CHANNEL: &str = "im_outbox";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("broker: {0}")]
    Broker(String),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl From<lapin::Error> for RelayError {
    fn from(e: lapin::Error) -> Self {
        RelayError::Broker(e.to_string())
    }
}

enum Round {
    Idle,
    Published { next_seq: i64, full: bool },
    LostLease,
}

struct Link {
    conn: Connection,
    channel: Channel,
}

pub struct Relay {
    db: Db,
    amqp: AmqpSettings,
    retention: Duration,
    cleanup_every: Duration,
    signal: OutboxSignal,
    status: Arc<BrokerStatus>,
    holder: String,
}

impl Relay {
    pub fn new(
        db: Db,
        amqp: AmqpSettings,
        events: &EventsSettings,
        signal: OutboxSignal,
        status: Arc<BrokerStatus>,
    ) -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned());
        let holder = format!(
            "{host}/{}/{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Relay {
            db,
            amqp,
            retention: Duration::from_secs(events.retention_hours.saturating_mul(3600)),
            cleanup_every: Duration::from_secs(events.cleanup_every_secs.max(1)),
            signal,
            status,
            holder,
        }
    }

    fn lease_ms(&self) -> i64 {
        (self.amqp.lease_secs.max(1) * 1000) as i64
    }

    /// Runs until `stop` flips: connects with backoff, relays while it holds the lease,
    /// and gives the lease up on the way out.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        self.status.set(BrokerStatus::CONNECTING);
        let mut backoff = Duration::from_millis(100);
        loop {
            if *stop.borrow() {
                break;
            }
            match self.connect().await {
                Ok(link) => {
                    backoff = Duration::from_millis(100);
                    self.status.set(BrokerStatus::CONNECTED);
                    tracing::info!(exchange = %self.amqp.exchange, "outbox relay connected to the broker");
                    let res = self.serve(&link, &mut stop).await;
                    let _ = link.conn.close(200, "shutdown".into()).await;
                    match res {
                        Ok(()) => break,
                        Err(e) => {
                            metrics::counter!("im_relay_failures_total", "reason" => "broker")
                                .increment(1);
                            tracing::warn!(error = %e, "outbox relay lost the broker; events wait in the outbox");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay cannot reach the broker");
                }
            }
            self.status.set(BrokerStatus::DOWN);
            metrics::gauge!("im_relay_leader").set(0.0);
            let jitter = Duration::from_millis(rand::random::<u64>() % 100);
            tokio::select! {
                _ = tokio::time::sleep(backoff + jitter) => {}
                _ = stop.changed() => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        if let Err(e) = outbox::release_lease(&self.db.conn(), &self.holder).await {
            tracing::warn!(error = %e, "could not release the relay lease; another process takes over when it runs out");
        }
        metrics::gauge!("im_relay_leader").set(0.0);
    }

    async fn connect(&self) -> Result<Link, RelayError> {
        let connect = Connection::connect(
            self.amqp.url.expose_secret(),
            ConnectionProperties::default().with_connection_name("im-access outbox relay".into()),
        );
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| RelayError::Broker("connect timed out".to_owned()))??;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        crate::broker::declare_exchange(&channel, &self.amqp.exchange).await?;
        Ok(Link { conn, channel })
    }

    async fn serve(&self, link: &Link, stop: &mut watch::Receiver<bool>) -> Result<(), String> {
        let lease_ms = self.lease_ms();
        let poll = Duration::from_millis(self.amqp.poll_ms.max(1));
        let mut lease_until = 0i64;
        // When a process that does not relay next looks at the lease (it is woken by
        // every local commit, and must not hit the lease row each time).
        let mut next_claim = 0i64;
        let mut next_seq = 0i64;
        let mut last_cleanup: Option<Instant> = None;
        let mut wake = Wake::new(&self.db).await;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if !link.conn.status().connected() {
                return Err("connection closed".to_owned());
            }
            let now = now_ms();
            // Renew once a third of the lease is used, so a slow round never lets it lapse.
            let holding = lease_until > now;
            if (holding && lease_until - now < lease_ms * 2 / 3) || (!holding && now >= next_claim)
            {
                next_claim = now + lease_ms / 3;
                match outbox::claim_lease(&self.db, &self.holder, now, lease_ms).await {
                    Ok(Some(seq)) => {
                        if lease_until <= now {
                            tracing::info!(holder = %self.holder, next_seq = seq, "this process relays the outbox");
                            metrics::gauge!("im_relay_leader").set(1.0);
                        }
                        lease_until = now + lease_ms;
                        next_seq = seq;
                    }
                    Ok(None) => {
                        if lease_until > 0 {
                            metrics::gauge!("im_relay_leader").set(0.0);
                        }
                        lease_until = 0;
                    }
                    Err(e) => {
                        lease_until = 0;
                        if database_down(stop, &e).await {
                            return Ok(());
                        }
                        continue;
                    }
                }
            }
            let leader = lease_until > now_ms();
            if leader {
                match self.round(link, next_seq, lease_ms).await {
                    Ok(Round::Published { next_seq: n, full }) => {
                        next_seq = n;
                        lease_until = now_ms() + lease_ms;
                        if full {
                            continue;
                        }
                    }
                    Ok(Round::Idle) => {}
                    Ok(Round::LostLease) => {
                        tracing::warn!("the relay lease passed to another process mid-round");
                        metrics::gauge!("im_relay_leader").set(0.0);
                        lease_until = 0;
                    }
                    Err(RelayError::Broker(e)) => return Err(e),
                    Err(RelayError::Db(e)) => {
                        if database_down(stop, &e).await {
                            return Ok(());
                        }
                        continue;
                    }
                }
                if last_cleanup.is_none_or(|t| t.elapsed() >= self.cleanup_every) {
                    last_cleanup = Some(Instant::now());
                    self.clean_up().await;
                }
            }
            // Idle: a local commit, another process's NOTIFY, the poll or the lease
            // renewal wakes us.
            let idle = if leader {
                poll
            } else {
                Duration::from_millis((lease_ms / 3) as u64).min(poll * 10)
            };
            let local_commit = tokio::select! {
                _ = self.signal.wait() => true,
                _ = wake.heard() => false,
                _ = tokio::time::sleep(idle) => false,
                _ = stop.changed() => return Ok(()),
            };
            if local_commit && !leader {
                wake.tell_relay(&self.db).await;
            }
        }
    }

    async fn round(&self, link: &Link, next_seq: i64, lease_ms: i64) -> Result<Round, RelayError> {
        let db = &self.db.conn();
        let t0 = Instant::now();
        if outbox::oldest_unpublished(db).await?.is_none() {
            return Ok(Round::Idle);
        }
        let t_check = t0.elapsed();
        let high_water = outbox::high_water_mark(&self.db).await?;
        let t_barrier = t0.elapsed();
        let batch = u64::from(self.amqp.batch_size.max(1));
        let rows = outbox::pending(db, high_water, batch).await?;
        if rows.is_empty() {
            return Ok(Round::Idle);
        }
        let mut confirms = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let seq = next_seq + i as i64;
            let body = render_body(
                &row.event_id,
                seq,
                &row.event_type,
                row.occurred_at,
                &row.data,
            )
            .map_err(|e| {
                // Only this server writes the outbox; a row it can't read is a bug to see.
                tracing::error!(error = %e, id = row.id, "outbox row holds invalid JSON");
                RelayError::Broker(format!("outbox row {} holds invalid JSON", row.id))
            })?;
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(row.event_id.as_str().into())
                .with_timestamp((row.occurred_at / 1000).max(0) as u64);
            let confirm = link
                .channel
                .basic_publish(
                    self.amqp.exchange.as_str().into(),
                    row.event_type.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    body.as_bytes(),
                    props,
                )
                .await?;
            confirms.push(confirm);
        }
        let t_published = t0.elapsed();
        let mut confirmed = 0usize;
        let mut refused = None;
        for confirm in confirms {
            match confirm.await? {
                Confirmation::Ack(None) if refused.is_none() => confirmed += 1,
                Confirmation::Ack(None) => {}
                Confirmation::Ack(Some(_)) => {
                    refused.get_or_insert("returned as unroutable (no queue bound)");
                }
                Confirmation::Nack(_) => {
                    refused.get_or_insert("nacked by the broker");
                }
                Confirmation::NotRequested => {
                    refused.get_or_insert("not confirmed");
                }
            }
        }
        let t_confirmed = t0.elapsed();
        let now = now_ms();
        if confirmed > 0 {
            let ids: Vec<i64> = rows[..confirmed].iter().map(|r| r.id).collect();
            if !outbox::mark_published(&self.db, &self.holder, &ids, next_seq, now, lease_ms)
                .await?
            {
                return Ok(Round::LostLease);
            }
            metrics::counter!("im_relay_published_total").increment(confirmed as u64);
            metrics::histogram!(crate::metrics::RELAY_BATCH).record(confirmed as f64);
            for row in &rows[..confirmed] {
                metrics::histogram!("im_relay_commit_to_confirm_seconds")
                    .record(((now - row.occurred_at).max(0) as f64) / 1000.0);
            }
        }
        tracing::debug!(
            rows = rows.len(),
            check_us = t_check.as_micros() as u64,
            barrier_us = t_barrier.as_micros() as u64,
            published_us = t_published.as_micros() as u64,
            confirmed_us = t_confirmed.as_micros() as u64,
            marked_us = t0.elapsed().as_micros() as u64,
            "relay round (cumulative times)"
        );
        if let Some(why) = refused {
            metrics::counter!("im_relay_failures_total", "reason" => "refused").increment(1);
            return Err(RelayError::Broker(format!(
                "event seq {} {why}",
                next_seq + confirmed as i64
            )));
        }
        Ok(Round::Published {
            next_seq: next_seq + confirmed as i64,
            full: rows.len() as u64 == batch,
        })
    }

    /// Deletes published events past the retention, a chunk at a time.
    async fn clean_up(&self) {
        let cutoff = now_ms() - self.retention.as_millis() as i64;
        let mut removed = 0u64;
        loop {
            match outbox::delete_published_before(&self.db.conn(), cutoff, 5000).await {
                Ok(0) => break,
                Ok(n) => removed += n,
                Err(e) => {
                    tracing::warn!(error = %e, "could not clean up the outbox");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "published events past the retention deleted");
            metrics::counter!("im_outbox_cleaned_total").increment(removed);
        }
    }
}

/// Reports a database failure and waits a second before the next try; true when
/// stopping.
async fn database_down(stop: &mut watch::Receiver<bool>, e: &sea_orm::DbErr) -> bool {
    metrics::counter!("im_relay_failures_total", "reason" => "database").increment(1);
    tracing::warn!(error = %e, "outbox relay cannot reach the database");
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => false,
        _ = stop.changed() => true,
    }
}

/// Cross-process wake-ups on PostgreSQL: a process that commits events it does not
/// relay NOTIFYs, and the relaying process LISTENs. Elsewhere the poll does the job.
struct Wake {
    listener: Option<sea_orm::sqlx::postgres::PgListener>,
}

impl Wake {
    async fn new(db: &Db) -> Self {
        if db.backend() != DbBackend::Postgres {
            return Wake { listener: None };
        }
        let conn = db.conn();
        let pool = conn.get_postgres_connection_pool();
        let listener = match sea_orm::sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(mut l) => match l.listen(NOTIFY_CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for outbox commits; polling");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for outbox commits; polling");
                None
            }
        };
        Wake { listener }
    }

    /// Resolves on a NOTIFY (never, without a listener).
    async fn heard(&mut self) {
        match &mut self.listener {
            Some(l) => {
                if l.recv().await.is_err() {
                    // The listener reconnects by itself; don't spin meanwhile.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            None => std::future::pending().await,
        }
    }

    async fn tell_relay(&self, db: &Db) {
        if db.backend() != DbBackend::Postgres {
            return;
        }
        let conn = db.conn();
        let pool = conn.get_postgres_connection_pool();
        if let Err(e) = sea_orm::sqlx::query("SELECT pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(pool)
            .await
        {
            tracing::debug!(error = %e, "could not notify the relaying process");
        }
    }
}

//! Prometheus metrics through the `metrics` facade. One recorder per process; every
//! Application in it (tests run several) shares it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Events per relay batch: one at idle, up to the batch limit under load.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Installs the recorder on first use, with every metric's description and the series
/// an operator needs before their first event. `None` if another recorder was
/// installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                // Without buckets the exporter renders a summary, whose quantiles
                // cannot be added up over processes.
                .set_buckets_for_metric(Matcher::Full(RELAY_BATCH.into()), BATCH_BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()?;
            describe();
            zero_series();
            let process = PROCESS.get_or_init(metrics_process::Collector::default);
            process.describe();
            process.collect();
            spawn_upkeep(handle.clone());
            Some(handle)
        })
        .as_ref()
}

/// Refreshes the process_* metrics (read from /proc), at scrape time.
pub fn collect_process() {
    if let Some(p) = PROCESS.get() {
        p.collect();
    }
}

pub const RELAY_BATCH: &str = "im_relay_batch_events";

/// `# HELP` of every metric the server exports (the process_* ones come with
/// metrics-process). The `code` label of the HTTP metrics is the envelope's `code`
/// (0 ok, 1 invalid input, 401, 403, 404, 429, 500, 503, ...), which is what tells
/// failures apart: most failures answer HTTP 200.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "im_http_requests_total",
        "HTTP requests answered, by route pattern and envelope code"
    );
    describe_histogram!(
        "im_http_request_duration_seconds",
        Unit::Seconds,
        "Time from receiving a request to its response, by route pattern and envelope code"
    );
    describe_counter!(
        "im_cache_requests_total",
        "Near-cache lookups by cache and result (hit or miss)"
    );
    describe_gauge!("im_cache_entries", "Entries held by each near-cache");
    describe_gauge!(
        "im_cache_size_bytes",
        Unit::Bytes,
        "Estimated bytes held by the near-caches whose capacity is set in bytes"
    );
    describe_gauge!(
        "im_cache_coherent",
        "1 while this process serves from its near-caches; 0 while they are off because the invalidation feed is down or the relay lags"
    );
    describe_gauge!(
        "im_cache_feed_connected",
        "1 while this process's cache-invalidation subscription to the broker is live"
    );
    describe_counter!(
        "im_sms_sends_total",
        "SMS codes handed to the provider, by provider and outcome (ok or failed)"
    );
    describe_counter!(
        "im_sms_refused_total",
        "sms/send requests refused before reaching the provider, by reason"
    );
    describe_counter!(
        "im_sms_suppressed_total",
        "sms/send requests answered ok without sending (the number's account is banned)"
    );
    describe_counter!(
        "im_sms_country_budget_exhausted_total",
        "Sends refused by a foreign country's daily budget (possible SMS pumping), by nation code"
    );
    describe_gauge!(
        "im_sms_global_daily_budget",
        "The configured global SMS budget per sliding 24 hours (sms.global_daily_budget)"
    );
    describe_gauge!(
        "im_actor_mailbox_depth",
        "Messages waiting in the actors' mailboxes, by actor kind (summed over shards)"
    );
    describe_gauge!(
        "im_actor_mailbox_capacity",
        "Mailbox capacity of one actor shard (actors.mailbox_capacity)"
    );
    describe_counter!(
        "im_actor_restarts_total",
        "Actors restarted after a panic, by actor kind"
    );
    describe_counter!(
        "im_admin_actions_total",
        "Changes made through the operators' API, by action (each also in the audit log)"
    );
    describe_gauge!(
        "im_db_pool_connections",
        "Database connections of this process by state (open, idle, max)"
    );
    describe_gauge!(
        "im_broker_configured",
        "1 when this process relays events and follows the cache feed (amqp.url is set)"
    );
    describe_gauge!(
        "im_broker_connected",
        "1 while the outbox relay is connected to the broker"
    );
    describe_gauge!(
        "im_relay_leader",
        "1 while this process holds the relay lease (exactly one process should)"
    );
    describe_counter!(
        "im_relay_published_total",
        "Events published to the broker and confirmed by it"
    );
    describe_histogram!(RELAY_BATCH, "Events per confirmed relay batch");
    describe_histogram!(
        "im_relay_commit_to_confirm_seconds",
        Unit::Seconds,
        "Time from an event's commit to the broker's confirmation of it"
    );
    describe_counter!(
        "im_relay_failures_total",
        "Relay rounds that failed, by reason (broker, refused, database)"
    );
    describe_counter!(
        "im_outbox_cleaned_total",
        "Published events removed from the outbox after their retention"
    );
    describe_gauge!(
        "im_outbox_backlog_events",
        "Events committed but not yet published"
    );
    describe_gauge!(
        "im_outbox_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest unpublished event (0 when none waits)"
    );
}

/// Reasons an SMS send is refused (`im_sms_refused_total`).
pub const SMS_REFUSALS: &[&str] = &[
    "country",
    "denied_range",
    "cooldown",
    "global_budget",
    "country_budget",
    "limit",
];

/// Reasons a relay round fails (`im_relay_failures_total`).
const RELAY_FAILURES: &[&str] = &["broker", "refused", "database"];

/// Series that must exist before their first event: a rate over a series that appears
/// with its first increment misses that increment, and a rule or panel keyed on a
/// label has nothing to show until then.
fn zero_series() {
    for reason in SMS_REFUSALS {
        metrics::counter!("im_sms_refused_total", "reason" => *reason).increment(0);
    }
    metrics::counter!("im_sms_suppressed_total", "reason" => "banned").increment(0);
    for reason in RELAY_FAILURES {
        metrics::counter!("im_relay_failures_total", "reason" => *reason).increment(0);
    }
    for action in crate::services::session::admin::action::ALL {
        metrics::counter!("im_admin_actions_total", "action" => *action).increment(0);
    }
    for actor in crate::actors::KINDS {
        metrics::counter!("im_actor_restarts_total", "actor" => *actor).increment(0);
    }
    metrics::counter!("im_relay_published_total").increment(0);
    metrics::counter!("im_outbox_cleaned_total").increment(0);
    metrics::gauge!("im_relay_leader").set(0.0);
    metrics::gauge!("im_broker_connected").set(0.0);
    metrics::gauge!("im_cache_feed_connected").set(0.0);
    // Histograms render (with empty buckets) once registered.
    let _ = metrics::histogram!(RELAY_BATCH);
    let _ = metrics::histogram!("im_relay_commit_to_confirm_seconds");
}

/// Histogram samples pile up in the recorder until they are folded into buckets; a
/// scrape does that, but nobody may scrape (and between scrapes a busy server records
/// a lot), so fold them every few seconds to keep memory flat.
fn spawn_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "metrics upkeep thread not started; histograms grow until scraped");
    }
}

const UPKEEP_EVERY: Duration = Duration::from_secs(2);

pub fn http_request(route: &str, code: u16, elapsed: Duration) {
    // Resolving a metric by name and labels allocates and hashes on every call; each
    // worker thread keeps the handles of the (few) routes and codes it has seen.
    type Handles = Vec<(u16, metrics::Counter, metrics::Histogram)>;
    thread_local! {
        static HANDLES: std::cell::RefCell<std::collections::HashMap<Box<str>, Handles>> =
            Default::default();
    }
    HANDLES.with(|h| {
        let mut h = h.borrow_mut();
        if !h.contains_key(route) {
            h.insert(route.into(), Vec::new());
        }
        let Some(by_code) = h.get_mut(route) else {
            return;
        };
        let i = match by_code.iter().position(|(c, _, _)| *c == code) {
            Some(i) => i,
            None => {
                let labels = [("route", route.to_owned()), ("code", code.to_string())];
                by_code.push((
                    code,
                    metrics::counter!("im_http_requests_total", &labels),
                    metrics::histogram!("im_http_request_duration_seconds", &labels),
                ));
                by_code.len() - 1
            }
        };
        let (_, counter, histogram) = &by_code[i];
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
}

pub fn cache_counts(cache: &'static str, hits: u64, misses: u64, entries: u64, bytes: Option<u64>) {
    metrics::counter!("im_cache_requests_total", "cache" => cache, "result" => "hit")
        .absolute(hits);
    metrics::counter!("im_cache_requests_total", "cache" => cache, "result" => "miss")
        .absolute(misses);
    metrics::gauge!("im_cache_entries", "cache" => cache).set(entries as f64);
    if let Some(bytes) = bytes {
        metrics::gauge!("im_cache_size_bytes", "cache" => cache).set(bytes as f64);
    }
}

pub fn sms_send(provider: &'static str, outcome: &'static str) {
    metrics::counter!("im_sms_sends_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

pub fn sms_refused(reason: &'static str) {
    metrics::counter!("im_sms_refused_total", "reason" => reason).increment(1);
}

/// A send answered ok without asking the provider (the number's account is banned).
pub fn sms_suppressed(reason: &'static str) {
    metrics::counter!("im_sms_suppressed_total", "reason" => reason).increment(1);
}

/// A foreign country's daily SMS budget refused a send (labelled by country: at most a
/// few hundred values).
pub fn sms_country_budget_exhausted(nation_code: &str) {
    sms_refused("country_budget");
    metrics::counter!("im_sms_country_budget_exhausted_total", "nation_code" => nation_code.to_owned())
        .increment(1);
}

pub fn mailbox_depth(actor: &'static str, depth: usize) {
    metrics::gauge!("im_actor_mailbox_depth", "actor" => actor).set(depth as f64);
}

pub fn actor_restart(actor: &'static str) {
    metrics::counter!("im_actor_restarts_total", "actor" => actor).increment(1);
}

pub fn admin_action(action: &'static str) {
    metrics::counter!("im_admin_actions_total", "action" => action).increment(1);
}

/// Settings an operator compares live values with (set once at start).
pub fn configured(settings: &crate::config::Settings, sms_provider: &'static str, broker: bool) {
    for outcome in ["ok", "failed"] {
        metrics::counter!("im_sms_sends_total", "provider" => sms_provider, "outcome" => outcome)
            .increment(0);
    }
    metrics::gauge!("im_sms_global_daily_budget").set(f64::from(settings.sms.global_daily_budget));
    metrics::gauge!("im_actor_mailbox_capacity").set(settings.actors.mailbox_capacity as f64);
    metrics::gauge!("im_broker_configured").set(if broker { 1.0 } else { 0.0 });
}

/// Whether this process serves from its near-caches (see `cluster`).
pub fn cache_coherent(on: bool) {
    metrics::gauge!("im_cache_coherent").set(if on { 1.0 } else { 0.0 });
}

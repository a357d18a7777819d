//! Prometheus metrics through the `metrics` facade. One recorder per process; every
//! Application in it (tests run several) shares it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the recorder on first use. `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
                .inspect(|h| spawn_upkeep(h.clone()))
        })
        .as_ref()
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

pub fn cache_counts(cache: &'static str, hits: u64, misses: u64, entries: u64, weight: u64) {
    metrics::counter!("im_cache_requests_total", "cache" => cache, "result" => "hit")
        .absolute(hits);
    metrics::counter!("im_cache_requests_total", "cache" => cache, "result" => "miss")
        .absolute(misses);
    metrics::gauge!("im_cache_entries", "cache" => cache).set(entries as f64);
    metrics::gauge!("im_cache_weighted_size", "cache" => cache).set(weight as f64);
}

pub fn sms_send(provider: &'static str, outcome: &'static str) {
    metrics::counter!("im_sms_sends_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

pub fn sms_refused(reason: &'static str) {
    metrics::counter!("im_sms_refused_total", "reason" => reason).increment(1);
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

pub fn events_published(n: u64) {
    metrics::counter!("im_events_published_total").increment(n);
}

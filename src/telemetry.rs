//! Logging through tracing: human-readable by default, JSON when configured.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(settings: &LogSettings) {
    let mut spec = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.level.clone());
    // The database layers log statements with their values (phone numbers, token
    // hashes) at debug: keep them quiet unless asked for by name.
    // (A target matches by prefix, so this covers sea_orm_migration too; migrations
    // are logged by Db::migrate instead.)
    for (target, level) in [("sea_orm", "warn"), ("sqlx", "warn")] {
        if !spec.contains(target) {
            spec.push_str(&format!(",{target}={level}"));
        }
    }
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init(),
    };
}

//! Pure domain types: parsed at the edge, so an invalid value cannot exist past it.

pub mod check_code;
pub mod client;
pub mod device;
pub mod event;
pub mod jwt;
pub mod nickname;
pub mod phone;
pub mod relation;
pub mod token;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

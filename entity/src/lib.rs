//! sea-orm entities of the IM access server.
//!
//! Timestamps are unix milliseconds in `BIGINT` columns: the same type on SQLite,
//! PostgreSQL and MySQL, with no time-zone conversions between them.

pub mod admin_audit;
pub mod block;
pub mod follow;
pub mod outbox;
pub mod rate_counter;
pub mod relay_state;
pub mod session;
pub mod sms_code;
pub mod user;

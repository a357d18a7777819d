//! im-access: the IM access server.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod actors;
pub mod app;
pub mod broker;
pub mod cache;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod media;
pub mod metrics;
pub mod services;
pub mod sms;
pub mod store;
pub mod telemetry;

pub use app::Application;
pub use config::Settings;

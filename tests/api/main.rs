//! Black-box tests over real HTTP, in one test binary (one link, one compile of the
//! helpers). Run on SQLite by default; `IM_TEST_DATABASE=postgres` or `=mysql` runs the
//! same tests on those servers.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod admin;
mod auth;
mod cluster;
mod config;
mod console;
mod contract;
mod hardening;
mod im_server;
mod internal;
mod jwt_keys;
mod lifecycle;
mod monitoring;
mod pools;
mod profile;
mod properties;
mod relations;
mod relay;
mod resilience;
mod security;
mod sms;
mod sms_providers;
mod snapshot_load;

// The reference IM-server replica and token recipe, as the example builds them.
#[allow(dead_code)]
#[path = "../../examples/im_server/token.rs"]
mod im_token;
#[allow(dead_code)]
#[path = "../../examples/im_server/replica.rs"]
mod replica;

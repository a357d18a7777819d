//! Black-box tests over real HTTP. Run on SQLite by default; `IM_TEST_DATABASE=postgres`
//! or `=mysql` runs the same tests on those servers.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod auth;
mod config;
mod contract;
mod hardening;
mod pools;
mod profile;
mod relations;
mod security;
mod sms;

//! The merger: Alertmanager webhooks and an authenticated API become durable, deduplicated
//! merge tasks in redb, run by merge engines within windows and limits. See ARCHITECTURE.md.

pub mod alerts;
pub mod auth;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod plan;
pub mod request;
pub mod runtime;
pub mod server;
pub mod validate;
pub mod window;

pub use error::{Error, Result};

//! The small-files exporter: scans clusters on their intervals and serves the last complete
//! snapshot on `/metrics`. See ARCHITECTURE.md for the data flow.

pub mod cache;
pub mod classify;
pub mod demo;
pub mod dir_times;
pub mod error;
pub mod image;
pub mod metrics;
pub mod scan;
pub mod scheduler;
pub mod server;
pub mod snapshot;
mod tally;
mod unit;
pub mod walk;

pub use error::{Error, Result};

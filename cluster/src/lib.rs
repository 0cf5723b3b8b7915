//! Talking to a Hive cluster: the shared configuration, the metastore database (MySQL/MariaDB,
//! PostgreSQL) and the file systems that hold table data (WebHDFS, `file://`).

#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod error;
pub mod exposition;

pub use error::{Error, HdfsErrorKind, Result};
pub mod hdfs;
pub mod hiveserver2;
pub mod kerberos;
pub mod logging;
pub mod metastore;

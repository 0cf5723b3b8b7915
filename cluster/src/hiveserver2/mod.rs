//! A HiveServer2 (TCLIService) client for Hive, Impala, Spark's Thrift Server and Kyuubi:
//! binary transport without SASL (NOSASL) or with SASL PLAIN, and the HTTP transport
//! (`cliservice`, Basic auth; `https://` with TLS). Facts: `shared/reference/hiveserver2.md`.
//!
//! TLS on the binary transport (`tls`, `ca_file`). Not yet here: Kerberos (SASL GSSAPI); the
//! `Stream` under the binary transport is where it slots in, behind a cargo feature.

pub mod client;
pub mod thrift;

pub use client::{Auth, Cell, Hs2Config, ResultSet, Session};

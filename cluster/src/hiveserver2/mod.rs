//! A HiveServer2 (TCLIService) client for Hive, Impala, Spark's Thrift Server and Kyuubi:
//! binary transport without SASL (NOSASL) or with SASL PLAIN, and the HTTP transport
//! (`cliservice`, Basic auth). Facts: `shared/reference/hiveserver2.md`.
//!
//! Not yet here: TLS on the binary transport, Kerberos (SASL GSSAPI; the transport enum is where
//! it slots in), and the merge engines that use this client.

pub mod client;
pub mod thrift;

pub use client::{Auth, Cell, Hs2Config, ResultSet, Session};

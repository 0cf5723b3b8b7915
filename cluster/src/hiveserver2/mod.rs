//! A HiveServer2 (TCLIService) client for Hive, Impala, Spark's Thrift Server and Kyuubi:
//! binary transport without SASL (NOSASL), with SASL PLAIN or SASL GSSAPI (Kerberos, QOP auth;
//! cargo feature `kerberos`), and the HTTP transport (`cliservice`, Basic auth or SPNEGO with
//! the `hive.server2.auth` cookie; `https://` with TLS). Facts: `shared/reference/hiveserver2.md`.
//!
//! TLS on the binary transport (`tls`, `ca_file`).

pub mod client;
pub mod gssapi;
pub mod sasl;
pub mod thrift;
mod transport;

pub use client::{Auth, Cell, Hs2Config, ResultSet, Session};
pub use gssapi::Hs2Kerberos;

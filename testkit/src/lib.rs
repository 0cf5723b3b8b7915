//! Test and benchmark helpers: the WebHDFS test server, metastore fixtures, a TCP proxy for
//! outages, a metrics parser, process helpers and a real HiveServer2 (Spark's Thrift Server).

pub mod dingtalk;
pub mod hs2_server;
pub mod merger_api;
pub mod metastore;
pub mod process;
pub mod prom;
pub mod proxy;
pub mod spark;
pub mod webhdfs;

//! Test and benchmark helpers: the WebHDFS test server, metastore fixtures, a TCP proxy for
//! outages, a metrics parser, process helpers, a real HiveServer2 (Spark's Thrift Server) and Hadoop's own NameNode
//! (MiniDFSCluster).

pub mod dingtalk;
pub mod fsimage;
pub mod hs2_server;
pub mod merger_api;
pub mod metastore;
pub mod minidfs;
pub mod process;
pub mod prom;
pub mod proxy;
pub mod spark;
pub mod webhdfs;

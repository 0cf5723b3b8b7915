//! Test and benchmark helpers: the WebHDFS test server, metastore fixtures, a TCP proxy for
//! outages, a metrics parser and process helpers.

pub mod dingtalk;
pub mod metastore;
pub mod process;
pub mod prom;
pub mod proxy;
pub mod webhdfs;

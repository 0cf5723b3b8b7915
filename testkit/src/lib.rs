//! Test and benchmark helpers: the WebHDFS test server, metastore and warehouse fixture builders.

pub mod metastore;
pub mod webhdfs;

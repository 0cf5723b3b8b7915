//! The file systems that hold table data: HDFS over WebHDFS or its native RPC (both with
//! NameNode HA) and `file://`. Each answers the same questions — what is in this directory,
//! what is this path, remove this tree — behind [`FileSystem`]; [`ClusterFs`] picks one by the
//! location's scheme and the cluster's `hdfs.mode`.

mod failover;
pub mod fsimage;
pub mod hadoop_conf;
mod limiter;
mod local;
pub mod reply;
pub mod rpc;
mod walk;
mod webhdfs;

use std::future::Future;
use std::sync::Arc;

pub use limiter::{RequestCounters, RequestLimiter};
pub use local::LocalFs;
pub use rpc::RpcHdfs;
pub use walk::walk_data_files;
pub use webhdfs::WebHdfs;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The last path component (WebHDFS `pathSuffix`); empty for the object itself.
    pub name: String,
    pub kind: FileKind,
    pub length: u64,
    /// Milliseconds since the epoch.
    pub modification_time: i64,
    /// The owning user (WebHDFS `owner`; on local disk the numeric uid); empty when unknown.
    pub owner: String,
}

/// Directory listing and status of a path, in one file system; and removing a tree (the
/// merger's retired directories).
pub trait FileSystem: Send + Sync {
    fn list(&self, path: &str) -> impl Future<Output = Result<Vec<FileStatus>>> + Send;
    fn status(&self, path: &str) -> impl Future<Output = Result<FileStatus>> + Send;
    /// Removes a file or a directory tree; `false` when nothing was there.
    fn delete_recursive(&self, path: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// A table or partition location, classified by scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An absolute HDFS path, listed through the cluster's NameNodes whatever the nameservice.
    Hdfs(String),
    /// An absolute local path.
    Local(String),
    /// A scheme we do not list (s3a, abfs, ofs, viewfs, …): reported, not an error.
    Unsupported(String),
}

impl Location {
    /// The location as a URI the metastore would store (`hdfs:///p`, `file:///p`): what
    /// [`Location::parse`] reads back to the same value. None for an unsupported scheme, which
    /// keeps only its name.
    pub fn uri(&self) -> Option<String> {
        match self {
            Location::Hdfs(p) => Some(format!("hdfs://{p}")),
            Location::Local(p) => Some(format!("file://{p}")),
            Location::Unsupported(_) => None,
        }
    }

    /// Locations are kept exactly as the metastore stores them: Hive writes escaped partition
    /// values (`%3A`) literally into directory names, so nothing is percent-decoded here.
    pub fn parse(location: &str, bare_paths_are_hdfs: bool) -> Location {
        // Trailing spaces are part of the path: Hive keeps them in partition values (and so in
        // directory names) unescaped.
        let loc = location.trim_start();
        let Some((scheme, rest)) = split_scheme(loc) else {
            return if bare_paths_are_hdfs {
                Location::Hdfs(normalize(loc))
            } else {
                Location::Local(normalize(loc))
            };
        };
        let path = match rest.strip_prefix("//") {
            Some(after_authority) => match after_authority.find('/') {
                Some(i) => &after_authority[i..],
                None => "/",
            },
            None => rest,
        };
        match scheme.to_ascii_lowercase().as_str() {
            "hdfs" => Location::Hdfs(normalize(path)),
            "file" => Location::Local(normalize(path)),
            other => Location::Unsupported(other.to_string()),
        }
    }

    pub fn scheme(&self) -> &str {
        match self {
            Location::Hdfs(_) => "hdfs",
            Location::Local(_) => "file",
            Location::Unsupported(s) => s,
        }
    }
}

fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let i = s.find(':')?;
    let scheme = &s[..i];
    let valid = !scheme.is_empty()
        && scheme.chars().next()?.is_ascii_alphabetic()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| (scheme, &s[i + 1..]))
}

fn normalize(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// HDFS refuses longer paths (`HdfsServerConstants.MAX_PATH_LENGTH`).
pub const MAX_PATH_LENGTH: usize = 8000;

/// Why a location read from the metastore cannot be a path, if it cannot: longer than HDFS
/// allows, control characters, or bytes that were not UTF-8 in the metastore (read as U+FFFD).
/// One such row fails its table, not the cluster's scan.
pub fn location_problem(raw: &str) -> Option<String> {
    let why = if raw.len() > MAX_PATH_LENGTH {
        "longer than HDFS allows (8000)"
    } else if raw.chars().any(|c| c.is_control()) {
        "it holds control characters"
    } else if raw.contains('\u{FFFD}') {
        "it is not valid UTF-8 in the metastore"
    } else {
        return None;
    };
    Some(format!(
        "location {:?} cannot be a path: {why}",
        shorten(raw)
    ))
}

/// At most 200 characters of a value for a message or a log line, with its length when cut.
pub fn shorten(s: &str) -> String {
    if s.chars().count() <= 200 {
        return s.to_string();
    }
    let head: String = s.chars().take(200).collect();
    format!("{head}… ({} bytes)", s.len())
}

/// The pause before retry round `round` (1, 2, …) of a request that every NameNode failed:
/// 200 ms doubling up to 6.4 s, plus up to 100 ms of jitter so that parallel requests do not
/// come back at once. WebHDFS and RPC alike.
pub(crate) fn retry_pause(round: u32) -> std::time::Duration {
    let backoff = std::time::Duration::from_millis(200 * (1 << (round - 1).min(5)));
    backoff + std::time::Duration::from_millis(rand::random::<u64>() % 100)
}

/// Joins a directory and a child name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Names Hive and HDFS tools use for what is not table data: `_SUCCESS`, `_temporary`,
/// `.hive-staging_*`, `.snapshot`. Hive's input formats skip them, and so do we.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// The file systems of one cluster.
#[derive(Clone)]
pub struct ClusterFs {
    /// WebHDFS: listings in `mode: webhdfs`, and the image servlet in `mode: fsimage`.
    pub webhdfs: Option<Arc<WebHdfs>>,
    /// The native RPC client of `mode: rpc`: when present, every HDFS path goes through it.
    pub rpc: Option<Arc<RpcHdfs>>,
    pub local: LocalFs,
}

/// The HDFS client a path goes through.
enum Hdfs<'a> {
    Web(&'a WebHdfs),
    Rpc(&'a RpcHdfs),
}

impl ClusterFs {
    /// The file systems of a configured cluster, WebHDFS held to the cluster's request limits
    /// and counted in `counters`.
    pub fn for_cluster(
        config: &crate::config::ClusterConfig,
        limits: &crate::config::EffectiveSettings,
        counters: Arc<RequestCounters>,
    ) -> Result<ClusterFs> {
        let limiter = || {
            Arc::new(RequestLimiter::new(
                limits.max_concurrent_requests,
                limits.max_requests_per_second,
            ))
        };
        let (mut webhdfs, mut rpc) = (None, None);
        match &config.hdfs {
            Some(h) if h.mode == crate::config::HdfsMode::Rpc => {
                rpc = Some(Arc::new(RpcHdfs::new(
                    h,
                    config.hdfs_kerberos(),
                    &config.name,
                    limiter(),
                    counters,
                )?));
            }
            Some(h) => {
                let mut w = WebHdfs::new(h, limiter(), counters)?;
                if let Some(k) = config.hdfs_kerberos() {
                    let spnego = crate::kerberos::spnego::Spnego::new(
                        k,
                        &config.name,
                        &h.spnego_principal,
                        crate::kerberos::spnego::HADOOP_COOKIE,
                    )
                    .map_err(|e| crate::Error::Invalid(format!("cluster {}: {e}", config.name)))?;
                    w = w.with_spnego(spnego);
                }
                webhdfs = Some(Arc::new(w));
            }
            None => {}
        }
        Ok(ClusterFs {
            webhdfs,
            rpc,
            local: LocalFs,
        })
    }

    /// Whether the cluster has HDFS (bare paths in the metastore are then HDFS paths).
    pub fn has_hdfs(&self) -> bool {
        self.webhdfs.is_some() || self.rpc.is_some()
    }

    /// Asks the NameNodes for `/` (`smallfiles-exporter check`, the merger's probe): which one
    /// is active, and over which protocol; `None` for a cluster without HDFS.
    pub async fn probe_hdfs(&self) -> Option<Result<String>> {
        if let Some(r) = &self.rpc {
            return Some(
                r.status("/")
                    .await
                    .map(|_| format!("active namenode {} (rpc)", r.active_namenode())),
            );
        }
        let w = self
            .webhdfs
            .as_ref()
            .filter(|w| !w.namenodes().is_empty())?;
        Some(
            w.status("/")
                .await
                .map(|_| format!("active namenode {}", w.active_namenode())),
        )
    }

    pub fn location(&self, raw: &str) -> Location {
        Location::parse(raw, self.has_hdfs())
    }

    pub async fn list(&self, loc: &Location) -> Result<Vec<FileStatus>> {
        match loc {
            Location::Hdfs(p) => match self.hdfs(p)? {
                Hdfs::Web(w) => w.list(p).await,
                Hdfs::Rpc(r) => r.list(p).await,
            },
            Location::Local(p) => self.local.list(p).await,
            Location::Unsupported(s) => Err(Error::UnsupportedScheme(s.clone())),
        }
    }

    pub async fn status(&self, loc: &Location) -> Result<FileStatus> {
        match loc {
            Location::Hdfs(p) => match self.hdfs(p)? {
                Hdfs::Web(w) => w.status(p).await,
                Hdfs::Rpc(r) => r.status(p).await,
            },
            Location::Local(p) => self.local.status(p).await,
            Location::Unsupported(s) => Err(Error::UnsupportedScheme(s.clone())),
        }
    }

    /// Removes a tree. Paths fewer than three levels deep are refused: a bug upstream must not
    /// be able to remove a warehouse root.
    pub async fn delete_recursive(&self, loc: &Location) -> Result<bool> {
        let path = match loc {
            Location::Hdfs(p) | Location::Local(p) => p,
            Location::Unsupported(s) => return Err(Error::UnsupportedScheme(s.clone())),
        };
        if path.split('/').filter(|c| !c.is_empty()).count() < 3 || path.contains("/../") {
            return Err(Error::Invalid(format!("refusing to delete {path}")));
        }
        match loc {
            Location::Hdfs(p) => match self.hdfs(p)? {
                Hdfs::Web(w) => w.delete_recursive(p).await,
                Hdfs::Rpc(r) => r.delete_recursive(p).await,
            },
            Location::Local(p) => self.local.delete_recursive(p).await,
            Location::Unsupported(_) => unreachable!("refused above"),
        }
    }

    fn hdfs(&self, path: &str) -> Result<Hdfs<'_>> {
        if let Some(r) = &self.rpc {
            return Ok(Hdfs::Rpc(r));
        }
        self.webhdfs
            .as_deref()
            .map(Hdfs::Web)
            .ok_or_else(|| Error::Hdfs {
                op: "LISTSTATUS",
                path: path.to_string(),
                kind: crate::HdfsErrorKind::Unreachable("the cluster has no `hdfs` section".into()),
            })
    }

    /// Like [`Location::Hdfs`] or [`Location::Local`], with a child appended.
    pub fn child(loc: &Location, name: &str) -> Location {
        match loc {
            Location::Hdfs(p) => Location::Hdfs(join(p, name)),
            Location::Local(p) => Location::Local(join(p, name)),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_that_cannot_be_paths() {
        assert_eq!(location_problem("hdfs://ns/w/t/dt=2024-01-01"), None);
        let long = format!("hdfs://ns/{}", "x".repeat(10 << 20));
        let why = location_problem(&long).unwrap();
        assert!(why.contains("longer than HDFS allows"), "{}", &why[..300]);
        assert!(why.len() < 400, "the value is cut: {} bytes", why.len());
        assert!(location_problem("hdfs://ns/w/a\nb")
            .unwrap()
            .contains("control"));
        assert!(location_problem("hdfs://ns/w/\u{FFFD}")
            .unwrap()
            .contains("UTF-8"));
    }

    #[test]
    fn a_location_as_a_uri_reads_back_the_same() {
        for raw in [
            "hdfs://ns1/w/a.db/t/dt=2024-01-01",
            "file:///tmp/w/t/city=Paris, TX ",
        ] {
            let loc = Location::parse(raw, true);
            assert_eq!(Location::parse(&loc.uri().unwrap(), true), loc, "{raw}");
        }
        assert_eq!(Location::Hdfs("/w/t".into()).uri().unwrap(), "hdfs:///w/t");
        assert_eq!(Location::parse("s3a://bucket/w/t", true).uri(), None);
    }

    #[test]
    fn locations_by_scheme() {
        assert_eq!(
            Location::parse("hdfs://nameservice1/user/hive/warehouse/a.db/t/", true),
            Location::Hdfs("/user/hive/warehouse/a.db/t".into())
        );
        assert_eq!(
            Location::parse("hdfs://nn:8020", true),
            Location::Hdfs("/".into())
        );
        assert_eq!(
            Location::parse("hdfs:/w/t", true),
            Location::Hdfs("/w/t".into())
        );
        assert_eq!(
            Location::parse("file:/data/w", true),
            Location::Local("/data/w".into())
        );
        assert_eq!(
            Location::parse("file:///data/w", true),
            Location::Local("/data/w".into())
        );
        assert_eq!(
            Location::parse("s3a://bucket/x", true),
            Location::Unsupported("s3a".into())
        );
        assert_eq!(
            Location::parse("viewfs://c/x", true),
            Location::Unsupported("viewfs".into())
        );
        assert_eq!(Location::parse("/w/t", true), Location::Hdfs("/w/t".into()));
        assert_eq!(
            Location::parse("/w/t", false),
            Location::Local("/w/t".into())
        );
        // Escaped partition values stay as Hive wrote them into the directory name.
        assert_eq!(
            Location::parse("hdfs://ns/w/t/ts=2020-01-01 10%3A00", true),
            Location::Hdfs("/w/t/ts=2020-01-01 10%3A00".into())
        );
        assert_eq!(
            Location::parse("file:/w/t/city=trailing ", false),
            Location::Local("/w/t/city=trailing ".into()),
            "a partition value's trailing space is part of the directory name"
        );
    }

    #[test]
    fn hidden_names() {
        for n in [
            "_SUCCESS",
            ".hive-staging_hive_2020",
            "_temporary",
            ".snapshot",
        ] {
            assert!(is_hidden(n), "{n}");
        }
        for n in [
            "000000_0",
            "part-00000.parquet",
            "base_0000005",
            "delta_1_1",
        ] {
            assert!(!is_hidden(n), "{n}");
        }
    }
}

//! `hdfs.mode: fsimage`: where a scan's image comes from (a path, or fetched from the
//! NameNodes into `state_dir`), read off the async threads, and what the metrics say about it.
//! The image is read afresh at each scan and dropped after it: the exporter holds the
//! namespace only while it counts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use smallfiles_cluster::config::FsImageConfig;
use smallfiles_cluster::hdfs::fsimage::{self, FsImageError, Namespace};
use smallfiles_cluster::hdfs::{ClusterFs, Location};

use crate::classify::FileStats;
use crate::unit::UnitOutcome;

use crate::scan::ScanFailure;

/// Where one cluster's image is read from.
#[derive(Debug, Clone)]
pub struct ImageSource {
    pub config: FsImageConfig,
    /// `state_dir/fsimage/<cluster>` when images are fetched.
    pub fetch_dir: Option<PathBuf>,
}

/// What the metrics report about the image a scan read.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub txid: u64,
    pub size_bytes: u64,
    pub inodes: u64,
    pub load_seconds: f64,
    /// When the image file was written (its modification time), seconds since the epoch.
    pub written_at: f64,
}

impl ImageSource {
    pub fn new(config: &FsImageConfig, cluster: &str, state_dir: Option<&Path>) -> ImageSource {
        ImageSource {
            config: config.clone(),
            fetch_dir: state_dir
                .filter(|_| config.fetch)
                .map(|d| d.join("fsimage").join(cluster)),
        }
    }

    /// Fetches when configured, then reads the newest image.
    pub async fn load(&self, fs: &ClusterFs) -> Result<(Arc<Namespace>, ImageInfo), ScanFailure> {
        let started = Instant::now();
        let path = match (&self.config.path, &self.fetch_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(dir)) => {
                let webhdfs = fs.webhdfs.as_ref().ok_or_else(|| {
                    failure(FsImageError::Fetch("no NameNodes configured".into()))
                })?;
                let fetched = fsimage::fetch_latest(webhdfs, dir).await.map_err(failure)?;
                if fetched.downloaded {
                    tracing::info!(namenode = %fetched.namenode, path = %fetched.path.display(), "fsimage fetched");
                }
                fetched.path
            }
            (None, None) => return Err(failure(FsImageError::Fetch("no state_dir".into()))),
        };
        let loaded = tokio::task::spawn_blocking(move || fsimage::load(&path))
            .await
            .map_err(|e| failure(FsImageError::Corrupt(format!("the reader stopped: {e}"))))?
            .map_err(failure)?;
        let written_at = std::fs::metadata(&loaded.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        let info = ImageInfo {
            txid: loaded.namespace.txid,
            size_bytes: loaded.size_bytes,
            inodes: loaded.namespace.inodes,
            load_seconds: started.elapsed().as_secs_f64(),
            written_at,
        };
        tracing::info!(path = %loaded.path.display(), txid = info.txid, inodes = info.inodes, seconds = info.load_seconds, "fsimage read");
        Ok((Arc::new(loaded.namespace), info))
    }
}

impl ImageSource {
    /// For `check`: the image on disk (its header only), or the NameNode a fetch would ask.
    pub async fn probe(&self, fs: &ClusterFs) -> Result<String, String> {
        match (&self.config.path, &fs.webhdfs) {
            (Some(path), _) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || fsimage::describe(&path))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            (None, Some(webhdfs)) => {
                let order = fsimage::namenodes_for_fetch(webhdfs).await;
                Ok(format!("fsimage fetched from {}", order.join(", then ")))
            }
            (None, None) => Err("fetch: true needs hdfs.namenodes".into()),
        }
    }
}

fn failure(e: FsImageError) -> ScanFailure {
    ScanFailure {
        stage: "fsimage",
        message: e.to_string(),
    }
}

/// Seconds since the epoch, for the image's age.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A unit counted in the image: what a recursive listing of its directory would have seen.
pub(crate) fn count_in_image(ns: &Namespace, location: &Location, threshold: u64) -> UnitOutcome {
    let Location::Hdfs(path) = location else {
        // The image describes HDFS only.
        return UnitOutcome::Unsupported;
    };
    let mut stats = FileStats::default();
    // Owners by serial while walking (a cluster has few): named once at the end.
    let mut by_serial: HashMap<u32, u64> = HashMap::new();
    let found = ns.walk(path, |f| {
        stats.add_file(f.length, threshold);
        if f.length < threshold {
            *by_serial.entry(f.owner).or_default() += 1;
        }
    });
    let mut owners = crate::walk::OwnerTally::default();
    for (serial, n) in by_serial {
        owners.add_n(ns.user(serial), n);
    }
    if !found {
        return UnitOutcome::Missing;
    }
    UnitOutcome::Counted {
        owners: owners.into_counts(),
        entry: crate::cache::CacheEntry {
            threshold,
            ddl_time: None,
            mtime: 0,
            stats: stats.clone(),
            owners: Vec::new(),
        },
        stats,
        cached: false,
        // Image counts are never cached: the next image is read whole anyway.
        key: String::new(),
    }
}

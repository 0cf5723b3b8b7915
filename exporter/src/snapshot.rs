//! What a scrape reads: per cluster, the last complete scan (replaced whole, never patched) and
//! the scan health, which changes on every attempt.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use smallfiles_cluster::hdfs::RequestCounters;

use crate::classify::FileStats;

#[derive(Debug, Clone, PartialEq)]
pub struct TableSnapshot {
    pub database: String,
    pub table: String,
    pub format: String,
    pub table_type: String,
    pub owner: String,
    pub transactional: bool,
    pub location_scheme: String,
    pub stats: FileStats,
    pub partitions: u64,
    /// `numFiles` as the metastore states it (summed over partitions), when it states it.
    pub metastore_files: Option<u64>,
    /// The partitions with most small files, most first.
    pub top_partitions: Vec<PartitionSnapshot>,
    /// Small files by the files' owner, most first (`top_partitions` of them).
    pub small_files_by_owner: Vec<(String, u64)>,
    /// Whether the numbers come from a listing; unsupported and never-listed tables carry
    /// only their info.
    pub listed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSnapshot {
    pub name: String,
    pub files: u64,
    pub small_files: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    pub tables: Vec<TableSnapshot>,
    /// Size histogram of every data file of the cluster.
    pub sizes: FileStats,
}

/// Outcome counts of the last complete scan, for `smallfiles_scan_tables{result}`.
pub const TABLE_RESULTS: [&str; 5] = ["scanned", "cached", "skipped", "unsupported", "failed"];

#[derive(Debug, Clone, Default)]
pub struct ScanHealth {
    /// `None` when the cluster has no such component.
    pub metastore_up: Option<bool>,
    pub hdfs_up: Option<bool>,
    /// Clusters without a metastore: whether the warehouse layout could be read.
    pub warehouse_up: Option<bool>,
    pub last_duration_seconds: Option<f64>,
    pub last_success_timestamp: Option<f64>,
    pub errors_total: BTreeMap<&'static str, u64>,
    /// `hdfs.mode: fsimage`: whether the last scan could read its image, and the image.
    pub fsimage_up: Option<bool>,
    pub fsimage: Option<crate::image::ImageInfo>,
    pub table_results: BTreeMap<&'static str, u64>,
    pub schema_version: Option<String>,
}

pub struct ClusterState {
    pub name: String,
    pub threshold: u64,
    pub scan_interval_seconds: f64,
    pub has_metastore: bool,
    pub has_hdfs: bool,
    snapshot: RwLock<Option<Arc<ClusterSnapshot>>>,
    health: RwLock<ScanHealth>,
    pub requests: Arc<RequestCounters>,
}

impl ClusterState {
    pub fn new(
        name: &str,
        threshold: u64,
        scan_interval_seconds: f64,
        has_metastore: bool,
        has_hdfs: bool,
        requests: Arc<RequestCounters>,
    ) -> ClusterState {
        let health = ScanHealth {
            errors_total: ["metastore", "hdfs", "cache"]
                .into_iter()
                .map(|s| (s, 0))
                .collect(),
            ..Default::default()
        };
        ClusterState {
            name: name.to_string(),
            threshold,
            scan_interval_seconds,
            has_metastore,
            has_hdfs,
            snapshot: RwLock::new(None),
            health: RwLock::new(health),
            requests,
        }
    }

    pub fn snapshot(&self) -> Option<Arc<ClusterSnapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn publish(&self, snapshot: ClusterSnapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(snapshot));
    }

    pub fn health(&self) -> ScanHealth {
        self.health
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn update_health(&self, f: impl FnOnce(&mut ScanHealth)) {
        f(&mut self.health.write().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Every cluster's state, in configuration order.
#[derive(Default)]
pub struct Registry {
    pub clusters: Vec<Arc<ClusterState>>,
}

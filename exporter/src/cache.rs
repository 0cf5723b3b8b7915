//! The incremental-scan cache: for each listed directory (a partition, or an unpartitioned
//! table), its `transient_lastDdlTime`, its modification time and what was counted in it.
//! A unit whose both times are unchanged is not listed again. Kept in memory and, with
//! `state_dir`, in a redb file that survives restarts.
//!
//! A directory's modification time changes when entries are added, removed or renamed directly
//! in it, which is how Hive, Spark and Impala publish files (and ACID deltas); a file rewritten
//! in place inside a nested subdirectory would not be seen until the metastore's DDL time moves,
//! or until the next full rescan (`full_rescan_interval`): a scan that ignores this cache.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::classify::FileStats;
use crate::error::{Error, Result};

const UNITS: TableDefinition<&str, &[u8]> = TableDefinition::new("scan_units_v1");
/// Cluster → unix seconds of its last full rescan (a scan that ignored the cache).
const FULL_SCANS: TableDefinition<&str, i64> = TableDefinition::new("full_scans_v1");
const SEP: char = '\u{1f}';

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The small-file threshold the stats were counted with: a new threshold recounts.
    pub threshold: u64,
    pub ddl_time: Option<i64>,
    pub mtime: i64,
    pub stats: FileStats,
    /// Small files by owner; empty in entries written before owners were counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<(String, u64)>,
}

pub type UnitMap = HashMap<String, CacheEntry>;

pub struct ScanCache {
    db: Option<Database>,
    clusters: Mutex<HashMap<String, Arc<UnitMap>>>,
    full_scans: Mutex<HashMap<String, i64>>,
}

/// Whether a scan at `now` must ignore the cache: the first scan of a cluster is full anyway
/// (nothing cached), and a full rescan is due `interval` after the last one.
pub fn full_rescan_due(last_full: Option<i64>, interval: std::time::Duration, now: i64) -> bool {
    match last_full {
        None => true,
        Some(at) => now.saturating_sub(at) >= interval.as_secs() as i64,
    }
}

impl ScanCache {
    pub fn in_memory() -> ScanCache {
        ScanCache {
            db: None,
            clusters: Mutex::new(HashMap::new()),
            full_scans: Mutex::new(HashMap::new()),
        }
    }

    /// Opens (or creates) `state_dir/scan-cache.redb` and loads it.
    pub fn open(state_dir: &Path) -> Result<ScanCache> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::Cache(format!("{}: {e}", state_dir.display())))?;
        let path = state_dir.join("scan-cache.redb");
        let db = Database::create(&path)
            .map_err(|e| Error::Cache(format!("{}: {e}", path.display())))?;
        let mut clusters: HashMap<String, UnitMap> = HashMap::new();
        let mut full_scans = HashMap::new();
        {
            let tx = db.begin_read().map_err(cache_err)?;
            match tx.open_table(FULL_SCANS) {
                Ok(table) => {
                    for row in table.iter().map_err(cache_err)? {
                        let (k, v) = row.map_err(cache_err)?;
                        full_scans.insert(k.value().to_string(), v.value());
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(cache_err(e)),
            }
            match tx.open_table(UNITS) {
                Ok(table) => {
                    for row in table.iter().map_err(cache_err)? {
                        let (k, v) = row.map_err(cache_err)?;
                        let Some((cluster, unit)) = k.value().split_once(SEP) else {
                            continue;
                        };
                        // An entry from an older format is dropped, not fatal: it is rescanned.
                        if let Ok(entry) = serde_json::from_slice::<CacheEntry>(v.value()) {
                            clusters
                                .entry(cluster.to_string())
                                .or_default()
                                .insert(unit.to_string(), entry);
                        }
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(cache_err(e)),
            }
        }
        Ok(ScanCache {
            db: Some(db),
            clusters: Mutex::new(
                clusters
                    .into_iter()
                    .map(|(k, v)| (k, Arc::new(v)))
                    .collect(),
            ),
            full_scans: Mutex::new(full_scans),
        })
    }

    /// When the cluster's last full rescan completed (unix seconds), if one did.
    pub fn last_full_scan(&self, cluster: &str) -> Option<i64> {
        self.full_scans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(cluster)
            .copied()
    }

    /// The cluster's entries as of the last committed scan.
    pub fn units(&self, cluster: &str) -> Arc<UnitMap> {
        self.clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(cluster)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces the cluster's entries with those of a completed scan; units not seen are gone.
    /// `full_at`: the scan ignored the cache (a full rescan) and started at this time.
    pub fn commit(&self, cluster: &str, units: UnitMap, full_at: Option<i64>) -> Result<()> {
        let old = self.units(cluster);
        if let Some(db) = &self.db {
            let tx = db.begin_write().map_err(cache_err)?;
            if let Some(at) = full_at {
                tx.open_table(FULL_SCANS)
                    .map_err(cache_err)?
                    .insert(cluster, at)
                    .map_err(cache_err)?;
            }
            {
                let mut table = tx.open_table(UNITS).map_err(cache_err)?;
                for key in old.keys().filter(|k| !units.contains_key(*k)) {
                    table
                        .remove(format!("{cluster}{SEP}{key}").as_str())
                        .map_err(cache_err)?;
                }
                for (key, entry) in units.iter().filter(|(k, v)| old.get(*k) != Some(*v)) {
                    let bytes = serde_json::to_vec(entry).map_err(cache_err)?;
                    table
                        .insert(format!("{cluster}{SEP}{key}").as_str(), bytes.as_slice())
                        .map_err(cache_err)?;
                }
            }
            tx.commit().map_err(cache_err)?;
        }
        self.clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cluster.to_string(), Arc::new(units));
        if let Some(at) = full_at {
            self.full_scans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(cluster.to_string(), at);
        }
        Ok(())
    }
}

fn cache_err(e: impl std::fmt::Display) -> Error {
    Error::Cache(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mtime: i64, files: u64) -> CacheEntry {
        CacheEntry {
            threshold: 1,
            ddl_time: Some(1),
            mtime,
            stats: FileStats {
                files,
                ..Default::default()
            },
            owners: vec![("etl".into(), files)],
        }
    }

    /// Entries written before owners were counted still load (with no owners).
    #[test]
    fn an_entry_without_owners_loads() {
        let old = r#"{"threshold":1,"ddl_time":null,"mtime":5,"stats":{"files":2,"small_files":1,"bytes":3,"small_files_bytes":1,"size_buckets":[2,0,0,0,0,0,0,0,0,0]}}"#;
        let e: CacheEntry = serde_json::from_str(old).unwrap();
        assert_eq!((e.mtime, e.stats.files, e.owners.len()), (5, 2, 0));
    }

    #[test]
    fn survives_reopen_and_forgets_dropped_units() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = ScanCache::open(dir.path()).unwrap();
            let mut m = UnitMap::new();
            m.insert("/w/t/p=1".into(), entry(10, 3));
            m.insert("/w/t/p=2".into(), entry(11, 4));
            c.commit("prod", m, Some(1_000)).unwrap();
            let mut other = UnitMap::new();
            other.insert("/w/t/p=1".into(), entry(99, 9));
            c.commit("dev", other, None).unwrap();
        }
        let c = ScanCache::open(dir.path()).unwrap();
        assert_eq!(c.last_full_scan("prod"), Some(1_000));
        assert_eq!(c.last_full_scan("dev"), None);
        assert_eq!(c.units("prod").len(), 2);
        assert_eq!(c.units("prod")["/w/t/p=2"], entry(11, 4));
        assert_eq!(c.units("dev")["/w/t/p=1"].mtime, 99);
        let mut m = UnitMap::new();
        m.insert("/w/t/p=2".into(), entry(12, 5));
        c.commit("prod", m, None).unwrap();
        drop(c);
        let c = ScanCache::open(dir.path()).unwrap();
        assert_eq!(c.units("prod").len(), 1);
        assert_eq!(c.units("prod")["/w/t/p=2"], entry(12, 5));
        assert_eq!(c.units("dev").len(), 1);
        assert_eq!(
            c.last_full_scan("prod"),
            Some(1_000),
            "an incremental scan keeps it"
        );
    }

    #[test]
    fn full_rescans_fall_due_by_interval() {
        let day = std::time::Duration::from_secs(86_400);
        assert!(full_rescan_due(None, day, 5), "nothing cached yet");
        assert!(!full_rescan_due(Some(1_000), day, 1_000 + 86_399));
        assert!(full_rescan_due(Some(1_000), day, 1_000 + 86_400));
        assert!(
            !full_rescan_due(Some(2_000), day, 1_000),
            "a clock that went back does not force one"
        );
    }
}

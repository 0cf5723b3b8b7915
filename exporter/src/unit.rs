//! One unit of a scan — an unpartitioned table's or a partition's directory — counted, or
//! taken from the cache when neither its time, its table's DDL time nor the threshold changed.

use smallfiles_cluster::hdfs::Location;
use smallfiles_cluster::Error as ClusterError;

use crate::cache::{CacheEntry, UnitMap};
use crate::classify::FileStats;
use crate::dir_times::DirTime;
use crate::scan::ClusterScanner;
use crate::walk::{count_files_by_owner, EntryBudget};

pub(crate) struct Unit {
    pub table: usize,
    pub partition: Option<String>,
    pub location: Location,
    pub ddl_time: Option<i64>,
    /// The directory's time where a listing already gave it (the warehouse discovery).
    pub mtime: Option<i64>,
}

// One outcome per directory, consumed as it comes: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum UnitOutcome {
    Counted {
        stats: FileStats,
        cached: bool,
        key: String,
        entry: CacheEntry,
        /// Small files by their owner (empty when the listing did not say).
        owners: Vec<(String, u64)>,
    },
    /// Registered in the metastore, absent on disk: Hive reads it as empty.
    Missing,
    Unsupported,
    Failed(ClusterError),
}

/// Counts one unit's directory, or takes its count from the cache when neither its time nor
/// its table's DDL time nor the threshold changed.
pub(crate) async fn scan_unit(
    s: &ClusterScanner,
    cache: &UnitMap,
    budget: &EntryBudget,
    unit: &Unit,
    time: DirTime,
) -> UnitOutcome {
    let key = match &unit.location {
        Location::Hdfs(p) => format!("hdfs:{p}"),
        Location::Local(p) => format!("file:{p}"),
        Location::Unsupported(_) => return UnitOutcome::Unsupported,
    };
    let threshold = s.settings.small_file_threshold;
    // The directory's time is read before listing it (from its parent's listing, or a status
    // call), so a change during the listing shows at the next scan.
    let mtime = match time {
        DirTime::Listed(mtime) => mtime,
        DirTime::Absent => return UnitOutcome::Missing,
        DirTime::Ask => match s.fs.status(&unit.location).await {
            Ok(st) => st.modification_time,
            Err(e) if e.is_not_found() => return UnitOutcome::Missing,
            Err(e) => return UnitOutcome::Failed(e),
        },
    };
    if let Some(prev) = cache.get(&key) {
        if prev.threshold == threshold
            && prev.ddl_time == unit.ddl_time
            && prev.mtime == mtime
            && mtime > 0
        {
            return UnitOutcome::Counted {
                stats: prev.stats.clone(),
                cached: true,
                key,
                owners: prev.owners.clone(),
                entry: prev.clone(),
            };
        }
    }
    match count_files_by_owner(&s.fs, &unit.location, threshold, budget).await {
        Ok((stats, owners)) => UnitOutcome::Counted {
            entry: CacheEntry {
                threshold,
                ddl_time: unit.ddl_time,
                mtime,
                stats: stats.clone(),
                owners: owners.clone(),
            },
            stats,
            cached: false,
            key,
            owners,
        },
        Err(e) if e.is_not_found() => UnitOutcome::Missing,
        Err(e) => UnitOutcome::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallfiles_cluster::config::{ClusterConfig, Defaults};

    /// The incremental scan trusts a cached count only while the directory's time, the
    /// table's DDL time and the threshold are all unchanged: a change of the DDL time alone,
    /// or of the threshold alone, counts the directory again.
    #[tokio::test]
    async fn a_new_ddl_time_or_threshold_alone_forces_a_recount() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 {
            std::fs::write(dir.path().join(format!("part-{i}")), b"x").unwrap();
        }
        let config: ClusterConfig = serde_saphyr::from_str(&format!(
            "name: c\nwarehouse: file://{}\n",
            dir.path().display()
        ))
        .unwrap();
        let scanner = ClusterScanner::new(&config, &Defaults::default(), 3, None).unwrap();
        let path = dir.path().to_string_lossy().into_owned();
        let status = scanner
            .fs
            .status(&Location::Local(path.clone()))
            .await
            .unwrap();
        let cached_stats = FileStats {
            files: 999,
            ..Default::default()
        };
        let mut cache = UnitMap::new();
        cache.insert(
            format!("file:{path}"),
            CacheEntry {
                threshold: scanner.settings.small_file_threshold,
                ddl_time: Some(100),
                mtime: status.modification_time,
                stats: cached_stats,
                owners: Vec::new(),
            },
        );
        let budget = EntryBudget::new(1_000);
        let count = |ddl_time: Option<i64>| Unit {
            table: 0,
            partition: None,
            location: Location::Local(path.clone()),
            ddl_time,
            mtime: None,
        };
        let files = |o: UnitOutcome| match o {
            UnitOutcome::Counted { stats, cached, .. } => (stats.files, cached),
            _ => panic!("not counted"),
        };
        // Nothing changed: the cached count.
        let o = scan_unit(&scanner, &cache, &budget, &count(Some(100)), DirTime::Ask).await;
        assert_eq!(files(o), (999, true));
        // Only the DDL time changed (ALTER TABLE … SET FILEFORMAT, say): counted again.
        let o = scan_unit(&scanner, &cache, &budget, &count(Some(101)), DirTime::Ask).await;
        assert_eq!(files(o), (3, false));
        // Only the threshold changed: counted again.
        let entry = cache.get_mut(&format!("file:{path}")).unwrap();
        entry.threshold += 1;
        let o = scan_unit(&scanner, &cache, &budget, &count(Some(100)), DirTime::Ask).await;
        assert_eq!(files(o), (3, false));
    }
}

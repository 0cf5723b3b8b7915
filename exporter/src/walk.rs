//! Counting the data files under one directory (the walk itself, as Hive reads a directory,
//! is `smallfiles_cluster::hdfs::walk_data_files`), within the scan's bounds.

use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use smallfiles_cluster::hdfs::{walk_data_files, ClusterFs, Location, RequestCounters};
use smallfiles_cluster::{Error, HdfsErrorKind, Result};

use crate::classify::FileStats;

/// What one scan may list (`hdfs.listing.max_entries_per_scan`, `max_bytes_per_scan`),
/// shared by its walks.
pub struct EntryBudget {
    limit: u64,
    used: AtomicU64,
    bytes: Option<(Arc<RequestCounters>, u64, u64)>,
}

impl EntryBudget {
    pub fn new(limit: u64) -> EntryBudget {
        EntryBudget {
            limit,
            used: AtomicU64::new(0),
            bytes: None,
        }
    }

    /// Also bounds the reply bytes read through `counters` from now on.
    pub fn with_bytes(mut self, counters: Arc<RequestCounters>, limit: u64) -> EntryBudget {
        let start = counters.reply_bytes();
        self.bytes = Some((counters, start, limit));
        self
    }

    pub fn spend(&self, n: usize, dir: &Location) -> Result<()> {
        let used = self.used.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        let crossed = if used > self.limit {
            format!(
                "the scan listed more than {} entries (hdfs.listing.max_entries_per_scan)",
                self.limit
            )
        } else {
            match &self.bytes {
                Some((c, start, limit)) if c.reply_bytes().saturating_sub(*start) > *limit => {
                    format!(
                        "the scan read more than {limit} reply bytes (hdfs.listing.max_bytes_per_scan)"
                    )
                }
                _ => return Ok(()),
            }
        };
        let path = match dir {
            Location::Hdfs(p) | Location::Local(p) | Location::Unsupported(p) => p.clone(),
        };
        Err(Error::Hdfs {
            op: "LISTSTATUS",
            path,
            kind: HdfsErrorKind::ListingTooLarge(crossed),
        })
    }
}

/// The data files under `root` and their sizes, within the scan's budget.
pub async fn count_files(
    fs: &ClusterFs,
    root: &Location,
    threshold: u64,
    budget: &EntryBudget,
) -> Result<FileStats> {
    count_files_by_owner(fs, root, threshold, budget)
        .await
        .map(|(stats, _)| stats)
}

/// Small files by their owner, as the walk sees them.
pub type OwnerCounts = Vec<(String, u64)>;

/// [`count_files`], and who owns the small files.
pub async fn count_files_by_owner(
    fs: &ClusterFs,
    root: &Location,
    threshold: u64,
    budget: &EntryBudget,
) -> Result<(FileStats, OwnerCounts)> {
    let mut stats = FileStats::default();
    let mut owners: OwnerTally = OwnerTally::default();
    walk_data_files(
        fs,
        root,
        |dir, listing| budget.spend(listing.len(), dir),
        |_, file| {
            stats.add_file(file.length, threshold);
            if file.length < threshold {
                owners.add(&file.owner);
            }
        },
    )
    .await?;
    Ok((stats, owners.into_counts()))
}

/// Counting files by owner without allocating a name per file.
#[derive(Default)]
pub struct OwnerTally(std::collections::HashMap<String, u64>);

impl OwnerTally {
    pub fn add(&mut self, owner: &str) {
        self.add_n(owner, 1);
    }

    pub fn add_n(&mut self, owner: &str, n: u64) {
        if owner.is_empty() {
            return;
        }
        match self.0.get_mut(owner) {
            Some(count) => *count += n,
            None => {
                self.0.insert(owner.to_string(), n);
            }
        }
    }

    pub fn into_counts(self) -> OwnerCounts {
        self.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallfiles_cluster::hdfs::LocalFs;

    #[test]
    fn the_scan_bound_on_reply_bytes_fails_the_next_directory() {
        let counters = Arc::new(RequestCounters::default());
        counters.add_reply_bytes(5_000);
        let budget = EntryBudget::new(1_000).with_bytes(counters.clone(), 100);
        let dir = Location::Hdfs("/w/t".into());
        assert!(
            budget.spend(10, &dir).is_ok(),
            "bytes before the scan do not count"
        );
        counters.add_reply_bytes(101);
        let err = budget.spend(10, &dir).unwrap_err().to_string();
        assert!(err.contains("hdfs.listing.max_bytes_per_scan"), "{err}");
    }

    #[tokio::test]
    async fn nested_directories_count_and_hidden_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in [
            "delta_0000001_0000001_0000",
            "HIVE_UNION_SUBDIR_1",
            ".hive-staging_hive_1/-ext-10000",
            "_temporary/0",
        ] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::write(p.join("000000_0"), vec![0u8; 10]).unwrap();
        std::fs::write(
            p.join("delta_0000001_0000001_0000/bucket_00000"),
            vec![0u8; 20],
        )
        .unwrap();
        std::fs::write(p.join("HIVE_UNION_SUBDIR_1/000000_0"), vec![0u8; 30]).unwrap();
        std::fs::write(p.join("_SUCCESS"), b"").unwrap();
        std::fs::write(p.join(".000000_0.crc"), b"crc").unwrap();
        std::fs::write(
            p.join(".hive-staging_hive_1/-ext-10000/000000_0"),
            vec![0u8; 40],
        )
        .unwrap();
        std::fs::write(p.join("_temporary/0/part"), vec![0u8; 50]).unwrap();
        let fs = ClusterFs {
            webhdfs: None,
            rpc: None,
            local: LocalFs,
        };
        let loc = Location::Local(p.to_string_lossy().into_owned());
        let s = count_files(&fs, &loc, 25, &EntryBudget::new(100))
            .await
            .unwrap();
        assert_eq!(
            (s.files, s.small_files, s.bytes, s.small_files_bytes),
            (3, 2, 60, 30)
        );
        // The scan's bound on entries fails the walk that crosses it.
        let err = count_files(&fs, &loc, 25, &EntryBudget::new(5))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("hdfs.listing.max_entries_per_scan"),
            "{err}"
        );
    }
}

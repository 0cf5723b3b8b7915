//! What a scan has counted so far, table by table: each directory's outcome added to its
//! table as it comes (`record`), and the snapshot made of it at the end (`finish`), where a
//! table that failed keeps its last good numbers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use crate::cache::UnitMap;
use crate::classify::FileStats;
use crate::scan::{is_fatal, ClusterScanner, Progress, ScanFailure, ScanReport};
use crate::snapshot::{ClusterSnapshot, PartitionSnapshot, TableSnapshot};
use crate::unit::{Unit, UnitOutcome};

#[derive(PartialEq, Eq)]
pub(crate) enum Disposition {
    Listed,
    Skipped,
    Unsupported,
}

pub(crate) struct TableAcc {
    pub(crate) snap: TableSnapshot,
    pub(crate) disposition: Disposition,
    pub(crate) any_scanned: bool,
    pub(crate) any_cached: bool,
    pub(crate) any_failed: bool,
    pub(crate) any_unsupported: bool,
    pub(crate) top: BinaryHeap<Reverse<(u64, u64, String)>>,
    pub(crate) partition_metastore_files: Option<u64>,
    /// Small files by the owner of the file.
    pub(crate) owners: HashMap<String, u64>,
}

/// What a scan has counted so far, table by table.
pub(crate) struct Tally<'a> {
    pub(crate) tables: Vec<TableAcc>,
    pub(crate) new_cache: UnitMap,
    pub(crate) sizes: FileStats,
    pub(crate) unit_errors: u64,
    pub(crate) done: u64,
    pub(crate) known: u64,
    pub(crate) progress: Option<&'a Progress>,
}

impl Tally<'_> {
    /// Adds one unit's outcome to its table.
    pub(crate) fn record(
        &mut self,
        s: &ClusterScanner,
        unit: Unit,
        outcome: UnitOutcome,
    ) -> Result<(), ScanFailure> {
        self.done += 1;
        if let Some(p) = self.progress {
            p(self.done, self.known);
        }
        let acc = &mut self.tables[unit.table];
        match outcome {
            UnitOutcome::Counted {
                stats,
                cached,
                key,
                entry,
                owners,
            } => {
                if cached {
                    acc.any_cached = true;
                } else {
                    acc.any_scanned = true;
                }
                self.sizes.merge(&stats);
                acc.snap.stats.merge(&stats);
                for (owner, n) in owners {
                    *acc.owners.entry(owner).or_default() += n;
                }
                if let Some(name) = unit.partition {
                    acc.top
                        .push(Reverse((stats.small_files, stats.files, name)));
                    if acc.top.len() > s.top_partitions {
                        acc.top.pop();
                    }
                }
                if !key.is_empty() {
                    self.new_cache.insert(key, entry);
                }
            }
            UnitOutcome::Missing => {}
            UnitOutcome::Unsupported => acc.any_unsupported = true,
            UnitOutcome::Failed(e) if is_fatal(&e) => {
                return Err(ScanFailure {
                    stage: "hdfs",
                    message: e.to_string(),
                });
            }
            UnitOutcome::Failed(e) => {
                tracing::warn!(cluster = %s.name, database = %acc.snap.database, table = %acc.snap.table, error = %e, "listing failed");
                self.unit_errors += 1;
                acc.any_failed = true;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(
        self,
        top_owners_n: usize,
        previous: Option<&ClusterSnapshot>,
    ) -> ScanReport {
        let mut results: BTreeMap<&'static str, u64> = crate::snapshot::TABLE_RESULTS
            .iter()
            .map(|r| (*r, 0))
            .collect();
        let prev: HashMap<(&str, &str), &TableSnapshot> = previous
            .map(|p| {
                p.tables
                    .iter()
                    .map(|t| ((t.database.as_str(), t.table.as_str()), t))
                    .collect()
            })
            .unwrap_or_default();
        let mut sizes = self.sizes;
        let s_top_owners = top_owners_n;
        let mut tables = Vec::with_capacity(self.tables.len());
        for mut acc in self.tables {
            let result = match acc.disposition {
                Disposition::Skipped => "skipped",
                Disposition::Unsupported => "unsupported",
                Disposition::Listed if acc.any_failed => "failed",
                Disposition::Listed if acc.any_unsupported && !acc.any_scanned => "unsupported",
                Disposition::Listed if acc.any_cached && !acc.any_scanned => "cached",
                Disposition::Listed => "scanned",
            };
            *results.entry(result).or_default() += 1;
            if acc.disposition == Disposition::Skipped {
                continue;
            }
            if acc.partition_metastore_files.is_some() {
                acc.snap.metastore_files = acc.partition_metastore_files;
            }
            let mut top: Vec<_> = acc.top.into_iter().map(|Reverse(t)| t).collect();
            top.sort_by(|a, b| b.cmp(a));
            acc.snap.top_partitions = top
                .into_iter()
                .map(|(small_files, files, name)| PartitionSnapshot {
                    name,
                    files,
                    small_files,
                })
                .collect();
            acc.snap.small_files_by_owner = top_owners(acc.owners, s_top_owners);
            acc.snap.listed = result == "scanned" || result == "cached";
            if result == "failed" {
                // Keep the last good numbers of a table that could not be listed this time.
                if let Some(old) = prev
                    .get(&(acc.snap.database.as_str(), acc.snap.table.as_str()))
                    .filter(|o| o.listed)
                {
                    sizes.merge(&FileStats {
                        size_buckets: old.stats.size_buckets,
                        ..Default::default()
                    });
                    acc.snap = (*old).clone();
                }
            }
            tables.push(acc.snap);
        }
        tables.sort_by(|a, b| (&a.database, &a.table).cmp(&(&b.database, &b.table)));
        ScanReport {
            image: None,
            snapshot: ClusterSnapshot { tables, sizes },
            table_results: results,
            unit_errors: self.unit_errors,
            cache: self.new_cache,
        }
    }
}

/// The owners with most small files, most first (ties by name), at most `n`.
fn top_owners(owners: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = owners.into_iter().filter(|(_, k)| *k > 0).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

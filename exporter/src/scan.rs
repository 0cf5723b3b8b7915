//! One scan of one cluster: tables from the metastore (or the warehouse layout), partitions
//! page by page, every table or partition directory counted within the cluster's request
//! limits, unchanged ones taken from the cache. The result replaces the previous snapshot whole;
//! a metastore or NameNode outage fails the scan and leaves the previous snapshot in place.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use smallfiles_cluster::config::{ClusterConfig, Defaults, EffectiveSettings};
use smallfiles_cluster::hdfs::{location_problem, shorten, ClusterFs, Location, RequestCounters};
use smallfiles_cluster::metastore::{
    partition_pages_ahead, Metastore, MetastoreSource, PartitionRecord, TableRecord,
};
use smallfiles_cluster::Error as ClusterError;

use crate::cache::UnitMap;
use crate::classify::{table_format, FileStats};
use crate::dir_times::{DirTime, DirTimes};
use crate::image::{count_in_image, ImageInfo, ImageSource};
use crate::snapshot::{ClusterSnapshot, TableSnapshot};
use crate::tally::{Disposition, TableAcc, Tally};
use crate::unit::{scan_unit, Unit};
use crate::walk::EntryBudget;
use smallfiles_cluster::config::HdfsMode;
use smallfiles_cluster::hdfs::fsimage::Namespace;
use smallfiles_cluster::shard::Shard;
use smallfiles_cluster::warehouse;

pub struct ClusterScanner {
    pub name: String,
    pub settings: EffectiveSettings,
    config: ClusterConfig,
    pub(crate) top_partitions: usize,
    metastore: Option<(Arc<Metastore>, u32)>,
    pub fs: ClusterFs,
    pub requests: Arc<RequestCounters>,
    shard: Option<Shard>,
    /// `hdfs.mode: fsimage`: directories are counted in the image, never listed.
    image: Option<ImageSource>,
}

/// Why a scan did not complete. `stage` is the label of `smallfiles_scan_errors_total`.
#[derive(Debug, Clone)]
pub struct ScanFailure {
    pub stage: &'static str,
    pub message: String,
}

pub struct ScanReport {
    pub snapshot: ClusterSnapshot,
    pub table_results: BTreeMap<&'static str, u64>,
    /// Directories that could not be listed (the tables are reported failed).
    pub unit_errors: u64,
    pub cache: UnitMap,
    /// The image the counts come from (`hdfs.mode: fsimage`).
    pub image: Option<ImageInfo>,
}

/// Progress of a scan: directories done, directories known so far.
pub type Progress = dyn Fn(u64, u64) + Send + Sync;

/// A NameNode that cannot be reached fails the whole scan; any other error fails a directory.
pub(crate) fn is_fatal(e: &ClusterError) -> bool {
    e.is_namenode_unreachable()
}

impl ClusterScanner {
    pub fn new(
        config: &ClusterConfig,
        defaults: &Defaults,
        top_partitions: usize,
        shard: Option<Shard>,
    ) -> crate::Result<ClusterScanner> {
        let settings = config.effective(defaults);
        let requests = Arc::new(RequestCounters::default());
        let fs = ClusterFs::for_cluster(config, &settings, requests.clone())?;
        let metastore = match &config.metastore {
            Some(m) => Some((
                Arc::new(Metastore::from_config(m)?),
                Metastore::page_size(m),
            )),
            None => None,
        };
        Ok(ClusterScanner {
            name: config.name.clone(),
            settings,
            config: config.clone(),
            top_partitions,
            metastore,
            fs,
            requests,
            shard,
            image: config
                .hdfs
                .as_ref()
                .filter(|h| h.mode == HdfsMode::Fsimage)
                .and_then(|h| h.fsimage.as_ref())
                .map(|f| ImageSource::new(f, &config.name, None)),
        })
    }

    /// Where fetched images are kept (`state_dir/fsimage/<cluster>`).
    pub fn with_state_dir(mut self, state_dir: Option<&std::path::Path>) -> ClusterScanner {
        if let Some(image) = &mut self.image {
            *image = ImageSource::new(&image.config, &self.name, state_dir);
        }
        self
    }

    pub fn reads_image(&self) -> bool {
        self.image.is_some()
    }

    pub fn image_source(&self) -> Option<&ImageSource> {
        self.image.as_ref()
    }

    /// Whether a scan covers `database.table`: the cluster's include and exclude globs, and
    /// this replica's shard.
    pub fn selects(&self, database: &str, table: &str) -> bool {
        self.config.selects(database, table)
            && self
                .shard
                .is_none_or(|s| s.owns_database(&self.name, database))
    }

    pub fn metastore(&self) -> Option<&Metastore> {
        self.metastore.as_ref().map(|(m, _)| m.as_ref())
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub async fn scan(
        &self,
        cache: &UnitMap,
        previous: Option<&ClusterSnapshot>,
        progress: Option<&Progress>,
    ) -> Result<ScanReport, ScanFailure> {
        let limits = self
            .config
            .hdfs
            .as_ref()
            .map(|h| h.listing)
            .unwrap_or_default();
        let (image, image_info) = match &self.image {
            Some(source) => {
                let (ns, info) = source.load(&self.fs).await?;
                (Some(ns), Some(info))
            }
            None => (None, None),
        };
        let mut run = Run {
            image,
            scanner: self,
            budget: EntryBudget::new(limits.max_entries_per_scan)
                .with_bytes(self.requests.clone(), limits.max_bytes_per_scan.0),
            cache,
            tally: Tally {
                tables: Vec::new(),
                new_cache: HashMap::with_capacity(cache.len()),
                sizes: FileStats::default(),
                unit_errors: 0,
                done: 0,
                known: 0,
                progress,
            },
            dir_times: DirTimes::default(),
        };
        match &self.metastore {
            Some((ms, page)) => run.scan_metastore(ms.clone(), *page).await?,
            None => run.scan_warehouse().await?,
        }
        let mut report = run.finish(previous);
        report.image = image_info;
        Ok(report)
    }
}

struct Run<'a> {
    scanner: &'a ClusterScanner,
    image: Option<Arc<Namespace>>,
    budget: EntryBudget,
    cache: &'a UnitMap,
    tally: Tally<'a>,
    dir_times: DirTimes,
}

impl Run<'_> {
    fn add_table(&mut self, t: &TableRecord, location: Option<Location>) -> usize {
        let scheme = location
            .as_ref()
            .map(|l| l.scheme().to_string())
            .unwrap_or_default();
        let disposition = if t.is_view() || t.params.storage_handler.is_some() || location.is_none()
        {
            Disposition::Skipped
        } else if matches!(location, Some(Location::Unsupported(_))) {
            Disposition::Unsupported
        } else {
            Disposition::Listed
        };
        self.tally.tables.push(TableAcc {
            snap: TableSnapshot {
                database: t.qualified_database(),
                table: t.name.clone(),
                format: table_format(t).to_string(),
                table_type: t.table_type.clone(),
                owner: t.owner.clone(),
                transactional: t.params.transactional,
                location_scheme: scheme,
                stats: FileStats::default(),
                partitions: 0,
                metastore_files: t.params.num_files,
                top_partitions: Vec::new(),
                listed: false,
                small_files_by_owner: Vec::new(),
            },
            disposition,
            any_scanned: false,
            any_cached: false,
            any_failed: false,
            any_unsupported: false,
            top: BinaryHeap::new(),
            partition_metastore_files: None,
            owners: HashMap::new(),
        });
        self.tally.tables.len() - 1
    }

    /// A metastore row whose location cannot be a path fails its table alone.
    fn bad_location(&mut self, idx: usize, why: &str) {
        let acc = &mut self.tally.tables[idx];
        tracing::warn!(cluster = %self.scanner.name, database = %acc.snap.database, table = %acc.snap.table, error = %why, "location skipped");
        acc.any_failed = true;
        self.tally.unit_errors += 1;
    }

    async fn scan_metastore(&mut self, ms: Arc<Metastore>, page: u32) -> Result<(), ScanFailure> {
        let fail = |e: ClusterError| ScanFailure {
            stage: "metastore",
            message: e.to_string(),
        };
        let tables = ms.tables().await.map_err(fail)?;
        let mut partitioned: HashMap<i64, usize> = HashMap::new();
        let mut units = Vec::new();
        for t in &tables {
            let db = t.qualified_database();
            if !self.scanner.selects(&db, &t.name) {
                continue;
            }
            let location = t.data_location().map(|l| self.scanner.fs.location(l));
            let idx = self.add_table(t, location.clone());
            if self.tally.tables[idx].disposition == Disposition::Skipped {
                continue;
            }
            if !t.is_partitioned() {
                if let Some(why) = t.data_location().and_then(location_problem) {
                    self.bad_location(idx, &why);
                    continue;
                }
            }
            if t.is_partitioned() {
                // Partitions may live elsewhere, even under another scheme: list them whatever
                // the table's own location says.
                self.tally.tables[idx].disposition = Disposition::Listed;
                partitioned.insert(t.id, idx);
            } else if self.tally.tables[idx].disposition == Disposition::Listed {
                units.push(Unit {
                    table: idx,
                    partition: None,
                    location: location.expect("listed tables have a location"),
                    ddl_time: t.params.last_ddl_time,
                    mtime: None,
                });
            }
        }
        drop(tables);
        if partitioned.is_empty() {
            return self.run_units(units).await;
        }
        // The first pages are read while the unpartitioned tables are listed, the next ones
        // while each page's directories are.
        let mut pages = partition_pages_ahead(ms, page);
        self.run_units(units).await?;
        while let Some(parts) = pages.recv().await {
            let parts: Vec<PartitionRecord> = parts.map_err(fail)?;
            let mut units = Vec::with_capacity(parts.len());
            for p in parts {
                let Some(&idx) = partitioned.get(&p.table_id) else {
                    continue;
                };
                let acc = &mut self.tally.tables[idx];
                acc.snap.partitions += 1;
                if let Some(n) = p.num_files {
                    *acc.partition_metastore_files.get_or_insert(0) += n;
                }
                let Some(raw) = p.location.as_deref().filter(|l| !l.is_empty()) else {
                    continue;
                };
                if let Some(why) = location_problem(raw) {
                    let why = format!("partition {}: {why}", shorten(&p.name));
                    self.bad_location(idx, &why);
                    continue;
                }
                units.push(Unit {
                    table: idx,
                    partition: Some(p.name),
                    location: self.scanner.fs.location(raw),
                    ddl_time: p.last_ddl_time,
                    mtime: None,
                });
            }
            self.run_units(units).await?;
        }
        Ok(())
    }

    async fn scan_warehouse(&mut self) -> Result<(), ScanFailure> {
        let raw = self.scanner.config.warehouse.clone().unwrap_or_default();
        let root = self.scanner.fs.location(&raw);
        let scanner = self.scanner;
        let wanted = |db: &str, t: &str| scanner.selects(db, t);
        let found = match &self.image {
            Some(ns) => warehouse::discover(ns.as_ref(), &root, wanted).await,
            None => warehouse::discover(&self.scanner.fs, &root, wanted).await,
        }
        .map_err(|e| ScanFailure {
            stage: if self.image.is_some() {
                "fsimage"
            } else {
                "hdfs"
            },
            message: e.to_string(),
        })?;
        let mut units = Vec::new();
        for t in found {
            let idx = self.add_table(&t.record, Some(t.location.clone()));
            if t.record.is_partitioned() {
                self.tally.tables[idx].snap.partitions = t.partitions.len() as u64;
                for p in t.partitions {
                    units.push(Unit {
                        table: idx,
                        partition: Some(p.name),
                        location: p.location,
                        ddl_time: None,
                        mtime: Some(p.mtime),
                    });
                }
            } else {
                units.push(Unit {
                    table: idx,
                    partition: None,
                    location: t.location,
                    ddl_time: None,
                    mtime: Some(t.mtime),
                });
            }
        }
        self.run_units(units).await
    }

    /// Lists the parents that give the times of several of `units` at once (see `dir_times`).
    async fn list_parents(&mut self, units: &[Unit]) -> Result<(), ScanFailure> {
        let unknown = units
            .iter()
            .filter(|u| u.mtime.is_none())
            .map(|u| &u.location);
        let parents = self.dir_times.to_list(unknown);
        let (fs, budget) = (&self.scanner.fs, &self.budget);
        let mut listings = stream::iter(parents)
            .map(|parent| async move {
                let listing = fs.list(&parent).await;
                let listing = listing.and_then(|l| budget.spend(l.len(), &parent).map(|()| l));
                (parent, listing)
            })
            .buffer_unordered(self.scanner.settings.max_concurrent_requests);
        while let Some((parent, listing)) = listings.next().await {
            match listing {
                Ok(l) => self.dir_times.record(&parent, Some(l.as_slice())),
                Err(e) if e.is_not_found() => self.dir_times.record_missing(&parent),
                Err(e) if is_fatal(&e) => {
                    return Err(ScanFailure {
                        stage: "hdfs",
                        message: e.to_string(),
                    })
                }
                Err(e) => {
                    tracing::debug!(cluster = %self.scanner.name, error = %e, "parent not listed; its directories are asked one by one");
                    self.dir_times.record(&parent, None);
                }
            }
        }
        Ok(())
    }

    async fn run_units(&mut self, units: Vec<Unit>) -> Result<(), ScanFailure> {
        self.tally.known += units.len() as u64;
        if let Some(ns) = self.image.clone() {
            let threshold = self.scanner.settings.small_file_threshold;
            for unit in units {
                let outcome = count_in_image(&ns, &unit.location, threshold);
                self.tally.record(self.scanner, unit, outcome)?;
            }
            return Ok(());
        }
        self.list_parents(&units).await?;
        let s = self.scanner;
        let cache = self.cache;
        let budget = &self.budget;
        let dir_times = &self.dir_times;
        let concurrency = s.settings.max_concurrent_requests;
        let mut results = stream::iter(units)
            .map(|u| async move {
                let time = match u.mtime {
                    Some(mtime) => DirTime::Listed(mtime),
                    None => dir_times.time_of(&u.location),
                };
                let outcome = scan_unit(s, cache, budget, &u, time).await;
                (u, outcome)
            })
            .buffer_unordered(concurrency);
        while let Some((unit, outcome)) = results.next().await {
            self.tally.record(s, unit, outcome)?;
        }
        Ok(())
    }

    fn finish(self, previous: Option<&ClusterSnapshot>) -> ScanReport {
        self.tally.finish(self.scanner.top_partitions, previous)
    }
}

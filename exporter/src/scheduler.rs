//! Each cluster scans on its own interval; a scan's outcome becomes the cluster's snapshot and
//! health. Scrapes never wait for a scan.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use smallfiles_cluster::config::Config;

use crate::cache::ScanCache;
use crate::scan::{ClusterScanner, Progress, ScanFailure};
use crate::snapshot::{ClusterState, Registry};

pub struct Exporter {
    pub registry: Arc<Registry>,
    pub scanners: Vec<Arc<ClusterScanner>>,
    pub cache: Arc<ScanCache>,
}

impl Exporter {
    pub fn new(config: &Config, cache: ScanCache) -> crate::Result<Exporter> {
        let mut scanners = Vec::new();
        let mut clusters = Vec::new();
        let shard = config.exporter.shard;
        for c in &config.clusters {
            if shard.is_some_and(|s| !s.owns_cluster(&c.name)) {
                continue;
            }
            let s =
                ClusterScanner::new(c, &config.defaults, config.exporter.top_partitions, shard)?
                    .with_state_dir(config.exporter.state_dir.as_deref());
            clusters.push(Arc::new(ClusterState::new(
                &c.name,
                s.settings.small_file_threshold,
                s.settings.scan_interval.as_secs_f64(),
                c.metastore.is_some(),
                c.hdfs.is_some(),
                s.requests.clone(),
            )));
            if s.reads_image() {
                clusters.last().expect("just pushed").update_health(|h| {
                    h.errors_total.insert("fsimage", 0);
                });
            }
            scanners.push(Arc::new(s));
        }
        Ok(Exporter {
            registry: Arc::new(Registry { clusters }),
            scanners,
            cache: Arc::new(cache),
        })
    }

    /// Starts one scan loop per cluster.
    pub fn spawn_scans(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.scanners
            .iter()
            .zip(&self.registry.clusters)
            .map(|(scanner, state)| {
                let (scanner, state, cache) = (scanner.clone(), state.clone(), self.cache.clone());
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(scanner.settings.scan_interval);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        let _ = scan_once(&scanner, &state, &cache, None).await;
                    }
                })
            })
            .collect()
    }
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One scan of one cluster, with its outcome recorded in the cluster's state.
pub async fn scan_once(
    scanner: &ClusterScanner,
    state: &ClusterState,
    cache: &ScanCache,
    progress: Option<&Progress>,
) -> Result<(), ScanFailure> {
    let started = Instant::now();
    let started_at = now_seconds() as i64;
    let previous = state.snapshot();
    let full = crate::cache::full_rescan_due(
        cache.last_full_scan(&scanner.name),
        scanner.settings.full_rescan_interval,
        started_at,
    );
    // A full rescan lists every directory again, whatever the directory times say.
    let units = if full {
        Default::default()
    } else {
        cache.units(&scanner.name)
    };
    tracing::info!(cluster = %scanner.name, full, "scan started");
    let outcome = scanner.scan(&units, previous.as_deref(), progress).await;
    drop(units);
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Ok(report) => {
            let tables = report.snapshot.tables.len();
            let cache_result =
                cache.commit(&scanner.name, report.cache, full.then_some(started_at));
            state.publish(report.snapshot);
            state.update_health(|h| {
                h.last_duration_seconds = Some(elapsed);
                h.last_success_timestamp = Some(now_seconds());
                h.table_results = report.table_results.clone();
                if report.image.is_some() {
                    h.fsimage_up = Some(true);
                    h.fsimage = report.image.clone();
                }
                if state.has_metastore {
                    h.metastore_up = Some(true);
                }
                if state.has_hdfs {
                    h.hdfs_up = Some(true);
                }
                if !state.has_metastore {
                    h.warehouse_up = Some(true);
                }
                if cache_result.is_err() {
                    *h.errors_total.entry("cache").or_default() += 1;
                }
                // A complete scan may still have failed directories: counted, never hidden.
                *h.errors_total.entry("hdfs").or_default() += report.unit_errors;
            });
            if let Err(e) = cache_result {
                tracing::warn!(cluster = %scanner.name, error = %e, "scan cache not saved");
            }
            tracing::info!(cluster = %scanner.name, tables, failed_directories = report.unit_errors, seconds = elapsed, "scan complete");
            Ok(())
        }
        Err(failure) => {
            state.update_health(|h| {
                h.last_duration_seconds = Some(elapsed);
                *h.errors_total.entry(failure.stage).or_default() += 1;
                match failure.stage {
                    "metastore" => h.metastore_up = Some(false),
                    "fsimage" => h.fsimage_up = Some(false),
                    "hdfs" => {
                        if state.has_hdfs {
                            h.hdfs_up = Some(false);
                        }
                        // The layout is read through the file system it lives on.
                        if !state.has_metastore {
                            h.warehouse_up = Some(false);
                        }
                    }
                    _ => {}
                }
            });
            tracing::error!(cluster = %scanner.name, stage = failure.stage, error = %failure.message, "scan failed; the previous snapshot stays served");
            Err(failure)
        }
    }
}

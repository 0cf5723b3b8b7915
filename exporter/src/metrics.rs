//! The `/metrics` page, written straight from the snapshots (a collector over the last
//! complete scan, never families mutated table by table). Names and labels are the contract
//! the dashboards, the alerts and the merger rely on.

use crate::classify::SIZE_BUCKETS;
use crate::snapshot::{ClusterState, Registry, TABLE_RESULTS};

pub use smallfiles_cluster::{REVISION, VERSION};

use smallfiles_cluster::exposition::Page;

type TableValue = fn(&crate::snapshot::TableSnapshot) -> Option<u64>;

const TABLE_GAUGES: [(&str, &str, TableValue); 6] = [
    (
        "smallfiles_table_files",
        "Data files of the table, partitions included, as listed.",
        |t| Some(t.stats.files),
    ),
    (
        "smallfiles_table_small_files",
        "Data files smaller than the cluster's small-file threshold.",
        |t| Some(t.stats.small_files),
    ),
    (
        "smallfiles_table_bytes",
        "Bytes in the table's data files.",
        |t| Some(t.stats.bytes),
    ),
    (
        "smallfiles_table_small_files_bytes",
        "Bytes in the table's small files.",
        |t| Some(t.stats.small_files_bytes),
    ),
    (
        "smallfiles_table_partitions",
        "Partitions registered for the table (0 when unpartitioned).",
        |t| Some(t.partitions),
    ),
    (
        "smallfiles_table_metastore_files",
        "numFiles as the metastore states it (summed over partitions); for comparison only.",
        |t| t.metastore_files,
    ),
];

pub fn render(registry: &Registry) -> String {
    let snapshots: Vec<_> = registry
        .clusters
        .iter()
        .map(|c| (c.as_ref(), c.snapshot()))
        .collect();
    let table_count: usize = snapshots
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .map(|s| s.tables.len())
        .sum();
    let mut p = Page {
        out: String::with_capacity(4096 + table_count * 900),
    };

    for (name, help, value) in TABLE_GAUGES {
        p.family(name, "gauge", help);
        for (c, snap) in &snapshots {
            let Some(snap) = snap else { continue };
            for t in snap.tables.iter().filter(|t| t.listed) {
                if let Some(v) = value(t) {
                    p.sample(
                        name,
                        &[
                            ("cluster", &c.name),
                            ("database", &t.database),
                            ("table", &t.table),
                        ],
                        v,
                    );
                }
            }
        }
    }

    p.family(
        "smallfiles_table_info",
        "gauge",
        "Table facts from the metastore; always 1.",
    );
    for (c, snap) in &snapshots {
        let Some(snap) = snap else { continue };
        for t in &snap.tables {
            let labels = [
                ("cluster", c.name.as_str()),
                ("database", &t.database),
                ("table", &t.table),
                ("format", &t.format),
                ("table_type", &t.table_type),
                ("owner", &t.owner),
                (
                    "transactional",
                    if t.transactional { "true" } else { "false" },
                ),
                ("location_scheme", &t.location_scheme),
            ];
            p.sample("smallfiles_table_info", &labels, 1);
        }
    }

    for (name, help, small) in [
        (
            "smallfiles_partition_files",
            "Data files of the partition; only each table's partitions with most small files.",
            false,
        ),
        (
            "smallfiles_partition_small_files",
            "Small files of the partition; only each table's partitions with most small files.",
            true,
        ),
    ] {
        p.family(name, "gauge", help);
        for (c, snap) in &snapshots {
            let Some(snap) = snap else { continue };
            for t in snap.tables.iter().filter(|t| t.listed) {
                for part in &t.top_partitions {
                    let labels = [
                        ("cluster", c.name.as_str()),
                        ("database", &t.database),
                        ("table", &t.table),
                        ("partition", &part.name),
                    ];
                    p.sample(
                        name,
                        &labels,
                        if small { part.small_files } else { part.files },
                    );
                }
            }
        }
    }

    p.family(
        "smallfiles_table_small_files_by_owner",
        "gauge",
        "Small files of the table by the owner of the file: who makes them (each table's owners with most small files, as many as top_partitions).",
    );
    for (c, snap) in &snapshots {
        let Some(snap) = snap else { continue };
        for t in snap.tables.iter().filter(|t| t.listed) {
            for (owner, n) in &t.small_files_by_owner {
                let labels = [
                    ("cluster", c.name.as_str()),
                    ("database", &t.database),
                    ("table", &t.table),
                    ("owner", owner),
                ];
                p.sample("smallfiles_table_small_files_by_owner", &labels, n);
            }
        }
    }

    p.family(
        "smallfiles_file_size_bytes",
        "histogram",
        "Sizes of the data files of the last complete scan.",
    );
    for (c, snap) in &snapshots {
        let Some(snap) = snap else { continue };
        let mut cumulative = 0;
        for (i, bound) in SIZE_BUCKETS.iter().enumerate() {
            cumulative += snap.sizes.size_buckets[i];
            p.sample(
                "smallfiles_file_size_bytes_bucket",
                &[("cluster", &c.name), ("le", &format!("{bound}"))],
                cumulative,
            );
        }
        p.sample(
            "smallfiles_file_size_bytes_bucket",
            &[("cluster", &c.name), ("le", "+Inf")],
            snap.sizes.files,
        );
        p.sample(
            "smallfiles_file_size_bytes_sum",
            &[("cluster", &c.name)],
            snap.sizes.bytes,
        );
        p.sample(
            "smallfiles_file_size_bytes_count",
            &[("cluster", &c.name)],
            snap.sizes.files,
        );
    }

    p.family(
        "smallfiles_small_file_threshold_bytes",
        "gauge",
        "Files below this size are small.",
    );
    for c in &registry.clusters {
        p.sample(
            "smallfiles_small_file_threshold_bytes",
            &[("cluster", &c.name)],
            c.threshold,
        );
    }

    p.family(
        "smallfiles_scan_interval_seconds",
        "gauge",
        "Configured time between the starts of two scans.",
    );
    for c in &registry.clusters {
        p.sample(
            "smallfiles_scan_interval_seconds",
            &[("cluster", &c.name)],
            c.scan_interval_seconds,
        );
    }

    render_health(&mut p, registry);

    p.family(
        "smallfiles_build_info",
        "gauge",
        "Build of the exporter; always 1.",
    );
    p.sample(
        "smallfiles_build_info",
        &[("version", VERSION), ("revision", REVISION)],
        1,
    );
    p.out
}

type ImageValue = fn(&crate::image::ImageInfo, f64) -> f64;

const IMAGE_GAUGES: [(&str, &str, ImageValue); 5] = [
    (
        "smallfiles_fsimage_txid",
        "Transaction id of the fsimage the last complete scan read (hdfs.mode: fsimage).",
        |i, _| i.txid as f64,
    ),
    (
        "smallfiles_fsimage_age_seconds",
        "Seconds since that fsimage file was written (or fetched): how old the counts are.",
        |i, now| (now - i.written_at).max(0.0),
    ),
    (
        "smallfiles_fsimage_load_duration_seconds",
        "Time to fetch (when configured) and read that fsimage.",
        |i, _| i.load_seconds,
    ),
    (
        "smallfiles_fsimage_size_bytes",
        "Size of that fsimage file.",
        |i, _| i.size_bytes as f64,
    ),
    (
        "smallfiles_fsimage_inodes",
        "Inodes (files, directories, symlinks) in that fsimage.",
        |i, _| i.inodes as f64,
    ),
];

fn render_fsimage(p: &mut Page, health: &[(&ClusterState, crate::snapshot::ScanHealth)]) {
    let now = crate::image::now();
    for (name, help, value) in IMAGE_GAUGES {
        p.family(name, "gauge", help);
        for (c, h) in health {
            if let Some(info) = &h.fsimage {
                p.sample(name, &[("cluster", &c.name)], value(info, now));
            }
        }
    }
}

fn render_health(p: &mut Page, registry: &Registry) {
    let health: Vec<(&ClusterState, _)> = registry
        .clusters
        .iter()
        .map(|c| (c.as_ref(), c.health()))
        .collect();
    p.family(
        "smallfiles_up",
        "gauge",
        "Whether the last scan reached the component (1) or not (0).",
    );
    for (c, h) in &health {
        for (component, up) in [
            ("metastore", h.metastore_up),
            ("hdfs", h.hdfs_up),
            ("warehouse", h.warehouse_up),
            ("fsimage", h.fsimage_up),
        ] {
            if let Some(up) = up {
                p.sample(
                    "smallfiles_up",
                    &[("cluster", &c.name), ("component", component)],
                    u8::from(up),
                );
            }
        }
    }
    render_fsimage(p, &health);
    p.family(
        "smallfiles_scan_duration_seconds",
        "gauge",
        "Wall time of the last scan attempt.",
    );
    for (c, h) in &health {
        if let Some(d) = h.last_duration_seconds {
            p.sample(
                "smallfiles_scan_duration_seconds",
                &[("cluster", &c.name)],
                d,
            );
        }
    }
    p.family(
        "smallfiles_scan_last_success_timestamp_seconds",
        "gauge",
        "When the last complete scan finished, in seconds since the epoch.",
    );
    for (c, h) in &health {
        if let Some(t) = h.last_success_timestamp {
            p.sample(
                "smallfiles_scan_last_success_timestamp_seconds",
                &[("cluster", &c.name)],
                t,
            );
        }
    }
    p.family(
        "smallfiles_scan_errors_total",
        "counter",
        "Scan errors by stage: a metastore failure, or a NameNode that cannot be reached, aborts a scan (+1); each directory or location that cannot be listed in a scan that completes adds 1 to stage hdfs; cache failures abort nothing.",
    );
    for (c, h) in &health {
        for (stage, n) in &h.errors_total {
            p.sample(
                "smallfiles_scan_errors_total",
                &[("cluster", &c.name), ("stage", stage)],
                n,
            );
        }
    }
    p.family(
        "smallfiles_hdfs_requests_total",
        "counter",
        "WebHDFS requests by operation and outcome.",
    );
    for c in &registry.clusters {
        for ((op, outcome), n) in c.requests.snapshot() {
            p.sample(
                "smallfiles_hdfs_requests_total",
                &[("cluster", &c.name), ("op", op), ("outcome", outcome)],
                n,
            );
        }
    }
    p.family(
        "smallfiles_hdfs_spnego_negotiations_total",
        "counter",
        "Kerberos (SPNEGO) negotiations with the NameNodes; the hadoop.auth cookie saves the rest.",
    );
    for c in &registry.clusters {
        p.sample(
            "smallfiles_hdfs_spnego_negotiations_total",
            &[("cluster", &c.name)],
            c.requests.negotiations(),
        );
    }
    p.family(
        "smallfiles_scan_tables",
        "gauge",
        "Tables of the last complete scan by result.",
    );
    for (c, h) in &health {
        for r in TABLE_RESULTS {
            if let Some(n) = h.table_results.get(r) {
                p.sample(
                    "smallfiles_scan_tables",
                    &[("cluster", &c.name), ("result", r)],
                    n,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::FileStats;
    use crate::snapshot::{ClusterSnapshot, PartitionSnapshot, TableSnapshot};
    use std::sync::Arc;

    #[test]
    fn renders_escaped_labels_and_cumulative_buckets() {
        let c = Arc::new(ClusterState::new(
            "prod",
            100,
            60.0,
            true,
            true,
            Default::default(),
        ));
        let mut stats = FileStats::default();
        stats.add_file(10, 100);
        stats.add_file(2 << 20, 100);
        c.publish(ClusterSnapshot {
            tables: vec![TableSnapshot {
                database: "db".into(),
                table: "we\"ird\\name".into(),
                format: "orc".into(),
                table_type: "MANAGED_TABLE".into(),
                owner: "hive".into(),
                transactional: false,
                location_scheme: "hdfs".into(),
                stats: stats.clone(),
                partitions: 3,
                metastore_files: None,
                top_partitions: vec![PartitionSnapshot {
                    name: "dt=1".into(),
                    files: 2,
                    small_files: 1,
                }],
                small_files_by_owner: vec![("etl".into(), 1)],
                listed: true,
            }],
            sizes: stats,
        });
        let page = render(&Registry { clusters: vec![c] });
        assert!(
            page.contains(
                r#"smallfiles_table_files{cluster="prod",database="db",table="we\"ird\\name"} 2"#
            ),
            "{page}"
        );
        assert!(page.contains(
            r#"smallfiles_table_small_files{cluster="prod",database="db",table="we\"ird\\name"} 1"#
        ));
        assert!(
            !page.contains("smallfiles_table_metastore_files{"),
            "unknown numFiles is not exported"
        );
        assert!(page.contains(r#"smallfiles_partition_small_files{cluster="prod",database="db",table="we\"ird\\name",partition="dt=1"} 1"#));
        assert!(
            page.contains(r#"smallfiles_file_size_bytes_bucket{cluster="prod",le="1048576"} 1"#)
        );
        assert!(
            page.contains(r#"smallfiles_file_size_bytes_bucket{cluster="prod",le="8388608"} 2"#)
        );
        assert!(page.contains(r#"smallfiles_file_size_bytes_bucket{cluster="prod",le="+Inf"} 2"#));
        assert!(
            page.contains(r#"smallfiles_scan_errors_total{cluster="prod",stage="metastore"} 0"#)
                && page.contains(
                    r#"smallfiles_table_small_files_by_owner{cluster="prod",database="db",table="we\"ird\\name",owner="etl"} 1"#
                )
        );
    }
}

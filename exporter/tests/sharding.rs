//! Sharded exporters: replicas with `exporter.shard` of the same total scan every table of the
//! estate exactly once, by database or by whole cluster.

use std::collections::BTreeSet;

use smallfiles_cluster::config::Config;
use smallfiles_exporter::cache::ScanCache;
use smallfiles_exporter::scheduler::{scan_once, Exporter};

/// `cluster/database.table` of everything one exporter with `shard` scans.
async fn scanned(warehouse: &std::path::Path, clusters: &[&str], shard: &str) -> BTreeSet<String> {
    let mut yaml = format!("exporter:\n  top_partitions: 1\n{shard}clusters:\n");
    for c in clusters {
        yaml.push_str(&format!(
            "  - name: {c}\n    warehouse: \"file://{}\"\n",
            warehouse.display()
        ));
    }
    let config = Config::parse(&yaml).unwrap();
    let exporter = Exporter::new(&config, ScanCache::in_memory()).unwrap();
    let mut out = BTreeSet::new();
    for (scanner, state) in exporter.scanners.iter().zip(&exporter.registry.clusters) {
        scan_once(scanner, state, &exporter.cache, None)
            .await
            .unwrap();
        for t in &state.snapshot().unwrap().tables {
            out.insert(format!("{}/{}.{}", scanner.name, t.database, t.table));
        }
    }
    out
}

#[tokio::test]
async fn two_replicas_cover_every_table_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("w");
    smallfiles_exporter::demo::build(&w).unwrap();
    let clusters = ["prod", "backup", "lab", "edge"];
    let all = scanned(&w, &clusters, "").await;
    assert_eq!(all.len(), 4 * 8, "{all:?}");
    for by in ["database", "cluster"] {
        let mut union = BTreeSet::new();
        let mut sizes = Vec::new();
        for index in 0..2 {
            let shard = format!("  shard: {{ index: {index}, total: 2, by: {by} }}\n");
            let part = scanned(&w, &clusters, &shard).await;
            sizes.push(part.len());
            for t in part {
                assert!(union.insert(t.clone()), "{t} scanned twice (by {by})");
            }
        }
        assert_eq!(union, all, "by {by}");
        assert!(
            sizes.iter().all(|&n| n > 0),
            "by {by}: a replica scans nothing: {sizes:?}"
        );
    }
}

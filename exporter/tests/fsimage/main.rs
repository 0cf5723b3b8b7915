//! `hdfs.mode: fsimage`: the scan reads the NameNode's image instead of listing. Reading images
//! (`reading.rs`): real images from public test suites (`../shared/fixtures/fsimage/`, their
//! totals in ORIGINS.txt), images the test kit writes in each codec, corrupt, truncated and
//! foreign files. The exporter serving images (`serving.rs`): the join to a real metastore,
//! `check`, the last good counts kept, fetched images. Here, the warehouse image both use. The
//! images Hadoop's own NameNode writes are read in `real_namenode.rs`.

#[path = "../common/mod.rs"]
mod common;
mod reading;
mod serving;

use std::path::Path;

use smallfiles_cluster::config::{ClusterConfig, Defaults};
use smallfiles_exporter::cache::UnitMap;
use smallfiles_exporter::scan::{ClusterScanner, ScanReport};
use smallfiles_exporter::snapshot::TableSnapshot;
use smallfiles_testkit::fsimage::TreeFile;

pub const MIB: u64 = 1 << 20;

pub fn scanner(yaml: &str) -> ClusterScanner {
    let config: ClusterConfig = serde_saphyr::from_str(yaml).expect("a cluster");
    ClusterScanner::new(&config, &Defaults::default(), 3, None).expect("a scanner")
}

pub fn image_cluster(image: &Path, extra: &str) -> ClusterScanner {
    scanner(&format!(
        "name: img\n{extra}hdfs:\n  mode: fsimage\n  fsimage:\n    path: {}\n",
        image.display()
    ))
}

pub async fn scan(s: &ClusterScanner) -> ScanReport {
    s.scan(&UnitMap::new(), None, None)
        .await
        .unwrap_or_else(|f| panic!("scan failed at {}: {}", f.stage, f.message))
}

pub fn table<'a>(r: &'a ScanReport, db: &str, t: &str) -> &'a TableSnapshot {
    r.snapshot
        .tables
        .iter()
        .find(|x| x.database == db && x.table == t)
        .unwrap_or_else(|| panic!("{db}.{t} in {:?}", names(r)))
}

pub fn names(r: &ScanReport) -> Vec<String> {
    r.snapshot
        .tables
        .iter()
        .map(|t| format!("{}.{}", t.database, t.table))
        .collect()
}

pub fn file(path: &str, length: u64, owner: &str) -> TreeFile {
    TreeFile {
        path: path.into(),
        length,
        owner: owner.into(),
    }
}

/// A warehouse with what a listing must skip or include: hidden names, staging directories,
/// ACID and union subdirectories, an empty partition directory.
pub fn warehouse_files() -> Vec<TreeFile> {
    let w = "/user/hive/warehouse";
    vec![
        file(&format!("{w}/web.db/clicks/dt=1/part-0"), 10, "etl"),
        file(&format!("{w}/web.db/clicks/dt=1/part-1"), 20, "etl"),
        file(&format!("{w}/web.db/clicks/dt=1/part-2"), 300 * MIB, "hive"),
        file(&format!("{w}/web.db/clicks/dt=1/_SUCCESS"), 0, "etl"),
        file(&format!("{w}/web.db/clicks/dt=1/.part-0.crc"), 8, "etl"),
        file(
            &format!("{w}/web.db/clicks/dt=1/.hive-staging_1/-ext-1/000000_0"),
            5,
            "etl",
        ),
        file(
            &format!("{w}/web.db/clicks/dt=2/HIVE_UNION_SUBDIR_1/000000_0"),
            30,
            "spark",
        ),
        file(
            &format!("{w}/web.db/clicks/dt=2/_temporary/0/part"),
            7,
            "spark",
        ),
        file(
            &format!("{w}/web.db/acid/delta_0000001_0000001_0000/bucket_00000"),
            40,
            "hive",
        ),
        file(
            &format!("{w}/web.db/acid/base_0000005/bucket_00000"),
            170 * MIB,
            "hive",
        ),
        file(&format!("{w}/big/000000_0"), 200 * MIB, "etl"),
    ]
}

pub fn check_warehouse(r: &ScanReport) {
    let clicks = table(r, "web", "clicks");
    assert_eq!(
        (
            clicks.stats.files,
            clicks.stats.small_files,
            clicks.stats.bytes
        ),
        (4, 3, 10 + 20 + 300 * MIB + 30)
    );
    assert_eq!(clicks.partitions, 3, "dt=1, dt=2 and the empty dt=3");
    assert_eq!(
        clicks.small_files_by_owner,
        vec![("etl".to_string(), 2), ("spark".to_string(), 1)]
    );
    let acid = table(r, "web", "acid");
    assert_eq!((acid.stats.files, acid.stats.small_files), (2, 1));
    let big = table(r, "default", "big");
    assert_eq!((big.stats.files, big.stats.small_files), (1, 0));
    assert!(big.small_files_by_owner.is_empty());
}

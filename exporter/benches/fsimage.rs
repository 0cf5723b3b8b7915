//! The fsimage mode at scale (a bench binary, not a timed test). Run from the repository root:
//!
//!   cargo bench -p smallfiles-exporter --bench fsimage -- --files-millions 10 [--codec zlib] [--dir /tmp]
//!   cargo bench -p smallfiles-exporter --bench fsimage -- --namenode-files 1000000
//!
//! Writes a generated warehouse image with the test kit's writer (checked against Hadoop's own
//! reader in `real_namenode.rs`): 100 tables per database, 20 files per partition, as many
//! databases and partitions as the size asks. Then, in a fresh process so that its peak RSS is
//! the scan's own, runs the exporter's scan in fsimage mode over it: reading the image and
//! counting every table and partition of the warehouse layout found in it (the join). Prints
//! one line per figure; BENCHMARKS.md records them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use smallfiles_cluster::config::{ClusterConfig, Defaults};
use smallfiles_exporter::cache::UnitMap;
use smallfiles_exporter::scan::ClusterScanner;
use smallfiles_testkit::fsimage::{write_warehouse, WarehouseShape, WriteCodec};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    if let Some(image) = arg("--scan") {
        scan(Path::new(&image));
        return;
    }
    if let Some(n) = arg("--namenode-files") {
        from_namenode(n.parse().expect("a number"));
        return;
    }
    let millions: f64 = arg("--files-millions").map_or(1.0, |m| m.parse().expect("a number"));
    let codec = match arg("--codec").as_deref() {
        Some("zlib") => WriteCodec::Zlib,
        Some("gzip") => WriteCodec::Gzip,
        Some("snappy") => WriteCodec::Snappy,
        Some("lz4") => WriteCodec::Lz4,
        _ => WriteCodec::None,
    };
    let dir =
        PathBuf::from(arg("--dir").unwrap_or_else(|| std::env::temp_dir().display().to_string()));
    let files = (millions * 1e6) as u64;
    // 100 tables of 100 partitions of 20 files per database.
    let per_db = 100 * 100 * 20;
    let shape = WarehouseShape {
        databases: files.div_ceil(per_db).max(1),
        tables: 100,
        partitions: (files / 2_000).clamp(1, 100),
        files: 20,
    };
    let image = dir.join(format!("fsimage_bench_{millions}m_{codec:?}"));
    let started = Instant::now();
    let totals = write_warehouse(&image, codec, shape, 128 << 20).expect("the image is written");
    let size = std::fs::metadata(&image).unwrap().len();
    println!(
        "image: {:?} {} inodes, {} files, {:.1} MiB, written in {:.1} s",
        codec,
        totals.inodes,
        totals.files,
        size as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--scan", &image.display().to_string()])
        .status()
        .expect("the scan runs");
    std::fs::remove_file(&image).ok();
    assert!(status.success());
}

/// The small image made by Hadoop's own NameNode: `files` empty files created through the
/// client (100 tables of 100 partitions), then `saveNamespace`; scanned in a fresh process.
fn from_namenode(files: u64) {
    use smallfiles_testkit::minidfs::MiniDfs;
    let hdfs = MiniDfs::start();
    let started = Instant::now();
    let per_table = 100 * (files / 10_000).max(1);
    hdfs.bulk_empty_files("/user/hive/warehouse/db0.db", 100, 100, per_table / 100);
    let created = started.elapsed().as_secs_f64();
    let dir = hdfs.save_namespace();
    let image = smallfiles_cluster::hdfs::fsimage::newest_in(&dir).expect("an image");
    let size = std::fs::metadata(&image).unwrap().len();
    println!(
        "image: the NameNode's own, {} files created in {created:.0} s, {:.1} MiB",
        100 * per_table,
        size as f64 / (1 << 20) as f64
    );
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--scan", &image.display().to_string()])
        .status()
        .expect("the scan runs");
    assert!(status.success());
}

fn scan(image: &Path) {
    let yaml = format!(
        "name: bench\nwarehouse: hdfs:///user/hive/warehouse\nhdfs:\n  mode: fsimage\n  fsimage:\n    path: {}\n",
        image.display()
    );
    let config: ClusterConfig = serde_saphyr::from_str(&yaml).unwrap();
    let scanner = ClusterScanner::new(&config, &Defaults::default(), 5, None).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let report = runtime
        .block_on(scanner.scan(&UnitMap::new(), None, None))
        .unwrap_or_else(|f| panic!("{}: {}", f.stage, f.message));
    let seconds = started.elapsed().as_secs_f64();
    let info = report.image.expect("an image");
    let files: u64 = report.snapshot.tables.iter().map(|t| t.stats.files).sum();
    let size_mib = info.size_bytes as f64 / (1 << 20) as f64;
    let rss = smallfiles_testkit::process::peak_rss_mib();
    println!(
        "scan: {} tables, {files} files from {} inodes: read {:.2} s, read + join {seconds:.2} s, {:.2} M inodes/s; peak RSS {rss:.0} MiB = {:.2} x the image",
        report.snapshot.tables.len(),
        info.inodes,
        info.load_seconds,
        info.inodes as f64 / seconds / 1e6,
        rss / size_mib
    );
}

//! Benchmarks of the exporter (a bench binary, not timed tests). Run from the repository root:
//!
//!   cargo bench -p smallfiles-exporter --bench scan -- all
//!   cargo bench -p smallfiles-exporter --bench scan -- metastore --kind mysql --tables 100000 --partitions 10
//!   cargo bench -p smallfiles-exporter --bench scan -- scan --tables 10000 --partitions 10 --files 20
//!   cargo bench -p smallfiles-exporter --bench scan -- encode --tables 100000
//!
//! `metastore` and `scan` need the local MariaDB/PostgreSQL and `../shared/` (schema scripts).
//! Results go to stdout as one line per figure; BENCHMARKS.md records them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use futures::StreamExt;
use smallfiles_cluster::config::{Config, MetastoreConfig, MetastoreKind};
use smallfiles_cluster::metastore::{keyset_pages, partition_pages, Metastore, MetastoreSource};
use smallfiles_exporter::cache::UnitMap;
use smallfiles_exporter::classify::FileStats;
use smallfiles_exporter::scan::ClusterScanner;
use smallfiles_exporter::snapshot::{
    ClusterSnapshot, ClusterState, PartitionSnapshot, Registry, TableSnapshot,
};
use smallfiles_testkit::metastore::{shared_dir, TableSpec, TestDb};

#[derive(Parser)]
struct Args {
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true, global = true)]
    bench: bool,
    #[command(subcommand)]
    what: What,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Kind {
    Mysql,
    Postgres,
}

#[derive(Subcommand)]
enum What {
    /// Every benchmark at the sizes of the targets.
    All,
    /// Metastore read rates.
    Metastore {
        #[arg(long, value_enum, default_value_t = Kind::Mysql)]
        kind: Kind,
        #[arg(long, default_value_t = 100_000)]
        tables: usize,
        #[arg(long, default_value_t = 10)]
        partitions: usize,
        /// Read an existing metastore (one kept with BENCH_KEEP_DB=1) instead of generating one.
        #[arg(long)]
        url: Option<String>,
        /// Read partition pages one after another by keyset, as before the id-range pages.
        #[arg(long)]
        keyset: bool,
    },
    /// A full scan through the WebHDFS test server.
    Scan {
        #[arg(long, default_value_t = 10_000)]
        tables: usize,
        #[arg(long, default_value_t = 10)]
        partitions: usize,
        #[arg(long, default_value_t = 20)]
        files: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Added to every WebHDFS request by the test server, as a network would.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// /metrics rendering time and size.
    Encode {
        #[arg(long, default_value_t = 100_000)]
        tables: usize,
    },
    /// Internal: one scan in a fresh process, so that its peak RSS is the scan's own.
    #[command(hide = true)]
    ScanChild { config: PathBuf },
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.what {
        What::All => {
            rt.block_on(metastore(Kind::Mysql, 100_000, 10, None, false));
            rt.block_on(metastore(Kind::Postgres, 100_000, 10, None, false));
            rt.block_on(scan(10_000, 10, 20, 16, 0));
            encode(100_000);
        }
        What::Metastore {
            kind,
            tables,
            partitions,
            url,
            keyset,
        } => rt.block_on(metastore(kind, tables, partitions, url, keyset)),
        What::Scan {
            tables,
            partitions,
            files,
            concurrency,
            latency_ms,
        } => rt.block_on(scan(tables, partitions, files, concurrency, latency_ms)),
        What::Encode { tables } => encode(tables),
        What::ScanChild { config } => rt.block_on(scan_child(&config)),
    }
}

fn kind_of(k: Kind) -> MetastoreKind {
    match k {
        Kind::Mysql => MetastoreKind::Mysql,
        Kind::Postgres => MetastoreKind::Postgres,
    }
}

/// Fills a fresh metastore (schema 3.1.0) with `tables` partitioned tables of `partitions`
/// partitions each, located under `hdfs://ns/warehouse`.
fn generate(db: &TestDb, tables: usize, partitions: usize) -> Duration {
    let start = Instant::now();
    let mut b = db.builder();
    let mut dbs = Vec::new();
    for d in 0..100 {
        dbs.push(b.database(
            &format!("db{d:02}"),
            &format!("hdfs://ns/warehouse/db{d:02}.db"),
        ));
    }
    let chunk = 1000;
    for t0 in (0..tables).step_by(chunk) {
        for t in t0..(t0 + chunk).min(tables) {
            let loc = table_dir(t);
            let spec = TableSpec::text(&format!("t{t:06}"), &format!("hdfs://ns{loc}"))
                .partitioned_by(&[("dt", "string")])
                .param("numFiles", "20");
            let id = b.table(dbs[t % 100], &spec);
            for p in 0..partitions {
                let name = partition_name(p);
                b.partition(
                    id,
                    &spec,
                    &name,
                    &format!("hdfs://ns{loc}/{name}"),
                    &[
                        ("numFiles", "20"),
                        ("totalSize", "1000"),
                        ("transient_lastDdlTime", "1700000000"),
                    ],
                );
            }
        }
        db.execute_bulk(&b.take_statements(2000));
    }
    start.elapsed()
}

/// `BENCH_KEEP_DB=1` leaves the generated database in place, for EXPLAIN and the like.
fn keep_if_asked(db: TestDb) -> Option<TestDb> {
    if std::env::var_os("BENCH_KEEP_DB").is_some() {
        eprintln!("keeping database {}", db.name);
        std::mem::forget(db);
        None
    } else {
        Some(db)
    }
}

fn table_dir(t: usize) -> String {
    format!("/warehouse/db{:02}.db/t{t:06}", t % 100)
}

fn partition_name(p: usize) -> String {
    format!("dt=2024-01-{:02}", p + 1)
}

fn require_shared() -> PathBuf {
    shared_dir().unwrap_or_else(|| {
        eprintln!("this benchmark needs ../shared/ (the metastore schema scripts)");
        std::process::exit(2)
    })
}

async fn metastore(
    kind: Kind,
    tables: usize,
    partitions: usize,
    url: Option<String>,
    keyset: bool,
) {
    let label = if kind == Kind::Mysql {
        "mariadb"
    } else {
        "postgresql"
    };
    let (url, _db) = match url {
        Some(url) => (url, None),
        None => {
            let shared = require_shared();
            let db = TestDb::create(kind_of(kind), "3.1.0", &shared);
            let gen = generate(&db, tables, partitions);
            println!(
                "metastore[{label}] generated {tables} tables x {partitions} partitions in {:.1}s",
                gen.as_secs_f64()
            );
            (db.url(), keep_if_asked(db))
        }
    };
    let cfg: MetastoreConfig = serde_saphyr::from_str(&format!("url: {url}\n")).unwrap();
    let ms = Metastore::from_config(&cfg).unwrap();
    for run in 1..=3 {
        let start = Instant::now();
        let t = ms.tables().await.unwrap();
        let t_time = start.elapsed();
        let p_start = Instant::now();
        // As a scan reads them: pages by id range, two read ahead (or by keyset, as before).
        let mut n = 0usize;
        let mut pages = if keyset {
            keyset_pages(&ms, 50_000)
        } else {
            partition_pages(&ms, 50_000)
        };
        while let Some(page) = pages.next().await {
            n += page.unwrap().len();
        }
        let p_time = p_start.elapsed();
        println!(
            "metastore[{label}] run {run}: {} tables in {:.2}s ({:.0} tables/s); {n} partitions in {:.2}s ({:.0} partitions/s); total {:.2}s",
            t.len(),
            t_time.as_secs_f64(),
            t.len() as f64 / t_time.as_secs_f64(),
            p_time.as_secs_f64(),
            n as f64 / p_time.as_secs_f64(),
            start.elapsed().as_secs_f64()
        );
    }
}

fn build_tree(root: &Path, tables: usize, partitions: usize, files: usize) -> Duration {
    let start = Instant::now();
    for t in 0..tables {
        for p in 0..partitions {
            let dir = root.join(format!("{}/{}", &table_dir(t)[1..], partition_name(p)));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..files {
                let file = std::fs::File::create(dir.join(format!("part-{f:05}"))).unwrap();
                file.set_len(((t * 7919 + p * 104729 + f * 1299709) % (256 << 20)) as u64)
                    .unwrap();
            }
        }
    }
    start.elapsed()
}

fn testserver_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let bin = dir.join("webhdfs-testserver");
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "smallfiles-testkit",
                "--bin",
                "webhdfs-testserver",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

async fn scan(tables: usize, partitions: usize, files: usize, concurrency: usize, latency_ms: u64) {
    let shared = require_shared();
    let work = tempfile::Builder::new()
        .prefix("smallfiles-bench")
        .tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
        .unwrap();
    let root = work.path().join("hdfs");
    let tree = build_tree(&root, tables, partitions, files);
    println!(
        "scan: built {} directories, {} files in {:.1}s",
        tables * partitions,
        tables * partitions * files,
        tree.as_secs_f64()
    );
    let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
    generate(&db, tables, partitions);

    let port = smallfiles_testkit::process::free_port();
    let mut server = std::process::Command::new(testserver_bin())
        .args([
            "--root",
            &root.to_string_lossy(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--latency-ms",
            &latency_ms.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/webhdfs/v1/?op=GETFILESTATUS"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The server's own ceiling: a plain client asking what a scan asks (a status and a listing
    // per partition), at the same concurrency.
    let client = reqwest::Client::new();
    let sample = (tables * partitions).min(20_000);
    let start = Instant::now();
    let jobs = futures::stream::iter(0..sample).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let path = format!(
                "{}/{}",
                table_dir(i / partitions),
                partition_name(i % partitions)
            );
            for op in ["GETFILESTATUS", "LISTSTATUS_BATCH"] {
                let r = client
                    .get(format!("{base}/webhdfs/v1{path}?op={op}&user.name=hdfs"))
                    .send()
                    .await
                    .unwrap();
                let _ = r.bytes().await.unwrap();
            }
        }
    });
    use futures::StreamExt;
    jobs.buffer_unordered(concurrency).collect::<Vec<_>>().await;
    let max_rate = (sample * 2) as f64 / start.elapsed().as_secs_f64();
    println!("scan: test server maximum {max_rate:.0} requests/s (plain client, concurrency {concurrency})");

    let config = work.path().join("bench.yml");
    std::fs::write(
        &config,
        format!(
            "defaults:\n  small_file_threshold: 64MiB\n  max_concurrent_requests: {concurrency}\n  max_requests_per_second: 0\nclusters:\n  - name: bench\n    metastore:\n      url: {}\n    hdfs:\n      namenodes: [\"{base}\"]\n      user: hdfs\n",
            db.url()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["scan-child", &config.to_string_lossy()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    print!("{report}");
    if let Some(rate) = report
        .lines()
        .find_map(|l| l.strip_prefix("scan: rate "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse::<f64>().ok())
    {
        println!(
            "scan: {:.0}% of the test server's maximum request rate",
            100.0 * rate / max_rate
        );
    }
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = server.kill();
    let _ = server.wait();
}

async fn scan_child(config: &Path) {
    let config = Config::load(config).unwrap();
    let scanner = ClusterScanner::new(&config.clusters[0], &config.defaults, 5, None).unwrap();
    let start = Instant::now();
    let report = scanner
        .scan(&UnitMap::new(), None, None)
        .await
        .unwrap_or_else(|f| panic!("scan failed: {}", f.message));
    let took = start.elapsed().as_secs_f64();
    let requests = scanner.requests.total();
    let files: u64 = report.snapshot.tables.iter().map(|t| t.stats.files).sum();
    let dirs: u64 = report.snapshot.tables.iter().map(|t| t.partitions).sum();
    println!(
        "scan: {} tables, {dirs} partitions, {files} files in {took:.1}s",
        report.snapshot.tables.len()
    );
    println!(
        "scan: {:.0} directories/s, {:.0} files/s",
        dirs as f64 / took,
        files as f64 / took
    );
    println!(
        "scan: rate {:.0} requests/s ({requests} requests)",
        requests as f64 / took
    );
    let cache = report.cache;
    let start = Instant::now();
    let before = scanner.requests.total();
    let again = scanner
        .scan(&cache, Some(&report.snapshot), None)
        .await
        .unwrap_or_else(|f| panic!("scan failed: {}", f.message));
    println!(
        "scan: incremental rescan (nothing changed) in {:.1}s, {} tables cached, {} requests",
        start.elapsed().as_secs_f64(),
        again.table_results["cached"],
        scanner.requests.total() - before
    );
    println!(
        "scan: peak RSS {:.0} MiB",
        smallfiles_testkit::process::peak_rss_mib()
    );
}

fn encode(tables: usize) {
    let state = Arc::new(ClusterState::new(
        "bench",
        128 << 20,
        3600.0,
        true,
        true,
        Default::default(),
    ));
    let mut stats = FileStats::default();
    for i in 0..20 {
        stats.add_file(i * 1_000_000, 128 << 20);
    }
    let snap = ClusterSnapshot {
        tables: (0..tables)
            .map(|t| TableSnapshot {
                database: format!("db{:02}", t % 100),
                table: format!("table_{t:06}"),
                format: "orc".into(),
                table_type: "MANAGED_TABLE".into(),
                owner: "etl".into(),
                transactional: false,
                location_scheme: "hdfs".into(),
                stats: stats.clone(),
                partitions: 10,
                metastore_files: Some(200),
                top_partitions: (0..5)
                    .map(|p| PartitionSnapshot {
                        name: format!("dt=2024-01-{:02}", p + 1),
                        files: 20,
                        small_files: 20,
                    })
                    .collect(),
                small_files_by_owner: vec![("etl".into(), 15), ("hive".into(), 5)],
                listed: true,
            })
            .collect(),
        sizes: stats,
    };
    state.publish(snap);
    let registry = Registry {
        clusters: vec![state],
    };
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let page = smallfiles_exporter::metrics::render(&registry);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        size = page.len();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let series = smallfiles_exporter::metrics::render(&registry)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    println!("encode: {tables} tables, {series} series, {:.1} MiB, median {:.1} ms (min {:.1}, max {:.1}) over 5 renders", size as f64 / 1048576.0, times[2], times[0], times[4]);
    let table_series_only = tables as f64 / series as f64;
    println!(
        "encode: {:.1} ms per 100,000 series",
        times[2] / (series as f64 / 100_000.0)
    );
    let _ = table_series_only;
}

//! Shared by the exporter's end-to-end tests: a warehouse written file by file, with the
//! numbers the exporter must report computed from what was written.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use smallfiles_testkit::minidfs::MiniDfs;

pub const MIB: u64 = 1 << 20;
pub const THRESHOLD: u64 = 64 * MIB;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub files: u64,
    pub small: u64,
    pub bytes: u64,
    pub small_bytes: u64,
    pub partitions: u64,
    /// (partition, files, small files)
    pub parts: Vec<(String, u64, u64)>,
}

/// Files written under a root, remembered per (database, table): on local disk (sparse files),
/// or on Hadoop's own NameNode through Hadoop's client (real bytes: keep them small).
pub struct Warehouse {
    pub root: PathBuf,
    pub tables: BTreeMap<(String, String), Expected>,
    /// Files below this size count as small (the configured `small_file_threshold`).
    pub threshold: u64,
    hdfs: Option<Arc<MiniDfs>>,
    /// Files written so far per directory (names continue from there).
    written: BTreeMap<String, usize>,
}

impl Warehouse {
    pub fn new(root: &Path) -> Warehouse {
        Warehouse {
            root: root.to_path_buf(),
            tables: BTreeMap::new(),
            threshold: THRESHOLD,
            hdfs: None,
            written: BTreeMap::new(),
        }
    }

    /// A warehouse on a MiniDFSCluster; `root` is an absolute HDFS path.
    pub fn on_hdfs(hdfs: Arc<MiniDfs>, root: &str) -> Warehouse {
        Warehouse {
            hdfs: Some(hdfs),
            ..Warehouse::new(Path::new(root))
        }
    }

    /// Writes one file of `size` bytes (`rel` is relative to the root).
    pub fn file(&self, rel: &str, size: u64) {
        let path = self.root.join(rel.trim_start_matches('/'));
        match &self.hdfs {
            Some(h) => h.write(&path.to_string_lossy(), size),
            None => {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::File::create(&path).unwrap().set_len(size).unwrap();
            }
        }
    }

    /// Writes sparse data files of `sizes` into `dir` (relative to the root) and counts them
    /// for the table; `partition` names the partition they belong to. Noise that is not data
    /// (`_SUCCESS`, a staging directory) is written beside them and must not count.
    pub fn data(
        &mut self,
        db: &str,
        table: &str,
        partition: Option<&str>,
        dir: &str,
        sizes: &[u64],
    ) {
        let dir = dir.trim_start_matches('/').trim_end_matches('/');
        let existing = match &self.hdfs {
            Some(_) => self.written.get(dir).copied().unwrap_or(0),
            None => {
                let d = self.root.join(dir);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::read_dir(&d).unwrap().count()
            }
        };
        for (i, s) in sizes.iter().enumerate() {
            self.file(&format!("{dir}/part-{:05}", existing + i), *s);
        }
        *self.written.entry(dir.to_string()).or_default() += sizes.len();
        self.file(&format!("{dir}/_SUCCESS"), 0);
        self.file(
            &format!("{dir}/.hive-staging_hive_1/-ext-10000/000000_0"),
            1,
        );
        let e = self.tables.entry((db.into(), table.into())).or_default();
        let small: Vec<u64> = sizes
            .iter()
            .copied()
            .filter(|s| *s < self.threshold)
            .collect();
        e.files += sizes.len() as u64;
        e.small += small.len() as u64;
        e.bytes += sizes.iter().sum::<u64>();
        e.small_bytes += small.iter().sum::<u64>();
        if let Some(p) = partition {
            match e.parts.iter_mut().find(|x| x.0 == p) {
                Some(x) => {
                    x.1 += sizes.len() as u64;
                    x.2 += small.len() as u64;
                }
                None => {
                    e.parts
                        .push((p.into(), sizes.len() as u64, small.len() as u64));
                    e.partitions += 1;
                }
            }
        }
    }

    /// `web.clicks` under `dir`: partitions `dt=2024-01-01` … one per day, day N holding
    /// `per_day × N` small files (1,000 bytes and up).
    pub fn daily_clicks(&mut self, dir: &str, days: u64, per_day: u64) {
        for day in 1..=days {
            let p = format!("dt=2024-01-0{day}");
            let sizes: Vec<u64> = (0..(day * per_day)).map(|i| 1000 + i * 37).collect();
            self.data("web", "clicks", Some(&p), &format!("{dir}/{p}"), &sizes);
        }
    }

    /// A partition registered with no directory: counts as a partition with no files.
    pub fn empty_partition(&mut self, db: &str, table: &str, partition: &str) {
        let e = self.tables.entry((db.into(), table.into())).or_default();
        e.partitions += 1;
        e.parts.push((partition.into(), 0, 0));
    }

    /// The MiniDFSCluster under this warehouse.
    pub fn hdfs(&self) -> &MiniDfs {
        self.hdfs.as_ref().expect("a warehouse on HDFS")
    }

    /// Gives a file (relative to the root) to `owner`.
    pub fn hdfs_chown(&self, rel: &str, owner: &str) {
        let path = self.root.join(rel.trim_start_matches('/'));
        self.hdfs().chown(&path.to_string_lossy(), owner, "hadoop");
    }

    pub fn total_files(&self) -> u64 {
        self.tables.values().map(|e| e.files).sum()
    }

    pub fn forget(&mut self, db: &str, table: &str) {
        self.tables.remove(&(db.to_string(), table.to_string()));
    }
}

/// Asserts every number the exporter reports for every expected table.
pub fn assert_tables(
    samples: &[smallfiles_testkit::prom::Sample],
    cluster: &str,
    w: &Warehouse,
    top: usize,
) {
    use smallfiles_testkit::prom::value;
    for ((db, t), e) in &w.tables {
        let l = [
            ("cluster", cluster),
            ("database", db.as_str()),
            ("table", t.as_str()),
        ];
        let got = |name: &str| {
            value(samples, name, &l).unwrap_or_else(|| panic!("{name} missing for {db}.{t}"))
        };
        assert_eq!(
            got("smallfiles_table_files"),
            e.files as f64,
            "{db}.{t} files"
        );
        assert_eq!(
            got("smallfiles_table_small_files"),
            e.small as f64,
            "{db}.{t} small files"
        );
        assert_eq!(
            got("smallfiles_table_bytes"),
            e.bytes as f64,
            "{db}.{t} bytes"
        );
        assert_eq!(
            got("smallfiles_table_small_files_bytes"),
            e.small_bytes as f64,
            "{db}.{t} small bytes"
        );
        assert_eq!(
            got("smallfiles_table_partitions"),
            e.partitions as f64,
            "{db}.{t} partitions"
        );
        let mut parts = e.parts.clone();
        parts.sort_by(|a, b| (b.2, b.1, &b.0).cmp(&(a.2, a.1, &a.0)));
        parts.truncate(top);
        let exported: Vec<&smallfiles_testkit::prom::Sample> = samples
            .iter()
            .filter(|s| {
                s.name == "smallfiles_partition_small_files"
                    && s.labels["cluster"] == cluster
                    && s.labels["database"] == *db
                    && s.labels["table"] == *t
            })
            .collect();
        assert_eq!(exported.len(), parts.len(), "{db}.{t} top partitions");
        for (p, files, small) in &parts {
            let pl = [
                ("cluster", cluster),
                ("database", db.as_str()),
                ("table", t.as_str()),
                ("partition", p.as_str()),
            ];
            assert_eq!(
                value(samples, "smallfiles_partition_small_files", &pl),
                Some(*small as f64),
                "{db}.{t} {p}"
            );
            assert_eq!(
                value(samples, "smallfiles_partition_files", &pl),
                Some(*files as f64),
                "{db}.{t} {p}"
            );
        }
    }
    let tables_exported = samples
        .iter()
        .filter(|s| s.name == "smallfiles_table_files" && s.labels["cluster"] == cluster)
        .count();
    assert_eq!(
        tables_exported,
        w.tables.len(),
        "exactly the expected tables are exported"
    );
    assert_eq!(
        value(
            samples,
            "smallfiles_file_size_bytes_count",
            &[("cluster", cluster)]
        ),
        Some(w.total_files() as f64)
    );
}

pub fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let p = dir.join("smallfiles.yml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// Another binary of the workspace, beside the test's own (built when missing: `cargo test -p
/// smallfiles-exporter` alone does not build the merger).
pub fn sibling_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join(name);
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "smallfiles-merger", "--bin", name])
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

pub fn exporter_bin() -> &'static str {
    env!("CARGO_BIN_EXE_smallfiles-exporter")
}

/// Starts the exporter binary on `config` (listening on `port`), its log in `dir`.
pub fn start_exporter(
    dir: &Path,
    config: &Path,
    port: u16,
) -> smallfiles_testkit::process::Running {
    smallfiles_testkit::process::Running::start(
        exporter_bin(),
        &["--config.file", &config.to_string_lossy()],
        port,
        &dir.join("exporter.log"),
    )
}

/// Waits until a scan of `cluster` has completed; the metrics then.
pub async fn complete_scan(
    exporter: &mut smallfiles_testkit::process::Running,
    cluster: &str,
    timeout: std::time::Duration,
) -> Vec<smallfiles_testkit::prom::Sample> {
    exporter
        .wait_metrics(timeout, "a complete scan", |s| {
            smallfiles_testkit::prom::value(
                s,
                "smallfiles_scan_last_success_timestamp_seconds",
                &[("cluster", cluster)],
            )
            .is_some_and(|v| v > 0.0)
        })
        .await
}

/// When `cluster`'s last complete scan finished (0 before the first).
pub fn last_success(s: &[smallfiles_testkit::prom::Sample], cluster: &str) -> f64 {
    smallfiles_testkit::prom::value(
        s,
        "smallfiles_scan_last_success_timestamp_seconds",
        &[("cluster", cluster)],
    )
    .unwrap_or(0.0)
}

/// `smallfiles_up` of `cluster`'s HDFS.
pub fn hdfs_up(s: &[smallfiles_testkit::prom::Sample], cluster: &str) -> Option<f64> {
    smallfiles_testkit::prom::value(
        s,
        "smallfiles_up",
        &[("cluster", cluster), ("component", "hdfs")],
    )
}

/// `smallfiles_hdfs_requests_total` of `cluster` for one operation and outcome (0 when absent).
pub fn hdfs_requests(
    s: &[smallfiles_testkit::prom::Sample],
    cluster: &str,
    op: &str,
    outcome: &str,
) -> f64 {
    smallfiles_testkit::prom::value(
        s,
        "smallfiles_hdfs_requests_total",
        &[("cluster", cluster), ("op", op), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

/// The warehouse of the real-NameNode tests (small sizes, the threshold 64 KiB here):
/// two-level partitions, one value with a comma and a space (Hive leaves them as they are) and
/// one with an escaped '=' and '%' (Hive writes %3D and %25), ACID directories, a table
/// outside the warehouse root.
pub fn build_on_namenode(w: &mut Warehouse) {
    const KIB: u64 = 1024;
    w.threshold = 64 * KIB;
    w.daily_clicks("web.db/clicks", 3, 3);
    w.data(
        "web",
        "visits",
        Some("city=Paris, TX/hr=00"),
        "web.db/visits/city=Paris, TX/hr=00",
        &[10, 20, 100 * KIB],
    );
    w.data(
        "web",
        "visits",
        Some("city=a%3Db%25/hr=01"),
        "web.db/visits/city=a%3Db%25/hr=01",
        &[64 * KIB, 64 * KIB - 1],
    );
    w.data("web", "big", None, "web.db/big", &[200 * KIB, 300 * KIB]);
    w.data("web", "acid", None, "web.db/acid/base_0000005", &[80 * KIB]);
    w.data(
        "web",
        "acid",
        None,
        "web.db/acid/delta_0000006_0000006_0000",
        &[1024],
    );
    w.data("default", "loose", None, "loose", &[1, 2, 3]);
}

/// 40 more partitions of two small files: enough directories that a throttled scan takes a
/// few seconds (a failover can happen in the middle of one).
pub fn add_hourly_events(w: &mut Warehouse) {
    for i in 0..40 {
        let p = format!("dt=2023-12-{:02}", i % 28 + 1);
        let h = format!("hr={:02}", i / 28);
        w.data(
            "web",
            "events",
            Some(&format!("{p}/{h}")),
            &format!("web.db/events/{p}/{h}"),
            &[100, 200],
        );
    }
}

/// The user the MiniDFSCluster runs as (its superuser), for `user.name`.
pub fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

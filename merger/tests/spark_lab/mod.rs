//! The real Spark Thrift Server with its metastore in MariaDB or PostgreSQL, an Impala stand-in,
//! and the merger binary beside them, restarted (and killed) at will: the bench shared by
//! `merge_spark.rs` and `crash_soak.rs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use smallfiles_cluster::hiveserver2::{Cell, Session};
use smallfiles_testkit::hs2_server::{self, Table};
use smallfiles_testkit::merger_api::MergerApi;
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::proxy::Proxy;
use smallfiles_testkit::spark::{self, MetastoreDatabase, MetastoreDb};

pub const OPS_TOKEN: &str = "ops-secret-token-0002";
pub const AM_TOKEN: &str = "am-secret-token-0001";
/// How long a merge step may take on this small machine.
pub const WAIT: Duration = Duration::from_secs(180);

pub struct Lab {
    pub server: Option<spark::SparkServer>,
    pub spark_port: u16,
    /// The merger reads the metastore database through this proxy (a test can take it down).
    pub metastore_proxy: Proxy,
    pub impala: hs2_server::ScriptedHs2,
    pub db: MetastoreDatabase,
    pub dir: tempfile::TempDir,
    pub sql: Session,
    pub config: PathBuf,
    pub port: u16,
    pub merger: Option<Running>,
    pub runs: u32,
    pub api: MergerApi,
    pub webhook: MergerApi,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 1..=self.runs {
                let log = std::fs::read_to_string(self.dir.path().join(format!("merger-{i}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                eprintln!("--- merger run {i} (last lines) ---");
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Lab {
    pub async fn start(kind: MetastoreDb, name: &str) -> Lab {
        Lab::start_with(kind, name, "", "").await
    }

    /// More lines (`key: value`, one per line) of the `merger:` section and of the cluster's
    /// `merge:` section.
    pub async fn start_with(
        kind: MetastoreDb,
        name: &str,
        merger_settings: &str,
        merge_settings: &str,
    ) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let db = MetastoreDatabase::new(kind, &format!("sf_{name}_{}", std::process::id()));
        let port = free_port();
        let server = spark::start_nosasl(&db, dir.path(), port);
        let sql = spark::open(&spark::nosasl_config(port)).await;
        for (f, t) in [("ops.token", OPS_TOKEN), ("am.token", AM_TOKEN)] {
            std::fs::write(dir.path().join(f), t).unwrap();
        }
        let impala = hs2_server::start("Impala", |sql| {
            if sql.starts_with("REFRESH `sales`.") {
                Ok(Table::default())
            } else {
                Err(format!("AnalysisException: {sql}"))
            }
        })
        .await;
        let metastore_port = match kind {
            MetastoreDb::Mariadb => 3306,
            MetastoreDb::Postgres => 5432,
        };
        let metastore_proxy = Proxy::start(([127, 0, 0, 1], metastore_port).into()).await;
        let merger_url = db.url().replace(
            &format!(":{metastore_port}/"),
            &format!(":{}/", metastore_proxy.addr.port()),
        );
        let indent = |lines: &str, by: &str| -> String {
            lines
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| format!("{by}{l}\n"))
                .collect()
        };
        let (merger_extra, extra) = (
            indent(merger_settings, "  "),
            indent(merge_settings, "      "),
        );
        let merger_port = free_port();
        let config = dir.path().join("smallfiles.yml");
        std::fs::write(
            &config,
            format!(
                r#"
merger:
  listen_address: "127.0.0.1:{merger_port}"
  data_dir: {data}
  cooldown: 1s
{merger_extra}  auth:
    tokens:
      - {{ name: ops, token_file: {d}/ops.token, role: operator }}
      - {{ name: alertmanager, token_file: {d}/am.token, role: trigger }}
clusters:
  - name: lab
    metastore:
      url: {url}
    hiveserver2: {{ url: "hive2://127.0.0.1:{port}", auth: nosasl, user: smallfiles }}
    impala: {{ url: "{impala}", auth: nosasl }}
    merge:
      queue: maintenance
      target_file_size: 128MiB
      rollback_retention: 1s
      engine_settings: {{ spark.sql.shuffle.partitions: "2" }}
{extra}"#,
                data = dir.path().join("data").display(),
                d = dir.path().display(),
                url = merger_url,
                impala = impala.url(),
            ),
        )
        .unwrap();
        let mut lab = Lab {
            server: Some(server),
            spark_port: port,
            metastore_proxy,
            impala,
            db,
            dir,
            sql,
            config,
            port: merger_port,
            merger: None,
            runs: 0,
            api: MergerApi::new(merger_port, OPS_TOKEN),
            webhook: MergerApi::new(merger_port, AM_TOKEN),
        };
        lab.restart(None).await;
        lab
    }

    /// Starts the merger again; `pause` (`written`/`switched`, signal name) holds each swap
    /// after that stage until [`Lab::signal`] is given that name. Replaced directories are kept
    /// until the signal `retire`, whatever their 1 s window says.
    pub async fn restart(&mut self, pause: Option<(&str, &str)>) {
        self.runs += 1;
        let log = self.dir.path().join(format!("merger-{}.log", self.runs));
        let hold = self.signal_path("retire");
        let pause =
            pause.map(|(stage, name)| format!("{stage}:{}", self.signal_path(name).display()));
        let mut env: Vec<(&str, &str)> = vec![(
            "SMALLFILES_MERGER_TEST_HOLD_RETIRED",
            hold.to_str().unwrap(),
        )];
        if let Some(p) = &pause {
            env.push(("SMALLFILES_MERGER_TEST_PAUSE", p));
        }
        let mut m = Running::start_with_env(
            env!("CARGO_BIN_EXE_smallfiles-merger"),
            &["--config.file", &self.config.to_string_lossy()],
            &env,
            self.port,
            &log,
        );
        m.wait_ok("/-/ready", Duration::from_secs(60)).await;
        self.merger = Some(m);
    }

    /// Kills Spark's Thrift Server if it runs (kill -9, whatever it was running) and starts it
    /// again on the same port, metastore and warehouse.
    pub async fn restart_spark(&mut self) {
        let port = self.spark_port;
        self.kill_spark();
        let server = spark::start_nosasl(&self.db, self.dir.path(), port);
        self.server = Some(server);
        self.sql = spark::open(&spark::nosasl_config(port)).await;
    }

    /// kill -9 of Spark's Thrift Server (its JVM and with it every statement in flight).
    pub fn kill_spark(&mut self) {
        drop(self.server.take());
    }

    /// Waits until the task's swap records `stage` (`writing`, `written`, `switched`, …).
    pub async fn wait_stage(&self, id: u64, stage: &str) -> Value {
        let suffix = format!(": {stage}");
        self.api
            .wait_task(id, stage, WAIT, |t| {
                t["step"].as_str().is_some_and(|s| s.ends_with(&suffix))
            })
            .await
    }

    pub fn signal_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("signal-{name}"))
    }

    /// Lets what waits for `name` go on.
    pub fn signal(&self, name: &str) {
        std::fs::write(self.signal_path(name), b"go").unwrap();
    }

    pub fn kill9(&mut self) {
        self.merger.take().expect("a running merger").kill9();
    }

    pub async fn exec(&mut self, sql: &str) -> Vec<Vec<Cell>> {
        self.sql
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows
    }

    /// Rows and a checksum over every column, through the table.
    pub async fn fingerprint(&mut self, table: &str, filter: &str) -> Vec<Vec<Cell>> {
        self.exec(&format!(
            "SELECT COUNT(*), SUM(CAST(hash(id, note, amount) AS BIGINT)) FROM sales.{table} WHERE {filter}"
        ))
        .await
    }

    /// The partition's location as the metastore stores it ("" when there is none).
    pub fn location(&self, table: &str, partition: &str) -> String {
        locations(self, table).remove(partition).unwrap_or_default()
    }

    pub async fn tables(&mut self) -> Vec<String> {
        self.exec("SHOW TABLES IN sales")
            .await
            .into_iter()
            .filter_map(|r| {
                r.into_iter().find_map(|c| match c {
                    Cell::Text(t) if t.starts_with("events") || t.starts_with("smallfiles") => {
                        Some(t)
                    }
                    _ => None,
                })
            })
            .collect()
    }
}

/// Data files (not hidden) under a `file:` location.
pub fn data_files(location: &str) -> usize {
    let path = location
        .trim_start_matches("file:")
        .trim_start_matches("//");
    fn walk(p: &Path) -> usize {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        rd.flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                !n.starts_with('.') && !n.starts_with('_')
            })
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
    walk(Path::new(path))
}

pub fn exists(location: &str) -> bool {
    Path::new(
        location
            .trim_start_matches("file:")
            .trim_start_matches("//"),
    )
    .exists()
}

pub fn log_text(t: &Value) -> String {
    t["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A HiveQL string literal, written here rather than with the merger's own quoting.
pub fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Every partition of a table (name as the metastore stores it → location).
pub fn locations(lab: &Lab, table: &str) -> std::collections::BTreeMap<String, String> {
    let q = format!(
        "SELECT p.\"PART_NAME\", s.\"LOCATION\" FROM \"PARTITIONS\" p JOIN \"SDS\" s ON p.\"SD_ID\" = s.\"SD_ID\" JOIN \"TBLS\" t ON p.\"TBL_ID\" = t.\"TBL_ID\" WHERE t.\"TBL_NAME\" = '{table}'"
    );
    // Raw, tab-separated rows: names and locations as stored, trailing spaces included.
    let out = match lab.db.kind {
        MetastoreDb::Mariadb => std::process::Command::new("mysql")
            .args([
                "-h",
                "127.0.0.1",
                "-uroot",
                "-N",
                "-B",
                "-r",
                &lab.db.name,
                "-e",
            ])
            .arg(q.replace('"', "`"))
            .output()
            .unwrap(),
        MetastoreDb::Postgres => std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                &lab.db.name,
                "-tA",
                "-F",
                "\t",
                "-c",
            ])
            .arg(q)
            .output()
            .unwrap(),
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, l)| (n.to_string(), l.to_string()))
        .collect()
}

pub fn local_path(location: &str) -> PathBuf {
    PathBuf::from(
        location
            .trim_start_matches("file:")
            .trim_start_matches("//"),
    )
}

/// Every file and directory under `dir` with its length and modification time.
pub fn tree_state(dir: &Path) -> std::collections::BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path(), (m.len(), m.modified().unwrap()));
        }
    }
    out
}

/// Sets the modification time of everything under `dir` (and `dir`) to `ago` before now:
/// data written long ago, as far as the merger can tell.
pub fn age(dir: &Path, ago: Duration) {
    let t = std::time::SystemTime::now() - ago;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            }
            std::fs::File::open(e.path())
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        std::fs::File::open(&d).unwrap().set_modified(t).unwrap();
    }
}

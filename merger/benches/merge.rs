//! Merge throughput on a real HiveServer2 (Spark's Thrift Server, metastore in the local
//! MariaDB): partitions merged per minute, files removed per minute, and the merger's own
//! overhead per task (task time not spent waiting for statements: planning, listing, commits).
//!
//!   cargo bench -p smallfiles-merger --bench merge [-- --partitions 12 --files 50 --concurrency 2]
//!
//! Half the partitions are text, half Parquet; every partition gets `files` small files. Needs
//! pyspark, Java and the JDBC drivers (as `.ci/run` installs them).

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use smallfiles_testkit::merger_api::MergerApi;
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::spark::{self, MetastoreDatabase, MetastoreDb};

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true, global = true)]
    bench: bool,
    #[arg(long, default_value_t = 12)]
    partitions: usize,
    #[arg(long, default_value_t = 50)]
    files: usize,
    /// merger.concurrency.global and per_cluster.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
}

/// Seconds spent in statements, from the task's log lines ("ran in 1.23 s …").
fn statement_seconds(task: &Value) -> f64 {
    task["log"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| {
                    let m = l["message"].as_str()?;
                    let rest = m
                        .strip_prefix("ran in ")
                        .or_else(|| m.strip_prefix("failed after "))?;
                    rest.split(' ').next()?.parse::<f64>().ok()
                })
                .sum()
        })
        .unwrap_or(0.0)
}

fn main() {
    let args = Args::parse();
    if !spark::available() {
        eprintln!("this benchmark needs pyspark, Java and the JDBC drivers");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let db = MetastoreDatabase::new(
            MetastoreDb::Mariadb,
            &format!("sf_bench_merge_{}", std::process::id()),
        );
        let hs2_port = free_port();
        let _server = spark::start_nosasl(&db, dir.path(), hs2_port);
        let mut sql = spark::open(&spark::nosasl_config(hs2_port)).await;
        let t0 = Instant::now();
        for s in [
            "CREATE DATABASE bench",
            "CREATE TABLE bench.t_text (id BIGINT, note STRING, amount DOUBLE) PARTITIONED BY (p INT) STORED AS TEXTFILE",
            "CREATE TABLE bench.t_parquet (id BIGINT, note STRING, amount DOUBLE) PARTITIONED BY (p INT) STORED AS PARQUET",
        ] {
            sql.execute(s).await.unwrap();
        }
        let mut targets = Vec::new();
        for i in 0..args.partitions {
            let table = if i % 2 == 0 { "t_text" } else { "t_parquet" };
            sql.execute(&format!(
                "INSERT INTO bench.{table} PARTITION (p={i}) SELECT /*+ REPARTITION({}) */ id, concat('note ', id), id * 0.5 FROM range(20000)",
                args.files
            ))
            .await
            .unwrap();
            targets.push((table, format!("p={i}")));
        }
        eprintln!(
            "{} partitions × {} files written in {:.1} s",
            args.partitions,
            args.files,
            t0.elapsed().as_secs_f64()
        );

        let port = free_port();
        std::fs::write(dir.path().join("ops.token"), "bench-token-0001").unwrap();
        let config = dir.path().join("smallfiles.yml");
        std::fs::write(
            &config,
            format!(
                r#"
merger:
  listen_address: "127.0.0.1:{port}"
  data_dir: {data}
  concurrency: {{ global: {c}, per_cluster: {c} }}
  auth:
    tokens:
      - {{ name: ops, token_file: {d}/ops.token, role: operator }}
clusters:
  - name: bench
    metastore:
      url: {url}
    hiveserver2: {{ url: "hive2://127.0.0.1:{hs2_port}", auth: nosasl }}
    merge:
      rollback_retention: 1h
"#,
                data = dir.path().join("data").display(),
                d = dir.path().display(),
                url = db.url(),
                c = args.concurrency,
            ),
        )
        .unwrap();
        let log = dir.path().join("merger.log");
        let mut merger = Running::start(
            env!("CARGO_BIN_EXE_smallfiles-merger"),
            &["--config.file", &config.to_string_lossy()],
            port,
            &log,
        );
        merger.wait_ok("/-/ready", Duration::from_secs(30)).await;
        let api = MergerApi::new(port, "bench-token-0001");
        let start = Instant::now();
        let mut ids = Vec::new();
        for (table, partition) in &targets {
            ids.push(api.submit("bench", "bench", table, partition).await);
        }
        let mut done: Vec<Value> = Vec::new();
        for id in &ids {
            let t = api.wait_ended(*id, Duration::from_secs(3600)).await;
            assert_eq!(t["state"], "succeeded", "task {id}: {t:#}");
            done.push(t);
        }
        let wall = start.elapsed().as_secs_f64();
        let removed: u64 = done
            .iter()
            .map(|t| t["files_before"].as_u64().unwrap_or(0) - t["files_after"].as_u64().unwrap_or(0))
            .sum();
        let mut overhead: Vec<f64> = done
            .iter()
            .map(|t| t["duration_seconds"].as_f64().unwrap_or(0.0) - statement_seconds(t))
            .collect();
        overhead.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let task_secs: Vec<f64> = done.iter().map(|t| t["duration_seconds"].as_f64().unwrap_or(0.0)).collect();
        println!(
            "merged {} partitions ({} files removed) in {wall:.1} s at concurrency {}: {:.1} partitions/min, {:.0} files removed/min",
            done.len(),
            removed,
            args.concurrency,
            done.len() as f64 * 60.0 / wall,
            removed as f64 * 60.0 / wall
        );
        println!(
            "per task: {:.2} s mean; merger overhead (time not in statements) p50 {:.0} ms, max {:.0} ms",
            task_secs.iter().sum::<f64>() / task_secs.len() as f64,
            overhead[overhead.len() / 2] * 1000.0,
            overhead.last().copied().unwrap_or(0.0) * 1000.0
        );
    });
}

//! A merge whose data lives on Hadoop's own NameNode: Spark's Thrift Server keeps its warehouse
//! on a MiniDFSCluster (written over Hadoop RPC by Spark's bundled client), and the merger
//! lists partitions, verifies the merged copy and removes replaced directories on that
//! NameNode — through WebHDFS for one cluster, through Hadoop's RPC (`hdfs.mode: rpc`, no
//! WebHDFS address at all) for another on the same warehouse. Rows and checksum unchanged, as
//! in `merge_spark.rs`. Needs pyspark, Java and Maven (say SKIPPED without them outside CI).

use std::time::{Duration, Instant};

use serde_json::json;
use smallfiles_cluster::hiveserver2::{Cell, Session};
use smallfiles_testkit::merger_api::{write_operator_config, MergerApi};
use smallfiles_testkit::minidfs::{self, MiniDfs};
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::spark::{
    self, events_fingerprint, exec, MetastoreDatabase, MetastoreDb, Options,
};

const OPS_TOKEN: &str = "ops-secret-token-0003";
const WAIT: Duration = Duration::from_secs(180);

/// The path part of an `hdfs://host:port/path` location.
fn hdfs_path(location: &str) -> String {
    let rest = location
        .strip_prefix("hdfs://")
        .unwrap_or_else(|| panic!("not on HDFS: {location}"));
    rest[rest.find('/').unwrap()..].to_string()
}

/// The partition's location, as the metastore has it (read through Spark).
async fn location(sql: &mut Session, partition: &str) -> String {
    let rows = exec(
        sql,
        &format!("DESCRIBE FORMATTED sales.events PARTITION ({partition})"),
    )
    .await;
    rows.iter()
        .find_map(|r| match (&r[0], &r[1]) {
            (Cell::Text(k), Cell::Text(v)) if k.trim() == "Location" => Some(v.trim().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no location for {partition}: {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_and_retention_on_the_real_namenode() {
    if !spark::available() || !minidfs::available() {
        return;
    }
    let hdfs = tokio::task::spawn_blocking(MiniDfs::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = MetastoreDatabase::new(
        MetastoreDb::Mariadb,
        &format!("sf_hdfs_{}", std::process::id()),
    );
    let port = free_port();
    let warehouse = format!("hdfs://{}/warehouse", hdfs.rpc[0]);
    let _server = spark::start_with_warehouse(
        &db,
        dir.path(),
        Options {
            auth: "NOSASL",
            transport: "binary",
            port,
        },
        Some(&warehouse),
    );
    let mut sql = spark::open(&spark::nosasl_config(port)).await;
    spark::create_events(&mut sql, &["2026-11-24", "2026-11-25"]).await;
    let p1 = "dt='2026-11-24'";
    let old = location(&mut sql, p1).await;
    assert!(old.starts_with("hdfs://"), "{old}");
    let old_path = hdfs_path(&old);
    assert_eq!(hdfs.data_files(&old_path), 20);
    let before = events_fingerprint(&mut sql, p1).await;

    let merger_port = free_port();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let config = write_operator_config(
        dir.path(),
        merger_port,
        OPS_TOKEN,
        &format!(
            r#"
  - name: lab
    metastore:
      url: {url}
    hiveserver2: {{ url: "hive2://127.0.0.1:{port}", auth: nosasl, user: smallfiles }}
    hdfs:
      namenodes: ["{nn}"]
      user: {user}
    merge:
      rollback_retention: 1s
      min_partition_age: 1s
      engine_settings: {{ spark.sql.shuffle.partitions: "2" }}
  - name: labrpc
    metastore:
      url: {url}
    hiveserver2: {{ url: "hive2://127.0.0.1:{port}", auth: nosasl, user: smallfiles }}
    hdfs:
      mode: rpc
      rpc_addresses: ["{rpc}"]
      user: {user}
    merge:
      rollback_retention: 1s
      min_partition_age: 1s
      engine_settings: {{ spark.sql.shuffle.partitions: "2" }}
"#,
            url = db.url(),
            nn = hdfs.http[0],
            rpc = hdfs.rpc[0],
        ),
    );
    let mut merger = Running::start(
        env!("CARGO_BIN_EXE_smallfiles-merger"),
        &["--config.file", &config.to_string_lossy()],
        merger_port,
        &dir.path().join("merger.log"),
    );
    merger.wait_ok("/-/ready", Duration::from_secs(60)).await;
    let api = MergerApi::new(merger_port, OPS_TOKEN);

    // One partition: listed, merged, verified and switched; the old directory removed through
    // WebHDFS once the window ends.
    let id = api.submit("lab", "sales", "events", "dt=2026-11-24").await;
    let t = api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}\n{}", merger.log_text());
    assert_eq!(t["files_before"], 20, "{t:#}");
    let new = location(&mut sql, p1).await;
    assert_ne!(new, old);
    let new_path = hdfs_path(&new);
    assert_eq!(
        hdfs.data_files(&new_path),
        t["files_after"].as_u64().unwrap(),
        "{t:#}"
    );
    assert_eq!(
        events_fingerprint(&mut sql, p1).await,
        before,
        "data unchanged"
    );
    let start = Instant::now();
    while hdfs.exists(&old_path) {
        assert!(
            start.elapsed() < WAIT,
            "the replaced directory {old_path} was never removed: {}",
            merger.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(hdfs.exists(&new_path), "the data stays");
    assert_eq!(events_fingerprint(&mut sql, p1).await, before);

    // The whole table, on the cluster that reaches HDFS over RPC only: each partition is
    // listed on the NameNode; the one merged already has too few small files and is left
    // alone, the other is merged and its replaced directory removed over RPC.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p2 = "dt='2026-11-25'";
    let before2 = events_fingerprint(&mut sql, p2).await;
    let old2_path = hdfs_path(&location(&mut sql, p2).await);
    let (status, r) = api
        .post(
            "/api/v1/tasks",
            json!({"cluster": "labrpc", "database": "sales", "table": "events"}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let table_task = r["results"][0]["task_id"].as_u64().unwrap();
    let t = api.wait_ended(table_task, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}\n{}", merger.log_text());
    assert_eq!(t["selection"]["chosen"], json!(["dt=2026-11-25"]), "{t:#}");
    let skipped = serde_json::to_string(&t["selection"]["skipped"]).unwrap();
    assert!(skipped.contains("dt=2026-11-24"), "{t:#}");
    assert_eq!(
        location(&mut sql, p1).await,
        new,
        "the merged partition is untouched"
    );
    assert_ne!(
        hdfs_path(&location(&mut sql, p2).await),
        hdfs_path(&format!("{warehouse}/sales.db/events/dt=2026-11-25")),
        "the other partition was merged"
    );
    assert_eq!(events_fingerprint(&mut sql, p2).await, before2);
    let start = Instant::now();
    while hdfs.exists(&old2_path) {
        assert!(
            start.elapsed() < WAIT,
            "the replaced directory {old2_path} was never removed over RPC: {}",
            merger.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(events_fingerprint(&mut sql, p2).await, before2);
    drop(merger);
}

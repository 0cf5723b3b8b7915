//! The exporter binary against real metastores (MariaDB and PostgreSQL, official schemas 2.1,
//! 3.1 and 4.0 from `../shared/`) and the WebHDFS test server behind two NameNodes, the first in
//! standby: every exported number against what the test wrote, a metastore outage mid-run, a
//! dropped table. Skips when `../shared/` is absent.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::metastore::{TableSpec, TestDb};
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::prom::{value, Sample};
use smallfiles_testkit::proxy::Proxy;
use smallfiles_testkit::require_shared;
use smallfiles_testkit::webhdfs::{spawn, ServerOptions};

const NS: &str = "hdfs://nameservice1";

fn up(s: &[Sample], component: &str) -> Option<f64> {
    value(
        s,
        "smallfiles_up",
        &[("cluster", "prod"), ("component", component)],
    )
}

async fn run(kind: MetastoreKind, version: &str) {
    let shared = require_shared!();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hdfs");
    let mut w = Warehouse::new(&root);
    let db = TestDb::create(kind, version, &shared);
    let mut b = db.builder();
    let wh = "/user/hive/warehouse";
    let sales = b.database("sales", &format!("{NS}{wh}/sales.db"));

    // A partitioned text table: partitions inside the table, one escaped, one elsewhere, one
    // registered with no directory.
    let mut orders = TableSpec::text("orders", &format!("{NS}{wh}/sales.db/orders"))
        .partitioned_by(&[("dt", "string")]);
    orders.owner = "etl_orders".into();
    let orders_id = b.table(sales, &orders);
    let parts: [(&str, String, Vec<u64>, &str); 3] = [
        (
            "dt=2024-01-01",
            format!("{wh}/sales.db/orders/dt=2024-01-01"),
            vec![1024, 2048, 100 * MIB, THRESHOLD - 1, THRESHOLD],
            "5",
        ),
        (
            "dt=2024-01-02 10%3A00",
            format!("{wh}/sales.db/orders/dt=2024-01-02 10%3A00"),
            vec![4096; 10],
            "9",
        ),
        (
            "dt=2023-12-31",
            "/archive/orders/old".to_string(),
            vec![200 * MIB, 200 * MIB, 10],
            "junk",
        ),
    ];
    for (name, dir, sizes, num_files) in &parts {
        b.partition(
            orders_id,
            &orders,
            name,
            &format!("{NS}{dir}"),
            &[
                ("numFiles", num_files),
                ("transient_lastDdlTime", "1700000000"),
            ],
        );
        w.data("sales", "orders", Some(name), dir, sizes);
    }
    b.partition(
        orders_id,
        &orders,
        "dt=2024-01-03",
        &format!("{NS}{wh}/sales.db/orders/dt=2024-01-03"),
        &[],
    );
    w.empty_partition("sales", "orders", "dt=2024-01-03");

    // External Parquet, unpartitioned, with a union subdirectory.
    let events = TableSpec::parquet("events", &format!("{NS}/data/events"))
        .external()
        .param("numFiles", "4");
    b.table(sales, &events);
    w.data(
        "sales",
        "events",
        None,
        "/data/events",
        &[10 * MIB, 20 * MIB],
    );
    w.data(
        "sales",
        "events",
        None,
        "/data/events/HIVE_UNION_SUBDIR_1",
        &[1, 2, 3],
    );

    // ACID ORC with base and delta directories.
    let acid = TableSpec::orc("acid_t", &format!("{NS}{wh}/sales.db/acid_t"))
        .param("transactional", "true");
    b.table(sales, &acid);
    w.data(
        "sales",
        "acid_t",
        None,
        &format!("{wh}/sales.db/acid_t/base_0000005"),
        &[80 * MIB],
    );
    w.data(
        "sales",
        "acid_t",
        None,
        &format!("{wh}/sales.db/acid_t/delta_0000006_0000006_0000"),
        &[1024],
    );

    // Spark data-source table: placeholder location, real path in the serde.
    let mut spark = TableSpec::parquet(
        "spark_t",
        &format!("{NS}{wh}/sales.db/spark_t-__PLACEHOLDER__"),
    )
    .param("spark.sql.sources.provider", "parquet");
    spark
        .serde_params
        .push(("path".into(), format!("{NS}/spark/spark_t")));
    b.table(sales, &spark);
    w.data("sales", "spark_t", None, "/spark/spark_t", &[7, 8]);

    // Not listed: a view, an S3 table (info only), an excluded table.
    b.table(sales, &TableSpec::view("v_orders"));
    b.table(sales, &TableSpec::text("s3_t", "s3a://bucket/s3_t"));
    b.table(
        sales,
        &TableSpec::text("tmp_scratch", &format!("{NS}{wh}/sales.db/tmp_scratch")),
    );
    std::fs::create_dir_all(root.join("user/hive/warehouse/sales.db/tmp_scratch")).unwrap();

    let has_catalogs = version >= "3.0";
    if has_catalogs {
        b.catalog("spark", &format!("{NS}/spark-warehouse"));
        let s = b.database_in(
            Some("spark"),
            "sales",
            &format!("{NS}/spark-warehouse/sales.db"),
        );
        b.table(
            s,
            &TableSpec::parquet("orders", &format!("{NS}/spark-warehouse/sales.db/orders")),
        );
        w.data(
            "@spark#sales",
            "orders",
            None,
            "/spark-warehouse/sales.db/orders",
            &[1, 1, 1, 1, 1, 1, 1],
        );
    }
    db.execute(&b.take_statements(500));

    let standby = spawn(
        ServerOptions {
            standby: true,
            ..ServerOptions::new(&root)
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let active = spawn(
        ServerOptions {
            page_size: 2,
            ..ServerOptions::new(&root)
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let db_port = if kind == MetastoreKind::Mysql {
        3306
    } else {
        5432
    };
    let db_proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], db_port))).await;
    // A reader that logs in with a password from a file, which must never be shown.
    let secret = "metastore-secret-value-1";
    let reader = db.reader(secret);
    let url = reader.url.replace(
        &format!(":{db_port}/"),
        &format!(":{}/", db_proxy.addr.port()),
    );
    let pw = tmp.path().join("metastore.pw");
    std::fs::write(&pw, format!("{secret}\n")).unwrap();
    let port = free_port();
    let cfg = write_config(
        tmp.path(),
        &format!(
            r#"
exporter:
  listen_address: "127.0.0.1:{port}"
  top_partitions: 2
defaults:
  small_file_threshold: 64MiB
  scan_interval: 1s
clusters:
  - name: prod
    metastore:
      url: {url}
      password_file: {pw}
      partition_page_size: 2
      connect_timeout: 2s
    hdfs:
      namenodes: ["{standby}", "{active}"]
      user: hdfs
      retries: 1
    exclude: ["*.tmp_*"]
"#,
            standby = standby.url(),
            active = active.url(),
            pw = pw.display(),
        ),
    );
    let cfg = cfg.to_string_lossy().into_owned();
    let mut exporter = Running::start(
        exporter_bin(),
        &["--config.file", &cfg],
        port,
        &tmp.path().join("exporter.log"),
    );
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = exporter
        .wait_metrics(Duration::from_secs(15), "a complete scan", |s| {
            value(
                s,
                "smallfiles_scan_last_success_timestamp_seconds",
                &[("cluster", "prod")],
            )
            .is_some()
        })
        .await;
    let ctx = format!("{kind:?} {version}");
    assert_tables(&s, "prod", &w, 2);
    assert_eq!(up(&s, "metastore"), Some(1.0), "{ctx}");
    assert_eq!(up(&s, "hdfs"), Some(1.0), "{ctx}");
    // The health and identity series an operator reads.
    let prod = [("cluster", "prod")];
    assert_eq!(
        value(
            &s,
            "smallfiles_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", smallfiles_cluster::REVISION)
            ]
        ),
        Some(1.0),
        "{ctx}"
    );
    assert!(value(&s, "smallfiles_scan_duration_seconds", &prod).is_some_and(|d| d > 0.0));
    assert_eq!(
        value(&s, "smallfiles_scan_interval_seconds", &prod),
        Some(1.0)
    );
    let info = s
        .iter()
        .find(|x| {
            x.name == "smallfiles_table_info"
                && x.labels.get("database").map(String::as_str) == Some("sales")
                && x.labels.get("table").map(String::as_str) == Some("orders")
        })
        .unwrap_or_else(|| panic!("no smallfiles_table_info for orders: {ctx}"));
    assert_eq!(info.labels["owner"], "etl_orders", "{ctx}");
    assert_eq!(info.value, 1.0);
    assert!(
        value(
            &s,
            "smallfiles_scan_tables",
            &[("cluster", "prod"), ("result", "scanned")]
        )
        .is_some_and(|n| n >= 1.0),
        "{ctx}"
    );
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "prod"), ("stage", "cache")]
        ),
        Some(0.0),
        "{ctx}"
    );

    // numFiles as the metastore states it: summed over partitions with a number.
    let ms_files = |t: &str| {
        value(
            &s,
            "smallfiles_table_metastore_files",
            &[("cluster", "prod"), ("database", "sales"), ("table", t)],
        )
    };
    assert_eq!(ms_files("orders"), Some(14.0), "{ctx}");
    assert_eq!(ms_files("events"), Some(4.0), "{ctx}");
    assert_eq!(ms_files("acid_t"), None, "{ctx}");

    let info = |t: &str| {
        s.iter()
            .find(|x| {
                x.name == "smallfiles_table_info"
                    && x.labels["database"] == "sales"
                    && x.labels["table"] == t
            })
            .map(|x| x.labels.clone())
    };
    let o = info("orders").unwrap();
    assert_eq!(
        (
            o["format"].as_str(),
            o["table_type"].as_str(),
            o["transactional"].as_str(),
            o["location_scheme"].as_str()
        ),
        ("text", "MANAGED_TABLE", "false", "hdfs")
    );
    assert_eq!(info("acid_t").unwrap()["transactional"], "true");
    assert_eq!(info("events").unwrap()["table_type"], "EXTERNAL_TABLE");
    assert_eq!(info("spark_t").unwrap()["format"], "parquet");
    assert_eq!(
        info("s3_t").unwrap()["location_scheme"],
        "s3a",
        "unsupported tables keep their info"
    );
    assert!(info("v_orders").is_none() && info("tmp_scratch").is_none());
    let results = |r: &str| {
        value(
            &s,
            "smallfiles_scan_tables",
            &[("cluster", "prod"), ("result", r)],
        )
    };
    assert_eq!(results("skipped"), Some(1.0), "{ctx}: the view");
    assert_eq!(results("unsupported"), Some(1.0), "{ctx}: the s3a table");
    assert_eq!(results("failed"), Some(0.0), "{ctx}");
    assert!(
        value(
            &s,
            "smallfiles_hdfs_requests_total",
            &[
                ("cluster", "prod"),
                ("op", "GETFILESTATUS"),
                ("outcome", "standby")
            ]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert!(
        standby.requests() <= 2,
        "{ctx}: failover remembered, yet the standby had {} requests: {:?}",
        standby.requests(),
        s.iter()
            .filter(|x| x.name == "smallfiles_hdfs_requests_total")
            .map(|x| (x.labels.clone(), x.value))
            .collect::<Vec<_>>()
    );

    // Steady state: nothing changed, so no table or partition directory is listed again; the
    // directory times come from their parents' listings, at most one request per table
    // (exact counts: tests/scan_cost.rs).
    let requests = |s: &[Sample]| -> f64 {
        s.iter()
            .filter(|x| x.name == "smallfiles_hdfs_requests_total" && x.labels["cluster"] == "prod")
            .map(|x| x.value)
            .sum()
    };
    let cached = |s: &[Sample]| {
        value(
            s,
            "smallfiles_scan_tables",
            &[("cluster", "prod"), ("result", "cached")],
        )
        .unwrap_or(0.0)
    };
    let s1 = exporter
        .wait_metrics(Duration::from_secs(10), "a cached scan", |x| {
            cached(x) >= 4.0
        })
        .await;
    let ts = value(
        &s1,
        "smallfiles_scan_last_success_timestamp_seconds",
        &[("cluster", "prod")],
    )
    .unwrap();
    let s2 = exporter
        .wait_metrics(Duration::from_secs(10), "one more scan", |x| {
            value(
                x,
                "smallfiles_scan_last_success_timestamp_seconds",
                &[("cluster", "prod")],
            )
            .unwrap()
                > ts
        })
        .await;
    // The counters move during a scan, the timestamp at its end: allow one scan in progress.
    let ts2 = value(
        &s2,
        "smallfiles_scan_last_success_timestamp_seconds",
        &[("cluster", "prod")],
    )
    .unwrap();
    let scans = (ts2 - ts).round() + 1.0;
    let per_rescan = requests(&s2) - requests(&s1);
    assert!(
        per_rescan <= cached(&s2) * scans,
        "{ctx}: {scans} unchanged rescans made {per_rescan} requests for {} tables",
        cached(&s2)
    );

    // The metastore goes away mid-run: the snapshot stays, the outage shows, then recovers.
    db_proxy.set_down(true);
    let s = exporter
        .wait_metrics(Duration::from_secs(20), "metastore down", |s| {
            up(s, "metastore") == Some(0.0)
        })
        .await;
    assert!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "prod"), ("stage", "metastore")]
        )
        .unwrap()
            >= 1.0
    );
    assert_tables(&s, "prod", &w, 2);
    db_proxy.set_down(false);
    exporter
        .wait_metrics(Duration::from_secs(20), "metastore back", |s| {
            up(s, "metastore") == Some(1.0)
        })
        .await;

    // A table dropped from the metastore vanishes at the next scan.
    let q = |n: &str| {
        if kind == MetastoreKind::Mysql {
            n.to_string()
        } else {
            format!("\"{n}\"")
        }
    };
    db.execute(&[
        format!(
            "DELETE FROM {} WHERE {} IN (SELECT {} FROM {} WHERE {} = 'events')",
            q("TABLE_PARAMS"),
            q("TBL_ID"),
            q("TBL_ID"),
            q("TBLS"),
            q("TBL_NAME")
        ),
        format!(
            "DELETE FROM {} WHERE {} = 'events'",
            q("TBLS"),
            q("TBL_NAME")
        ),
    ]);
    w.forget("sales", "events");
    let s = exporter
        .wait_metrics(Duration::from_secs(10), "events gone", |s| {
            value(
                s,
                "smallfiles_table_files",
                &[("cluster", "prod"), ("table", "events")],
            )
            .is_none()
        })
        .await;
    assert_tables(&s, "prod", &w, 2);
    assert!(!exporter.log_text().contains(secret));
    standby.stop().await;
    active.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_schema_2_1() {
    run(MetastoreKind::Mysql, "2.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_schema_3_1() {
    run(MetastoreKind::Mysql, "3.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_schema_4_0() {
    run(MetastoreKind::Mysql, "4.0.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_2_1() {
    run(MetastoreKind::Postgres, "2.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_3_1() {
    run(MetastoreKind::Postgres, "3.1.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_4_0() {
    run(MetastoreKind::Postgres, "4.0.0").await;
}

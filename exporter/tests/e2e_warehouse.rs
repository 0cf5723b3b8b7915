//! The exporter binary over a metastore-less warehouse on HDFS, served by the WebHDFS test
//! server behind two NameNodes: exact numbers, HA failover, a NameNode outage, the incremental
//! cache across scans and restarts. Needs nothing but this repository.

mod common;

use std::time::Duration;

use common::*;
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::prom::{value, Sample};
use smallfiles_testkit::proxy::Proxy;
use smallfiles_testkit::webhdfs::{spawn, ServerOptions};

fn build(w: &mut Warehouse) {
    let base = "warehouse";
    w.daily_clicks(&format!("{base}/web.db/clicks"), 4, 5);
    w.data(
        "web",
        "sessions",
        Some("dt=2024-01-01/hr=00"),
        &format!("{base}/web.db/sessions/dt=2024-01-01/hr=00"),
        &[10, 20, 100 * MIB],
    );
    w.data(
        "web",
        "sessions",
        Some("dt=2024-01-01/hr=01"),
        &format!("{base}/web.db/sessions/dt=2024-01-01/hr=01"),
        &[THRESHOLD, THRESHOLD - 1],
    );
    w.data(
        "web",
        "big",
        None,
        &format!("{base}/web.db/big"),
        &[200 * MIB, 300 * MIB, 700 * MIB],
    );
    w.data(
        "web",
        "acid",
        None,
        &format!("{base}/web.db/acid/base_0000005"),
        &[80 * MIB],
    );
    w.data(
        "web",
        "acid",
        None,
        &format!("{base}/web.db/acid/delta_0000006_0000006_0000"),
        &[1024],
    );
    w.data(
        "default",
        "loose",
        None,
        &format!("{base}/loose"),
        &[1, 2, 3],
    );
    // Excluded by the configuration: written, never exported.
    std::fs::create_dir_all(w.root.join(format!("{base}/tmp_work.db/t"))).unwrap();
    std::fs::write(w.root.join(format!("{base}/tmp_work.db/t/f")), b"x").unwrap();
}

fn results(s: &[Sample], r: &str) -> f64 {
    value(
        s,
        "smallfiles_scan_tables",
        &[("cluster", "wh"), ("result", r)],
    )
    .unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warehouse_on_webhdfs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hdfs");
    let mut w = Warehouse::new(&root);
    build(&mut w);

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
            page_size: 4,
            ..ServerOptions::new(&root)
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let active_proxy = Proxy::start(active.addr).await;
    let port = free_port();
    let config = write_config(
        tmp.path(),
        &format!(
            r#"
exporter:
  listen_address: "127.0.0.1:{port}"
  state_dir: {state}
  top_partitions: 3
defaults:
  small_file_threshold: 64MiB
  scan_interval: 1s
clusters:
  - name: wh
    warehouse: hdfs://nameservice1/warehouse
    hdfs:
      namenodes: ["{standby}", "http://{proxy}"]
      user: hive
      retries: 1
      request_timeout: 2s
    exclude: ["tmp_*.*"]
    max_concurrent_requests: 4
    max_requests_per_second: 2000
"#,
            state = tmp.path().join("state").display(),
            standby = standby.url(),
            proxy = active_proxy.addr,
        ),
    );
    let cfg = config.to_string_lossy().into_owned();
    let mut exporter = Running::start(
        exporter_bin(),
        &["--config.file", &cfg],
        port,
        &tmp.path().join("exporter.log"),
    );
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;

    // 1. Exact numbers; the standby NameNode was asked once and then avoided.
    let s = exporter
        .wait_metrics(Duration::from_secs(10), "a complete scan", |s| {
            last_success(s, "wh") > 0.0
        })
        .await;
    assert_tables(&s, "wh", &w, 3);
    assert_eq!(
        value(
            &s,
            "smallfiles_up",
            &[("cluster", "wh"), ("component", "hdfs")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "smallfiles_up",
            &[("cluster", "wh"), ("component", "metastore")]
        ),
        None
    );
    let warehouse_up = |s: &[smallfiles_testkit::prom::Sample]| {
        value(
            s,
            "smallfiles_up",
            &[("cluster", "wh"), ("component", "warehouse")],
        )
    };
    assert_eq!(
        warehouse_up(&s),
        Some(1.0),
        "a metastore-less cluster's own health"
    );
    assert_eq!(
        value(
            &s,
            "smallfiles_small_file_threshold_bytes",
            &[("cluster", "wh")]
        ),
        Some(THRESHOLD as f64)
    );
    assert!(
        hdfs_requests(&s, "wh", "LISTSTATUS_BATCH", "standby")
            + hdfs_requests(&s, "wh", "GETFILESTATUS", "standby")
            >= 1.0
    );
    assert!(
        standby.requests() <= 2,
        "failover is remembered: {}",
        standby.requests()
    );
    let info = s
        .iter()
        .find(|x| x.name == "smallfiles_table_info" && x.labels["table"] == "clicks")
        .unwrap();
    assert_eq!(info.labels["location_scheme"], "hdfs");
    assert!(!s
        .iter()
        .any(|x| x.labels.get("database").map(String::as_str) == Some("tmp_work")));

    // 2. The next scans find nothing changed: every table comes from the cache. Without a
    //    metastore the layout itself is listed on every scan, but data directories are not.
    let first = last_success(&s, "wh");
    let first_scan_lists = hdfs_requests(&s, "wh", "LISTSTATUS_BATCH", "success");
    let s = exporter
        .wait_metrics(Duration::from_secs(10), "a scan from cache", |s| {
            last_success(s, "wh") > first && results(s, "cached") == w.tables.len() as f64
        })
        .await;
    assert_tables(&s, "wh", &w, 3);
    let lists = hdfs_requests(&s, "wh", "LISTSTATUS_BATCH", "success");
    let t = last_success(&s, "wh");
    let s = exporter
        .wait_metrics(Duration::from_secs(10), "another scan", |s| {
            last_success(s, "wh") > t
        })
        .await;
    let per_cached_scan = hdfs_requests(&s, "wh", "LISTSTATUS_BATCH", "success") - lists;
    assert!(
        per_cached_scan > 0.0 && per_cached_scan < first_scan_lists * 0.7,
        "a cached scan lists {per_cached_scan} directories, the first {first_scan_lists}"
    );

    // 3. New files in one partition are seen; that table is listed again, the others are not.
    w.data(
        "web",
        "clicks",
        Some("dt=2024-01-02"),
        "warehouse/web.db/clicks/dt=2024-01-02",
        &[5, 6, 7],
    );
    let s = exporter
        .wait_metrics(Duration::from_secs(10), "the new files", |s| {
            value(
                s,
                "smallfiles_table_files",
                &[("cluster", "wh"), ("table", "clicks")],
            ) == Some(w.tables[&("web".into(), "clicks".into())].files as f64)
        })
        .await;
    assert_tables(&s, "wh", &w, 3);

    // 4. The NameNodes go away: the last snapshot stays served, the outage shows.
    active_proxy.set_down(true);
    let s = exporter
        .wait_metrics(Duration::from_secs(20), "hdfs down", |s| {
            value(
                s,
                "smallfiles_up",
                &[("cluster", "wh"), ("component", "hdfs")],
            ) == Some(0.0)
        })
        .await;
    assert!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "wh"), ("stage", "hdfs")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        warehouse_up(&s),
        Some(0.0),
        "the layout is read through HDFS"
    );
    assert_tables(&s, "wh", &w, 3);
    active_proxy.set_down(false);
    exporter
        .wait_metrics(Duration::from_secs(20), "hdfs back", |s| {
            value(
                s,
                "smallfiles_up",
                &[("cluster", "wh"), ("component", "hdfs")],
            ) == Some(1.0)
        })
        .await;

    // 5. A restart keeps the cache: the first scan lists nothing.
    drop(exporter);
    let mut exporter = Running::start(
        exporter_bin(),
        &["--config.file", &cfg],
        port,
        &tmp.path().join("exporter2.log"),
    );
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = exporter
        .wait_metrics(Duration::from_secs(10), "a scan after restart", |s| {
            last_success(s, "wh") > 0.0
        })
        .await;
    assert_eq!(
        results(&s, "cached"),
        w.tables.len() as f64,
        "restart scan comes from the redb cache"
    );
    assert!(hdfs_requests(&s, "wh", "LISTSTATUS_BATCH", "success") < first_scan_lists * 0.7);
    assert_tables(&s, "wh", &w, 3);

    // 6. A dropped table vanishes at the next scan.
    std::fs::remove_dir_all(root.join("warehouse/web.db/big")).unwrap();
    w.forget("web", "big");
    let s = exporter
        .wait_metrics(Duration::from_secs(10), "the dropped table gone", |s| {
            value(
                s,
                "smallfiles_table_files",
                &[("cluster", "wh"), ("table", "big")],
            )
            .is_none()
        })
        .await;
    assert_tables(&s, "wh", &w, 3);

    // The page passes promtool's lint (CI installs promtool; elsewhere the lint is skipped).
    smallfiles_testkit::process::promtool_check_metrics(&exporter.get("/metrics").await);
    standby.stop().await;
    active.stop().await;
}

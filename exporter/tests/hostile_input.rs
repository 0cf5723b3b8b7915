//! The exporter against a NameNode that misbehaves (the WebHDFS test server's hostile modes)
//! and a configuration with nothing in it: each broken directory fails alone, with a clear
//! error, within the configured bounds; the other tables are counted exactly; the failures are
//! counted in `smallfiles_scan_errors_total{stage="hdfs"}` and the NameNode stays `up`.

mod common;

use std::time::Duration;

use common::*;
use smallfiles_testkit::process::free_port;
use smallfiles_testkit::prom::value;
use smallfiles_testkit::webhdfs::{spawn, Hostile, ServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_namenode_fails_its_directories_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hdfs");
    let mut w = Warehouse::new(&root);
    w.data(
        "web",
        "good",
        None,
        "warehouse/web.db/good",
        &[1, 2, 3, 100 * MIB],
    );
    for t in [
        "tbl_endless",
        "tbl_stuck",
        "tbl_missing",
        "tbl_slash",
        "tbl_huge",
    ] {
        w.data("web", t, None, &format!("warehouse/web.db/{t}"), &[10, 20]);
    }
    let server = spawn(
        ServerOptions {
            page_size: 10,
            hostile: vec![
                ("tbl_endless".into(), Hostile::EndlessPages),
                ("tbl_stuck".into(), Hostile::StuckPage),
                ("tbl_missing".into(), Hostile::MissingFields),
                ("tbl_slash".into(), Hostile::SlashInName),
                ("tbl_huge".into(), Hostile::ImpossibleLength),
            ],
            ..ServerOptions::new(&root)
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let port = free_port();
    let config = write_config(
        tmp.path(),
        &format!(
            r#"
exporter:
  listen_address: "127.0.0.1:{port}"
defaults:
  small_file_threshold: 64MiB
  scan_interval: 1h
clusters:
  - name: wh
    warehouse: hdfs://ns/warehouse
    hdfs:
      namenodes: ["{url}"]
      retries: 0
      listing: {{ max_pages_per_directory: 100, max_entries_per_directory: 300 }}
"#,
            url = server.url()
        ),
    );
    let mut exporter = start_exporter(tmp.path(), &config, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = complete_scan(&mut exporter, "wh", Duration::from_secs(30)).await;
    // The good table exactly; the NameNode is up; each broken directory is a failed table and
    // one hdfs error.
    let good = |name: &str| value(&s, name, &[("cluster", "wh"), ("table", "good")]);
    assert_eq!(good("smallfiles_table_files"), Some(4.0));
    assert_eq!(good("smallfiles_table_small_files"), Some(3.0));
    assert_eq!(good("smallfiles_table_bytes"), Some((6 + 100 * MIB) as f64));
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
            "smallfiles_scan_tables",
            &[("cluster", "wh"), ("result", "failed")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "wh"), ("stage", "hdfs")]
        ),
        Some(5.0)
    );
    // No guessed numbers for the broken tables (no listing ever succeeded for them).
    for t in ["tbl_missing", "tbl_slash", "tbl_huge"] {
        assert_eq!(
            value(
                &s,
                "smallfiles_table_files",
                &[("cluster", "wh"), ("table", t)]
            ),
            None,
            "{t}"
        );
    }
    let log = exporter.log_text();
    for expected in [
        "more than 300 entries (hdfs.listing.max_entries_per_directory)",
        "the listing does not advance",
        "invalid reply from the namenode",
        "entry name \"a/b\" is not one path component",
        "missing field `pathSuffix`",
        "has length 18446744073709551615",
    ] {
        assert!(log.contains(expected), "{expected} not in the log:\n{log}");
    }
    // Bounded: 300 entries in pages of 10 → 31 pages for the endless directory, listed twice
    // (discovery, then counting); the stuck one is refused at its second page. Everything
    // else is a handful of requests.
    let requests = server.requests();
    assert!(requests <= 100, "{requests} requests");
}

#[tokio::test]
async fn an_empty_configuration_does_not_start_an_exporter() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), "");
    let out = std::process::Command::new(exporter_bin())
        .args(["--config.file", &config.to_string_lossy()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("names no cluster"), "{err}");
}

/// Metastore rows whose location cannot be a path (10 MB long, control characters, bytes that
/// were not UTF-8) fail their own tables; the scan completes, the NameNode stays `up`, and the
/// log carries the values cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metastore_rows_that_cannot_be_paths_fail_their_tables_alone() {
    let Some(shared) = smallfiles_testkit::metastore::shared_dir() else {
        eprintln!("SKIPPED: ../shared is absent");
        return;
    };
    use smallfiles_cluster::config::MetastoreKind;
    use smallfiles_testkit::metastore::{TableSpec, TestDb};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hdfs");
    let mut w = Warehouse::new(&root);
    let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
    // Hive's schema caps LOCATION at 4000 characters; a hand-edited or corrupted metastore
    // need not.
    db.execute(&["ALTER TABLE SDS MODIFY LOCATION LONGBLOB".to_string()]);
    let mut b = db.builder();
    let ns = "hdfs://nameservice1";
    let sales = b.database("sales", &format!("{ns}/wh/sales.db"));
    b.table(
        sales,
        &TableSpec::text("good", &format!("{ns}/wh/sales.db/good")),
    );
    w.data("sales", "good", None, "wh/sales.db/good", &[1, 2, 3]);
    let long = format!("{ns}/wh/{}", "x".repeat(10 << 20));
    b.table(sales, &TableSpec::text("too_long", &long));
    b.table(
        sales,
        &TableSpec::text("control", &format!("{ns}/wh/a\u{1}b")),
    );
    b.table(
        sales,
        &TableSpec::text("not_utf8", &format!("{ns}/wh/cafX")),
    );
    let parted = TableSpec::text("parted", &format!("{ns}/wh/sales.db/parted"))
        .partitioned_by(&[("dt", "string")]);
    let parted_id = b.table(sales, &parted);
    b.partition(
        parted_id,
        &parted,
        "dt=1",
        &format!("{ns}/wh/sales.db/parted/dt=1"),
        &[],
    );
    w.data(
        "sales",
        "parted",
        Some("dt=1"),
        "wh/sales.db/parted/dt=1",
        &[5],
    );
    b.partition(
        parted_id,
        &parted,
        "dt=2",
        &format!("{ns}/wh/\u{7}bell"),
        &[],
    );
    db.execute(&b.take_statements(1));
    // A byte that is not UTF-8 (Latin-1 é).
    db.execute(&["UPDATE SDS SET LOCATION = CONCAT('hdfs://nameservice1/wh/caf', UNHEX('E9')) WHERE LOCATION LIKE '%/cafX'".to_string()]);
    let server = spawn(ServerOptions::new(&root), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = free_port();
    let config = write_config(
        tmp.path(),
        &format!(
            "exporter:\n  listen_address: \"127.0.0.1:{port}\"\ndefaults:\n  small_file_threshold: 64MiB\n  scan_interval: 1h\nclusters:\n  - name: prod\n    metastore:\n      url: {}\n    hdfs:\n      namenodes: [\"{}\"]\n      retries: 0\n",
            db.url(),
            server.url()
        ),
    );
    let mut exporter = start_exporter(tmp.path(), &config, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = complete_scan(&mut exporter, "prod", Duration::from_secs(60)).await;
    let at = |name: &str, table: &str| value(&s, name, &[("cluster", "prod"), ("table", table)]);
    assert_eq!(at("smallfiles_table_files", "good"), Some(3.0));
    assert_eq!(
        value(
            &s,
            "smallfiles_up",
            &[("cluster", "prod"), ("component", "hdfs")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_tables",
            &[("cluster", "prod"), ("result", "failed")]
        ),
        Some(4.0),
        "too_long, control, not_utf8 and parted (one bad partition)"
    );
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "prod"), ("stage", "hdfs")]
        ),
        Some(4.0)
    );
    let log = exporter.log_text();
    assert!(
        log.contains("longer than HDFS allows"),
        "{}",
        &log[..log.len().min(5000)]
    );
    assert!(log.contains("control characters"));
    assert!(log.contains("not valid UTF-8"));
    assert!(
        log.len() < 100_000,
        "the 10 MB value reached the log: {} bytes",
        log.len()
    );
}

/// The active NameNode dies in the middle of a scan: the client fails over to the other one
/// (which took over) and the scan completes with every count exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_namenode_dies_mid_scan_and_the_scan_fails_over() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hdfs");
    let mut w = Warehouse::new(&root);
    for t in 0..40 {
        let name = format!("t{t:02}");
        w.data(
            "web",
            &name,
            None,
            &format!("warehouse/web.db/{name}"),
            &[1, 2, 3],
        );
    }
    let slow = |standby: bool| ServerOptions {
        standby,
        latency: Duration::from_millis(40),
        ..ServerOptions::new(&root)
    };
    let nn1 = spawn(slow(false), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let nn2 = spawn(slow(true), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = free_port();
    let config = write_config(
        tmp.path(),
        &format!(
            "exporter:\n  listen_address: \"127.0.0.1:{port}\"\ndefaults:\n  small_file_threshold: 64MiB\n  scan_interval: 1h\nclusters:\n  - name: wh\n    warehouse: hdfs://ns/warehouse\n    hdfs:\n      namenodes: [\"{}\", \"{}\"]\n      retries: 2\n      request_timeout: 2s\n    max_concurrent_requests: 2\n",
            nn1.url(),
            nn2.url()
        ),
    );
    let mut exporter = start_exporter(tmp.path(), &config, port);
    // Let the scan get going on nn1, then kill it; nn2 becomes active. (Not waiting for
    // `/-/ready`: that answers once the first scan is done.)
    let start = std::time::Instant::now();
    while nn1.requests() < 15 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the scan never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let served_by_nn1 = nn1.requests();
    nn1.stop().await;
    nn2.set_standby(false);
    let s = complete_scan(&mut exporter, "wh", Duration::from_secs(60)).await;
    assert_tables(&s, "wh", &w, 3);
    assert!(
        nn2.requests() > 0,
        "nn2 took over (nn1 served {served_by_nn1} when it was stopped)\n{}",
        exporter.log_text()
    );
    assert!(
        served_by_nn1 < 60,
        "nn1 died before the scan ended ({served_by_nn1} requests)"
    );
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_tables",
            &[("cluster", "wh"), ("result", "failed")]
        ),
        Some(0.0)
    );
}

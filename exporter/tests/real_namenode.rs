//! The exporter binary against Hadoop's own NameNode (MiniDFSCluster, `testkit/minidfs`): a
//! warehouse written through Hadoop's client — files of chosen sizes, partitions, hidden files,
//! ACID directories, escaped partition names — counted exactly over WebHDFS; with two
//! NameNodes, the standby first and a failover in the middle of a scan. Needs Java and Maven
//! (Hadoop comes from Maven Central); says SKIPPED without them outside CI.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use smallfiles_testkit::minidfs::{self, MiniDfs};
use smallfiles_testkit::process::free_port;
use smallfiles_testkit::prom::{value, Sample};

fn config(dir: &std::path::Path, port: u16, hdfs: &MiniDfs, extra: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            r#"
exporter:
  listen_address: "127.0.0.1:{port}"
  state_dir: {state}
  top_partitions: 3
defaults:
  small_file_threshold: 64KiB
  scan_interval: 1s
clusters:
  - name: real
    warehouse: hdfs://minidfs-ns/warehouse
    hdfs:
      {hdfs_yaml}
      retries: 2
      request_timeout: 5s
{extra}"#,
            state = dir.join("state").display(),
            hdfs_yaml = hdfs.webhdfs_yaml(&whoami()),
        ),
    )
}

/// Requests a NameNode answered as a standby.
fn answered_as_standby(s: &[Sample]) -> f64 {
    ["GETFILESTATUS", "LISTSTATUS_BATCH", "LISTSTATUS"]
        .iter()
        .map(|op| hdfs_requests(s, "real", op, "standby"))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_on_the_real_namenode() {
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(tokio::task::spawn_blocking(MiniDfs::start).await.unwrap());
    let mut w = Warehouse::on_hdfs(hdfs.clone(), "/warehouse");
    let mut w = tokio::task::spawn_blocking(move || {
        build_on_namenode(&mut w);
        w
    })
    .await
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(tmp.path(), port, &hdfs, "");
    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = complete_scan(&mut exporter, "real", Duration::from_secs(30)).await;
    assert_tables(&s, "real", &w, 3);
    assert_eq!(hdfs_up(&s, "real"), Some(1.0));
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "real"), ("source", "hdfs")]
        )
        .unwrap_or(0.0),
        0.0,
        "{}",
        exporter.log_text()
    );

    // New files are seen on a later scan; the counts follow exactly.
    let t = last_success(&s, "real");
    tokio::task::block_in_place(|| {
        w.data(
            "web",
            "clicks",
            Some("dt=2024-01-02"),
            "web.db/clicks/dt=2024-01-02",
            &[5, 6, 7],
        )
    });
    let want = w.tables[&("web".into(), "clicks".into())].files as f64;
    let s = exporter
        .wait_metrics(Duration::from_secs(30), "the new files", |s| {
            last_success(s, "real") > t
                && value(
                    s,
                    "smallfiles_table_files",
                    &[("cluster", "real"), ("table", "clicks")],
                ) == Some(want)
        })
        .await;
    assert_tables(&s, "real", &w, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_first_and_a_failover_during_a_scan() {
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(
        tokio::task::spawn_blocking(MiniDfs::start_ha)
            .await
            .unwrap(),
    );
    assert_eq!(hdfs.active(), 1, "the first NameNode starts as the standby");
    let mut w = Warehouse::on_hdfs(hdfs.clone(), "/warehouse");
    let w = tokio::task::spawn_blocking(move || {
        build_on_namenode(&mut w);
        add_hourly_events(&mut w);
        w
    })
    .await
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(
        tmp.path(),
        port,
        &hdfs,
        "    max_concurrent_requests: 2\n    max_requests_per_second: 40\n",
    );
    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = complete_scan(&mut exporter, "real", Duration::from_secs(60)).await;
    assert_tables(&s, "real", &w, 3);
    let standby_answers = answered_as_standby(&s);
    assert!(
        standby_answers >= 1.0,
        "the standby NameNode was asked first and answered as a standby"
    );

    // A failover while a scan lists (throttled, a scan takes over two seconds and the next
    // starts when it ends): the scan that was running completes with the same exact numbers,
    // and the NameNode that stepped down is seen answering as a standby.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = standby_answers;
    let failover_at = unix_now();
    let active = tokio::task::spawn_blocking({
        let hdfs = hdfs.clone();
        move || hdfs.failover()
    })
    .await
    .unwrap();
    assert_eq!(active, 0);
    let s = exporter
        .wait_metrics(Duration::from_secs(60), "a scan after the failover", |s| {
            last_success(s, "real") > failover_at
        })
        .await;
    let duration = value(
        &s,
        "smallfiles_scan_duration_seconds",
        &[("cluster", "real")],
    )
    .unwrap();
    assert!(
        last_success(&s, "real") - duration < failover_at,
        "the scan that completed first after the failover had started before it"
    );
    assert_tables(&s, "real", &w, 3);
    let after = answered_as_standby(&s);
    assert!(
        after > before,
        "the old active NameNode answered as a standby after the failover ({before} → {after})\n{}",
        exporter.log_text()
    );
    assert_eq!(hdfs_up(&s, "real"), Some(1.0));
}

/// `hdfs.mode: fsimage` on the image Hadoop's own NameNode writes at a checkpoint
/// (`saveNamespace`), read from its `current/` directory and fetched over HTTP from the
/// NameNode: every count equals the WebHDFS listing of the same warehouse, table by table, and
/// the small files are told by their owners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namenodes_own_image_counts_as_the_listing_does() {
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(tokio::task::spawn_blocking(MiniDfs::start).await.unwrap());
    let mut w = Warehouse::on_hdfs(hdfs.clone(), "/warehouse");
    let (w, image_dir) = tokio::task::spawn_blocking(move || {
        build_on_namenode(&mut w);
        // Two owners of clicks' small files: one partition is the analysts'.
        for i in 0..6 {
            w.hdfs_chown(
                &format!("web.db/clicks/dt=2024-01-02/part-{i:05}"),
                "analyst",
            );
        }
        let dir = w.hdfs().save_namespace();
        (w, dir)
    })
    .await
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let nn = &hdfs.http[0];
    let extra = format!(
        r#"  - name: image
    warehouse: hdfs://minidfs-ns/warehouse
    hdfs:
      mode: fsimage
      fsimage:
        path: {image}
  - name: fetched
    warehouse: hdfs://minidfs-ns/warehouse
    hdfs:
      mode: fsimage
      fsimage:
        fetch: true
      namenodes: ["{nn}"]
      user: {user}
"#,
        image = image_dir.display(),
        user = whoami(),
    );
    let cfg = config(tmp.path(), port, &hdfs, &extra);
    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let mut s = Vec::new();
    for cluster in ["real", "image", "fetched"] {
        s = complete_scan(&mut exporter, cluster, Duration::from_secs(60)).await;
    }
    for cluster in ["real", "image", "fetched"] {
        assert_tables(&s, cluster, &w, 3);
    }
    let txid = |c: &str| value(&s, "smallfiles_fsimage_txid", &[("cluster", c)]);
    assert!(
        txid("image").is_some_and(|t| t > 0.0),
        "{}",
        exporter.log_text()
    );
    assert_eq!(
        txid("image"),
        txid("fetched"),
        "the fetched image is the checkpoint's"
    );
    assert_eq!(txid("real"), None, "a listing cluster has no image");
    for c in ["image", "fetched"] {
        let up = value(
            &s,
            "smallfiles_up",
            &[("cluster", c), ("component", "fsimage")],
        );
        assert_eq!(up, Some(1.0), "{c}");
    }
    // Not one listing for the image clusters; the fetch is counted as what it is.
    let listings = |c: &str| {
        ["GETFILESTATUS", "LISTSTATUS_BATCH", "LISTSTATUS"]
            .iter()
            .map(|op| hdfs_requests(&s, c, op, "success"))
            .sum::<f64>()
    };
    assert!(listings("real") > 0.0);
    assert_eq!(listings("fetched"), 0.0);
    // One request per scan; an image already here is not downloaded again.
    assert!(hdfs_requests(&s, "fetched", "GETIMAGE", "success") >= 1.0);
    let fetched = tmp.path().join("state/fsimage/fetched");
    let kept: Vec<_> = std::fs::read_dir(&fetched).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1, "only the newest image is kept: {kept:?}");
    // Who makes the small files: from the listing and from the image alike.
    for c in ["real", "image", "fetched"] {
        let by = |owner: &str| {
            value(
                &s,
                "smallfiles_table_small_files_by_owner",
                &[
                    ("cluster", c),
                    ("database", "web"),
                    ("table", "clicks"),
                    ("owner", owner),
                ],
            )
        };
        assert_eq!(by("analyst"), Some(6.0), "{c}");
        let clicks = &w.tables[&("web".to_string(), "clicks".to_string())];
        assert_eq!(by(&whoami()), Some((clicks.small - 6) as f64), "{c}");
    }
}

/// The test kit's image writer (the benchmarks' images) checked by Hadoop's own reader
/// (`hdfs oiv`): the files and bytes it reads are those the writer put in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hadoop_reads_the_images_the_test_kit_writes() {
    use smallfiles_testkit::fsimage::{write_warehouse, WarehouseShape, WriteCodec, WAREHOUSE};
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(tokio::task::spawn_blocking(MiniDfs::start).await.unwrap());
    let tmp = tempfile::tempdir().unwrap();
    for codec in [
        WriteCodec::None,
        WriteCodec::Zlib,
        WriteCodec::Gzip,
        WriteCodec::Snappy,
        WriteCodec::Lz4,
    ] {
        let image = tmp.path().join(format!("fsimage_{codec:?}"));
        // Enough inodes for several 256 KiB blocks of the block codecs.
        let shape = WarehouseShape {
            databases: 2,
            tables: 3,
            partitions: 40,
            files: 50,
        };
        let totals = write_warehouse(&image, codec, shape, 64 << 20).unwrap();
        let hdfs = hdfs.clone();
        let read =
            tokio::task::spawn_blocking(move || hdfs.offline_image_viewer(&image, WAREHOUSE))
                .await
                .unwrap();
        assert_eq!(read, (totals.files, totals.bytes), "{codec:?}");
        assert_eq!(totals.files, 2 * 3 * 40 * 50);
        // And ours reads what Hadoop read.
        let ours =
            smallfiles_cluster::hdfs::fsimage::load(&tmp.path().join(format!("fsimage_{codec:?}")))
                .unwrap();
        let (mut files, mut bytes) = (0, 0);
        assert!(ours.namespace.walk(WAREHOUSE, |f| {
            files += 1;
            bytes += f.length;
        }));
        assert_eq!((files, bytes), read, "{codec:?}");
    }
}

/// Fetching the image asks the standby NameNode first (its checkpoint costs the active
/// nothing), as each NameNode's own answer tells, and follows a failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_is_fetched_from_the_standby_first() {
    use smallfiles_cluster::config::HdfsConfig;
    use smallfiles_cluster::hdfs::fsimage::{fetch_latest, namenodes_for_fetch};
    use smallfiles_cluster::hdfs::{RequestCounters, RequestLimiter, WebHdfs};
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(
        tokio::task::spawn_blocking(MiniDfs::start_ha)
            .await
            .unwrap(),
    );
    let yaml = hdfs.webhdfs_yaml(&whoami());
    let cfg: HdfsConfig = serde_saphyr::from_str(&yaml.replace("\n      ", "\n")).unwrap();
    let webhdfs = WebHdfs::new(
        &cfg,
        Arc::new(RequestLimiter::new(4, 100)),
        Arc::new(RequestCounters::default()),
    )
    .unwrap();
    let standby = 1 - hdfs.active();
    assert_eq!(
        namenodes_for_fetch(&webhdfs).await,
        vec![hdfs.http[standby].clone(), hdfs.http[1 - standby].clone()]
    );
    let dir = tempfile::tempdir().unwrap();
    let fetched = fetch_latest(&webhdfs, dir.path()).await.unwrap();
    assert_eq!(fetched.namenode, hdfs.http[standby]);
    assert!(fetched.downloaded);
    smallfiles_cluster::hdfs::fsimage::load(&fetched.path).expect("a readable image");
    // Asked again: the same image is not downloaded twice.
    let again = fetch_latest(&webhdfs, dir.path()).await.unwrap();
    assert!(!again.downloaded);

    let hdfs2 = hdfs.clone();
    tokio::task::spawn_blocking(move || hdfs2.failover())
        .await
        .unwrap();
    let now_active = hdfs.active();
    assert_eq!(now_active, standby, "the standby took over");
    assert_eq!(
        namenodes_for_fetch(&webhdfs).await,
        vec![
            hdfs.http[1 - now_active].clone(),
            hdfs.http[now_active].clone()
        ],
        "after a failover the other NameNode is the standby (http {:?})",
        hdfs.http
    );
}

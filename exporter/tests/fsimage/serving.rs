//! The exporter serving a NameNode's image (`hdfs.mode: fsimage`): the image joined to a real
//! metastore (MariaDB, official schema), `check` on an image, a broken image that keeps the
//! last good counts served, and a fetched image checked before it is used.

use std::path::Path;
use std::time::Duration;

use super::*;
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::fsimage::{write_tree, WriteCodec};
use smallfiles_testkit::metastore::{TableSpec, TestDb};
use smallfiles_testkit::require_shared;

/// The image joined to a real metastore: tables and partitions by their locations, a
/// partition stored outside its table, one registered without a directory, a table on
/// another file system; the same counting rule as a listing.
#[tokio::test]
async fn the_image_is_joined_to_the_metastore() {
    let shared = require_shared!();
    let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
    let mut b = db.builder();
    let ns = "hdfs://nameservice1";
    let w = "/user/hive/warehouse";
    let web = b.database("web", &format!("{ns}{w}/web.db"));
    let clicks = TableSpec::text("clicks", &format!("{ns}{w}/web.db/clicks"))
        .partitioned_by(&[("dt", "string")]);
    let clicks_id = b.table(web, &clicks);
    for (name, dir) in [
        ("dt=1", format!("{w}/web.db/clicks/dt=1")),
        ("dt=2", format!("{w}/web.db/clicks/dt=2")),
        ("dt=3", format!("{w}/web.db/clicks/dt=3")),
        ("dt=4", "/archive/clicks/4".to_string()),
        ("dt=5", format!("{w}/web.db/clicks/dt=5")),
    ] {
        b.partition(clicks_id, &clicks, name, &format!("{ns}{dir}"), &[]);
    }
    b.table(
        web,
        &TableSpec::orc("acid", &format!("{ns}{w}/web.db/acid")),
    );
    b.table(web, &TableSpec::text("s3", "s3a://bucket/s3"));
    db.execute(&b.take_statements(500));
    let mut files = warehouse_files();
    files.push(file("/archive/clicks/4/part-0", 1, "analyst"));
    let image = tempfile::tempdir().unwrap();
    let path = image.path().join("fsimage_0000000000000000100");
    write_tree(&path, WriteCodec::Zlib, 3, 100, &files, &[]).unwrap();
    let s = image_cluster(&path, &format!("metastore:\n  url: {}\n", db.url()));
    let r = scan(&s).await;
    let clicks = table(&r, "web", "clicks");
    assert_eq!(
        (
            clicks.stats.files,
            clicks.stats.small_files,
            clicks.partitions
        ),
        (5, 4, 5),
        "the partition outside the table counts; dt=3 and dt=5 have no directory"
    );
    assert_eq!(
        clicks.small_files_by_owner,
        vec![
            ("etl".to_string(), 2),
            ("analyst".to_string(), 1),
            ("spark".to_string(), 1)
        ]
    );
    assert_eq!(
        clicks
            .top_partitions
            .first()
            .map(|p| (p.name.as_str(), p.small_files)),
        Some(("dt=1", 2))
    );
    let acid = table(&r, "web", "acid");
    assert_eq!((acid.stats.files, acid.stats.small_files), (2, 1));
    assert!(!table(&r, "web", "s3").listed, "the image holds HDFS only");
    assert_eq!(r.table_results["unsupported"], 1);
    assert_eq!(r.table_results["failed"], 0);
}

/// `check` reads the image's header (not its inodes) and says what it found; a file that is
/// no image fails the check with the reason.
#[test]
fn check_reports_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("fsimage_0000000000000000321");
    write_tree(&image, WriteCodec::Gzip, 0, 321, &warehouse_files(), &[]).unwrap();
    let check = |image: &Path| {
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "clusters:\n  - name: img\n    warehouse: hdfs:///user/hive/warehouse\n    hdfs:\n      mode: fsimage\n      fsimage:\n        path: {}\n",
                image.display()
            ),
        )
        .unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_smallfiles-exporter"))
            .args(["--config.file", &cfg.to_string_lossy(), "check"])
            .output()
            .unwrap()
    };
    let out = check(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("fsimage") && text.contains("txid 321") && text.contains("GzipCodec"),
        "{text}"
    );
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not an image").unwrap();
    let out = check(&junk);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("FAIL") && text.contains("not an fsimage"),
        "{text}"
    );
}

/// The exporter serving an image: its gauges; then the image replaced by a broken file — the
/// last good counts stay served and `smallfiles_up{component="fsimage"}` says 0; a good image
/// again brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_image_keeps_the_last_counts_served() {
    use smallfiles_testkit::prom::value;
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    let image = images.join("fsimage_0000000000000000010");
    write_tree(&image, WriteCodec::Zlib, 0, 10, &warehouse_files(), &[]).unwrap();
    let port = smallfiles_testkit::process::free_port();
    let cfg = common::write_config(
        dir.path(),
        &format!(
            "exporter:\n  listen_address: \"127.0.0.1:{port}\"\ndefaults:\n  scan_interval: 1s\nclusters:\n  - name: img\n    warehouse: hdfs:///user/hive/warehouse\n    hdfs:\n      mode: fsimage\n      fsimage:\n        path: {}\n",
            images.display()
        ),
    );
    let mut exporter = common::start_exporter(dir.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = common::complete_scan(&mut exporter, "img", Duration::from_secs(30)).await;
    let clicks = [("cluster", "img"), ("database", "web"), ("table", "clicks")];
    assert_eq!(
        value(&s, "smallfiles_table_small_files", &clicks),
        Some(3.0)
    );
    assert_eq!(
        value(&s, "smallfiles_fsimage_txid", &[("cluster", "img")]),
        Some(10.0)
    );
    let size = std::fs::metadata(&image).unwrap().len() as f64;
    assert_eq!(
        value(&s, "smallfiles_fsimage_size_bytes", &[("cluster", "img")]),
        Some(size)
    );
    assert!(
        value(&s, "smallfiles_fsimage_age_seconds", &[("cluster", "img")])
            .is_some_and(|a| a < 600.0)
    );
    let up = |s: &[smallfiles_testkit::prom::Sample]| {
        value(
            s,
            "smallfiles_up",
            &[("cluster", "img"), ("component", "fsimage")],
        )
    };
    assert_eq!(up(&s), Some(1.0));
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "img"), ("stage", "fsimage")]
        ),
        Some(0.0),
        "declared at 0 for the alert's increase()"
    );

    // A newer image that is cut short.
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(
        images.join("fsimage_0000000000000000020"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let s = exporter
        .wait_metrics(Duration::from_secs(30), "fsimage down", |s| {
            up(s) == Some(0.0)
        })
        .await;
    assert_eq!(
        value(&s, "smallfiles_table_small_files", &clicks),
        Some(3.0),
        "the last counts stay"
    );
    assert_eq!(
        value(&s, "smallfiles_fsimage_txid", &[("cluster", "img")]),
        Some(10.0)
    );
    assert!(value(
        &s,
        "smallfiles_scan_errors_total",
        &[("cluster", "img"), ("stage", "fsimage")]
    )
    .is_some_and(|n| n >= 1.0));
    assert!(
        exporter.log_text().contains("corrupt or truncated"),
        "{}",
        exporter.log_text()
    );

    // A good newer image.
    std::fs::remove_file(images.join("fsimage_0000000000000000020")).unwrap();
    let mut files = warehouse_files();
    files.push(file(
        "/user/hive/warehouse/web.db/clicks/dt=1/part-9",
        1,
        "etl",
    ));
    write_tree(
        &images.join("fsimage_0000000000000000030"),
        WriteCodec::Zlib,
        0,
        30,
        &files,
        &[],
    )
    .unwrap();
    let s = exporter
        .wait_metrics(Duration::from_secs(30), "the new image", |s| {
            value(s, "smallfiles_fsimage_txid", &[("cluster", "img")]) == Some(30.0)
        })
        .await;
    assert_eq!(up(&s), Some(1.0));
    assert_eq!(
        value(&s, "smallfiles_table_small_files", &clicks),
        Some(4.0)
    );
}

/// The fetch against a NameNode stand-in (the real NameNode is in `real_namenode.rs` and
/// `kerberos.rs`): an image whose MD5 is not the announced one is refused and leaves nothing
/// behind; a name that is not `fsimage_<txid>` is refused; a good image is renamed into place
/// and not downloaded twice.
#[tokio::test]
async fn a_fetched_image_is_checked_before_it_is_used() {
    use axum::http::header::HeaderMap;
    use smallfiles_cluster::config::HdfsConfig;
    use smallfiles_cluster::hdfs::fsimage::{fetch_latest, FsImageError};
    use smallfiles_cluster::hdfs::{RequestCounters, RequestLimiter, WebHdfs};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("source");
    write_tree(&image, WriteCodec::Zlib, 0, 55, &warehouse_files(), &[]).unwrap();
    let bytes = std::fs::read(&image).unwrap();
    let md5sum = std::process::Command::new("md5sum")
        .arg(&image)
        .output()
        .unwrap();
    let good_md5 = String::from_utf8_lossy(&md5sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // (name, announced MD5) the stand-in answers with.
    let answer = Arc::new(Mutex::new((
        "fsimage_0000000000000000055".to_string(),
        "0123456789abcdef0123456789abcdef".to_string(),
    )));
    let app = {
        let (answer, bytes) = (answer.clone(), bytes.clone());
        axum::Router::new()
            .route(
                "/webhdfs/v1/",
                axum::routing::get(|| async {
                    r#"{"FileStatus":{"pathSuffix":"","type":"DIRECTORY","length":0}}"#
                }),
            )
            .route(
                "/imagetransfer",
                axum::routing::get(move || {
                    let (name, md5) = answer.lock().unwrap().clone();
                    let bytes = bytes.clone();
                    async move {
                        let mut h = HeaderMap::new();
                        h.insert(
                            "content-disposition",
                            format!("attachment; filename={name}").parse().unwrap(),
                        );
                        h.insert("x-md5-digest", md5.parse().unwrap());
                        (h, bytes)
                    }
                }),
            )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg: HdfsConfig =
        serde_saphyr::from_str(&format!("namenodes: [\"http://{addr}\"]\nuser: hdfs\n")).unwrap();
    let webhdfs = WebHdfs::new(
        &cfg,
        Arc::new(RequestLimiter::new(2, 100)),
        Arc::new(RequestCounters::default()),
    )
    .unwrap();
    let keep = dir.path().join("fetched");
    let images = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    let err = fetch_latest(&webhdfs, &keep).await.unwrap_err();
    assert!(matches!(err, FsImageError::Checksum { .. }), "{err}");
    assert!(
        images(&keep).is_empty(),
        "nothing kept: {:?}",
        images(&keep)
    );

    answer.lock().unwrap().0 = "../fsimage_0000000000000000055".into();
    let err = fetch_latest(&webhdfs, &keep).await.unwrap_err();
    assert!(err.to_string().contains("did not name the image"), "{err}");

    *answer.lock().unwrap() = ("fsimage_0000000000000000055".into(), good_md5);
    let fetched = fetch_latest(&webhdfs, &keep).await.unwrap();
    assert!(fetched.downloaded);
    assert_eq!(
        images(&keep),
        vec!["fsimage_0000000000000000055".to_string()]
    );
    assert_eq!(std::fs::read(&fetched.path).unwrap(), bytes);
    let again = fetch_latest(&webhdfs, &keep).await.unwrap();
    assert!(!again.downloaded, "the same image is not downloaded twice");
}

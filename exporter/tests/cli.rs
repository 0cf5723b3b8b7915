//! The exporter's command line: `check` and `scan` over a warehouse on the WebHDFS test
//! server, and gzip on `/metrics`.

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::webhdfs::{spawn, ServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_scan_and_gzip() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hdfs");
    let mut w = Warehouse::new(&root);
    w.data(
        "web",
        "clicks",
        None,
        "warehouse/web.db/clicks",
        &[1, 2, 3, 100 * MIB],
    );
    w.data("web", "big", None, "warehouse/web.db/big", &[200 * MIB]);
    let standby = spawn(
        ServerOptions {
            standby: true,
            ..ServerOptions::new(&root)
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let active = spawn(ServerOptions::new(&root), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = free_port();
    let good = format!(
        "exporter:\n  listen_address: \"127.0.0.1:{port}\"\ndefaults:\n  small_file_threshold: 64MiB\nclusters:\n  - name: wh\n    warehouse: hdfs://ns/warehouse\n    hdfs:\n      namenodes: [\"{}\", \"{}\"]\n      retries: 0\n",
        standby.url(),
        active.url()
    );
    let cfg = write_config(tmp.path(), &good);
    let bin = exporter_bin();

    let out = std::process::Command::new(bin)
        .args(["--config.file", &cfg.to_string_lossy(), "check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("hdfs") && text.contains(&format!("active namenode {}", active.url())),
        "{text}"
    );

    let out = std::process::Command::new(bin)
        .args([
            "--config.file",
            &cfg.to_string_lossy(),
            "scan",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["table"], "clicks", "most small files first: {rows}");
    assert_eq!(rows[0]["small_files"], 3);
    assert_eq!(rows[0]["files"], 4);
    assert_eq!(rows[1]["table"], "big");
    let out = std::process::Command::new(bin)
        .args([
            "--config.file",
            &cfg.to_string_lossy(),
            "scan",
            "--cluster",
            "nope",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cluster named"));

    // An unreachable cluster: check says so and exits 1.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let bad_cfg = write_config(&bad, "clusters:\n  - name: gone\n    metastore:\n      url: mysql://hive:pw-not-shown@127.0.0.1:1/metastore\n      connect_timeout: 2s\n    hdfs:\n      namenodes: [\"http://127.0.0.1:1\"]\n      retries: 0\n");
    let out = std::process::Command::new(bin)
        .args(["--config.file", &bad_cfg.to_string_lossy(), "check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("metastore") && text.contains("FAIL"),
        "{text}"
    );
    assert!(!text.contains("pw-not-shown"));

    // A bad configuration stops the start with the key and the line.
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let broken_cfg = write_config(&broken, "defaults:\n  small_file_threshold: lots\n");
    let out = std::process::Command::new(bin)
        .args(["--config.file", &broken_cfg.to_string_lossy()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("lots") && (err.contains("line 2") || err.contains("2:")),
        "{err}"
    );

    // gzip when asked.
    let mut exporter = Running::start(
        bin,
        &["--config.file", &cfg.to_string_lossy()],
        port,
        &tmp.path().join("exporter.log"),
    );
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let resp = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(exporter.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.contains("smallfiles_table_files{cluster=\"wh\",database=\"web\",table=\"clicks\"} 4"),
        "{text}"
    );
    standby.stop().await;
    active.stop().await;
}

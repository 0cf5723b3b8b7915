//! `hdfs.mode: rpc` against Hadoop's own NameNode (MiniDFSCluster, `testkit/minidfs`): the
//! same warehouse scanned over WebHDFS and over the native RPC gives the same numbers, metric
//! by metric; in HA, from an edge node's Hadoop configuration, the standby is asked first and a
//! failover in the middle of a scan changes nothing; on a Kerberized NameNode a keytab login
//! lists, and a client without Kerberos is refused clearly. Needs Java and Maven (Hadoop comes
//! from Maven Central); says SKIPPED without them outside CI.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use smallfiles_testkit::minidfs::{self, MiniDfs};
use smallfiles_testkit::process::free_port;
use smallfiles_testkit::prom::{value, Sample};

fn config(dir: &std::path::Path, port: u16, clusters: &str) -> std::path::PathBuf {
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
clusters:{clusters}"#,
            state = dir.join("state").display(),
        ),
    )
}

fn cluster(name: &str, hdfs_yaml: &str, extra: &str) -> String {
    format!(
        r#"
  - name: {name}
    warehouse: hdfs://minidfs-ns/warehouse
    hdfs:
      {hdfs_yaml}
      retries: 2
      request_timeout: 5s
{extra}"#
    )
}

/// A series without its cluster label: name, other labels (sorted), value.
type Series = (String, Vec<(String, String)>, f64);

/// Every table and partition series of `a` has the same value in `b` (and as many series).
fn assert_same_counts(s: &[Sample], a: &str, b: &str) {
    let series = |cluster: &str| {
        let mut v: Vec<Series> = s
            .iter()
            .filter(|x| {
                (x.name.starts_with("smallfiles_table_")
                    || x.name.starts_with("smallfiles_partition_"))
                    && x.labels.get("cluster").map(String::as_str) == Some(cluster)
            })
            .map(|x| {
                let mut l: Vec<(String, String)> = x
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != "cluster")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                l.sort();
                (x.name.clone(), l, x.value)
            })
            .collect();
        v.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        v
    };
    let (sa, sb) = (series(a), series(b));
    assert!(sa.len() > 10, "{a} exports its tables: {}", sa.len());
    assert_eq!(sa, sb, "{a} and {b} count the same warehouse alike");
}

fn requests(s: &[Sample], cluster: &str, ops: &[&str], outcome: &str) -> f64 {
    ops.iter()
        .map(|op| hdfs_requests(s, cluster, op, outcome))
        .sum()
}

const RPC_OPS: [&str; 2] = ["getFileInfo", "getListing"];
const WEB_OPS: [&str; 3] = ["GETFILESTATUS", "LISTSTATUS_BATCH", "LISTSTATUS"];

fn check_output(cfg: &std::path::Path) -> String {
    let out = std::process::Command::new(exporter_bin())
        .args(["check", "--config.file", &cfg.to_string_lossy()])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn hdfs_line(text: &str, cluster: &str) -> String {
    text.lines()
        .find(|l| {
            let mut f = l.split_whitespace();
            f.next() == Some(cluster) && f.next() == Some("hdfs")
        })
        .unwrap_or_else(|| panic!("no hdfs line for {cluster}: {text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_counts_what_webhdfs_counts() {
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(tokio::task::spawn_blocking(MiniDfs::start).await.unwrap());
    let mut w = Warehouse::on_hdfs(hdfs.clone(), "/warehouse");
    let w = tokio::task::spawn_blocking(move || {
        build_on_namenode(&mut w);
        w
    })
    .await
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let user = whoami();
    // By address, and by an edge node's configuration (fs.defaultFS names the NameNode).
    let conf_dir = tmp.path().join("hadoop-conf");
    hdfs.write_hadoop_conf(&conf_dir);
    let clusters = cluster("web", &hdfs.webhdfs_yaml(&user), "")
        + &cluster("rpc", &hdfs.rpc_yaml(&user), "")
        + &cluster(
            "edge",
            &format!(
                "mode: rpc\n      hadoop_conf_dir: {}\n      user: {user}",
                conf_dir.display()
            ),
            "",
        );
    let cfg = config(tmp.path(), port, &clusters);

    let text = check_output(&cfg);
    let rpc_line = hdfs_line(&text, "rpc");
    assert!(
        rpc_line.contains("ok")
            && rpc_line.contains(&format!("active namenode {} (rpc)", hdfs.rpc[0])),
        "{text}"
    );
    assert!(hdfs_line(&text, "edge").contains("(rpc)"), "{text}");

    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let mut s = Vec::new();
    for c in ["web", "rpc", "edge"] {
        s = complete_scan(&mut exporter, c, Duration::from_secs(60)).await;
    }
    for c in ["web", "rpc", "edge"] {
        assert_tables(&s, c, &w, 3);
        assert_eq!(hdfs_up(&s, c), Some(1.0), "{c}");
    }
    assert_same_counts(&s, "web", "rpc");
    assert_same_counts(&s, "web", "edge");
    assert!(requests(&s, "rpc", &["getListing"], "success") > 0.0);
    assert_eq!(
        requests(&s, "rpc", &WEB_OPS, "success"),
        0.0,
        "no WebHDFS request in RPC mode"
    );
    assert_eq!(requests(&s, "web", &RPC_OPS, "success"), 0.0);
    // A directory that is gone between listing and scan is "not found" in both protocols.
    assert_eq!(
        value(
            &s,
            "smallfiles_scan_errors_total",
            &[("cluster", "rpc"), ("source", "hdfs")]
        )
        .unwrap_or(0.0),
        0.0,
        "{}",
        exporter.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_from_the_standby_first_and_through_a_failover() {
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
    let user = whoami();
    // As on an edge node: the nameservice from hdfs-site.xml, its NameNodes in order.
    let conf_dir = tmp.path().join("hadoop-conf");
    let url = hdfs.write_hadoop_conf(&conf_dir);
    assert_eq!(url, "hdfs://minidfs-ns");
    let throttle = "    max_concurrent_requests: 2\n    max_requests_per_second: 40\n";
    let clusters = cluster(
        "rpc",
        &format!(
            "mode: rpc\n      url: {url}\n      hadoop_conf_dir: {}\n      user: {user}",
            conf_dir.display()
        ),
        throttle,
    ) + &cluster("web", &hdfs.webhdfs_yaml(&user), "");
    let cfg = config(tmp.path(), port, &clusters);
    let text = check_output(&cfg);
    assert!(
        hdfs_line(&text, "rpc").contains(&format!("active namenode {} (rpc)", hdfs.rpc[1])),
        "check names the active NameNode, the second one: {text}"
    );

    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let mut s = complete_scan(&mut exporter, "rpc", Duration::from_secs(60)).await;
    s = if last_success(&s, "web") > 0.0 {
        s
    } else {
        complete_scan(&mut exporter, "web", Duration::from_secs(60)).await
    };
    assert_tables(&s, "rpc", &w, 3);
    assert_same_counts(&s, "web", "rpc");
    let before = requests(&s, "rpc", &RPC_OPS, "standby");
    assert!(
        before >= 1.0,
        "the standby NameNode was asked first and answered as a standby"
    );

    // A failover while a throttled scan lists: the scan completes with the same numbers, and
    // the NameNode that stepped down is seen answering as a standby.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let failover_at = unix_now();
    let active = tokio::task::spawn_blocking({
        let hdfs = hdfs.clone();
        move || hdfs.failover()
    })
    .await
    .unwrap();
    assert_eq!(active, 0);
    let s = exporter
        .wait_metrics(
            Duration::from_secs(60),
            "an RPC scan after the failover",
            |s| last_success(s, "rpc") > failover_at && last_success(s, "web") > failover_at,
        )
        .await;
    let duration = value(
        &s,
        "smallfiles_scan_duration_seconds",
        &[("cluster", "rpc")],
    )
    .unwrap();
    assert!(
        last_success(&s, "rpc") - duration < failover_at,
        "the scan that completed first after the failover had started before it"
    );
    assert_tables(&s, "rpc", &w, 3);
    assert_same_counts(&s, "web", "rpc");
    let after = requests(&s, "rpc", &RPC_OPS, "standby");
    assert!(
        after > before,
        "the old active NameNode answered as a standby after the failover ({before} → {after})\n{}",
        exporter.log_text()
    );
    assert_eq!(hdfs_up(&s, "rpc"), Some(1.0));
}

/// A Kerberized NameNode: a keytab login lists over RPC what SPNEGO lists over WebHDFS; a
/// client without Kerberos and a keytab of another principal are refused, and say so.
#[cfg(feature = "kerberos")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_with_kerberos() {
    const KIB: u64 = 1024;
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(
        tokio::task::spawn_blocking(|| MiniDfs::start_secure(Duration::from_secs(600)))
            .await
            .unwrap(),
    );
    let kdc = hdfs.kdc.clone().expect("a KDC");
    let mut w = Warehouse::on_hdfs(hdfs.clone(), "/warehouse");
    let w = tokio::task::spawn_blocking(move || {
        w.threshold = 64 * KIB;
        w.daily_clicks("web.db/clicks", 3, 2);
        w.data("web", "big", None, "web.db/big", &[100 * KIB]);
        w
    })
    .await
    .unwrap();
    let login = |keytab: &std::path::Path| {
        format!(
            "    kerberos: {{ principal: \"{}\", keytab: {}, krb5_conf: {} }}\n",
            kdc.client_principal,
            keytab.display(),
            kdc.krb5_conf.display()
        )
    };
    let rpc = format!("mode: rpc\n      rpc_addresses: [\"{}\"]", hdfs.rpc[0]);
    let web = format!("namenodes: [\"{}\"]", hdfs.http[0]);
    let clusters = cluster("rpc", &rpc, &login(&kdc.client_keytab))
        + &cluster("web", &web, &login(&kdc.client_keytab))
        + &cluster("plain", &format!("{rpc}\n      user: {}", whoami()), "")
        + &cluster("wrongkeytab", &rpc, &login(&kdc.other_keytab));
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = config(tmp.path(), port, &clusters);

    let text = check_output(&cfg);
    assert!(hdfs_line(&text, "rpc").contains("ok"), "{text}");
    let plain = hdfs_line(&text, "plain");
    assert!(
        plain.contains("FAIL") && plain.contains("configure the cluster's kerberos block"),
        "{text}"
    );
    let wrong = hdfs_line(&text, "wrongkeytab");
    assert!(
        wrong.contains("FAIL") && wrong.contains("the keytab cannot log in"),
        "{text}"
    );

    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let mut s = Vec::new();
    for c in ["rpc", "web"] {
        s = complete_scan(&mut exporter, c, Duration::from_secs(60)).await;
    }
    assert_tables(&s, "rpc", &w, 3);
    assert_same_counts(&s, "web", "rpc");
    let s = exporter
        .wait_metrics(Duration::from_secs(30), "the refusals", |s| {
            hdfs_up(s, "plain") == Some(0.0) && hdfs_up(s, "wrongkeytab") == Some(0.0)
        })
        .await;
    let counted = |c: &str| {
        s.iter()
            .filter(|x| x.name == "smallfiles_hdfs_requests_total" && x.labels["cluster"] == c)
            .map(|x| format!("{:?}={}", x.labels, x.value))
            .collect::<Vec<_>>()
    };
    assert!(
        requests(&s, "plain", &RPC_OPS, "unreachable") >= 1.0,
        "{:?}\n{text}",
        counted("plain")
    );
    assert!(
        requests(&s, "wrongkeytab", &RPC_OPS, "denied") >= 1.0,
        "{:?}\n{text}",
        counted("wrongkeytab")
    );
    assert_eq!(hdfs_up(&s, "rpc"), Some(1.0));
}

//! The exporter on a Kerberized NameNode (MiniDFSCluster with Hadoop's MiniKdc): SPNEGO with a
//! keytab login the process renews, the `hadoop.auth` cookie saving negotiations, scans going on
//! across several ticket lifetimes without a restart, and the refusals an operator must be able
//! to tell apart (wrong keytab, no ticket, an expired ticket cache, unknown service principal,
//! an unreachable KDC, clock skew) —
//! `smallfiles_up` 0 and a clear message, no key material anywhere; and a delegation token from
//! the real NameNode instead of Kerberos. Needs the cargo feature `kerberos` (`.ci/run`
//! builds with it), Java and Maven.

#![cfg(feature = "kerberos")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use smallfiles_testkit::minidfs::{self, Kdc, MiniDfs};
use smallfiles_testkit::process::free_port;
use smallfiles_testkit::prom::{value, Sample};

const KIB: u64 = 1024;
/// Tickets and cookies of the KDC live this long: the test runs over several of them.
const LIFETIME: Duration = Duration::from_secs(20);

fn build(w: &mut Warehouse) {
    w.threshold = 64 * KIB;
    w.daily_clicks("web.db/clicks", 3, 2);
    w.data("web", "big", None, "web.db/big", &[100 * KIB]);
}

fn cluster_yaml(name: &str, nn: &str, kerberos: &str, spnego: &str) -> String {
    format!(
        r#"
  - name: {name}
    warehouse: hdfs://minidfs/warehouse
    kerberos: {kerberos}
    hdfs:
      namenodes: ["{nn}"]
      retries: 0
      request_timeout: 5s{spnego}
"#
    )
}

fn keytab_login(kdc: &Kdc, keytab: &std::path::Path) -> String {
    format!(
        "{{ principal: \"{}\", keytab: {}, krb5_conf: {} }}",
        kdc.client_principal,
        keytab.display(),
        kdc.krb5_conf.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_through_spnego_across_ticket_lifetimes_and_says_what_fails() {
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(
        tokio::task::spawn_blocking(|| MiniDfs::start_secure(LIFETIME))
            .await
            .unwrap(),
    );
    let kdc = hdfs.kdc.clone().expect("a secure cluster has a KDC");
    let nn = hdfs.http[0].clone();
    let mut w = Warehouse::on_hdfs(hdfs.clone(), "/warehouse");
    let w = tokio::task::spawn_blocking(move || {
        build(&mut w);
        w
    })
    .await
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut clusters = cluster_yaml("kerb", &nn, &keytab_login(&kdc, &kdc.client_keytab), "");
    // The keytab of another principal for smallfiles: the keytab cannot log in.
    clusters += &cluster_yaml(
        "wrongkeytab",
        &nn,
        &keytab_login(&kdc, &kdc.other_keytab),
        "",
    );
    // A ticket cache that does not exist: no ticket.
    clusters += &cluster_yaml(
        "noticket",
        &nn,
        &format!(
            "{{ ccache: \"FILE:{}/no-such-cache\", krb5_conf: {} }}",
            tmp.path().display(),
            kdc.krb5_conf.display()
        ),
        "",
    );
    // A NameNode principal the KDC does not know.
    clusters += &cluster_yaml(
        "wrongservice",
        &nn,
        &keytab_login(&kdc, &kdc.client_keytab),
        &format!(
            "\n      spnego_principal: \"HTTP/nosuchhost@{}\"",
            kdc.realm
        ),
    );
    // A delegation token from the real NameNode, used instead of Kerberos (as a job would).
    let token_file = tmp.path().join("webhdfs.token");
    std::fs::write(&token_file, hdfs.delegation_token("smallfiles")).unwrap();
    clusters += &format!(
        r#"
  - name: token
    warehouse: hdfs://minidfs/warehouse
    hdfs:
      namenodes: ["{nn}"]
      delegation_token_file: {}
"#,
        token_file.display()
    );
    // A ticket cache from kinit whose tickets expire during the test.
    let short_cache = tmp.path().join("short.cc");
    let kinit = std::process::Command::new("kinit")
        .args(["-k", "-t"])
        .arg(&kdc.client_keytab)
        .arg("-c")
        .arg(format!("FILE:{}", short_cache.display()))
        .arg(&kdc.client_principal)
        .env("KRB5_CONFIG", &kdc.krb5_conf)
        .output()
        .expect("kinit (krb5-user) is installed");
    assert!(kinit.status.success(), "{kinit:?}");
    let cfg = write_config(
        tmp.path(),
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
            state = tmp.path().join("state").display(),
        ),
    );

    // `check` says exactly what failed, per cluster, and nothing secret.
    let out = std::process::Command::new(exporter_bin())
        .args(["check", "--config.file", &cfg.to_string_lossy()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    let line = |cluster: &str| {
        text.lines()
            .find(|l| l.starts_with(cluster) && l.contains("hdfs"))
            .unwrap_or_else(|| panic!("no hdfs line for {cluster}: {text}"))
            .to_string()
    };
    assert!(line("kerb ").contains("ok"), "{text}");
    assert!(
        line("wrongkeytab").contains("the keytab cannot log in"),
        "{text}"
    );
    assert!(line("noticket").contains("no Kerberos ticket"), "{text}");
    assert!(
        line("wrongservice").contains("does not know the service principal HTTP/nosuchhost"),
        "{text}"
    );
    assert!(
        !text.contains("hadoop.auth"),
        "no cookie in the output: {text}"
    );

    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let s = complete_scan(&mut exporter, "kerb", Duration::from_secs(60)).await;
    assert_tables_of(&s, "kerb", &w);
    assert_eq!(hdfs_up(&s, "kerb"), Some(1.0));
    let s = complete_scan(&mut exporter, "token", Duration::from_secs(60)).await;
    assert_tables_of(&s, "token", &w);
    let s = exporter
        .wait_metrics(Duration::from_secs(30), "the refusals", |s| {
            ["wrongkeytab", "noticket", "wrongservice"]
                .iter()
                .all(|c| hdfs_up(s, c) == Some(0.0))
        })
        .await;
    let requests: f64 = s
        .iter()
        .filter(|x| {
            x.name == "smallfiles_hdfs_requests_total"
                && x.labels["cluster"] == "kerb"
                && x.labels["outcome"] == "success"
        })
        .map(|x| x.value)
        .sum();
    let negotiations = value(
        &s,
        "smallfiles_hdfs_spnego_negotiations_total",
        &[("cluster", "kerb")],
    )
    .unwrap();
    assert!(
        negotiations >= 1.0 && negotiations * 5.0 < requests,
        "one negotiation, then the cookie: {negotiations} negotiations for {requests} requests"
    );

    // Across several ticket (and cookie) lifetimes, scans go on without a restart: the keytab
    // login is renewed in the process.
    let deadline = std::time::Instant::now() + LIFETIME * 3;
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let page = exporter.get("/metrics").await;
    let t = last_success(&smallfiles_testkit::prom::parse(&page), "kerb");
    let s = exporter
        .wait_metrics(
            Duration::from_secs(30),
            "a scan after three lifetimes",
            |s| last_success(s, "kerb") > t,
        )
        .await;
    assert_tables_of(&s, "kerb", &w);
    assert_eq!(hdfs_up(&s, "kerb"), Some(1.0), "{}", exporter.log_text());
    let renegotiated = value(
        &s,
        "smallfiles_hdfs_spnego_negotiations_total",
        &[("cluster", "kerb")],
    )
    .unwrap();
    assert!(
        renegotiated > negotiations,
        "expired cookies were replaced by new negotiations with renewed tickets ({negotiations} → {renegotiated})"
    );
    // The kinit'd cache has expired meanwhile: said so.
    let expired_cfg = tmp.path().join("expired.yml");
    std::fs::write(
        &expired_cfg,
        format!(
            "clusters:{}",
            cluster_yaml(
                "expired",
                &nn,
                &format!(
                    "{{ ccache: \"FILE:{}\", krb5_conf: {} }}",
                    short_cache.display(),
                    kdc.krb5_conf.display()
                ),
                ""
            )
        ),
    )
    .unwrap();
    let out = std::process::Command::new(exporter_bin())
        .args(["check", "--config.file", &expired_cfg.to_string_lossy()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("expired") && l.contains("has expired")),
        "{text}"
    );

    // A krb5.conf whose KDC does not answer (one krb5.conf per process: a config of its own).
    let dead_kdc = tmp.path().join("dead-kdc.conf");
    std::fs::write(
        &dead_kdc,
        format!(
            "[libdefaults]\n  default_realm = {r}\n  udp_preference_limit = 1\n  max_retries = 1\n[realms]\n  {r} = {{\n    kdc = 127.0.0.1:{p}\n  }}\n",
            r = kdc.realm,
            p = free_port()
        ),
    )
    .unwrap();
    let nokdc_cfg = tmp.path().join("nokdc.yml");
    std::fs::write(
        &nokdc_cfg,
        format!(
            "clusters:{}",
            cluster_yaml(
                "nokdc",
                &nn,
                &format!(
                    "{{ principal: \"{}\", keytab: {}, krb5_conf: {} }}",
                    kdc.client_principal,
                    kdc.client_keytab.display(),
                    dead_kdc.display()
                ),
                ""
            )
        ),
    )
    .unwrap();
    let out = std::process::Command::new(exporter_bin())
        .args(["check", "--config.file", &nokdc_cfg.to_string_lossy()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("nokdc") && l.contains("the KDC is unreachable")),
        "{text}"
    );

    // A clock two hours ahead of the KDC's (libfaketime). MIT krb5 would quietly correct the
    // offset (`kdc_timesync`); with that off, as many sites run, the skew is named.
    if smallfiles_testkit::process::tool_available("faketime") {
        let skewed_conf = tmp.path().join("skewed.conf");
        let conf = std::fs::read_to_string(&kdc.krb5_conf).unwrap();
        std::fs::write(
            &skewed_conf,
            conf.replace("[libdefaults]", "[libdefaults]\n    kdc_timesync = 0"),
        )
        .unwrap();
        let skew_cfg = tmp.path().join("skew.yml");
        std::fs::write(
            &skew_cfg,
            format!(
                "clusters:{}",
                cluster_yaml(
                    "skew",
                    &nn,
                    &format!(
                        "{{ principal: \"{}\", keytab: {}, krb5_conf: {} }}",
                        kdc.client_principal,
                        kdc.client_keytab.display(),
                        skewed_conf.display()
                    ),
                    ""
                )
            ),
        )
        .unwrap();
        let out = std::process::Command::new("faketime")
            .arg("+2 hours")
            .arg(exporter_bin())
            .args(["check", "--config.file", &skew_cfg.to_string_lossy()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines()
                .any(|l| l.starts_with("skew") && l.contains("clock skew too great")),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Neither a cookie's value nor a token reaches the log or the metrics.
    let log = exporter.log_text();
    let page = exporter.get("/metrics").await;
    for secret in ["t=kerberos&e=", "hadoop.auth=\"", "Negotiate "] {
        assert!(!log.contains(secret), "{secret} in the log");
        assert!(!page.contains(secret), "{secret} in the metrics");
    }
}

/// [`assert_tables`] for one cluster of several: only its own tables are compared.
fn assert_tables_of(s: &[Sample], cluster: &str, w: &Warehouse) {
    let own: Vec<Sample> = s
        .iter()
        .filter(|x| x.labels.get("cluster").map(String::as_str) == Some(cluster))
        .cloned()
        .collect();
    assert_tables(&own, cluster, w, 3);
}

/// `hdfs.fsimage.fetch` on a Kerberized NameNode: SPNEGO to `/imagetransfer`; an ordinary
/// principal is refused (HTTP 403) with what to do about it, `smallfiles_up{component=
/// "fsimage"}` 0; a cluster administrator's principal gets the image, and the counts equal the
/// listing's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_is_fetched_by_an_hdfs_admin_only() {
    if !minidfs::available() {
        return;
    }
    let hdfs = Arc::new(
        tokio::task::spawn_blocking(|| MiniDfs::start_secure(Duration::from_secs(600)))
            .await
            .unwrap(),
    );
    let kdc = hdfs.kdc.clone().expect("a secure cluster has a KDC");
    let nn = hdfs.http[0].clone();
    let mut w = Warehouse::on_hdfs(hdfs.clone(), "/warehouse");
    let w = tokio::task::spawn_blocking(move || {
        build(&mut w);
        w.hdfs().save_namespace();
        w
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let admin = format!(
        "{{ principal: \"other@{}\", keytab: {}, krb5_conf: {} }}",
        kdc.realm,
        kdc.other_keytab.display(),
        kdc.krb5_conf.display()
    );
    let fetch = "\n      mode: fsimage\n      fsimage: { fetch: true }";
    let mut clusters = cluster_yaml("listed", &nn, &keytab_login(&kdc, &kdc.client_keytab), "");
    clusters += &cluster_yaml("admin", &nn, &admin, fetch);
    clusters += &cluster_yaml("user", &nn, &keytab_login(&kdc, &kdc.client_keytab), fetch);
    let cfg = write_config(
        tmp.path(),
        &format!(
            "exporter:\n  listen_address: \"127.0.0.1:{port}\"\n  state_dir: {}\n  top_partitions: 3\ndefaults:\n  small_file_threshold: 64KiB\n  scan_interval: 2s\nclusters:{clusters}",
            tmp.path().join("state").display()
        ),
    );
    let mut exporter = start_exporter(tmp.path(), &cfg, port);
    exporter.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let mut s = Vec::new();
    for c in ["listed", "admin"] {
        s = complete_scan(&mut exporter, c, Duration::from_secs(60)).await;
    }
    assert_tables_of(&s, "listed", &w);
    assert_tables_of(&s, "admin", &w);
    assert!(value(&s, "smallfiles_fsimage_txid", &[("cluster", "admin")]).is_some_and(|t| t > 0.0));
    let s = exporter
        .wait_metrics(Duration::from_secs(60), "the user's fetch refused", |s| {
            value(
                s,
                "smallfiles_up",
                &[("cluster", "user"), ("component", "fsimage")],
            ) == Some(0.0)
        })
        .await;
    assert!(hdfs_requests(&s, "user", "GETIMAGE", "denied") > 0.0);
    let log = exporter.log_text();
    assert!(
        log.contains("dfs.cluster.administrators") && log.contains("HTTP 403"),
        "{log}"
    );
}

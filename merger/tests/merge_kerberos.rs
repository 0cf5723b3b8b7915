//! Merges through a Kerberized HiveServer2: Spark's Thrift Server with
//! `hive.server2.authentication=KERBEROS` (its own keytab, from Hadoop's MiniKdc started with a
//! secure MiniDFSCluster), the HiveServer2 client speaking SASL GSSAPI with a keytab login,
//! rows and checksum unchanged; a second merge after several ticket lifetimes, without a
//! restart; and the refusals (wrong keytab, unknown service principal) said clearly. Needs the
//! cargo feature `kerberos`, pyspark, Java and Maven.

#![cfg(feature = "kerberos")]

use std::time::Duration;

use smallfiles_cluster::hiveserver2::{Auth, Hs2Config, Session};
use smallfiles_testkit::merger_api::{write_operator_config, MergerApi};
use smallfiles_testkit::minidfs::{self, Kdc, MiniDfs};
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::spark::{self, events_fingerprint, MetastoreDatabase, MetastoreDb};

const OPS_TOKEN: &str = "ops-secret-token-0004";
const WAIT: Duration = Duration::from_secs(180);
/// Tickets from the KDC live this long; the second merge comes after two of them.
const LIFETIME: Duration = Duration::from_secs(25);

fn client(port: u16, kdc: &Kdc, keytab: &std::path::Path, principal: &str) -> Hs2Config {
    kdc.hs2_config(&format!("hive2://localhost:{port}"), keytab, principal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_through_a_kerberized_hiveserver2() {
    if !spark::available() || !minidfs::available() {
        return;
    }
    let hdfs = tokio::task::spawn_blocking(|| MiniDfs::start_secure(LIFETIME))
        .await
        .unwrap();
    let kdc = hdfs.kdc.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = MetastoreDatabase::new(
        MetastoreDb::Mariadb,
        &format!("sf_krb_{}", std::process::id()),
    );
    let port = free_port();
    let _server = spark::start_kerberized(&db, dir.path(), "binary", port, &kdc);
    let pattern = format!("hive/_HOST@{}", kdc.realm);

    // The server wants Kerberos: SASL PLAIN is turned away.
    let plain = Hs2Config {
        auth: Auth::Plain,
        kerberos: None,
        ..client(port, &kdc, &kdc.client_keytab, "")
    };
    assert!(
        Session::open(&plain).await.is_err(),
        "a Kerberized HiveServer2 refuses SASL PLAIN"
    );

    // Refusals first: each says what is wrong.
    let wrong_keytab = Session::open(&client(port, &kdc, &kdc.other_keytab, &pattern))
        .await
        .err()
        .expect("a keytab without our principal cannot log in")
        .to_string();
    assert!(
        wrong_keytab.contains("the keytab cannot log in"),
        "{wrong_keytab}"
    );
    let wrong_service = Session::open(&client(
        port,
        &kdc,
        &kdc.client_keytab,
        &format!("hive/nosuchhost@{}", kdc.realm),
    ))
    .await
    .err()
    .expect("an unknown service principal")
    .to_string();
    assert!(
        wrong_service.contains("does not know the service principal hive/nosuchhost"),
        "{wrong_service}"
    );

    let mut sql = Session::open(&client(port, &kdc, &kdc.client_keytab, &pattern))
        .await
        .expect("SASL GSSAPI with a keytab login");
    spark::create_events(&mut sql, &["2026-11-24", "2026-11-25"]).await;
    let before1 = events_fingerprint(&mut sql, "dt='2026-11-24'").await;
    let before2 = events_fingerprint(&mut sql, "dt='2026-11-25'").await;

    let merger_port = free_port();
    let config = write_operator_config(
        dir.path(),
        merger_port,
        OPS_TOKEN,
        &format!(
            r#"
  - name: lab
    metastore:
      url: {url}
    kerberos:
      principal: "{principal}"
      keytab: {keytab}
      krb5_conf: {krb5}
    hiveserver2: {{ url: "hive2://localhost:{port}", auth: kerberos, principal: "{pattern}" }}
    merge:
      rollback_retention: 1s
      engine_settings: {{ spark.sql.shuffle.partitions: "2" }}
  - name: badkeytab
    metastore:
      url: {url}
    hiveserver2:
      url: "hive2://localhost:{port}"
      auth: kerberos
      principal: "{pattern}"
      kerberos: {{ principal: "{principal}", keytab: {other}, krb5_conf: {krb5} }}
"#,
            other = kdc.other_keytab.display(),
            url = db.url(),
            principal = kdc.client_principal,
            keytab = kdc.client_keytab.display(),
            krb5 = kdc.krb5_conf.display(),
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
    // The start says what works and what does not.
    let start = std::time::Instant::now();
    loop {
        let page = merger.get("/metrics").await;
        if page.contains(r#"smallfiles_up{cluster="lab",component="hiveserver2"} 1"#)
            && page.contains(r#"smallfiles_up{cluster="badkeytab",component="hiveserver2"} 0"#)
        {
            break;
        }
        assert!(start.elapsed() < WAIT, "no probe results: {page}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = merger.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("badkeytab") && l.contains("the keytab cannot log in")),
        "{log}"
    );

    let id = api.submit("lab", "sales", "events", "dt=2026-11-24").await;
    let t = api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}\n{}", merger.log_text());
    assert_eq!(t["files_before"], 20, "{t:#}");
    assert_eq!(
        events_fingerprint(&mut sql, "dt='2026-11-24'").await,
        before1
    );

    // Two ticket lifetimes later, without a restart: the merger's keytab login is renewed.
    tokio::time::sleep(LIFETIME * 2 + Duration::from_secs(5)).await;
    let id = api.submit("lab", "sales", "events", "dt=2026-11-25").await;
    let t = api.wait_ended(id, WAIT).await;
    assert_eq!(t["state"], "succeeded", "{t:#}\n{}", merger.log_text());
    // The test's own session was opened before: a new one proves the client's renewal too.
    let mut again = Session::open(&client(port, &kdc, &kdc.client_keytab, &pattern))
        .await
        .expect("a new session after two ticket lifetimes");
    assert_eq!(
        events_fingerprint(&mut again, "dt='2026-11-25'").await,
        before2
    );
    let log = merger.log_text();
    assert!(!log.contains("Negotiate "), "no token in the log");
}

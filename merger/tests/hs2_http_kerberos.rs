//! HiveServer2's HTTP transport with Kerberos, on a Kerberized Spark Thrift Server: SPNEGO, then
//! the server's `hive.server2.auth` cookie; a wrong service principal is named; Basic
//! authentication is refused. A test binary of its own: one krb5.conf serves a process, and
//! every test here starts a KDC of its own. Needs the cargo feature `kerberos`, pyspark, Java
//! and Maven.

#![cfg(feature = "kerberos")]

use std::time::Duration;

use smallfiles_cluster::hiveserver2::{Auth, Hs2Config, Session};
use smallfiles_testkit::minidfs::{self, MiniDfs};
use smallfiles_testkit::process::free_port;
use smallfiles_testkit::spark::{self, MetastoreDatabase, MetastoreDb};

/// HiveServer2's HTTP transport with Kerberos: SPNEGO, then the server's cookie; a wrong
/// service principal is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_over_http_with_spnego() {
    if !spark::available() || !minidfs::available() {
        return;
    }
    let hdfs = tokio::task::spawn_blocking(|| MiniDfs::start_secure(Duration::from_secs(600)))
        .await
        .unwrap();
    let kdc = hdfs.kdc.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = MetastoreDatabase::new(
        MetastoreDb::Mariadb,
        &format!("sf_krbhttp_{}", std::process::id()),
    );
    let port = free_port();
    let _server = spark::start_kerberized(&db, dir.path(), "http", port, &kdc);
    let url = format!("http://localhost:{port}/cliservice");
    let http = |principal: &str| kdc.hs2_config(&url, &kdc.client_keytab, principal);
    let wrong = Session::open(&http(&format!("HTTP/nosuchhost@{}", kdc.realm)))
        .await
        .err()
        .expect("an unknown service principal")
        .to_string();
    assert!(
        wrong.contains("does not know the service principal HTTP/nosuchhost"),
        "{wrong}"
    );
    let mut s = Session::open(&http(&format!("HTTP/_HOST@{}", kdc.realm)))
        .await
        .expect("SPNEGO on the HTTP transport");
    // Several calls on one session: the cookie carries them after the first negotiation.
    for _ in 0..3 {
        let rows = spark::exec(&mut s, "SELECT 1").await;
        assert_eq!(rows.len(), 1);
    }
    let basic = Hs2Config {
        auth: Auth::Plain,
        kerberos: None,
        ..http("")
    };
    assert!(
        Session::open(&basic).await.is_err(),
        "a Kerberized HTTP transport refuses Basic authentication"
    );
}

//! The client against the scripted HiveServer2: TLS on the binary transport (a TLS proxy with a
//! test CA in front of it), cancelling a running statement, the statement timeout. The real
//! server behind TLS is in `hiveserver2_real.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use smallfiles_cluster::hiveserver2::{Auth, Cell, Hs2Config, Session};
use smallfiles_testkit::hs2_server::{self, Table};
use smallfiles_testkit::proxy::{start_tls, TestCertificate};

fn config(url: String, tls: bool, ca_file: Option<std::path::PathBuf>) -> Hs2Config {
    Hs2Config {
        url,
        auth: Auth::NoSasl,
        user: "smallfiles".into(),
        password: None,
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
        settings: BTreeMap::new(),
        tls,
        ca_file,
        kerberos: None,
    }
}

#[tokio::test]
async fn binary_transport_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCertificate::create(dir.path());
    let server = hs2_server::start("Apache Hive", |sql| match sql {
        "SELECT 1" => Ok(Table::new(&["_c0"], &[&["1"]])),
        other => Err(format!("unexpected {other}")),
    })
    .await;
    let tls = start_tls(server.addr, &cert).await;
    let url = format!("hive2://127.0.0.1:{}", tls.port());

    let mut s = Session::open(&config(url.clone(), true, Some(cert.ca.clone())))
        .await
        .unwrap();
    assert_eq!(s.server_name().await.unwrap(), "Apache Hive");
    let rs = s.execute("SELECT 1").await.unwrap();
    assert_eq!(rs.rows, vec![vec![Cell::Text("1".into())]]);
    s.close().await.unwrap();
    assert_eq!(server.statements(), vec!["SELECT 1"]);

    // An untrusted certificate is refused, and says so.
    let err = Session::open(&config(url.clone(), true, None))
        .await
        .err()
        .expect("untrusted certificate accepted")
        .to_string();
    assert!(err.contains("certificate"), "{err}");
    // A host name the certificate does not name is refused.
    let other = format!("hive2://127.0.0.2:{}", tls.port());
    assert!(Session::open(&config(other, true, Some(cert.ca.clone())))
        .await
        .is_err());
    // Without TLS, the TLS endpoint does not answer Thrift.
    let mut plain = config(url, false, None);
    plain.connect_timeout = Duration::from_secs(2);
    plain.statement_timeout = Duration::from_secs(2);
    assert!(
        tokio::time::timeout(Duration::from_secs(10), Session::open(&plain))
            .await
            .map(|r| r.is_err())
            .unwrap_or(true)
    );
    // A CA file without certificates is a clear configuration error.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = Session::open(&config(
        format!("hive2://127.0.0.1:{}", tls.port()),
        true,
        Some(empty),
    ))
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
}

#[tokio::test]
async fn running_statements_are_cancelled_on_the_server() {
    let server = hs2_server::start("Apache Hive", |sql| match sql {
        "INSERT OVERWRITE TABLE t SELECT * FROM s" => Ok(Table::running()),
        "SELECT 1" => Ok(Table::new(&["_c0"], &[&["1"]])),
        other => Err(format!(
            "ParseException line 1:0 cannot recognize input near '{other}'"
        )),
    })
    .await;
    let mut cfg = config(server.url(), false, None);
    let mut s = Session::open(&cfg).await.unwrap();
    // Cancelled by the caller.
    let started = std::time::Instant::now();
    let err = s
        .execute_until(
            "INSERT OVERWRITE TABLE t SELECT * FROM s",
            tokio::time::sleep(Duration::from_millis(300)),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cancelled"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        server.cancelled(),
        vec!["INSERT OVERWRITE TABLE t SELECT * FROM s"]
    );
    // The session goes on; the server's error text and SQLSTATE reach the caller.
    assert_eq!(s.execute("SELECT 1").await.unwrap().rows.len(), 1);
    let err = s.execute("SELEC 1").await.unwrap_err().to_string();
    assert!(
        err.contains("ParseException") && err.contains("42000"),
        "{err}"
    );
    s.close().await.unwrap();
    // Cancelled by the statement timeout.
    cfg.statement_timeout = Duration::from_millis(500);
    let mut s = Session::open(&cfg).await.unwrap();
    let err = s
        .execute("INSERT OVERWRITE TABLE t SELECT * FROM s")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("timed out"), "{err}");
    assert_eq!(server.cancelled().len(), 2);
}

//! The HiveServer2 client against a real server: Spark's Thrift Server (PyPI `pyspark`) with its
//! metastore in the local MariaDB, through each transport — binary without SASL, binary with
//! SASL PLAIN (also over TLS), HTTP (also HTTPS). Started by `testkit/hs2/start.sh`; skipped (with a message) where pyspark
//! or the JDBC driver is not installed. Slow (a JVM per transport): its own test target.

use std::collections::BTreeMap;
use std::time::Duration;

use smallfiles_cluster::config::Secret;
use smallfiles_cluster::hiveserver2::{Auth, Cell, Hs2Config};
use smallfiles_testkit::process::free_port;
use smallfiles_testkit::proxy::{start_tls, TestCertificate};
use smallfiles_testkit::spark::{self, MetastoreDatabase, MetastoreDb, Options};

async fn exercise(cfg: Hs2Config, table: &str) {
    let mut s = spark::open(&cfg).await;
    assert!(
        s.server_protocol >= 5,
        "columnar results: protocol {}",
        s.server_protocol
    );
    assert_eq!(s.server_name().await.unwrap(), "Spark SQL");
    s.execute(&format!("DROP TABLE IF EXISTS {table}"))
        .await
        .unwrap();
    let ddl = s.execute(&format!("CREATE TABLE {table} (id INT, name STRING, amount DOUBLE, flag BOOLEAN, big BIGINT) STORED AS PARQUET")).await.unwrap();
    assert!(ddl.rows.is_empty());
    s.execute(&format!("INSERT INTO {table} VALUES (1, 'a', 1.5, true, 10000000000), (2, NULL, NULL, false, NULL), (3, 'c''s', -2.25, NULL, -1)")).await.unwrap();
    let rs = s
        .execute(&format!(
            "SELECT id, name, amount, flag, big FROM {table} ORDER BY id"
        ))
        .await
        .unwrap();
    assert_eq!(rs.columns, vec!["id", "name", "amount", "flag", "big"]);
    assert_eq!(
        rs.rows,
        vec![
            vec![
                Cell::Int(1),
                Cell::Text("a".into()),
                Cell::Double(1.5),
                Cell::Bool(true),
                Cell::Int(10_000_000_000)
            ],
            vec![
                Cell::Int(2),
                Cell::Null,
                Cell::Null,
                Cell::Bool(false),
                Cell::Null
            ],
            vec![
                Cell::Int(3),
                Cell::Text("c's".into()),
                Cell::Double(-2.25),
                Cell::Null,
                Cell::Int(-1)
            ],
        ]
    );
    let count = s
        .execute(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .await
        .unwrap();
    assert_eq!(count.rows, vec![vec![Cell::Int(3)]]);
    let err = s
        .execute("SELECT * FROM no_such_table_here")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no_such_table_here"),
        "the server's message is surfaced: {err}"
    );
    // The session survives a failed statement.
    assert_eq!(
        s.execute("SELECT 1 AS one").await.unwrap().rows,
        vec![vec![Cell::Int(1)]]
    );
    s.execute(&format!("DROP TABLE {table}")).await.unwrap();
    s.close().await.unwrap();
}

fn config(url: String, auth: Auth) -> Hs2Config {
    Hs2Config {
        url,
        auth,
        user: "smallfiles".into(),
        password: Some(Secret::new("any-password")),
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(120),
        settings: BTreeMap::from([("spark.sql.shuffle.partitions".to_string(), "2".to_string())]),
        tls: false,
        ca_file: None,
        kerberos: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_thrift_server_over_every_transport() {
    if !spark::available() {
        return;
    }
    let lab = tempfile::tempdir().unwrap();
    let cert = TestCertificate::create(lab.path());
    let db = MetastoreDatabase::new(
        MetastoreDb::Mariadb,
        &format!("sf_hs2_{}", std::process::id()),
    );
    for (auth, transport, client_auth, table) in [
        ("NOSASL", "binary", Auth::NoSasl, "t_nosasl"),
        ("NONE", "binary", Auth::Plain, "t_plain"),
        ("NONE", "http", Auth::Plain, "t_http"),
    ] {
        let port = free_port();
        let _server = spark::start(
            &db,
            lab.path(),
            Options {
                auth,
                transport,
                port,
            },
        );
        let url = if transport == "http" {
            format!("http://127.0.0.1:{port}/cliservice")
        } else {
            format!("hive2://127.0.0.1:{port}")
        };
        exercise(config(url, client_auth), table).await;
        if auth == "NONE" && transport == "binary" {
            // SASL PLAIN over TLS, as with hive.server2.use.SSL=true.
            let tls = start_tls(format!("127.0.0.1:{port}").parse().unwrap(), &cert).await;
            let mut cfg = config(format!("hive2://127.0.0.1:{}", tls.port()), Auth::Plain);
            cfg.tls = true;
            cfg.ca_file = Some(cert.ca.clone());
            exercise(cfg, "t_tls").await;
        }
        if transport == "http" {
            // HTTPS, as behind Knox or with hive.server2.use.SSL in HTTP mode.
            let tls = start_tls(format!("127.0.0.1:{port}").parse().unwrap(), &cert).await;
            let mut cfg = config(
                format!("https://localhost:{}/cliservice", tls.port()),
                Auth::Plain,
            );
            cfg.ca_file = Some(cert.ca.clone());
            exercise(cfg, "t_https").await;
        }
    }
}

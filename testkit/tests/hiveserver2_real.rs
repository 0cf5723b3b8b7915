//! The HiveServer2 client against a real server: Spark's Thrift Server (PyPI `pyspark`) with its
//! metastore in the local MariaDB, through each transport — binary without SASL, binary with
//! SASL PLAIN, HTTP. Started by `testkit/hs2/start.sh`; skipped (with a message) where pyspark
//! or the JDBC driver is not installed. Slow (a JVM per transport): its own test target.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use smallfiles_cluster::config::Secret;
use smallfiles_cluster::hiveserver2::{Auth, Cell, Hs2Config, Session};
use smallfiles_testkit::process::free_port;

fn available() -> bool {
    let pyspark = Command::new("python3")
        .args(["-c", "import pyspark"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let jdbc = Path::new("/usr/share/java/mariadb-java-client.jar").exists();
    let java = Command::new("java").arg("-version").output().is_ok();
    if !(pyspark && jdbc && java) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install pyspark, libmariadb-java and Java"
        );
        eprintln!("SKIPPED: needs pyspark (pip), libmariadb-java (apt) and Java: pyspark={pyspark} jdbc={jdbc} java={java}");
    }
    pyspark && jdbc && java
}

/// Drops the server's metastore database, even when the test fails.
struct Database(String);

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("mysql")
            .args([
                "-h",
                "127.0.0.1",
                "-uroot",
                "-e",
                &format!("DROP DATABASE IF EXISTS `{}`", self.0),
            ])
            .status();
    }
}

struct Server {
    pid: u32,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-9")
            .arg(self.pid.to_string())
            .status();
    }
}

fn start(lab: &Path, db: &str, auth: &str, transport: &str, port: u16) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hs2/start.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("mariadb")
        .env("LAB", lab)
        .env("DB", db)
        .env("HS2_AUTH", auth)
        .env("HS2_TRANSPORT", transport)
        .env("HS2_PORT", port.to_string())
        .env("HS2_HTTP_PORT", port.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "start.sh failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = text
        .split("pid=")
        .nth(1)
        .and_then(|p| p.trim().parse().ok())
        .expect("pid");
    Server { pid }
}

async fn open(cfg: &Hs2Config) -> Session {
    // The port opens a moment before the server takes sessions.
    let mut last = None;
    for _ in 0..60 {
        match Session::open(cfg).await {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("no session: {last:?}");
}

async fn exercise(cfg: Hs2Config, table: &str) {
    let mut s = open(&cfg).await;
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_thrift_server_over_every_transport() {
    if !available() {
        return;
    }
    let lab = tempfile::tempdir().unwrap();
    let db = Database(format!("sf_hs2_{}", std::process::id()));
    for (auth, transport, client_auth, table) in [
        ("NOSASL", "binary", Auth::NoSasl, "t_nosasl"),
        ("NONE", "binary", Auth::Plain, "t_plain"),
        ("NONE", "http", Auth::Plain, "t_http"),
    ] {
        let port = free_port();
        let _server = start(lab.path(), &db.0, auth, transport, port);
        let url = if transport == "http" {
            format!("http://127.0.0.1:{port}/cliservice")
        } else {
            format!("hive2://127.0.0.1:{port}")
        };
        exercise(config(url, client_auth), table).await;
    }
}

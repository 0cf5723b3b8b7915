//! A real HiveServer2 for tests: Spark's Thrift Server (PyPI `pyspark`), started by
//! `testkit/hs2/start.sh` with its metastore in the local MariaDB or PostgreSQL and its
//! warehouse on local disk. The server and its metastore database go away when dropped.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use smallfiles_cluster::hiveserver2::{Hs2Config, Session};

/// Whether pyspark, the JDBC drivers and Java are installed; CI must have them.
pub fn available() -> bool {
    let pyspark = Command::new("python3")
        .args(["-c", "import pyspark"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let jdbc = Path::new("/usr/share/java/mariadb-java-client.jar").exists()
        && Path::new("/usr/share/java/postgresql.jar").exists();
    let java = Command::new("java").arg("-version").output().is_ok();
    if !(pyspark && jdbc && java) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install pyspark, libmariadb-java, libpostgresql-jdbc-java and Java"
        );
        eprintln!("SKIPPED: needs pyspark (pip), libmariadb-java and libpostgresql-jdbc-java (apt) and Java: pyspark={pyspark} jdbc={jdbc} java={java}");
    }
    pyspark && jdbc && java
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetastoreDb {
    Mariadb,
    Postgres,
}

impl MetastoreDb {
    fn arg(self) -> &'static str {
        match self {
            MetastoreDb::Mariadb => "mariadb",
            MetastoreDb::Postgres => "postgres",
        }
    }

    /// The URL our own metastore reader uses for the server's metastore database.
    pub fn url(self, db: &str) -> String {
        match self {
            MetastoreDb::Mariadb => format!("mysql://root@127.0.0.1:3306/{db}"),
            MetastoreDb::Postgres => format!("postgres://postgres@127.0.0.1:5432/{db}"),
        }
    }
}

/// The metastore database of the servers of a test; dropped when the test ends, even when it
/// fails. Drop it after the servers that use it.
pub struct MetastoreDatabase {
    pub kind: MetastoreDb,
    pub name: String,
}

impl MetastoreDatabase {
    pub fn new(kind: MetastoreDb, name: &str) -> MetastoreDatabase {
        MetastoreDatabase {
            kind,
            name: name.to_string(),
        }
    }

    pub fn url(&self) -> String {
        self.kind.url(&self.name)
    }
}

impl Drop for MetastoreDatabase {
    fn drop(&mut self) {
        let _ = match self.kind {
            MetastoreDb::Mariadb => Command::new("mysql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-uroot",
                    "-e",
                    &format!("DROP DATABASE IF EXISTS `{}`", self.name),
                ])
                .status(),
            MetastoreDb::Postgres => Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                ])
                .status(),
        };
    }
}

pub struct SparkServer {
    pub pid: u32,
    pub port: u16,
}

impl Drop for SparkServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-9")
            .arg(self.pid.to_string())
            .status();
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub struct Options<'a> {
    pub auth: &'a str,
    pub transport: &'a str,
    pub port: u16,
}

/// Starts a server on a metastore database (created if needed).
/// Spark's Thrift Server on `port`: binary transport, no authentication (NOSASL).
pub fn start_nosasl(db: &MetastoreDatabase, lab: &Path, port: u16) -> SparkServer {
    start(
        db,
        lab,
        Options {
            auth: "NOSASL",
            transport: "binary",
            port,
        },
    )
}

pub fn start(db: &MetastoreDatabase, lab: &Path, o: Options<'_>) -> SparkServer {
    start_with_warehouse(db, lab, o, None)
}

/// [`start`] with the warehouse elsewhere than local disk, e.g. `hdfs://127.0.0.1:<port>/w`
/// on a MiniDFSCluster (Spark's bundled Hadoop client writes there over RPC).
pub fn start_with_warehouse(
    db: &MetastoreDatabase,
    lab: &Path,
    o: Options<'_>,
    warehouse: Option<&str>,
) -> SparkServer {
    let env: Vec<(&str, &str)> = warehouse
        .map(|w| ("WAREHOUSE_URI", w))
        .into_iter()
        .collect();
    start_with_env(db, lab, o, &env)
}

/// A Kerberized server (`hive.server2.authentication=KERBEROS`, principal `hive/localhost`,
/// and `HTTP/localhost` for the HTTP transport) with its keytab from `kdc`.
pub fn start_kerberized(
    db: &MetastoreDatabase,
    lab: &Path,
    transport: &str,
    port: u16,
    kdc: &crate::minidfs::Kdc,
) -> SparkServer {
    let principal = format!("hive/localhost@{}", kdc.realm);
    start_with_env(
        db,
        lab,
        Options {
            auth: "KERBEROS",
            transport,
            port,
        },
        &[
            ("HS2_PRINCIPAL", principal.as_str()),
            ("HS2_KEYTAB", &kdc.service_keytab.to_string_lossy()),
            ("KRB5_CONF", &kdc.krb5_conf.to_string_lossy()),
        ],
    )
}

/// [`start`] with more of `start.sh`'s environment (`WAREHOUSE_URI`, `HS2_PRINCIPAL`,
/// `HS2_KEYTAB`, `KRB5_CONF` for `auth: "KERBEROS"`).
pub fn start_with_env(
    db: &MetastoreDatabase,
    lab: &Path,
    o: Options<'_>,
    env: &[(&str, &str)],
) -> SparkServer {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hs2/start.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(db.kind.arg())
        .env("LAB", lab)
        .env("DB", &db.name)
        .env("HS2_AUTH", o.auth)
        .env("HS2_TRANSPORT", o.transport)
        .env("HS2_PORT", o.port.to_string())
        .env("HS2_HTTP_PORT", o.port.to_string())
        .envs(env.iter().copied())
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
    SparkServer { pid, port: o.port }
}

/// The client settings for a server started with `HS2_AUTH=NOSASL` on `port`.
pub fn nosasl_config(port: u16) -> Hs2Config {
    Hs2Config {
        url: format!("hive2://127.0.0.1:{port}"),
        auth: smallfiles_cluster::hiveserver2::Auth::NoSasl,
        user: "tester".into(),
        password: None,
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(300),
        settings: Default::default(),
        tls: false,
        ca_file: None,
        kerberos: None,
    }
}

/// A session, retried while the server warms up (the port opens before it takes sessions).
pub async fn open(cfg: &Hs2Config) -> Session {
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

/// Runs a statement; its rows (panics with the statement on an error).
pub async fn exec(sql: &mut Session, q: &str) -> Vec<Vec<smallfiles_cluster::hiveserver2::Cell>> {
    sql.execute(q)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .rows
}

/// `sales.events (id, note) PARTITIONED BY (dt)`, Parquet, with 20 files of 1,000 rows in each
/// of the partitions `dates` (NULLs included): the table the merge tests merge.
pub async fn create_events(sql: &mut Session, dates: &[&str]) {
    exec(sql, "CREATE DATABASE IF NOT EXISTS sales").await;
    exec(sql, "CREATE TABLE sales.events (id BIGINT, note STRING) PARTITIONED BY (dt STRING) STORED AS PARQUET").await;
    let rows = "SELECT /*+ REPARTITION(20) */ id, IF(id % 7 = 0, NULL, concat('note ', id)) FROM range(1000)";
    for dt in dates {
        exec(
            sql,
            &format!("INSERT INTO sales.events PARTITION (dt='{dt}') {rows}"),
        )
        .await;
    }
}

/// Rows and a checksum over every column of `sales.events` where `filter` holds.
pub async fn events_fingerprint(
    sql: &mut Session,
    filter: &str,
) -> Vec<Vec<smallfiles_cluster::hiveserver2::Cell>> {
    exec(
        sql,
        &format!(
            "SELECT COUNT(*), SUM(CAST(hash(id, note) AS BIGINT)) FROM sales.events WHERE {filter}"
        ),
    )
    .await
}

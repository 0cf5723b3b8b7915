//! Real metastore databases for tests and benchmarks: a fresh database per test in the local
//! MariaDB or PostgreSQL, loaded with an official Hive schema script from `../shared/`, and a
//! builder that inserts rows the way Hive writes them (`builder.rs`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use smallfiles_cluster::config::MetastoreKind;

mod builder;
pub use builder::*;

/// Schema versions shipped in `shared/fixtures/hive-metastore-schema/`.
pub const SCHEMA_VERSIONS: [&str; 6] = ["1.1.0", "1.2.0", "2.1.0", "2.3.0", "3.1.0", "4.0.0"];

pub const MYSQL_HOST: &str = "127.0.0.1";
pub const PG_HOST: &str = "127.0.0.1";

/// The `shared/` folder beside the project root, or `SMALLFILES_SHARED`. `None` when absent:
/// tests that need it skip with a message.
pub fn shared_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SMALLFILES_SHARED") {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .to_path_buf();
    let p = root.parent()?.join("shared");
    p.join("fixtures").is_dir().then_some(p)
}

/// Skips the calling test (returns from it) when `shared/` is not there.
#[macro_export]
macro_rules! require_shared {
    () => {
        match $crate::metastore::shared_dir() {
            Some(p) => p,
            None => {
                eprintln!(
                    "SKIPPED: ../shared/ is absent (clone it beside the project to run this test)"
                );
                return;
            }
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A user made by [`TestDb::reader`], dropped when this value is dropped.
pub struct Reader {
    kind: MetastoreKind,
    user: String,
    db: String,
    pub url: String,
}

impl Drop for Reader {
    fn drop(&mut self) {
        match self.kind {
            MetastoreKind::Mysql => {
                let _ = Command::new("mysql")
                    .args(["-h", MYSQL_HOST, "-uroot", "-e"])
                    .arg(format!("DROP USER IF EXISTS '{}'@'%'", self.user))
                    .output();
            }
            MetastoreKind::Postgres => {
                let _ = Command::new("psql")
                    .args(["-h", PG_HOST, "-U", "postgres", "-d", &self.db, "-qc"])
                    .arg(format!(
                        "DROP OWNED BY {0}; DROP ROLE IF EXISTS {0}",
                        self.user
                    ))
                    .output();
            }
        }
    }
}

/// A database of its own, dropped when this value is dropped.
pub struct TestDb {
    pub kind: MetastoreKind,
    pub name: String,
    pub version: String,
}

impl TestDb {
    /// Creates an empty database with a name unique to this process and call.
    pub fn create_empty(kind: MetastoreKind, tag: &str) -> TestDb {
        let name = format!(
            "sf_{}_{}_{}",
            tag.replace(['.', '-'], "_"),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let db = TestDb {
            kind,
            name,
            version: String::new(),
        };
        match kind {
            MetastoreKind::Mysql => run_mysql(
                None,
                &format!("CREATE DATABASE `{}` CHARACTER SET latin1", db.name),
                None,
            ),
            MetastoreKind::Postgres => run_psql(
                "postgres",
                &["-c", &format!("CREATE DATABASE {}", db.name)],
                None,
            ),
        }
        db
    }

    /// Creates a database and loads the official schema `version` from `shared`.
    pub fn create(kind: MetastoreKind, version: &str, shared: &std::path::Path) -> TestDb {
        let mut db = TestDb::create_empty(kind, version);
        db.version = version.to_string();
        let dir = shared.join("fixtures/hive-metastore-schema").join(version);
        // The 1.x/2.x scripts SOURCE their txn schema relative to the client's directory.
        match kind {
            MetastoreKind::Mysql => {
                let script = dir.join(format!("hive-schema-{version}.mysql.sql"));
                run_mysql(
                    Some(&db.name),
                    &format!("SOURCE {}", script.file_name().unwrap().to_string_lossy()),
                    Some(&dir),
                );
            }
            MetastoreKind::Postgres => {
                let script = dir.join(format!("hive-schema-{version}.postgres.sql"));
                run_psql(
                    &db.name,
                    &["-q", "-f", &script.file_name().unwrap().to_string_lossy()],
                    Some(&dir),
                );
            }
        }
        db
    }

    pub fn url(&self) -> String {
        match self.kind {
            MetastoreKind::Mysql => format!("mysql://root@{MYSQL_HOST}:3306/{}", self.name),
            MetastoreKind::Postgres => {
                format!("postgresql://postgres@{PG_HOST}:5432/{}", self.name)
            }
        }
    }

    /// Runs statements through the command-line client (fast for bulk loads).
    pub fn execute(&self, statements: &[String]) {
        self.execute_with(statements, false)
    }

    /// Bulk loads for benchmarks: foreign-key and unique checks off for the session.
    pub fn execute_bulk(&self, statements: &[String]) {
        self.execute_with(statements, true)
    }

    fn execute_with(&self, statements: &[String], bulk: bool) {
        if statements.is_empty() {
            return;
        }
        let mut script = String::new();
        if bulk {
            script.push_str(match self.kind {
                MetastoreKind::Mysql => {
                    "SET foreign_key_checks=0; SET unique_checks=0; SET autocommit=0;\n"
                }
                MetastoreKind::Postgres => "SET session_replication_role = replica; BEGIN;\n",
            });
        }
        for s in statements {
            script.push_str(s);
            script.push_str(";\n");
        }
        if bulk {
            script.push_str("COMMIT;\n");
        }
        match self.kind {
            MetastoreKind::Mysql => pipe(
                Command::new("mysql").args(["-h", MYSQL_HOST, "-uroot", &self.name]),
                &script,
            ),
            MetastoreKind::Postgres => pipe(
                Command::new("psql").args([
                    "-h",
                    PG_HOST,
                    "-U",
                    "postgres",
                    "-d",
                    &self.name,
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                ]),
                &script,
            ),
        }
    }

    /// A read-only user of this database that logs in with `password` (what a production
    /// exporter uses); its URL has no password. The user is dropped with the returned value.
    pub fn reader(&self, password: &str) -> Reader {
        let user = format!("{}_reader", self.name);
        match self.kind {
            MetastoreKind::Mysql => run_mysql(
                None,
                &format!(
                    "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'; GRANT SELECT ON `{}`.* TO '{user}'@'%'",
                    self.name
                ),
                None,
            ),
            MetastoreKind::Postgres => {
                run_psql(
                    "postgres",
                    &["-c", &format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'")],
                    None,
                );
                self.execute(&[format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}")]);
            }
        }
        let url = match self.kind {
            MetastoreKind::Mysql => format!("mysql://{user}@{MYSQL_HOST}:3306/{}", self.name),
            MetastoreKind::Postgres => {
                format!("postgresql://{user}@{PG_HOST}:5432/{}", self.name)
            }
        };
        Reader {
            kind: self.kind,
            user,
            db: self.name.clone(),
            url,
        }
    }

    pub fn builder(&self) -> MetastoreBuilder {
        let has_catalogs = self.version.as_str() >= "3.0";
        MetastoreBuilder::new(self.kind, has_catalogs)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = match self.kind {
            MetastoreKind::Mysql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            MetastoreKind::Postgres => {
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
            }
        };
        let _ = match self.kind {
            MetastoreKind::Mysql => Command::new("mysql")
                .args(["-h", MYSQL_HOST, "-uroot", "-e", &sql])
                .output(),
            MetastoreKind::Postgres => Command::new("psql")
                .args([
                    "-h", PG_HOST, "-U", "postgres", "-d", "postgres", "-c", &sql,
                ])
                .output(),
        };
    }
}

fn run_mysql(db: Option<&str>, sql: &str, cwd: Option<&std::path::Path>) {
    let mut cmd = Command::new("mysql");
    cmd.args(["-h", MYSQL_HOST, "-uroot"]);
    if let Some(db) = db {
        cmd.arg(db);
    }
    cmd.args(["-e", sql]);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    check(cmd.output().expect("running the mysql client"), sql);
}

fn run_psql(db: &str, args: &[&str], cwd: Option<&std::path::Path>) {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-h",
        PG_HOST,
        "-U",
        "postgres",
        "-d",
        db,
        "-v",
        "ON_ERROR_STOP=1",
    ])
    .args(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    check(cmd.output().expect("running psql"), &args.join(" "));
}

fn pipe(cmd: &mut Command, input: &str) {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the database client");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("database client");
    writer
        .join()
        .unwrap()
        .expect("writing to the database client");
    check(out, "bulk statements");
}

fn check(out: std::process::Output, what: &str) {
    if !out.status.success() {
        panic!(
            "database client failed on {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

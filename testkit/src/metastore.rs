//! Real metastore databases for tests and benchmarks: a fresh database per test in the local
//! MariaDB or PostgreSQL, loaded with an official Hive schema script from `../shared/`, and a
//! builder that inserts rows the way Hive writes them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use smallfiles_cluster::config::MetastoreKind;

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

/// A table as the builder inserts it.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub table_type: String,
    pub owner: String,
    pub location: Option<String>,
    pub input_format: String,
    pub output_format: String,
    pub serde_lib: String,
    pub serde_params: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
    pub partition_keys: Vec<(String, String)>,
    pub num_buckets: i32,
    /// Data columns (name, type).
    pub columns: Vec<(String, String)>,
}

pub const TEXT_INPUT: &str = "org.apache.hadoop.mapred.TextInputFormat";
pub const TEXT_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
pub const LAZY_SIMPLE: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
pub const ORC_INPUT: &str = "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat";
pub const ORC_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat";
pub const ORC_SERDE: &str = "org.apache.hadoop.hive.ql.io.orc.OrcSerde";
pub const PARQUET_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const PARQUET_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

impl TableSpec {
    /// A managed text table, as `CREATE TABLE t (…)` makes it.
    pub fn text(name: &str, location: &str) -> TableSpec {
        TableSpec {
            name: name.into(),
            table_type: "MANAGED_TABLE".into(),
            owner: "hive".into(),
            location: Some(location.into()),
            input_format: TEXT_INPUT.into(),
            output_format: TEXT_OUTPUT.into(),
            serde_lib: LAZY_SIMPLE.into(),
            serde_params: vec![("serialization.format".into(), "1".into())],
            params: vec![("transient_lastDdlTime".into(), "1700000000".into())],
            partition_keys: vec![],
            num_buckets: -1,
            columns: vec![
                ("id".into(), "bigint".into()),
                ("amount".into(), "decimal(10,2)".into()),
            ],
        }
    }

    pub fn orc(name: &str, location: &str) -> TableSpec {
        TableSpec {
            input_format: ORC_INPUT.into(),
            output_format: ORC_OUTPUT.into(),
            serde_lib: ORC_SERDE.into(),
            ..TableSpec::text(name, location)
        }
    }

    pub fn parquet(name: &str, location: &str) -> TableSpec {
        TableSpec {
            input_format: PARQUET_INPUT.into(),
            output_format: PARQUET_OUTPUT.into(),
            serde_lib: PARQUET_SERDE.into(),
            ..TableSpec::text(name, location)
        }
    }

    pub fn view(name: &str) -> TableSpec {
        TableSpec {
            table_type: "VIRTUAL_VIEW".into(),
            location: None,
            input_format: String::new(),
            output_format: String::new(),
            ..TableSpec::text(name, "")
        }
    }

    pub fn partitioned_by(mut self, keys: &[(&str, &str)]) -> TableSpec {
        self.partition_keys = keys
            .iter()
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .collect();
        self
    }

    pub fn param(mut self, k: &str, v: &str) -> TableSpec {
        self.params.retain(|(pk, _)| pk != k);
        self.params.push((k.into(), v.into()));
        self
    }

    pub fn external(mut self) -> TableSpec {
        self.table_type = "EXTERNAL_TABLE".into();
        self.param("EXTERNAL", "TRUE")
    }
}

/// Collects rows and renders multi-row INSERT statements in foreign-key order.
pub struct MetastoreBuilder {
    kind: MetastoreKind,
    has_catalogs: bool,
    next_id: i64,
    rows: BTreeMap<usize, (String, Vec<String>)>,
    catalogs: Vec<String>,
}

/// Insert order that satisfies the schemas' foreign keys.
const ORDER: [(&str, &[&str]); 13] = [
    ("CTLGS", &["CTLG_ID", "NAME", "DESC", "LOCATION_URI"]),
    (
        "DBS",
        &[
            "DB_ID",
            "DESC",
            "DB_LOCATION_URI",
            "NAME",
            "OWNER_NAME",
            "OWNER_TYPE",
        ],
    ),
    ("SERDES", &["SERDE_ID", "NAME", "SLIB"]),
    ("SERDE_PARAMS", &["SERDE_ID", "PARAM_KEY", "PARAM_VALUE"]),
    ("CDS", &["CD_ID"]),
    (
        "COLUMNS_V2",
        &[
            "CD_ID",
            "COMMENT",
            "COLUMN_NAME",
            "TYPE_NAME",
            "INTEGER_IDX",
        ],
    ),
    (
        "SDS",
        &[
            "SD_ID",
            "CD_ID",
            "INPUT_FORMAT",
            "IS_COMPRESSED",
            "IS_STOREDASSUBDIRECTORIES",
            "LOCATION",
            "NUM_BUCKETS",
            "OUTPUT_FORMAT",
            "SERDE_ID",
        ],
    ),
    (
        "TBLS",
        &[
            "TBL_ID",
            "CREATE_TIME",
            "DB_ID",
            "LAST_ACCESS_TIME",
            "OWNER",
            "RETENTION",
            "SD_ID",
            "TBL_NAME",
            "TBL_TYPE",
            "VIEW_EXPANDED_TEXT",
            "VIEW_ORIGINAL_TEXT",
        ],
    ),
    ("TABLE_PARAMS", &["TBL_ID", "PARAM_KEY", "PARAM_VALUE"]),
    (
        "PARTITION_KEYS",
        &[
            "TBL_ID",
            "PKEY_COMMENT",
            "PKEY_NAME",
            "PKEY_TYPE",
            "INTEGER_IDX",
        ],
    ),
    (
        "PARTITIONS",
        &[
            "PART_ID",
            "CREATE_TIME",
            "LAST_ACCESS_TIME",
            "PART_NAME",
            "SD_ID",
            "TBL_ID",
        ],
    ),
    ("PARTITION_PARAMS", &["PART_ID", "PARAM_KEY", "PARAM_VALUE"]),
    (
        "PARTITION_KEY_VALS",
        &["PART_ID", "PART_KEY_VAL", "INTEGER_IDX"],
    ),
];

impl MetastoreBuilder {
    pub fn new(kind: MetastoreKind, has_catalogs: bool) -> MetastoreBuilder {
        MetastoreBuilder {
            kind,
            has_catalogs,
            next_id: 1000,
            rows: BTreeMap::new(),
            catalogs: vec!["hive".into()],
        }
    }

    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// A string literal; MySQL's default mode also treats backslash as an escape.
    pub fn lit(&self, s: &str) -> String {
        let s = s.replace('\'', "''");
        match self.kind {
            MetastoreKind::Mysql => format!("'{}'", s.replace('\\', "\\\\")),
            MetastoreKind::Postgres => format!("'{s}'"),
        }
    }

    fn opt(&self, s: Option<&str>) -> String {
        s.map(|s| self.lit(s)).unwrap_or_else(|| "NULL".into())
    }

    fn bool(&self, b: bool) -> &'static str {
        match (self.kind, b) {
            (MetastoreKind::Mysql, true) => "1",
            (MetastoreKind::Mysql, false) => "0",
            (MetastoreKind::Postgres, true) => "true",
            (MetastoreKind::Postgres, false) => "false",
        }
    }

    fn push(&mut self, table: &str, values: Vec<String>) {
        let idx = ORDER
            .iter()
            .position(|(t, _)| *t == table)
            .expect("known table");
        let entry = self
            .rows
            .entry(idx)
            .or_insert_with(|| (table.to_string(), Vec::new()));
        entry.1.push(format!("({})", values.join(", ")));
    }

    pub fn catalog(&mut self, name: &str, location: &str) {
        let id = self.id();
        let v = vec![
            id.to_string(),
            self.lit(name),
            self.lit("catalog"),
            self.lit(location),
        ];
        self.push("CTLGS", v);
        self.catalogs.push(name.into());
    }

    pub fn database(&mut self, name: &str, location: &str) -> i64 {
        self.database_in(None, name, location)
    }

    /// A database in a catalog (3.0+ schemas); `None` is the default catalog.
    pub fn database_in(&mut self, catalog: Option<&str>, name: &str, location: &str) -> i64 {
        let id = self.id();
        let mut v = vec![
            id.to_string(),
            "NULL".into(),
            self.lit(location),
            self.lit(name),
            self.lit("hive"),
            self.lit("USER"),
        ];
        if let (true, Some(c)) = (self.has_catalogs, catalog) {
            v.push(self.lit(c));
            self.push_with_catalog(v);
        } else {
            self.push("DBS", v);
        }
        id
    }

    fn push_with_catalog(&mut self, values: Vec<String>) {
        // DBS rows with an explicit catalog go into their own statement with CTLG_NAME.
        let entry = self
            .rows
            .entry(100)
            .or_insert_with(|| ("DBS_CTLG".to_string(), Vec::new()));
        entry.1.push(format!("({})", values.join(", ")));
    }

    /// A storage descriptor with its serde; the table's own carries serde parameters and
    /// columns, a partition's does not.
    fn storage(&mut self, spec: &TableSpec, location: Option<&str>, table_level: bool) -> i64 {
        let serde_id = self.id();
        let v = vec![
            serde_id.to_string(),
            "NULL".into(),
            self.lit(&spec.serde_lib),
        ];
        self.push("SERDES", v);
        let serde_params = if table_level {
            spec.serde_params.as_slice()
        } else {
            &[]
        };
        for (k, val) in serde_params {
            let v = vec![serde_id.to_string(), self.lit(k), self.lit(val)];
            self.push("SERDE_PARAMS", v);
        }
        let cd = self.id();
        self.push("CDS", vec![cd.to_string()]);
        let columns = if table_level {
            spec.columns.as_slice()
        } else {
            &[]
        };
        for (i, (name, ty)) in columns.iter().enumerate() {
            let v = vec![
                cd.to_string(),
                "NULL".into(),
                self.lit(name),
                self.lit(ty),
                i.to_string(),
            ];
            self.push("COLUMNS_V2", v);
        }
        let sd = self.id();
        let v = vec![
            sd.to_string(),
            cd.to_string(),
            self.opt(Some(spec.input_format.as_str()).filter(|s| !s.is_empty())),
            self.bool(false).into(),
            self.bool(false).into(),
            self.opt(location),
            spec.num_buckets.to_string(),
            self.opt(Some(spec.output_format.as_str()).filter(|s| !s.is_empty())),
            serde_id.to_string(),
        ];
        self.push("SDS", v);
        sd
    }

    pub fn table(&mut self, db_id: i64, spec: &TableSpec) -> i64 {
        let sd = self.storage(spec, spec.location.as_deref(), true);
        let id = self.id();
        let view_text = if spec.table_type.contains("VIEW") {
            self.lit("select 1")
        } else {
            "NULL".into()
        };
        let v = vec![
            id.to_string(),
            "1700000000".into(),
            db_id.to_string(),
            "0".into(),
            self.lit(&spec.owner),
            "0".into(),
            sd.to_string(),
            self.lit(&spec.name),
            self.lit(&spec.table_type),
            view_text.clone(),
            view_text,
        ];
        self.push("TBLS", v);
        for (k, val) in &spec.params {
            let v = vec![id.to_string(), self.lit(k), self.lit(val)];
            self.push("TABLE_PARAMS", v);
        }
        for (i, (k, t)) in spec.partition_keys.iter().enumerate() {
            let v = vec![
                id.to_string(),
                "NULL".into(),
                self.lit(k),
                self.lit(t),
                i.to_string(),
            ];
            self.push("PARTITION_KEYS", v);
        }
        id
    }

    /// A partition named `k=v/…` (values already path-escaped as Hive writes them), with its
    /// own storage descriptor like the table's.
    pub fn partition(
        &mut self,
        tbl_id: i64,
        spec: &TableSpec,
        name: &str,
        location: &str,
        params: &[(&str, &str)],
    ) -> i64 {
        let sd = self.storage(spec, Some(location), false);
        let id = self.id();
        let v = vec![
            id.to_string(),
            "1700000000".into(),
            "0".into(),
            self.lit(name),
            sd.to_string(),
            tbl_id.to_string(),
        ];
        self.push("PARTITIONS", v);
        for (k, val) in params {
            let v = vec![id.to_string(), self.lit(k), self.lit(val)];
            self.push("PARTITION_PARAMS", v);
        }
        for (i, kv) in name.split('/').enumerate() {
            let raw = kv.split_once('=').map(|(_, v)| v).unwrap_or("");
            let unescaped = percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned();
            let v = vec![id.to_string(), self.lit(&unescaped), i.to_string()];
            self.push("PARTITION_KEY_VALS", v);
        }
        id
    }

    /// The statements, in foreign-key order, at most `batch` rows each; the builder is emptied.
    pub fn take_statements(&mut self, batch: usize) -> Vec<String> {
        let q = |n: &str| match self.kind {
            MetastoreKind::Mysql => format!("`{n}`"),
            MetastoreKind::Postgres => format!("\"{n}\""),
        };
        let mut out = Vec::new();
        let rows = std::mem::take(&mut self.rows);
        let mut ordered: Vec<(usize, (String, Vec<String>))> = rows.into_iter().collect();
        // Databases with a catalog go right after the plain DBS rows.
        ordered.sort_by_key(|(i, _)| if *i == 100 { 1 } else { *i });
        for (idx, (table, values)) in ordered {
            let (name, cols): (&str, Vec<&str>) = if idx == 100 {
                let mut c = ORDER[1].1.to_vec();
                c.push("CTLG_NAME");
                ("DBS", c)
            } else {
                (ORDER[idx].0, ORDER[idx].1.to_vec())
            };
            debug_assert!(table == name || idx == 100);
            let col_list = cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            for chunk in values.chunks(batch.max(1)) {
                out.push(format!(
                    "INSERT INTO {} ({col_list}) VALUES {}",
                    q(name),
                    chunk.join(", ")
                ));
            }
        }
        out
    }
}

//! The fake world of the engine's tests: a HiveServer2 session whose statements act on a fake
//! catalog and on local directories, with faults to play (a statement that fails, a server
//! that vanishes mid-statement, a metastore that cannot be reached).

use crate::db::retired::Retired;
use crate::db::{new_task, Created, Store};
use crate::engine::hive::{ClusterEngine, HiveEngine};
use crate::engine::sql::{Connector, Opened, SqlError, SqlSession};
use crate::engine::{Engine, EngineOutcome, Recovery, RunContext};
use crate::model::{Strategy, Target, TaskState};
use crate::plan::Dialect;
use crate::validate::{Catalog, LookupError, Resolved};
use futures::future::BoxFuture;
use smallfiles_cluster::hdfs::{ClusterFs, LocalFs};
use smallfiles_cluster::hiveserver2::{Cell, ResultSet};
use smallfiles_cluster::metastore::{PartitionRecord, TableRecord};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the fake server and metastore hold, and the faults to play.
#[derive(Default)]
pub(super) struct World {
    /// partition name → location of `sales.orders`.
    pub(super) locations: HashMap<String, String>,
    /// Whether the staging table exists (and is external).
    pub(super) staging: bool,
    pub(super) statements: Vec<String>,
    /// Statement prefixes that fail.
    pub(super) fail: Vec<String>,
    /// The server refuses connections and statements.
    pub(super) down: bool,
    /// The server goes down once a statement with this prefix has run.
    pub(super) down_after: Option<String>,
    /// The server dies during a statement with this prefix (it does not run).
    pub(super) dies_during: Option<String>,
    /// Rows every fingerprint reads (50 when unset).
    pub(super) rows: Option<i64>,
    /// The metastore cannot be reached.
    pub(super) metastore_down: bool,
    /// The metastore goes away once a statement with this prefix has run.
    pub(super) metastore_down_after: Option<String>,
}

#[derive(Clone)]
pub(super) struct Fake(pub(super) Arc<Mutex<World>>);

pub(super) fn table(root: &str) -> TableRecord {
    TableRecord {
        id: 1,
        catalog: "hive".into(),
        database: "sales".into(),
        name: "orders".into(),
        table_type: "MANAGED_TABLE".into(),
        location: Some(format!("file:{root}/orders")),
        input_format: Some("org.apache.hadoop.mapred.TextInputFormat".into()),
        num_buckets: -1,
        partition_keys: vec![("dt".into(), "string".into())],
        columns: vec![("id".into(), "bigint".into())],
        ..Default::default()
    }
}

impl Catalog for Fake {
    fn resolve<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Resolved, LookupError>> {
        Box::pin(async move {
            let w = self.0.lock().unwrap();
            if w.metastore_down {
                return Err(LookupError::Unavailable(
                    "metastore: connection refused".into(),
                ));
            }
            let root = w.locations["root"].clone();
            let name = target.partition.clone().unwrap_or_default();
            let location = w.locations.get(&name).cloned();
            Ok(Resolved {
                table: table(&root),
                partitions: vec![PartitionRecord {
                    id: 1,
                    table_id: 1,
                    name,
                    location,
                    ..Default::default()
                }],
                one_partition: true,
            })
        })
    }

    fn table<'a>(
        &'a self,
        _cluster: &'a str,
        _database: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<TableRecord>, LookupError>> {
        Box::pin(async move {
            let w = self.0.lock().unwrap();
            if w.metastore_down {
                return Err(LookupError::Unavailable(
                    "metastore: connection refused".into(),
                ));
            }
            Ok(w.staging.then(|| TableRecord {
                name: name.to_string(),
                table_type: "EXTERNAL_TABLE".into(),
                ..Default::default()
            }))
        })
    }
}

pub(super) struct FakeSession(Fake);

pub(super) fn path(location: &str) -> std::path::PathBuf {
    location.trim_start_matches("file:").into()
}

impl SqlSession for FakeSession {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        _cancel: Option<CancellationToken>,
    ) -> BoxFuture<'a, Result<ResultSet, SqlError>> {
        Box::pin(async move {
            let mut w = self.0 .0.lock().unwrap();
            if w.down {
                return Err(SqlError::Unreachable(
                    "connection closed by the server".into(),
                ));
            }
            if w.dies_during.as_deref().is_some_and(|p| sql.starts_with(p)) {
                w.down = true;
                return Err(SqlError::Unreachable("connection reset by peer".into()));
            }
            w.statements.push(sql.to_string());
            if w.down_after.as_deref().is_some_and(|p| sql.starts_with(p)) {
                w.down = true;
            }
            if w.metastore_down_after
                .as_deref()
                .is_some_and(|p| sql.starts_with(p))
            {
                w.metastore_down = true;
            }
            if w.fail.iter().any(|p| sql.starts_with(p.as_str())) {
                return Err(SqlError::Failed(format!("FAILED: SemanticException {sql}")));
            }
            let quoted = |s: &str| s.split('\'').nth(1).map(str::to_string);
            if sql.starts_with("CREATE EXTERNAL TABLE") {
                w.staging = true;
            } else if sql.starts_with("DROP TABLE") {
                w.staging = false;
            } else if sql.starts_with("INSERT OVERWRITE TABLE") {
                let id = sql
                    .split("smallfiles_task_")
                    .nth(1)
                    .and_then(|r| r.split('_').next())
                    .unwrap();
                let part = path(&format!(
                    "{}/orders/_smallfiles/task-{id}/dt=2026-11-24",
                    w.locations["root"]
                ));
                std::fs::create_dir_all(&part).unwrap();
                std::fs::write(part.join("000000_0"), "merged").unwrap();
            } else if sql.contains("SET LOCATION") {
                let to = sql
                    .rsplit(" SET LOCATION ")
                    .next()
                    .and_then(quoted)
                    .unwrap();
                w.locations.insert("dt=2026-11-24".into(), to);
            } else if sql.starts_with("SELECT COUNT(*)") {
                return Ok(ResultSet {
                    columns: vec!["c".into(), "s".into()],
                    rows: vec![vec![Cell::Int(w.rows.unwrap_or(50)), Cell::Int(12345)]],
                });
            }
            Ok(ResultSet::default())
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

impl Connector for Fake {
    fn open(&self) -> BoxFuture<'_, Result<Opened, SqlError>> {
        Box::pin(async move {
            if self.0.lock().unwrap().down {
                return Err(SqlError::Unreachable("connection refused".into()));
            }
            Ok((
                Box::new(FakeSession(self.clone())) as Box<dyn SqlSession>,
                "Apache Hive".into(),
            ))
        })
    }
}

pub(super) struct Setup {
    pub(super) _dir: tempfile::TempDir,
    pub(super) fake: Fake,
    pub(super) store: Store,
    pub(super) engine: HiveEngine,
    pub(super) old: std::path::PathBuf,
}

pub(super) fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = Store::open(&dir.path().join("merger.redb")).unwrap();
    setup_at(dir, &root, store)
}

/// The fake world with its data under `root`, and an engine over `store`.
pub(super) fn setup_at(dir: tempfile::TempDir, root: &std::path::Path, store: Store) -> Setup {
    let old = root.join("orders/dt=2026-11-24");
    std::fs::create_dir_all(&old).unwrap();
    for i in 0..50 {
        std::fs::write(old.join(format!("part-{i:05}")), "x").unwrap();
    }
    let root = root.display().to_string();
    let fake = Fake(Arc::new(Mutex::new(World {
        locations: HashMap::from([
            ("root".to_string(), root.clone()),
            (
                "dt=2026-11-24".to_string(),
                format!("file:{}", old.display()),
            ),
        ]),
        ..Default::default()
    })));
    let config: smallfiles_cluster::config::ClusterConfig =
        serde_saphyr::from_str("name: prod\n").unwrap();
    let engine = HiveEngine {
        clusters: HashMap::from([(
            "prod".to_string(),
            ClusterEngine {
                config,
                hs2: Some(Arc::new(fake.clone())),
                impala: None,
                fs: ClusterFs {
                    webhdfs: None,
                    rpc: None,
                    local: LocalFs,
                },
                dialect: Some(Dialect::Hive),
                retention: Duration::from_secs(3600),
                compaction_poll: Duration::from_millis(10),
                selection: Default::default(),
            },
        )]),
        catalog: Arc::new(fake.clone()),
        retired: Retired::new(store.database()).unwrap(),
        hooks: Default::default(),
    };
    Setup {
        _dir: dir,
        fake,
        store,
        engine,
        old,
    }
}

pub(super) fn task(store: &Store) -> crate::model::Task {
    let mut t = new_task(
        Target {
            cluster: "prod".into(),
            database: "sales".into(),
            table: "orders".into(),
            partition: Some("dt=2026-11-24".into()),
        },
        Strategy::InsertOverwrite,
        Strategy::InsertOverwrite,
        false,
        "test",
    );
    t.state = TaskState::Running;
    match store.create(t, 0, 0).unwrap() {
        Created::New(t) => *t,
        other => panic!("{other:?}"),
    }
}

pub(super) async fn run(s: &Setup, t: &crate::model::Task) -> EngineOutcome {
    s.engine
        .run(
            t,
            RunContext {
                store: &s.store,
                cancel: CancellationToken::new(),
            },
        )
        .await
}

/// Runs the task and expects it interrupted (a step needed what could not be reached): why.
pub(super) async fn run_interrupted(s: &Setup, t: &crate::model::Task) -> String {
    let outcome = run(s, t).await;
    let EngineOutcome::Interrupted(why) = outcome else {
        panic!("{outcome:?}")
    };
    why
}

/// Recovery finds what it needs still unreachable and leaves the task for later.
pub(super) async fn assert_recovery_waits(s: &Setup, stored: &crate::model::Task) {
    let recovered = s.engine.recover(stored, &s.store).await;
    assert!(matches!(recovered, Recovery::Later(_)), "{recovered:?}");
}

pub(super) fn location(s: &Setup) -> String {
    s.fake.0.lock().unwrap().locations["dt=2026-11-24"].clone()
}

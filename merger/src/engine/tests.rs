//! The swap's failure paths in-process, in the Hive dialect: a fake HiveServer2 session whose
//! statements act on a fake catalog and on local directories, so that a switch can fail, the
//! server can vanish in the middle of a rollback, and recovery can find it unreachable. The
//! happy paths and crashes against a real server are in `tests/merge_spark.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use smallfiles_cluster::hdfs::{ClusterFs, LocalFs};
use smallfiles_cluster::hiveserver2::{Cell, ResultSet};
use smallfiles_cluster::metastore::{PartitionRecord, TableRecord};
use tokio_util::sync::CancellationToken;

use super::hive::{ClusterEngine, HiveEngine};
use super::sql::{Connector, Opened, SqlError, SqlSession};
use super::{Engine, EngineError, EngineOutcome, Recovery, RunContext};
use crate::db::retired::Retired;
use crate::db::{new_task, Created, Store};
use crate::model::{Strategy, SwapStage, Target, TaskState};
use crate::plan::Dialect;
use crate::validate::{Catalog, LookupError, Resolved};

/// What the fake server and metastore hold, and the faults to play.
#[derive(Default)]
struct World {
    /// partition name → location of `sales.orders`.
    locations: HashMap<String, String>,
    /// Whether the staging table exists (and is external).
    staging: bool,
    statements: Vec<String>,
    /// Statement prefixes that fail.
    fail: Vec<String>,
    /// The server refuses connections and statements.
    down: bool,
    /// The server goes down once a statement with this prefix has run.
    down_after: Option<String>,
    /// The server dies during a statement with this prefix (it does not run).
    dies_during: Option<String>,
    /// Rows every fingerprint reads (50 when unset).
    rows: Option<i64>,
    /// The metastore cannot be reached.
    metastore_down: bool,
    /// The metastore goes away once a statement with this prefix has run.
    metastore_down_after: Option<String>,
}

#[derive(Clone)]
struct Fake(Arc<Mutex<World>>);

fn table(root: &str) -> TableRecord {
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

struct FakeSession(Fake);

fn path(location: &str) -> std::path::PathBuf {
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

struct Setup {
    _dir: tempfile::TempDir,
    fake: Fake,
    store: Store,
    engine: HiveEngine,
    old: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = Store::open(&dir.path().join("merger.redb")).unwrap();
    setup_at(dir, &root, store)
}

/// The fake world with its data under `root`, and an engine over `store`.
fn setup_at(dir: tempfile::TempDir, root: &std::path::Path, store: Store) -> Setup {
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

fn task(store: &Store) -> crate::model::Task {
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

async fn run(s: &Setup, t: &crate::model::Task) -> EngineOutcome {
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

fn location(s: &Setup) -> String {
    s.fake.0.lock().unwrap().locations["dt=2026-11-24"].clone()
}

#[tokio::test]
async fn a_failed_switch_is_rolled_back() {
    let s = setup();
    // Only the switch to the new directory fails; switching back must work.
    let old_loc = location(&s);
    s.fake.0.lock().unwrap().fail = vec![format!(
        "ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION 'file:{}/orders/_smallfiles",
        s.old.parent().unwrap().parent().unwrap().display()
    )];
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::RolledBack(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("SemanticException"), "{reason}");
    assert!(reason.contains("kept its location"), "{reason}");
    assert_eq!(location(&s), old_loc);
    let stmts = s.fake.0.lock().unwrap().statements.clone();
    let back = format!(
        "ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION '{old_loc}'"
    );
    assert!(stmts.contains(&back), "switched back: {stmts:?}");
    assert!(stmts.iter().any(|x| x.starts_with("CREATE EXTERNAL TABLE")));
    assert!(stmts.contains(&"DROP TABLE IF EXISTS `sales`.`smallfiles_task_1_staging`".to_string()));
    assert!(!s.old.parent().unwrap().join("_smallfiles/task-1").exists());
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 50);
    let stored = s.store.get(t.id).unwrap();
    assert_eq!(stored.swap.unwrap().units[0].stage, SwapStage::RolledBack);
}

/// The guard that does not trust the SQL: a filter that selects nothing (as a partition value
/// rendered wrongly would) reads 0 rows from files that hold data; nothing is written or
/// switched.
#[tokio::test]
async fn data_files_that_read_as_no_rows_are_never_swapped() {
    let s = setup();
    let old_loc = location(&s);
    s.fake.0.lock().unwrap().rows = Some(0);
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::RolledBack(reason) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("refused"), "{reason}");
    assert!(
        reason.contains("50 bytes of data files but the table reads 0 rows"),
        "{reason}"
    );
    assert_eq!(location(&s), old_loc);
    let stmts = s.fake.0.lock().unwrap().statements.clone();
    assert!(!stmts.iter().any(|x| x.starts_with("INSERT")), "{stmts:?}");
    assert!(
        !stmts.iter().any(|x| x.contains("SET LOCATION")),
        "{stmts:?}"
    );
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 50);
}

#[tokio::test]
async fn a_rollback_cut_short_is_finished_by_recovery() {
    let s = setup();
    // The copy is verified, the switch happens, then the server vanishes before the check
    // that follows: the rollback that starts cannot switch back now.
    s.fake.0.lock().unwrap().down_after =
        Some("ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION".into());
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::Interrupted(why) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("retried by recovery"), "{why}");
    let switched = location(&s);
    assert!(switched.contains("_smallfiles/task-1"), "{switched}");
    let stage = s.store.get(t.id).unwrap().swap.unwrap().units[0].stage;
    assert_eq!(stage, SwapStage::Switched);

    // While the server is down, recovery waits.
    let stored = s.store.get(t.id).unwrap();
    assert!(matches!(
        s.engine.recover(&stored, &s.store).await,
        Recovery::Later(_)
    ));
    // Back up: the switched unit reads the same, the old directory is unchanged — finished.
    {
        let mut w = s.fake.0.lock().unwrap();
        w.down = false;
        w.down_after = None;
    }
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::Finished {
        reason,
        files_before,
        ..
    } = recovered
    else {
        panic!("{recovered:?}")
    };
    assert!(reason.contains("finished by recovery"), "{reason}");
    assert_eq!(files_before, Some(50));
    assert!(location(&s).contains("_smallfiles/task-1"));
    assert_eq!(
        s.engine.retired.all().unwrap().len(),
        1,
        "the old directory awaits removal"
    );
    assert!(!s.fake.0.lock().unwrap().staging, "staging table dropped");
}

#[tokio::test]
async fn a_rollback_whose_cleanup_was_cut_short_is_completed_by_recovery() {
    let s = setup();
    // The copy is written, then the server vanishes: the rollback removes the copy but cannot
    // drop the staging table.
    s.fake.0.lock().unwrap().down_after = Some("INSERT OVERWRITE TABLE".into());
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::Interrupted(why) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("the rollback could not finish"), "{why}");
    let stored = s.store.get(t.id).unwrap();
    let swap = stored.swap.clone().unwrap();
    assert_eq!(swap.units[0].stage, SwapStage::RolledBack);
    assert!(
        s.fake.0.lock().unwrap().staging,
        "the staging table is still there"
    );
    assert!(matches!(
        s.engine.recover(&stored, &s.store).await,
        Recovery::Later(_)
    ));
    s.fake.0.lock().unwrap().down = false;
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::RollBack(reason) = recovered else {
        panic!("{recovered:?}")
    };
    assert!(
        reason.contains("staging table and directory of the rolled-back copy were removed"),
        "{reason}"
    );
    assert!(
        !s.fake.0.lock().unwrap().staging,
        "the staging table is dropped"
    );
    assert!(!path(&swap.plan.staging_root).exists());
    assert_eq!(location(&s), format!("file:{}", s.old.display()));
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 50);
}

#[tokio::test]
async fn a_merge_is_not_done_while_the_metastore_cannot_say_its_staging_table_may_go() {
    let s = setup();
    // Switched and verified; then the metastore goes away before the staging table is
    // looked up for its drop.
    s.fake.0.lock().unwrap().metastore_down_after = Some("ALTER TABLE".into());
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::Interrupted(why) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        why.contains("switched but could not be finished") && why.contains("metastore"),
        "{why}"
    );
    assert!(s.fake.0.lock().unwrap().staging);
    assert!(
        s.engine.retired.all().unwrap().is_empty(),
        "nothing is retired before the merge is finished"
    );
    let stored = s.store.get(t.id).unwrap();
    assert!(matches!(
        s.engine.recover(&stored, &s.store).await,
        Recovery::Later(_)
    ));
    s.fake.0.lock().unwrap().metastore_down = false;
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::Finished { reason, .. } = recovered else {
        panic!("{recovered:?}")
    };
    assert!(reason.contains("finished by recovery"), "{reason}");
    assert!(
        !s.fake.0.lock().unwrap().staging,
        "the staging table is dropped"
    );
    assert!(location(&s).contains("_smallfiles/task-1"));
    assert_eq!(
        s.engine.retired.all().unwrap().len(),
        1,
        "the old directory is retired once"
    );
}

#[tokio::test]
async fn a_merge_is_not_done_while_hiveserver2_cannot_drop_its_staging_table() {
    let s = setup();
    // Switched and verified; HiveServer2 dies during the drop of the staging table.
    s.fake.0.lock().unwrap().dies_during = Some("DROP TABLE".into());
    let t = task(&s.store);
    let outcome = run(&s, &t).await;
    let EngineOutcome::Interrupted(why) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(why.contains("switched but could not be finished"), "{why}");
    assert!(
        s.fake.0.lock().unwrap().staging,
        "the staging table is still there"
    );
    let stored = s.store.get(t.id).unwrap();
    assert!(matches!(
        s.engine.recover(&stored, &s.store).await,
        Recovery::Later(_)
    ));
    {
        let mut w = s.fake.0.lock().unwrap();
        w.down = false;
        w.dies_during = None;
    }
    let recovered = s.engine.recover(&stored, &s.store).await;
    assert!(
        matches!(recovered, Recovery::Finished { .. }),
        "{recovered:?}"
    );
    assert!(
        !s.fake.0.lock().unwrap().staging,
        "the staging table is dropped"
    );
    assert!(location(&s).contains("_smallfiles/task-1"));
}

#[tokio::test]
async fn a_file_dropped_into_the_old_directory_before_recovery_rolls_back() {
    let s = setup();
    s.fake.0.lock().unwrap().down_after =
        Some("ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-24') SET LOCATION".into());
    let t = task(&s.store);
    assert!(matches!(run(&s, &t).await, EngineOutcome::Interrupted(_)));
    std::fs::write(s.old.join("late"), "late").unwrap();
    let old_loc = format!("file:{}", s.old.display());
    {
        let mut w = s.fake.0.lock().unwrap();
        w.down = false;
        w.down_after = None;
    }
    let stored = s.store.get(t.id).unwrap();
    let recovered = s.engine.recover(&stored, &s.store).await;
    let Recovery::RollBack(reason) = recovered else {
        panic!("{recovered:?}")
    };
    assert!(reason.contains("kept its location"), "{reason}");
    assert_eq!(location(&s), old_loc);
    assert!(!s
        .old
        .parent()
        .unwrap()
        .join("_smallfiles/task-1/dt=2026-11-24")
        .exists());
    assert_eq!(std::fs::read_dir(&s.old).unwrap().count(), 51);
}

#[tokio::test]
async fn a_finished_merge_is_rolled_back_by_hand_unless_written_to_since() {
    let s = setup();
    let old_loc = location(&s);
    let t = task(&s.store);
    assert!(matches!(run(&s, &t).await, EngineOutcome::Succeeded { .. }));
    let new_loc = location(&s);
    assert_ne!(new_loc, old_loc);
    let merged = path(&new_loc);

    // The table moved on (another merge or an operator pointed it elsewhere): refused.
    s.fake.0.lock().unwrap().locations.insert(
        "dt=2026-11-24".into(),
        "file:/elsewhere/dt=2026-11-24".into(),
    );
    let done = s.store.get(t.id).unwrap();
    let err = s.engine.revert(&done, &s.store).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Refused(why) if why.contains("elsewhere")),
        "{err}"
    );
    s.fake
        .0
        .lock()
        .unwrap()
        .locations
        .insert("dt=2026-11-24".into(), new_loc.clone());

    // The old directory is gone (removed by hand, or by the window): refused.
    let old_dir = path(&old_loc);
    let aside = old_dir.with_extension("aside");
    std::fs::rename(&old_dir, &aside).unwrap();
    let err = s.engine.revert(&done, &s.store).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Refused(why) if why.contains("cannot be read (removed after the rollback window?)")),
        "{err}"
    );
    assert_eq!(location(&s), new_loc);
    std::fs::rename(&aside, &old_dir).unwrap();

    // A file written into the merged copy since: refused, nothing changed.
    std::fs::write(merged.join("000001_0"), "appended").unwrap();
    let done = s.store.get(t.id).unwrap();
    let err = s.engine.revert(&done, &s.store).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Refused(why) if why.contains("written into the merged copy")),
        "{err}"
    );
    assert_eq!(location(&s), new_loc);
    std::fs::remove_file(merged.join("000001_0")).unwrap();

    let summary = s.engine.revert(&done, &s.store).await.unwrap();
    assert!(
        summary.contains("read their old directories again"),
        "{summary}"
    );
    assert_eq!(location(&s), old_loc);
    let retired = s.engine.retired.all().unwrap();
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(
        retired[0].1.location, new_loc,
        "the merged copy awaits removal, not the data"
    );
    let stage = s.store.get(t.id).unwrap().swap.unwrap().units[0].stage;
    assert_eq!(stage, SwapStage::RolledBack);
    // Rolled back already: nothing left.
    let again = s.store.get(t.id).unwrap();
    assert!(matches!(
        s.engine.revert(&again, &s.store).await,
        Err(EngineError::Refused(why)) if why.contains("no merged partition is left")
    ));
}

/// A store written by the release before schema versions (`tests/fixtures/store-v1.redb.gz`):
/// it opens (upgraded to the current schema), its tasks list with their states, the display
/// prefix of its Impala refresh is dropped as it is read, and its interrupted swap is settled
/// by recovery.
#[tokio::test]
async fn a_store_of_the_previous_release_opens_lists_and_recovers() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merger.redb");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&include_bytes!("../../tests/fixtures/store-v1.redb.gz")[..])
        .read_to_end(&mut bytes)
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let store = Store::open(&path).unwrap();
    let tasks = store.list(&Default::default()).unwrap();
    let states: Vec<(u64, TaskState)> = tasks.iter().map(|t| (t.id, t.state)).collect();
    assert_eq!(
        states,
        [
            (3, TaskState::Interrupted),
            (2, TaskState::Pending),
            (1, TaskState::Succeeded)
        ]
    );
    let counts = store.cluster_state_counts().unwrap();
    assert_eq!(counts.get(&("prod".into(), TaskState::Pending)), Some(&1));
    assert_eq!(
        counts.get(&("prod".into(), TaskState::Interrupted)),
        Some(&1)
    );
    assert_eq!(store.audit_entries(None, 10).unwrap().len(), 1);
    let interrupted = store.get(3).unwrap();
    let plan = &interrupted.swap.as_ref().unwrap().plan;
    assert_eq!(
        plan.units[0].refresh,
        "REFRESH `sales`.`orders` PARTITION (`dt`='2026-11-24')"
    );
    // The active index of that release still answers for its targets.
    let pending = store.get(2).unwrap();
    assert_eq!(store.active_overlapping(&pending.target).unwrap(), Some(2));
    drop(store);
    let store = Store::open(&path).unwrap();

    // The data the fixture's swap names, switched to the merged copy as its stage says.
    let root = std::path::PathBuf::from("/tmp/smallfiles-store-v1-fixture");
    let _ = std::fs::remove_dir_all(&root);
    let new_dir = root.join("orders/_smallfiles/task-3/dt=2026-11-24");
    std::fs::create_dir_all(&new_dir).unwrap();
    std::fs::write(new_dir.join("000000_0"), "merged").unwrap();
    let s = setup_at(dir, &root, store);
    s.fake.0.lock().unwrap().locations.insert(
        "dt=2026-11-24".into(),
        format!("file:{}", new_dir.display()),
    );
    let task = s.store.get(3).unwrap();
    let recovery = s.engine.recover(&task, &s.store).await;
    let _ = std::fs::remove_dir_all(&root);
    let Recovery::Finished { reason, .. } = recovery else {
        panic!("{recovery:?}")
    };
    assert!(reason.contains("finished"), "{reason}");
}

//! The engine that runs merges on the cluster's own engines through HiveServer2: the safe swap
//! (`swap.rs`), `CONCATENATE`, and ACID compaction followed through `SHOW COMPACTIONS`; Impala
//! `REFRESH` afterwards; removal of replaced directories after the rollback window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use smallfiles_cluster::config::{ClusterConfig, Defaults};
use smallfiles_cluster::hdfs::{ClusterFs, RequestCounters};

use super::select::choose_partitions;
use super::sql::{Connector, Hs2Connector, Journal, SqlSession};
use super::{DryPlan, Engine, EngineError, EngineOutcome, FailureReason, Recovery, RunContext};
use crate::db::retired::Retired;
use crate::db::Store;
use crate::model::{Strategy, Target, Task};
use crate::plan::select::SelectionRules;
use crate::plan::{statements, Dialect, PlanSettings};
use crate::validate::{Catalog, LookupError, Resolved};

/// One cluster as the engine sees it.
pub struct ClusterEngine {
    pub config: ClusterConfig,
    pub hs2: Option<Arc<dyn Connector>>,
    pub impala: Option<Arc<dyn Connector>>,
    pub fs: ClusterFs,
    /// `merge.dialect`; `None`: asked from the server.
    pub dialect: Option<Dialect>,
    pub retention: Duration,
    /// Between two looks at `SHOW COMPACTIONS`.
    pub compaction_poll: Duration,
    /// Which partitions a table-level task merges.
    pub selection: SelectionRules,
}

impl ClusterEngine {
    pub fn from_config(c: &ClusterConfig, defaults: &Defaults) -> crate::Result<ClusterEngine> {
        let connector = |ep: &smallfiles_cluster::config::Hs2EndpointConfig| {
            ep.client_config(Default::default(), c.kerberos.as_ref(), &c.name)
                .map(|config| Arc::new(Hs2Connector { config }) as Arc<dyn Connector>)
        };
        let merge = c.merge_settings();
        Ok(ClusterEngine {
            hs2: c.hiveserver2.as_ref().map(connector).transpose()?,
            impala: c.impala.as_ref().map(connector).transpose()?,
            fs: ClusterFs::for_cluster(
                c,
                &c.effective(defaults),
                Arc::new(RequestCounters::default()),
            )?,
            dialect: Dialect::configured(c),
            retention: merge.rollback_retention.0,
            compaction_poll: merge.compaction_poll_interval.0,
            selection: SelectionRules {
                small_file_threshold: c.effective(defaults).small_file_threshold,
                min_small_files: merge.min_small_files,
                min_partition_age: merge.min_partition_age.0,
                max_partitions: merge.max_partitions_per_task,
            },
            config: c.clone(),
        })
    }

    pub fn plan_settings(&self, dialect: Dialect) -> PlanSettings {
        PlanSettings::for_cluster(&self.config, dialect)
    }
}

/// What a task merges once the partitions are chosen.
pub enum Chosen {
    Units(Box<Resolved>),
    /// No partition needs a merge now (the reason says why each was left).
    Nothing(String),
}

pub struct HiveEngine {
    pub clusters: HashMap<String, ClusterEngine>,
    pub catalog: Arc<dyn Catalog>,
    pub retired: Retired,
    pub hooks: super::test_hooks::TestHooks,
}

/// What a directory holds: data files (not hidden) and their bytes, recursively, and a digest
/// of every file's path, length and modification time (a writer adding or replacing files
/// changes it).
#[derive(Debug, Clone, PartialEq)]
pub struct DirSummary {
    pub files: u64,
    pub bytes: u64,
    /// Files strictly below the threshold the summary was made with (empty files included).
    pub small_files: u64,
    /// The newest modification time of anything listed under the directory, hidden entries
    /// included (ms since the epoch).
    pub newest_change_ms: i64,
    pub digest: String,
}

pub async fn summarize(
    fs: &ClusterFs,
    location: &str,
) -> Result<DirSummary, smallfiles_cluster::Error> {
    summarize_with(fs, location, 0).await
}

/// [`summarize`], counting files below `small_file_threshold` as small.
pub async fn summarize_with(
    fs: &ClusterFs,
    location: &str,
    small_file_threshold: u64,
) -> Result<DirSummary, smallfiles_cluster::Error> {
    use sha2::Digest;
    let root = fs.location(location);
    let (mut files, mut bytes, mut small_files, mut newest) = (0u64, 0u64, 0u64, 0i64);
    let mut entries = Vec::new();
    smallfiles_cluster::hdfs::walk_data_files(
        fs,
        &root,
        |_, listing| {
            // Every entry counts for the time of the last change, hidden ones too: a job
            // writes into `.hive-staging_*` or `_temporary` before its files appear.
            for e in listing {
                newest = newest.max(e.modification_time);
            }
            Ok(())
        },
        |path, e| {
            files += 1;
            // A length no file can have must not wrap the sum.
            bytes = bytes.saturating_add(e.length);
            if e.length < small_file_threshold {
                small_files += 1;
            }
            entries.push(format!("{path}\t{}\t{}", e.length, e.modification_time));
        },
    )
    .await?;
    entries.sort();
    let mut h = sha2::Sha256::new();
    for e in &entries {
        h.update(e.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(DirSummary {
        files,
        bytes,
        small_files,
        newest_change_ms: newest,
        digest,
    })
}

/// Files (not hidden) and bytes under a directory, recursively.
pub async fn count_files(
    fs: &ClusterFs,
    location: &str,
) -> Result<(u64, u64), smallfiles_cluster::Error> {
    summarize(fs, location).await.map(|s| (s.files, s.bytes))
}

pub fn same_location(fs: &ClusterFs, a: &str, b: &str) -> bool {
    fs.location(a) == fs.location(b)
}

pub(super) fn lookup_error(e: LookupError) -> String {
    match e {
        LookupError::Rejected(r) | LookupError::Unavailable(r) => r,
    }
}

impl HiveEngine {
    pub fn new(
        clusters: &[ClusterConfig],
        defaults: &Defaults,
        catalog: Arc<dyn Catalog>,
        store: &Store,
    ) -> crate::Result<HiveEngine> {
        let mut map = HashMap::new();
        for c in clusters {
            map.insert(c.name.clone(), ClusterEngine::from_config(c, defaults)?);
        }
        Ok(HiveEngine {
            clusters: map,
            catalog,
            retired: Retired::new(store.database())?,
            hooks: super::test_hooks::TestHooks::from_env(),
        })
    }

    pub(super) fn cluster(&self, task: &Task) -> Result<&ClusterEngine, EngineError> {
        self.clusters.get(&task.target.cluster).ok_or_else(|| {
            EngineError::Config(format!("cluster {} is not configured", task.target.cluster))
        })
    }

    pub(super) async fn resolve(&self, target: &Target) -> Result<Resolved, EngineError> {
        self.catalog
            .resolve(target)
            .await
            .map_err(|e| EngineError::Metastore(lookup_error(e)))
    }

    /// The dry run's plan: the same choice of partitions a merge would make now, in the
    /// configured dialect (Hive unless `merge.dialect: spark`). Falls back to the statements
    /// recorded at submission, with a note, when the cluster cannot be listed or asked.
    pub async fn dry_run_plan(&self, task: &Task, store: &Store) -> DryPlan {
        let journal = Journal::new(store, task.id);
        let Ok(c) = self.cluster(task) else {
            return DryPlan::AsSubmitted;
        };
        let resolved = match self.units_to_merge(c, task, &journal).await {
            Ok(Chosen::Units(r)) => *r,
            Ok(Chosen::Nothing(why)) => return DryPlan::Nothing(why),
            Err(why) => {
                journal.note(format!(
                    "dry run: the partitions were not chosen ({why}); showing the statements planned at submission"
                ));
                return DryPlan::AsSubmitted;
            }
        };
        let settings = c.plan_settings(c.dialect.unwrap_or_default());
        match statements(
            task.id,
            &resolved.table,
            &resolved.partitions,
            task.resolved_strategy,
            &settings,
        ) {
            Ok(s) => {
                let _ = journal.record(|t| t.statements = s.clone());
                DryPlan::Statements(s)
            }
            Err(e) => {
                journal.note(format!(
                    "dry run: {e}; showing the statements planned at submission"
                ));
                DryPlan::AsSubmitted
            }
        }
    }

    /// What every merge starts with: its cluster, and the units to merge now — or the outcome
    /// that ends the task before anything runs (no such cluster, nothing to merge, the
    /// metastore or the file system unavailable).
    pub(super) async fn prepare(
        &self,
        task: &Task,
        journal: &Journal<'_>,
    ) -> Result<(&ClusterEngine, Resolved), EngineOutcome> {
        let c = self.cluster(task)?;
        match self.units_to_merge(c, task, journal).await? {
            Chosen::Units(r) => Ok((c, *r)),
            Chosen::Nothing(why) => Err(EngineOutcome::NothingToMerge(why)),
        }
    }

    /// The task's target as the metastore has it now, narrowed to the partitions worth
    /// merging (`engine/select.rs`); the choice is recorded on the task before anything runs.
    pub(super) async fn units_to_merge(
        &self,
        c: &ClusterEngine,
        task: &Task,
        journal: &Journal<'_>,
    ) -> Result<Chosen, EngineError> {
        let resolved = self.resolve(&task.target).await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let (resolved, selection) = choose_partitions(
            &c.fs,
            &c.selection,
            task.resolved_strategy,
            resolved,
            now_ms,
        )
        .await?;
        let Some(selection) = selection else {
            return Ok(Chosen::Units(Box::new(resolved)));
        };
        let summary = selection.summary();
        journal.record(|t| {
            t.step = Some("partitions chosen".into());
            t.selection = Some(selection);
        })?;
        journal.note(summary.clone());
        Ok(if resolved.partitions.is_empty() {
            Chosen::Nothing(format!("nothing to merge: {summary}"))
        } else {
            Chosen::Units(Box::new(resolved))
        })
    }

    /// Opens a session on the cluster's HiveServer2 and works out its dialect.
    pub(super) async fn session(
        &self,
        c: &ClusterEngine,
        journal: &Journal<'_>,
    ) -> Result<(Box<dyn SqlSession>, Dialect), EngineError> {
        let hs2 = c.hs2.as_ref().ok_or_else(|| {
            EngineError::Config(format!(
                "cluster {} has no hiveserver2 endpoint: merges run on the cluster's engines",
                c.config.name
            ))
        })?;
        let (session, server) = hs2.open().await?;
        let dialect = c
            .dialect
            .unwrap_or_else(|| Dialect::from_server_name(&server));
        journal.note(format!("connected to {server} ({dialect:?} dialect)"));
        Ok((session, dialect))
    }

    /// `REFRESH` on Impala; a failure is logged, not fatal: the merge itself is done.
    pub(super) async fn refresh(
        &self,
        c: &ClusterEngine,
        statements: &[String],
        journal: &Journal<'_>,
    ) {
        let Some(impala) = &c.impala else { return };
        match impala.open().await {
            Ok((mut s, _)) => {
                for sql in statements {
                    if journal.run(s.as_mut(), sql).await.is_err() {
                        journal.note(format!(
                            "warning: Impala did not refresh; run `{sql}` on Impala by hand"
                        ));
                    }
                }
                s.close().await;
            }
            Err(e) => journal.note(format!(
                "warning: Impala unreachable ({e}); run {} by hand",
                statements.join("; ")
            )),
        }
    }
}

impl Engine for HiveEngine {
    fn run<'a>(&'a self, task: &'a Task, ctx: RunContext<'a>) -> BoxFuture<'a, EngineOutcome> {
        Box::pin(async move {
            match task.resolved_strategy {
                Strategy::InsertOverwrite => self.swap(task, &ctx).await,
                s @ (Strategy::Concatenate | Strategy::Compact) => {
                    self.in_place(task, &ctx, s).await
                }
                Strategy::Auto => EngineOutcome::Failed {
                    category: FailureReason::Engine,
                    message: "the task has no resolved strategy".into(),
                },
            }
        })
    }

    fn recover<'a>(&'a self, task: &'a Task, store: &'a Store) -> BoxFuture<'a, Recovery> {
        Box::pin(async move {
            match task.resolved_strategy {
                Strategy::InsertOverwrite => self.recover_swap(task, store).await,
                Strategy::Concatenate => Recovery::Fail(format!(
                    "interrupted at {}: CONCATENATE runs inside Hive, which finishes or abandons it on its own; the data is intact; retry to merge again",
                    task.step.as_deref().unwrap_or("the start")
                )),
                _ => Recovery::Fail(format!(
                    "interrupted at {}: a requested compaction goes on in the metastore's compactor (see SHOW COMPACTIONS); retry to follow a new one",
                    task.step.as_deref().unwrap_or("the start")
                )),
            }
        })
    }
}

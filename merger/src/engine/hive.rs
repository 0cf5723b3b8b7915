//! The engine that runs merges on the cluster's own engines through HiveServer2: the safe swap
//! (`swap.rs`), `CONCATENATE`, and ACID compaction followed through `SHOW COMPACTIONS`; Impala
//! `REFRESH` afterwards; removal of replaced directories after the rollback window.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use smallfiles_cluster::config::{ClusterConfig, Defaults};
use smallfiles_cluster::hdfs::{ClusterFs, RequestCounters};
use smallfiles_cluster::hiveserver2::{Cell, ResultSet};

use super::select::choose_partitions;
use super::sql::{Connector, Hs2Connector, Journal, SqlSession};
use super::{DryPlan, Engine, EngineError, EngineOutcome, FailureReason, Recovery, RunContext};
use crate::db::retired::{Retired, RetiredDir};
use crate::db::Store;
use crate::model::{Strategy, Target, Task};
use crate::plan::select::SelectionRules;
use crate::plan::{in_place_plan, statements, Dialect, PlanSettings, SHOW_COMPACTIONS};
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
            ep.client_config(Default::default())
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

    /// Records a replaced directory for removal after the rollback window.
    pub(super) fn retire(
        &self,
        c: &ClusterEngine,
        task: &Task,
        partition: Option<&str>,
        location: &str,
        journal: &Journal<'_>,
    ) {
        let delete_after = chrono::Utc::now().timestamp() + c.retention.as_secs() as i64;
        let entry = RetiredDir {
            task: task.id,
            target: Target {
                partition: partition.map(str::to_string),
                ..task.target.clone()
            },
            location: location.to_string(),
            delete_after,
        };
        match self.retired.add(&entry) {
            Ok(_) => journal.note(format!(
                "kept the replaced directory {location} until {} (rollback window)",
                chrono::DateTime::from_timestamp(delete_after, 0)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default()
            )),
            Err(e) => journal.note(format!(
                "warning: the replaced directory {location} was not recorded for removal ({e}); remove it by hand"
            )),
        }
    }

    /// Removes replaced directories whose rollback window has passed, unless the table or
    /// partition points at them again (an operator rolled back by hand).
    pub async fn sweep_retired(&self, store: &Store) -> usize {
        if self.hooks.retired_held() {
            return 0;
        }
        let due = match self.retired.due(chrono::Utc::now().timestamp()) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reading retired directories");
                return 0;
            }
        };
        let mut removed = 0;
        for (id, dir) in due {
            let journal = Journal::new(store, dir.task);
            let Some(c) = self.clusters.get(&dir.target.cluster) else {
                continue;
            };
            let current = match self.catalog.resolve(&dir.target).await {
                Ok(r) => r.location().map(str::to_string),
                Err(LookupError::Rejected(_)) => None,
                Err(LookupError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "metastore unavailable; removal of retired directories postponed");
                    continue;
                }
            };
            if current
                .as_deref()
                .is_some_and(|cur| same_location(&c.fs, cur, &dir.location))
            {
                journal.note(format!(
                    "kept {}: the table uses it again (rolled back by hand?)",
                    dir.location
                ));
                let _ = self.retired.remove(id);
                continue;
            }
            match c.fs.delete_recursive(&c.fs.location(&dir.location)).await {
                Ok(_) => {
                    journal.note(format!(
                        "removed the replaced directory {} after the rollback window",
                        dir.location
                    ));
                    let _ = self.retired.remove(id);
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(task = dir.task, location = %dir.location, error = %e, "removing a retired directory failed; will retry")
                }
            }
        }
        removed
    }

    async fn concatenate(&self, task: &Task, ctx: &RunContext<'_>) -> EngineOutcome {
        let journal = Journal::new(ctx.store, task.id).with_cancel(ctx.cancel.clone());
        let (c, resolved) = match self.prepare(task, &journal).await {
            Ok(ready) => ready,
            Err(outcome) => return outcome,
        };
        let result = async {
            let (mut session, dialect) = self.session(c, &journal).await?;
            let plan = match in_place_plan(
                &resolved.table,
                &resolved.partitions,
                Strategy::Concatenate,
                &c.plan_settings(dialect),
            ) {
                Ok(p) => p,
                Err(e) => {
                    session.close().await;
                    return Err(e.to_string());
                }
            };
            journal.record(|t| t.statements = plan.display())?;
            let dirs = unit_locations(&resolved);
            let mut before = 0;
            for d in &dirs {
                before += count_files(&c.fs, d).await.map_err(|e| e.to_string())?.0;
            }
            for stmt in plan
                .setup
                .iter()
                .chain(plan.requests.iter().map(|r| &r.sql))
            {
                if ctx.cancel.is_cancelled() {
                    session.close().await;
                    return Ok(EngineOutcome::Cancelled);
                }
                journal.record(|t| t.step = Some(format!("running: {stmt}")))?;
                if let Err(e) = journal.run(session.as_mut(), stmt).await {
                    session.close().await;
                    return Err(e.into());
                }
            }
            session.close().await;
            let mut after = 0;
            for d in &dirs {
                after += count_files(&c.fs, d).await.map_err(|e| e.to_string())?.0;
            }
            self.refresh(c, &plan.impala_refresh, &journal).await;
            Ok(EngineOutcome::Succeeded {
                files_before: Some(before),
                files_after: Some(after),
                bytes_rewritten: None,
            })
        }
        .await;
        match result {
            Ok(outcome) => outcome,
            // CONCATENATE cut short: Hive abandons the job; the files stay as they were.
            Err(_) if journal.cancelled() => EngineOutcome::Cancelled,
            Err(message) => EngineOutcome::Failed {
                category: FailureReason::Engine,
                message,
            },
        }
    }

    async fn compact(&self, task: &Task, ctx: &RunContext<'_>) -> EngineOutcome {
        let journal = Journal::new(ctx.store, task.id).with_cancel(ctx.cancel.clone());
        let (c, resolved) = match self.prepare(task, &journal).await {
            Ok(ready) => ready,
            Err(outcome) => return outcome,
        };
        let result = async {
            let (mut session, dialect) = self.session(c, &journal).await?;
            let outcome = self
                .compact_in(ctx, c, &resolved, session.as_mut(), dialect, &journal)
                .await;
            session.close().await;
            outcome
        }
        .await;
        result.unwrap_or_else(|message| EngineOutcome::Failed {
            category: FailureReason::Engine,
            message,
        })
    }

    async fn compact_in(
        &self,
        ctx: &RunContext<'_>,
        c: &ClusterEngine,
        resolved: &Resolved,
        session: &mut dyn SqlSession,
        dialect: Dialect,
        journal: &Journal<'_>,
    ) -> Result<EngineOutcome, String> {
        let plan = in_place_plan(
            &resolved.table,
            &resolved.partitions,
            Strategy::Compact,
            &c.plan_settings(dialect),
        )
        .map_err(|e| e.to_string())?;
        journal.record(|t| t.statements = plan.display())?;
        let t = &resolved.table;
        let dirs = unit_locations(resolved);
        let mut before = 0;
        for d in &dirs {
            before += count_files(&c.fs, d).await.map_err(|e| e.to_string())?.0;
        }
        for stmt in &plan.setup {
            journal.run(session, stmt).await?;
        }
        // Earlier compactions of the same partition are not ours.
        let known = journal.run(session, SHOW_COMPACTIONS).await?;
        let known = compaction_ids(&known);
        for request in &plan.requests {
            journal.record(|t| t.step = Some(format!("running: {}", request.sql)))?;
            journal.run(session, &request.sql).await?;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
        loop {
            journal.record(|t| t.step = Some("following SHOW COMPACTIONS".into()))?;
            let rs = session
                .execute(SHOW_COMPACTIONS, None)
                .await
                .map_err(|e| format!("SHOW COMPACTIONS: {e}"))?;
            let mut pending = Vec::new();
            for u in plan.requests.iter().map(|r| r.partition.as_deref()) {
                match compaction_state(&rs, &t.database, &t.name, u, &known) {
                    Some(CompactionState::Done(_)) => {}
                    Some(CompactionState::Failed(s)) => {
                        return Ok(EngineOutcome::Failed {
                            category: FailureReason::Compaction,
                            message: format!(
                                "the compaction of {}{} ended {s:?} (see SHOW COMPACTIONS and the compactor's logs)",
                                t.name,
                                u.map(|p| format!(" {p}")).unwrap_or_default()
                            ),
                        })
                    }
                    Some(CompactionState::Running(s)) => pending.push(s),
                    None => pending.push("not listed yet".into()),
                }
            }
            if pending.is_empty() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "the compaction did not finish in 24 h (last states: {pending:?})"
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(c.compaction_poll) => {}
                _ = ctx.cancel.cancelled() => {
                    journal.note("cancelled; the compaction itself goes on in the metastore's compactor");
                    return Ok(EngineOutcome::Cancelled);
                }
            }
        }
        journal.note("compaction finished");
        let mut after = 0;
        for d in &dirs {
            after += count_files(&c.fs, d).await.map_err(|e| e.to_string())?.0;
        }
        self.refresh(c, &plan.impala_refresh, journal).await;
        Ok(EngineOutcome::Succeeded {
            files_before: Some(before),
            files_after: Some(after),
            bytes_rewritten: None,
        })
    }
}

/// The directories of the task's units.
pub(super) fn unit_locations(r: &Resolved) -> Vec<String> {
    if r.partitions.is_empty() {
        r.table
            .data_location()
            .map(str::to_string)
            .into_iter()
            .collect()
    } else {
        r.partitions
            .iter()
            .filter_map(|p| p.location.clone())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompactionState {
    Running(String),
    Done(String),
    Failed(String),
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.trim().to_string(),
        Cell::Int(n) => n.to_string(),
        Cell::Null => String::new(),
        other => format!("{other:?}"),
    }
}

/// Identifies compaction entries across Hive versions: the id column where there is one
/// (Hive 3+), otherwise the whole row (Hive 2 has no ids).
fn entry_key(rs: &ResultSet, row: &[Cell]) -> String {
    match column(rs, &["compactionid", "id"]) {
        Some(i) => text(&row[i]),
        None => row.iter().map(text).collect::<Vec<_>>().join("\u{1f}"),
    }
}

fn column(rs: &ResultSet, names: &[&str]) -> Option<usize> {
    rs.columns.iter().position(|c| {
        let c = c.rsplit('.').next().unwrap_or(c).to_ascii_lowercase();
        names.contains(&c.as_str())
    })
}

/// The entries of `SHOW COMPACTIONS` that existed before ours were requested.
pub fn compaction_ids(rs: &ResultSet) -> BTreeSet<String> {
    rs.rows.iter().map(|r| entry_key(rs, r)).collect()
}

/// The state of the compaction requested for one table or partition: the newest entry not in
/// `known`. Hive lists states as `initiated`, `working`, `ready for cleaning`, `cleaning`,
/// `succeeded`, `failed`, `did not initiate`, `refused`, `attempted`.
pub fn compaction_state(
    rs: &ResultSet,
    database: &str,
    table: &str,
    partition: Option<&str>,
    known: &BTreeSet<String>,
) -> Option<CompactionState> {
    let db = column(rs, &["dbname", "database"])?;
    let tb = column(rs, &["tabname", "table"])?;
    let pt = column(rs, &["partname", "partition"]);
    let st = column(rs, &["state"])?;
    let row = rs.rows.iter().rev().find(|r| {
        text(&r[db]).eq_ignore_ascii_case(database)
            && text(&r[tb]).eq_ignore_ascii_case(table)
            && match (pt, partition) {
                (Some(i), Some(p)) => text(&r[i]) == p,
                (Some(i), None) => matches!(text(&r[i]).as_str(), "" | "---" | "NULL"),
                (None, _) => true,
            }
            && !known.contains(&entry_key(rs, r))
    })?;
    let state = text(&row[st]).to_ascii_lowercase();
    Some(match state.as_str() {
        "ready for cleaning" | "cleaning" | "succeeded" => CompactionState::Done(state),
        "failed" | "did not initiate" | "refused" | "attempted" => CompactionState::Failed(state),
        _ => CompactionState::Running(state),
    })
}

impl Engine for HiveEngine {
    fn run<'a>(&'a self, task: &'a Task, ctx: RunContext<'a>) -> BoxFuture<'a, EngineOutcome> {
        Box::pin(async move {
            match task.resolved_strategy {
                Strategy::InsertOverwrite => self.swap(task, &ctx).await,
                Strategy::Concatenate => self.concatenate(task, &ctx).await,
                Strategy::Compact => self.compact(task, &ctx).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(columns: &[&str], rows: Vec<Vec<&str>>) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .into_iter()
                .map(|r| r.into_iter().map(|c| Cell::Text(c.into())).collect())
                .collect(),
        }
    }

    #[test]
    fn compaction_states_of_hive_3() {
        let cols = [
            "compactionid",
            "dbname",
            "tabname",
            "partname",
            "type",
            "state",
            "workerid",
            "starttime",
            "duration",
            "hadoopjobid",
        ];
        let before = rs(
            &cols,
            vec![vec![
                "1",
                "sales",
                "orders",
                "dt=1",
                "MAJOR",
                "succeeded",
                "---",
                "0",
                "5",
                "---",
            ]],
        );
        let known = compaction_ids(&before);
        // Only the old entry: ours is not listed yet.
        assert_eq!(
            compaction_state(&before, "sales", "orders", Some("dt=1"), &known),
            None
        );
        let mut now = before.clone();
        now.rows.extend(
            rs(
                &cols,
                vec![
                    vec![
                        "2", "sales", "orders", "dt=1", "MAJOR", "working", "w1", "0", "---",
                        "job_1",
                    ],
                    vec![
                        "3", "sales", "orders", "dt=2", "MAJOR", "failed", "w1", "0", "---",
                        "job_2",
                    ],
                    vec![
                        "4",
                        "sales",
                        "items",
                        "---",
                        "MAJOR",
                        "ready for cleaning",
                        "w1",
                        "0",
                        "9",
                        "job_3",
                    ],
                ],
            )
            .rows,
        );
        assert_eq!(
            compaction_state(&now, "sales", "orders", Some("dt=1"), &known),
            Some(CompactionState::Running("working".into()))
        );
        assert_eq!(
            compaction_state(&now, "SALES", "orders", Some("dt=2"), &known),
            Some(CompactionState::Failed("failed".into()))
        );
        assert_eq!(
            compaction_state(&now, "sales", "items", None, &known),
            Some(CompactionState::Done("ready for cleaning".into()))
        );
    }

    #[test]
    fn compaction_states_of_hive_2_without_ids() {
        let cols = [
            "dbname",
            "tabname",
            "partname",
            "type",
            "state",
            "workerid",
            "starttime",
        ];
        let before = rs(
            &cols,
            vec![vec!["d", "t", "p=1", "MAJOR", "succeeded", "w", "100"]],
        );
        let known = compaction_ids(&before);
        let mut now = before.clone();
        now.rows.push(
            rs(
                &cols,
                vec![vec!["d", "t", "p=1", "MAJOR", "initiated", "---", "0"]],
            )
            .rows
            .remove(0),
        );
        assert_eq!(
            compaction_state(&now, "d", "t", Some("p=1"), &known),
            Some(CompactionState::Running("initiated".into()))
        );
    }
}

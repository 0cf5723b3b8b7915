//! The merger's one redb file and every table in it: tasks, the active-task index, last
//! successes, the state indexes, alerts seen and the audit log (here), the notification outbox
//! (`outbox.rs`), the directories awaiting removal after a merge (`retired.rs`) and what ages
//! out (`retention.rs`). Its layout is versioned (`meta.schema_version`, [`SCHEMA_VERSION`])
//! and upgraded when it is opened.
//! Every change of a task is one committed write transaction, so a crash never loses or
//! duplicates a task.

mod group_commit;
pub mod outbox;
mod retention;
pub mod retired;
mod writes;

pub use group_commit::GroupCommit;
use writes::*;

use std::path::Path;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::error::{store_err, Error, Result};
use crate::model::{now_rfc3339, AuditEntry, LogLine, Target, Task, TaskState};

const TASKS: TableDefinition<u64, &[u8]> = TableDefinition::new("tasks");
/// Target key → id of its active (non-terminal) task.
const ACTIVE: TableDefinition<&str, u64> = TableDefinition::new("active");
/// Target key → unix seconds of its last successful merge (for the cooldown).
const LAST_SUCCESS: TableDefinition<&str, i64> = TableDefinition::new("last_success");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Target key → the last alert seen for it.
const ALERTS: TableDefinition<&str, &[u8]> = TableDefinition::new("alerts_seen");

/// The last alert seen for a target.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeenAlert {
    pub target: Target,
    pub status: String,
    pub summary: String,
    pub at_unix: i64,
}
/// (state, task id) of every task: the scheduler and the metrics read states without
/// decoding every task.
const BY_STATE: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_state");
/// (cluster, state, task id) of every task: per-cluster state gauges without decoding tasks.
/// Added in schema version 2.
const BY_CLUSTER_STATE: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("by_cluster_state");

/// The layout this build writes. Version 1 (no `schema_version` key): the first release.
/// Version 2: `by_cluster_state`. Opening an older store upgrades it in one transaction; a
/// newer one is refused (an older build must not write a layout it does not know).
pub const SCHEMA_VERSION: u64 = 2;

/// redb's page cache. Its default (1 GiB) lets the merger's memory follow the file as the
/// audit log and task history grow; what the service reads often (active tasks, indexes, the
/// newest tasks) is a few MiB.
const CACHE_BYTES: usize = 32 << 20;

pub struct Store {
    db: std::sync::Arc<Database>,
}

/// Writes the statements of a new task once its id is known.
pub type Plan = Box<dyn FnOnce(u64) -> Vec<String> + Send>;

/// What creating a task for a target found.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    New(Box<Task>),
    /// A task for the same target is still active.
    Duplicate(u64),
    /// The target was merged successfully this recently; no new task until then.
    Cooldown {
        until: i64,
    },
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    pub cluster: Option<String>,
    pub database: Option<String>,
    pub table: Option<String>,
    /// Tasks with ids below this (paging newest first).
    pub before: Option<u64>,
    pub limit: usize,
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(store_err)
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(store_err)
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Store(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| Error::Store(format!("{}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(store_err)?;
        {
            tx.open_table(TASKS).map_err(store_err)?;
            tx.open_table(ACTIVE).map_err(store_err)?;
            tx.open_table(LAST_SUCCESS).map_err(store_err)?;
            tx.open_table(AUDIT).map_err(store_err)?;
            tx.open_table(META).map_err(store_err)?;
            tx.open_table(BY_STATE).map_err(store_err)?;
            tx.open_table(BY_CLUSTER_STATE).map_err(store_err)?;
            upgrade(&tx, path)?;
        }
        tx.commit().map_err(store_err)?;
        Ok(Store {
            db: std::sync::Arc::new(db),
        })
    }

    /// Creates a task unless its target has an active task or is cooling down; one write
    /// transaction, so concurrent identical requests yield exactly one task.
    pub fn create(&self, task: Task, cooldown_secs: i64, now_unix: i64) -> Result<Created> {
        let tx = self.db.begin_write().map_err(store_err)?;
        let created = create_in(&mut Writes::open(&tx)?, task, cooldown_secs, now_unix, None)?;
        tx.commit().map_err(store_err)?;
        Ok(created)
    }

    pub fn get(&self, id: u64) -> Result<Task> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(TASKS).map_err(store_err)?;
        let v = t.get(id).map_err(store_err)?.ok_or(Error::NotFound(id))?;
        decode(v.value())
    }

    /// Applies `f` to a task and commits it. Leaving the active states frees the target;
    /// succeeding starts its cooldown. `f` records progress (steps, statements, the swap, the
    /// log); a change of state goes through [`Store::apply`].
    pub fn update(&self, id: u64, f: impl FnOnce(&mut Task) -> Result<()>) -> Result<Task> {
        let tx = self.db.begin_write().map_err(store_err)?;
        let task = update_in(&mut Writes::open(&tx)?, id, f)?;
        tx.commit().map_err(store_err)?;
        Ok(task)
    }

    /// Commits one change of a task's life (`lifecycle.rs` decides whether it may happen);
    /// a refused change is an [`Error::Conflict`] and writes nothing.
    pub fn apply(&self, id: u64, event: crate::lifecycle::Event) -> Result<Task> {
        self.update(id, |t| apply_event(t, event))
    }

    pub fn log(&self, id: u64, message: &str) -> Result<Task> {
        self.update(id, |t| {
            t.log.push(LogLine {
                at: now_rfc3339(),
                message: message.to_string(),
            });
            Ok(())
        })
    }

    pub fn list(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(TASKS).map_err(store_err)?;
        let upper = filter.before.unwrap_or(u64::MAX);
        let limit = if filter.limit == 0 { 100 } else { filter.limit };
        let mut out = Vec::new();
        for row in t.range(..upper).map_err(store_err)?.rev() {
            let (_, v) = row.map_err(store_err)?;
            let task: Task = decode(v.value())?;
            let keep = filter.state.is_none_or(|s| task.state == s)
                && filter
                    .cluster
                    .as_deref()
                    .is_none_or(|c| task.target.cluster == c)
                && filter
                    .database
                    .as_deref()
                    .is_none_or(|d| task.target.database.eq_ignore_ascii_case(d))
                && filter
                    .table
                    .as_deref()
                    .is_none_or(|x| task.target.table.eq_ignore_ascii_case(x));
            if keep {
                out.push(task);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Every task in one of `states`, oldest first.
    pub fn in_states(&self, states: &[TaskState]) -> Result<Vec<Task>> {
        self.ids_in_states(states)?
            .into_iter()
            .map(|id| self.get(id))
            .collect()
    }

    /// The ids of the tasks in `states`, in order, read from the index alone.
    pub fn ids_in_states(&self, states: &[TaskState]) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        {
            let tx = self.db.begin_read().map_err(store_err)?;
            let idx = tx.open_table(BY_STATE).map_err(store_err)?;
            for st in states {
                for row in idx
                    .range((st.as_str(), 0)..=(st.as_str(), u64::MAX))
                    .map_err(store_err)?
                {
                    ids.push(row.map_err(store_err)?.0.value().1);
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// How many tasks are in each state.
    pub fn state_counts(&self) -> Result<Vec<(TaskState, u64)>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let idx = tx.open_table(BY_STATE).map_err(store_err)?;
        let mut out = Vec::new();
        for st in crate::model::ALL_STATES {
            let n = idx
                .range((st.as_str(), 0)..=(st.as_str(), u64::MAX))
                .map_err(store_err)?
                .count() as u64;
            out.push((st, n));
        }
        Ok(out)
    }

    /// Tasks per (cluster, state).
    pub fn cluster_state_counts(
        &self,
    ) -> Result<std::collections::BTreeMap<(String, TaskState), u64>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let idx = tx.open_table(BY_CLUSTER_STATE).map_err(store_err)?;
        let mut out = std::collections::BTreeMap::new();
        for row in idx.iter().map_err(store_err)? {
            let (k, _) = row.map_err(store_err)?;
            let (cluster, state, _) = k.value();
            if let Some(state) = TaskState::parse(state) {
                *out.entry((cluster.to_string(), state)).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    pub fn count(&self) -> Result<u64> {
        let tx = self.db.begin_read().map_err(store_err)?;
        tx.open_table(TASKS)
            .map_err(store_err)?
            .len()
            .map_err(store_err)
    }

    pub fn audit(&self, entry: AuditEntry) -> Result<u64> {
        let tx = self.db.begin_write().map_err(store_err)?;
        let id = audit_in(&mut Writes::open(&tx)?, entry)?;
        tx.commit().map_err(store_err)?;
        Ok(id)
    }

    /// Newest first; entries with ids below `before`.
    pub fn audit_entries(&self, before: Option<u64>, limit: usize) -> Result<Vec<AuditEntry>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(AUDIT).map_err(store_err)?;
        let mut out = Vec::new();
        for row in t
            .range(..before.unwrap_or(u64::MAX))
            .map_err(store_err)?
            .rev()
        {
            let (_, v) = row.map_err(store_err)?;
            out.push(decode(v.value())?);
            if out.len() >= limit.max(1) {
                break;
            }
        }
        Ok(out)
    }

    /// Target keys with an active task, for consistency checks.
    pub fn active_keys(&self) -> Result<Vec<(String, u64)>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(ACTIVE).map_err(store_err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(store_err)? {
            let (k, v) = row.map_err(store_err)?;
            out.push((k.value().to_string(), v.value()));
        }
        Ok(out)
    }
}

/// Brings a store written by an earlier release to [`SCHEMA_VERSION`], inside the opening
/// transaction (a crash midway leaves the old layout, upgraded again at the next start).
fn upgrade(tx: &redb::WriteTransaction, path: &Path) -> Result<()> {
    let mut meta = tx.open_table(META).map_err(store_err)?;
    let found = meta
        .get("schema_version")
        .map_err(store_err)?
        .map(|v| v.value())
        .unwrap_or(1);
    if found > SCHEMA_VERSION {
        return Err(Error::Store(format!(
            "{} has schema version {found}; this build knows {SCHEMA_VERSION}: run the newer release",
            path.display()
        )));
    }
    if found < 2 {
        let tasks = tx.open_table(TASKS).map_err(store_err)?;
        let mut by_cluster = tx.open_table(BY_CLUSTER_STATE).map_err(store_err)?;
        for row in tasks.iter().map_err(store_err)? {
            let (id, bytes) = row.map_err(store_err)?;
            let task: Task = decode(bytes.value())?;
            by_cluster
                .insert(
                    (
                        task.target.cluster.as_str(),
                        task.state.as_str(),
                        id.value(),
                    ),
                    (),
                )
                .map_err(store_err)?;
        }
    }
    if found != SCHEMA_VERSION {
        tracing::info!(from = found, to = SCHEMA_VERSION, "task store upgraded");
        meta.insert("schema_version", SCHEMA_VERSION)
            .map_err(store_err)?;
    }
    Ok(())
}

/// A new task in `pending`.
pub fn new_task(
    target: Target,
    strategy: crate::model::Strategy,
    resolved: crate::model::Strategy,
    dry_run: bool,
    requested_by: &str,
) -> Task {
    let now = now_rfc3339();
    Task {
        id: 0,
        target,
        strategy,
        resolved_strategy: resolved,
        dry_run,
        state: TaskState::Pending,
        created_at: now.clone(),
        updated_at: now.clone(),
        requested_by: requested_by.to_string(),
        alert_fingerprint: None,
        retry_of: None,
        retried_by: None,
        reason: None,
        step: None,
        statements: Vec::new(),
        files_before: None,
        files_after: None,
        bytes_rewritten: None,
        duration_seconds: None,
        log: vec![LogLine {
            at: now,
            message: format!("created by {requested_by}"),
        }],
        swap: None,
        selection: None,
    }
}

#[cfg(test)]
mod tests;

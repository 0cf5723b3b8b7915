//! Merge engines behind one trait. The dry-run engine records the exact statements a merge
//! would run, in order, and runs none of them; [`hive::HiveEngine`] runs them through
//! HiveServer2 (Hive or Spark's Thrift Server), with Impala `REFRESH` afterwards.

pub mod hive;
mod in_place;
pub mod probe;
mod retire;
pub mod select;
pub mod sql;
mod swap;
pub mod test_hooks;
#[cfg(test)]
mod tests;

use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::db::Store;
use crate::model::Task;

pub struct RunContext<'a> {
    pub store: &'a Store,
    pub cancel: CancellationToken,
}

/// Why a task failed: the `reason` label of `smallfiles_merge_failures_total`. Every value is
/// declared at 0 from the start, so an alert on `increase()` sees the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    Config,
    Metastore,
    Hdfs,
    HiveServer2,
    Plan,
    Store,
    Engine,
    Compaction,
    RolledBack,
    Interrupted,
}

impl FailureReason {
    pub const ALL: [FailureReason; 10] = [
        FailureReason::Config,
        FailureReason::Metastore,
        FailureReason::Hdfs,
        FailureReason::HiveServer2,
        FailureReason::Plan,
        FailureReason::Store,
        FailureReason::Engine,
        FailureReason::Compaction,
        FailureReason::RolledBack,
        FailureReason::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Config => "config",
            FailureReason::Metastore => "metastore",
            FailureReason::Hdfs => "hdfs",
            FailureReason::HiveServer2 => "hiveserver2",
            FailureReason::Plan => "plan",
            FailureReason::Store => "store",
            FailureReason::Engine => "engine",
            FailureReason::Compaction => "compaction",
            FailureReason::RolledBack => "rolled_back",
            FailureReason::Interrupted => "interrupted",
        }
    }
}

/// Why an engine step could not go on, typed by where it failed; [`EngineError::reason`] is
/// the failure's `reason` label.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The cluster or its endpoints are not configured for this.
    #[error("{0}")]
    Config(String),
    /// The metastore could not be asked, or the target is gone from it.
    #[error("{0}")]
    Metastore(String),
    /// The file system could not be listed.
    #[error("{0}")]
    Hdfs(String),
    #[error("HiveServer2: {0}")]
    Sql(#[from] sql::SqlError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// The task store could not record a step: going on would leave recovery blind.
    #[error("{0}")]
    Store(String),
    /// The step was refused before it changed anything: the cluster is not as the step needs
    /// it (a table moved on, files changed, a directory is gone).
    #[error("{0}")]
    Refused(String),
    /// The task holds no record of a safe swap to finish, roll back or revert.
    #[error("the task has no record of a safe swap: only insert_overwrite merges are rolled back")]
    NoSwapRecord,
    /// A rollback by hand stopped after some units were switched back.
    #[error("switching back failed after rolling back {}: {source}", .done.join(", "))]
    PartlyReverted {
        done: Vec<String>,
        source: sql::SqlError,
    },
}

impl EngineError {
    pub fn reason(&self) -> FailureReason {
        match self {
            EngineError::Config(_) => FailureReason::Config,
            EngineError::Metastore(_) => FailureReason::Metastore,
            EngineError::Hdfs(_) => FailureReason::Hdfs,
            EngineError::Sql(_) => FailureReason::HiveServer2,
            EngineError::Plan(_) => FailureReason::Plan,
            EngineError::Store(_) | EngineError::NoSwapRecord => FailureReason::Store,
            EngineError::Refused(_) => FailureReason::Plan,
            EngineError::PartlyReverted { .. } => FailureReason::HiveServer2,
        }
    }
}

impl From<EngineError> for EngineOutcome {
    fn from(e: EngineError) -> EngineOutcome {
        EngineOutcome::Failed {
            category: e.reason(),
            message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineOutcome {
    Succeeded {
        files_before: Option<u64>,
        files_after: Option<u64>,
        bytes_rewritten: Option<u64>,
    },
    Failed {
        category: FailureReason,
        message: String,
    },
    RolledBack(String),
    /// A table-level task found no partition that needs a merge now; the reason says why.
    NothingToMerge(String),
    Cancelled,
    /// A rollback could not finish (the server went away): the task stays `interrupted` and
    /// recovery tries again.
    Interrupted(String),
}

/// What became of a task found interrupted (by a crash, or by a rollback that could not finish).
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    Fail(String),
    RollBack(String),
    /// The merge had reached the switch: it was finished.
    Finished {
        reason: String,
        files_before: Option<u64>,
        files_after: Option<u64>,
        bytes_rewritten: Option<u64>,
    },
    /// The cluster could not be asked; try again later.
    Later(String),
}

/// What the dry run shows.
pub enum DryPlan {
    /// The statements a merge would run now, partitions chosen from a listing.
    Statements(Vec<String>),
    Nothing(String),
    /// The statements recorded when the task was created.
    AsSubmitted,
}

pub trait Engine: Send + Sync {
    fn run<'a>(&'a self, task: &'a Task, ctx: RunContext<'a>) -> BoxFuture<'a, EngineOutcome>;
    /// Decides the fate of a task interrupted at its recorded step: finish it or roll it back,
    /// never run it again silently.
    fn recover<'a>(&'a self, task: &'a Task, store: &'a Store) -> BoxFuture<'a, Recovery>;
}

pub struct DryRunEngine {
    pub statement_delay: Duration,
    /// Chooses the partitions as a real merge would (listing them); without it, or when the
    /// file system cannot be listed, the statements planned at submission are shown.
    pub planner: Option<std::sync::Arc<hive::HiveEngine>>,
}

impl Engine for DryRunEngine {
    fn run<'a>(&'a self, task: &'a Task, ctx: RunContext<'a>) -> BoxFuture<'a, EngineOutcome> {
        Box::pin(async move {
            let mut statements = task.statements.clone();
            if let Some(planner) = &self.planner {
                match planner.dry_run_plan(task, ctx.store).await {
                    DryPlan::Statements(s) => statements = s,
                    DryPlan::Nothing(why) => return EngineOutcome::NothingToMerge(why),
                    DryPlan::AsSubmitted => {}
                }
            }
            for (i, stmt) in statements.iter().enumerate() {
                let step = format!("statement {}/{}", i + 1, statements.len());
                let recorded = ctx.store.update(task.id, |t| {
                    t.step = Some(step.clone());
                    t.log.push(crate::model::LogLine {
                        at: crate::model::now_rfc3339(),
                        message: format!("dry run, not executed: {stmt}"),
                    });
                    Ok(())
                });
                if let Err(e) = recorded {
                    return EngineOutcome::Failed {
                        category: FailureReason::Store,
                        message: e.to_string(),
                    };
                }
                if !self.statement_delay.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(self.statement_delay) => {}
                        _ = ctx.cancel.cancelled() => return EngineOutcome::Cancelled,
                    }
                } else if ctx.cancel.is_cancelled() {
                    return EngineOutcome::Cancelled;
                }
            }
            EngineOutcome::Succeeded {
                files_before: None,
                files_after: None,
                bytes_rewritten: Some(0),
            }
        })
    }

    fn recover<'a>(&'a self, task: &'a Task, _store: &'a Store) -> BoxFuture<'a, Recovery> {
        Box::pin(async move {
            Recovery::Fail(format!(
                "interrupted at {} of a dry run; nothing was executed on the cluster; retry to plan it again",
                task.step.as_deref().unwrap_or("the start")
            ))
        })
    }
}

//! Merge engines behind one trait. This build has the dry-run engine, which records the exact
//! statements a merge would run, in order, and runs none of them; engines that run statements
//! through HiveServer2/Impala plug in here.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::model::Task;
use crate::store::Store;

pub struct RunContext<'a> {
    pub store: &'a Store,
    pub cancel: CancellationToken,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineOutcome {
    Succeeded {
        files_before: Option<u64>,
        files_after: Option<u64>,
        bytes_rewritten: Option<u64>,
    },
    /// `category` is the `reason` label of `smallfiles_merge_failures_total`.
    Failed {
        category: &'static str,
        message: String,
    },
    RolledBack(String),
    Cancelled,
}

/// What to do with a task found running after a crash.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    Fail(String),
    RollBack(String),
}

pub trait Engine: Send + Sync {
    fn run<'a>(&'a self, task: &'a Task, ctx: RunContext<'a>) -> BoxFuture<'a, EngineOutcome>;
    /// Decides the fate of a task interrupted at its recorded step; never re-runs it silently.
    fn recover(&self, task: &Task) -> Recovery;
}

pub struct DryRunEngine {
    pub statement_delay: Duration,
}

impl Engine for DryRunEngine {
    fn run<'a>(&'a self, task: &'a Task, ctx: RunContext<'a>) -> BoxFuture<'a, EngineOutcome> {
        Box::pin(async move {
            for (i, stmt) in task.statements.iter().enumerate() {
                let step = format!("statement {}/{}", i + 1, task.statements.len());
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
                        category: "store",
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

    fn recover(&self, task: &Task) -> Recovery {
        Recovery::Fail(format!(
            "interrupted at {} of a dry run; nothing was executed on the cluster; retry to plan it again",
            task.step.as_deref().unwrap_or("the start")
        ))
    }
}

/// Stands in for the HiveServer2 engines until they are built: a task that is not a dry run
/// fails with the reason, having changed nothing.
pub struct NoClusterEngine;

impl Engine for NoClusterEngine {
    fn run<'a>(&'a self, _task: &'a Task, _ctx: RunContext<'a>) -> BoxFuture<'a, EngineOutcome> {
        Box::pin(async {
            EngineOutcome::Failed {
                category: "engine_unavailable",
                message: "this build has no HiveServer2 engine: only dry runs can be executed; nothing was changed".into(),
            }
        })
    }

    fn recover(&self, _task: &Task) -> Recovery {
        Recovery::Fail("interrupted; this build executes nothing on the cluster".into())
    }
}

//! Merges the cluster's own engine does in place: `CONCATENATE` per partition (Hive) and ACID
//! compaction requested with `ALTER TABLE … COMPACT 'major'` and followed through
//! `SHOW COMPACTIONS` until it ends; Impala is refreshed afterwards.

use std::collections::BTreeSet;
use std::time::Duration;

use smallfiles_cluster::hiveserver2::{Cell, ResultSet};

use super::hive::*;
use super::sql::{Journal, SqlSession};
use super::{EngineError, EngineOutcome, FailureReason, RunContext};
use crate::model::{Strategy, Task};
use crate::plan::{in_place_plan, unit_location, units_of, Dialect, InPlacePlan, SHOW_COMPACTIONS};
use crate::validate::Resolved;

impl HiveEngine {
    /// CONCATENATE or compaction of the task's units.
    pub(super) async fn in_place(
        &self,
        task: &Task,
        ctx: &RunContext<'_>,
        strategy: Strategy,
    ) -> EngineOutcome {
        let journal = Journal::new(ctx.store, task.id).with_cancel(ctx.cancel.clone());
        let (c, resolved) = match self.prepare(task, &journal).await {
            Ok(ready) => ready,
            Err(outcome) => return outcome,
        };
        let result = async {
            let (mut session, dialect) = self.session(c, &journal).await?;
            let outcome = self
                .in_place_in(
                    ctx,
                    c,
                    &resolved,
                    session.as_mut(),
                    dialect,
                    strategy,
                    &journal,
                )
                .await;
            session.close().await;
            outcome
        }
        .await;
        match result {
            Ok(outcome) => outcome,
            // A statement cut short by the cancel: Hive abandons a CONCATENATE (the files stay
            // as they were); a requested compaction goes on in the compactor.
            Err(_) if journal.cancelled() => EngineOutcome::Cancelled,
            Err(e) => e.into(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn in_place_in(
        &self,
        ctx: &RunContext<'_>,
        c: &ClusterEngine,
        resolved: &Resolved,
        session: &mut dyn SqlSession,
        dialect: Dialect,
        strategy: Strategy,
        journal: &Journal<'_>,
    ) -> Result<EngineOutcome, EngineError> {
        let plan = in_place_plan(
            &resolved.table,
            &resolved.partitions,
            strategy,
            &c.plan_settings(dialect),
        )?;
        journal.record(|t| t.statements = plan.display())?;
        let dirs = unit_locations(resolved)?;
        let before = files_in(c, &dirs).await?;
        for stmt in &plan.setup {
            journal.run(session, stmt).await?;
        }
        let stopped = if strategy == Strategy::Compact {
            self.compact_in(ctx, c, resolved, &plan, session, journal)
                .await?
        } else {
            concatenate_in(ctx, &plan, session, journal).await?
        };
        if let Some(outcome) = stopped {
            return Ok(outcome);
        }
        let after = files_in(c, &dirs).await?;
        self.refresh(c, &plan.impala_refresh, journal).await;
        Ok(EngineOutcome::Succeeded {
            files_before: Some(before),
            files_after: Some(after),
            bytes_rewritten: None,
        })
    }

    /// Requests the compactions and follows them until they end; `Some` when the task ends
    /// otherwise than by merging (a failed compaction, a cancel).
    async fn compact_in(
        &self,
        ctx: &RunContext<'_>,
        c: &ClusterEngine,
        resolved: &Resolved,
        plan: &InPlacePlan,
        session: &mut dyn SqlSession,
        journal: &Journal<'_>,
    ) -> Result<Option<EngineOutcome>, EngineError> {
        let t = &resolved.table;
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
            // Not journalled: one line per poll would bury the task's log.
            let rs = session.execute(SHOW_COMPACTIONS, None).await?;
            let mut pending = Vec::new();
            for u in plan.requests.iter().map(|r| r.partition.as_deref()) {
                match compaction_state(&rs, &t.database, &t.name, u, &known) {
                    Some(CompactionState::Done(_)) => {}
                    Some(CompactionState::Failed(s)) => {
                        return Ok(Some(EngineOutcome::Failed {
                            category: FailureReason::Compaction,
                            message: format!(
                                "the compaction of {}{} ended {s:?} (see SHOW COMPACTIONS and the compactor's logs)",
                                t.name,
                                u.map(|p| format!(" {p}")).unwrap_or_default()
                            ),
                        }))
                    }
                    Some(CompactionState::Running(s)) => pending.push(s),
                    None => pending.push("not listed yet".into()),
                }
            }
            if pending.is_empty() {
                journal.note("compaction finished");
                return Ok(None);
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(Some(EngineOutcome::Failed {
                    category: FailureReason::Compaction,
                    message: format!(
                        "the compaction did not finish in 24 h (last states: {pending:?})"
                    ),
                }));
            }
            tokio::select! {
                _ = tokio::time::sleep(c.compaction_poll) => {}
                _ = ctx.cancel.cancelled() => {
                    journal.note("cancelled; the compaction itself goes on in the metastore's compactor");
                    return Ok(Some(EngineOutcome::Cancelled));
                }
            }
        }
    }
}

/// Runs the CONCATENATE of each unit; `Some(Cancelled)` when the task is cancelled between two.
async fn concatenate_in(
    ctx: &RunContext<'_>,
    plan: &InPlacePlan,
    session: &mut dyn SqlSession,
    journal: &Journal<'_>,
) -> Result<Option<EngineOutcome>, EngineError> {
    for request in &plan.requests {
        if ctx.cancel.is_cancelled() {
            return Ok(Some(EngineOutcome::Cancelled));
        }
        journal.record(|t| t.step = Some(format!("running: {}", request.sql)))?;
        journal.run(session, &request.sql).await?;
    }
    Ok(None)
}

/// The data files in the units' directories, together.
async fn files_in(c: &ClusterEngine, dirs: &[String]) -> Result<u64, EngineError> {
    let mut files = 0;
    for d in dirs {
        files += count_files(&c.fs, d)
            .await
            .map_err(|e| EngineError::Hdfs(format!("listing {d}: {e}")))?
            .0;
    }
    Ok(files)
}

/// The directories of the task's units.
fn unit_locations(r: &Resolved) -> Result<Vec<String>, EngineError> {
    Ok(units_of(&r.table, &r.partitions)?
        .into_iter()
        .filter_map(|u| unit_location(&r.table, u).map(str::to_string))
        .collect())
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

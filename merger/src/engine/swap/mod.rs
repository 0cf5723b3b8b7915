//! The safe swap (strategy `insert_overwrite`). Per unit (a partition, or the unpartitioned
//! table): fingerprint the unit (rows and a checksum over every column, read through the
//! table's serde); write the merged copy through a staging table created `LIKE` the table into
//! a new directory beside the data; fingerprint the copy and the unit again (a writer active
//! during the merge is caught here); switch the table or partition to the new directory with
//! one `ALTER TABLE … SET LOCATION`; fingerprint once more through the table. Any failure
//! after data was written rolls back: the old location is put back, the new directory removed.
//! The old directory is kept for the rollback window and then removed (`db/retired.rs`).
//!
//! Each unit's stage is committed to the task before the step it names starts; recovery after
//! a crash reads it: before the switch → roll back; at or after the switch → finish, once the
//! metastore shows the new location and the data reads the same.

use smallfiles_cluster::metastore::TableRecord;

use super::hive::{lookup_error, same_location, summarize, ClusterEngine, HiveEngine};
use super::sql::{Journal, SqlError, SqlSession};
use super::{EngineError, EngineOutcome, FailureReason, Recovery, RunContext};
use crate::db::Store;
use crate::model::{SwapProgress, SwapStage, Target, Task, UnitProgress};
use crate::plan::{swap_plan, unit_location, units_of, SwapPlan};

mod recover;
mod revert;

/// Why a swap stopped, and whether a rollback is needed.
enum Stop {
    /// Nothing was written: the table is as it was.
    Failed(FailureReason, String),
    /// Data was written (or the staging table created): undo it.
    RollBack(String),
    Cancelled,
}

/// A stop before anything was written, typed by where it failed. (Deliberately not a `From`:
/// a `?` must never turn a failure after a write into one that skips the rollback.)
fn failed(e: impl Into<EngineError>) -> Stop {
    let e = e.into();
    Stop::Failed(e.reason(), e.to_string())
}

/// A stop that undoes what was written, with the reason for the log.
fn roll_back(reason: impl std::fmt::Display) -> Stop {
    Stop::RollBack(reason.to_string())
}

fn set_stage(
    journal: &Journal<'_>,
    i: usize,
    stage: SwapStage,
    f: impl FnOnce(&mut UnitProgress),
) -> Result<Task, EngineError> {
    journal.record(|t| {
        let label = t
            .swap
            .as_ref()
            .and_then(|s| s.plan.units.get(i))
            .and_then(|u| u.partition.clone())
            .unwrap_or_else(|| "table".into());
        if let Some(s) = t.swap.as_mut() {
            s.units[i].stage = stage;
            f(&mut s.units[i]);
        }
        t.step = Some(format!("{label}: {}", stage.as_str()));
    })
}

fn progress(task: &Task) -> Result<&SwapProgress, EngineError> {
    task.swap.as_ref().ok_or(EngineError::NoSwapRecord)
}

/// The task as the store has it now (the stages recorded so far).
fn task_now(journal: &Journal<'_>) -> Result<Task, EngineError> {
    journal
        .store
        .get(journal.task)
        .map_err(|e| EngineError::Store(format!("task store: {e}")))
}

fn listing_error(location: &str, e: smallfiles_cluster::Error) -> EngineError {
    EngineError::Hdfs(format!("listing {location}: {e}"))
}

impl HiveEngine {
    pub(super) async fn swap(&self, task: &Task, ctx: &RunContext<'_>) -> EngineOutcome {
        let journal = Journal::new(ctx.store, task.id).with_cancel(ctx.cancel.clone());
        let (c, resolved) = match self.prepare(task, &journal).await {
            Ok(ready) => ready,
            Err(outcome) => return outcome,
        };
        let (mut session, dialect) = match self.session(c, &journal).await {
            Ok(s) => s,
            Err(e) => return e.into(),
        };
        let outcome = async {
            // Sizes decide the number of output files; counts are reported.
            let mut units = Vec::new();
            let mut progress = Vec::new();
            for p in units_of(&resolved.table, &resolved.partitions).map_err(failed)? {
                let loc = unit_location(&resolved.table, p).ok_or_else(|| {
                    Stop::Failed(FailureReason::Plan, "no location in the metastore".into())
                })?;
                let old = summarize(&c.fs, loc).await.map_err(|e| {
                    Stop::Failed(FailureReason::Hdfs, format!("listing {loc}: {e}"))
                })?;
                units.push((p, old.bytes));
                progress.push(UnitProgress {
                    stage: SwapStage::Planned,
                    source: None,
                    files_before: Some(old.files),
                    bytes_before: Some(old.bytes),
                    files_after: None,
                    bytes_after: None,
                    old_digest: Some(old.digest),
                    new_digest: None,
                });
            }
            let plan = swap_plan(task.id, &resolved.table, &units, &c.plan_settings(dialect))
                .map_err(failed)?;
            journal
                .record(|t| {
                    t.statements = plan.all_statements();
                    t.step = Some("planned".into());
                    t.swap = Some(SwapProgress {
                        plan: plan.clone(),
                        units: progress,
                    });
                })
                .map_err(failed)?;
            for stmt in &plan.setup {
                journal.run(session.as_mut(), stmt).await.map_err(failed)?;
            }
            journal
                .record(|t| t.step = Some("creating the staging table".into()))
                .map_err(failed)?;
            journal
                .run(session.as_mut(), &plan.create_staging)
                .await
                .map_err(roll_back)?;
            for i in 0..plan.units.len() {
                self.swap_unit(c, &plan, i, session.as_mut(), &journal, ctx)
                    .await?;
            }
            Ok(())
        }
        .await;
        // A statement cut short by a cancel fails: that is the cancel, not a failure.
        let outcome = match outcome {
            Err(Stop::RollBack(_)) if journal.cancelled() => Err(Stop::Cancelled),
            Err(Stop::Failed(..)) if journal.cancelled() => {
                session.close().await;
                return EngineOutcome::Cancelled;
            }
            other => other,
        };
        // Once data is switched or being undone, the remaining statements run even if the
        // task is cancelled meanwhile.
        let steady = journal.uncancellable();
        let finishing = outcome.is_ok();
        let result = match outcome {
            Ok(()) => self
                .finish(c, task.id, Some(session.as_mut()), &steady)
                .await
                .map(|(before, after, bytes)| EngineOutcome::Succeeded {
                    files_before: Some(before),
                    files_after: Some(after),
                    bytes_rewritten: Some(bytes),
                }),
            Err(Stop::Failed(category, message)) => Ok(EngineOutcome::Failed { category, message }),
            Err(Stop::RollBack(reason)) => self
                .roll_back(c, task.id, session.as_mut(), &steady)
                .await
                .map(|done| EngineOutcome::RolledBack(format!("{reason}; {done}"))),
            Err(Stop::Cancelled) => self
                .roll_back(c, task.id, session.as_mut(), &steady)
                .await
                .map(|done| {
                    steady.note(format!("cancelled: {done}"));
                    EngineOutcome::Cancelled
                }),
        };
        session.close().await;
        result.unwrap_or_else(|e| {
            EngineOutcome::Interrupted(if finishing {
                format!(
                    "the merge is switched but could not be finished ({e}); recovery finishes it"
                )
            } else {
                format!("the rollback could not finish ({e}); it is retried by recovery")
            })
        })
    }

    /// The test hook (`engine/test_hooks.rs`): holds the swap after `stage` until the test's
    /// signal file exists or the task is cancelled.
    async fn pause_at(&self, stage: SwapStage, journal: &Journal<'_>) {
        let Some((at, file)) = &self.hooks.pause else {
            return;
        };
        if *at != stage {
            return;
        }
        journal.note(format!(
            "test pause after {} until {} exists",
            stage.as_str(),
            file.display()
        ));
        while !file.exists() && !journal.cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn swap_unit(
        &self,
        c: &ClusterEngine,
        plan: &SwapPlan,
        i: usize,
        session: &mut dyn SqlSession,
        journal: &Journal<'_>,
        ctx: &RunContext<'_>,
    ) -> Result<(), Stop> {
        let u = &plan.units[i];
        // A stage that cannot be recorded stops the merge: recovery would not know it.
        let store_err = |e: EngineError| roll_back(e);
        if ctx.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        let source = journal
            .fingerprint(session, &u.source_fingerprint)
            .await
            .map_err(roll_back)?;
        // An independent guard against a filter that selects nothing (a wrongly rendered
        // partition value): data files that hold bytes but read as no rows are never swapped
        // for an empty copy.
        let listed_bytes = task_now(journal)
            .and_then(|t| Ok(progress(&t)?.units[i].bytes_before.unwrap_or(0)))
            .map_err(store_err)?;
        if source.rows == 0 && listed_bytes > 0 {
            return Err(Stop::RollBack(format!(
                "refused: {} holds {listed_bytes} bytes of data files but the table reads 0 rows from it; nothing was switched (check the partition's format and value)",
                u.old_location
            )));
        }
        set_stage(journal, i, SwapStage::Writing, |p| p.source = Some(source))
            .map_err(store_err)?;
        journal.run(session, &u.write).await.map_err(roll_back)?;
        set_stage(journal, i, SwapStage::Written, |_| {}).map_err(store_err)?;
        self.pause_at(SwapStage::Written, journal).await;
        let copy = journal
            .fingerprint(session, &u.staging_fingerprint)
            .await
            .map_err(roll_back)?;
        let again = journal
            .fingerprint(session, &u.source_fingerprint)
            .await
            .map_err(roll_back)?;
        if again != source {
            return Err(Stop::RollBack(format!(
                "verification failed: the data changed while it was merged ({source} before, {again} after): a writer is active"
            )));
        }
        if copy != source {
            return Err(Stop::RollBack(format!(
                "verification failed: the merged copy has {copy}, the data {source}"
            )));
        }
        let merged = summarize(&c.fs, &u.new_location)
            .await
            .map_err(|e| Stop::RollBack(format!("listing the merged copy: {e}")))?;
        let (files, bytes) = (merged.files, merged.bytes);
        if source.rows > 0 && files == 0 {
            return Err(Stop::RollBack(format!(
                "verification failed: {} holds no data files",
                u.new_location
            )));
        }
        journal.note(format!(
            "verified: the merged copy has {copy} in {files} files ({bytes} bytes)"
        ));
        set_stage(journal, i, SwapStage::Verified, |p| {
            p.files_after = Some(files);
            p.bytes_after = Some(bytes);
            p.new_digest = Some(merged.digest);
        })
        .map_err(store_err)?;
        if ctx.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        set_stage(journal, i, SwapStage::Switching, |_| {}).map_err(store_err)?;
        journal.run(session, &u.switch).await.map_err(roll_back)?;
        set_stage(journal, i, SwapStage::Switched, |_| {}).map_err(store_err)?;
        self.pause_at(SwapStage::Switched, journal).await;
        let through_table = journal
            .fingerprint(session, &u.source_fingerprint)
            .await
            .map_err(roll_back)?;
        if through_table != source {
            return Err(Stop::RollBack(format!(
                "verification failed after the switch: the table reads {through_table}, expected {source}"
            )));
        }
        match self.old_directory_change(c, journal, i).await {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(Stop::RollBack(why)),
            Err(e) => Err(roll_back(e)),
        }
    }

    /// A writer that put files into the old directory after the fingerprints (a job that
    /// writes files directly, or a commit that lands late) would be hidden by the switch: the
    /// old directory must hold exactly what it held when the merge began.
    /// `Some(reason)` when it changed; an error when it could not be listed.
    async fn old_directory_change(
        &self,
        c: &ClusterEngine,
        journal: &Journal<'_>,
        i: usize,
    ) -> Result<Option<String>, EngineError> {
        let task = task_now(journal)?;
        let p = progress(&task)?;
        let (u, state) = (&p.plan.units[i], &p.units[i]);
        let Some(before) = &state.old_digest else {
            return Ok(None);
        };
        let now = summarize(&c.fs, &u.old_location)
            .await
            .map_err(|e| listing_error(&u.old_location, e))?;
        Ok((&now.digest != before).then(|| {
            format!(
                "verification failed: files in {} changed during the merge ({} files before, {} now): a writer is active",
                u.old_location,
                state.files_before.unwrap_or(0),
                now.files
            )
        }))
    }

    /// Drops the staging table, after checking in the metastore that it is external (dropping
    /// it then leaves the data that the table now uses).
    async fn drop_staging(
        &self,
        c: &ClusterEngine,
        plan: &SwapPlan,
        session: &mut dyn SqlSession,
        journal: &Journal<'_>,
    ) -> Result<(), EngineError> {
        let staging = self
            .catalog
            .table(&c.config.name, &plan.staging_database, &plan.staging_table)
            .await
            .map_err(|e| EngineError::Metastore(lookup_error(e)))?;
        let Some(t) = staging else { return Ok(()) };
        if !is_external(&t) {
            journal.note(format!(
                "warning: the staging table {}.{} is {}, not external: it is left in place so that dropping it cannot delete data; drop it by hand once no table uses {}",
                plan.staging_database, plan.staging_table, t.table_type, plan.staging_root
            ));
            return Ok(());
        }
        journal.run(session, &plan.drop_staging).await?;
        Ok(())
    }

    /// Completes the switched units: statistics, the old directories into the rollback window,
    /// Impala. Returns files before, files after and bytes written over the finished units.
    async fn finish(
        &self,
        c: &ClusterEngine,
        task_id: u64,
        session: Option<&mut dyn SqlSession>,
        journal: &Journal<'_>,
    ) -> Result<(u64, u64, u64), EngineError> {
        let task = journal
            .store
            .get(task_id)
            .map_err(|e| EngineError::Store(format!("task store: {e}")))?;
        let p = progress(&task)?.clone();
        let mut own;
        let session: &mut dyn SqlSession = match session {
            Some(s) => s,
            None => {
                own = self.session(c, journal).await?.0;
                own.as_mut()
            }
        };
        match self.drop_staging(c, &p.plan, session, journal).await {
            Ok(()) => {}
            // The metastore (which says whether the staging table may be dropped) or
            // HiveServer2 (which drops it) cannot be reached: the task is not done until they
            // can (recovery finishes it). A drop the server refuses is left to the operator.
            Err(e @ (EngineError::Metastore(_) | EngineError::Sql(SqlError::Unreachable(_)))) => {
                return Err(e)
            }
            Err(e) => journal.note(format!("warning: the staging table was not dropped: {e}")),
        }
        let mut refresh = Vec::new();
        let (mut before, mut after, mut bytes) = (0, 0, 0);
        for (i, (u, state)) in p.plan.units.iter().zip(&p.units).enumerate() {
            if state.stage != SwapStage::Switched && state.stage != SwapStage::Finished {
                continue;
            }
            before += state.files_before.unwrap_or(0);
            after += state.files_after.unwrap_or(0);
            bytes += state.bytes_after.unwrap_or(0);
            if state.stage == SwapStage::Finished {
                continue;
            }
            if journal.run(session, &u.analyze).await.is_err() {
                journal.note("warning: statistics not refreshed; run the ANALYZE above by hand");
            }
            self.retire(c, &task, u.partition.as_deref(), &u.old_location, journal);
            refresh.push(u.refresh.clone());
            set_stage(journal, i, SwapStage::Finished, |_| {})?;
        }
        if p.plan.impala_refresh {
            self.refresh(c, &refresh, journal).await;
        }
        Ok((before, after, bytes))
    }

    /// Undoes the unit in flight: the table gets its old location back, the new directory is
    /// removed; units switched before it are finished. Returns what was done.
    async fn roll_back(
        &self,
        c: &ClusterEngine,
        task_id: u64,
        session: &mut dyn SqlSession,
        journal: &Journal<'_>,
    ) -> Result<String, EngineError> {
        let task = journal
            .store
            .get(task_id)
            .map_err(|e| EngineError::Store(format!("task store: {e}")))?;
        let p = progress(&task)?.clone();
        let mut done = Vec::new();
        for (i, (u, state)) in p.plan.units.iter().zip(&p.units).enumerate() {
            let label = u.partition.as_deref().unwrap_or("the table");
            match state.stage {
                SwapStage::Writing | SwapStage::Written | SwapStage::Verified => {}
                SwapStage::Switching | SwapStage::Switched => {
                    journal.run(session, &u.switch_back).await?;
                    let now = self.current_location(&task, u.partition.as_deref()).await?;
                    if !now
                        .as_deref()
                        .is_some_and(|l| same_location(&c.fs, l, &u.old_location))
                    {
                        return Err(EngineError::Metastore(format!(
                            "{label} still points at {now:?} after switching back to {}",
                            u.old_location
                        )));
                    }
                }
                _ => continue,
            }
            c.fs.delete_recursive(&c.fs.location(&u.new_location))
                .await
                .map_err(|e| EngineError::Hdfs(format!("removing {}: {e}", u.new_location)))?;
            set_stage(journal, i, SwapStage::RolledBack, |_| {})?;
            done.push(format!(
                "rolled back: {label} kept its location {}; removed {}",
                u.old_location, u.new_location
            ));
        }
        let merged: Vec<&str> = p
            .plan
            .units
            .iter()
            .zip(&p.units)
            .filter(|(_, s)| matches!(s.stage, SwapStage::Switched | SwapStage::Finished))
            .map(|(u, _)| u.partition.as_deref().unwrap_or("the table"))
            .collect();
        if merged.is_empty() {
            self.drop_staging(c, &p.plan, session, journal).await?;
            c.fs.delete_recursive(&c.fs.location(&p.plan.staging_root))
                .await
                .map_err(|e| EngineError::Hdfs(format!("removing {}: {e}", p.plan.staging_root)))?;
            if done.is_empty() {
                let rolled_back = p.units.iter().any(|s| s.stage == SwapStage::RolledBack);
                done.push(if rolled_back {
                    "the staging table and directory of the rolled-back copy were removed".into()
                } else {
                    "nothing had been written; the staging table was removed".into()
                });
            }
        } else {
            self.finish(c, task_id, Some(session), journal).await?;
            done.push(format!("merged before: {}", merged.join(", ")));
        }
        let text = done.join("; ");
        journal.note(text.clone());
        Ok(text)
    }

    async fn current_location(
        &self,
        task: &Task,
        partition: Option<&str>,
    ) -> Result<Option<String>, EngineError> {
        let target = Target {
            partition: partition.map(str::to_string),
            ..task.target.clone()
        };
        let r = self.resolve(&target).await?;
        Ok(r.location().map(str::to_string))
    }
}

fn is_external(t: &TableRecord) -> bool {
    t.table_type == "EXTERNAL_TABLE" || t.params.external
}

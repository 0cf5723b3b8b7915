//! Recovery of a swap a stop interrupted, from the stages committed to the task: nothing
//! switched → roll back (finishing a rollback whose cleanup was cut short); at or after the
//! switch → finish, once the metastore shows the new location and the data reads the same.

use super::*;

impl HiveEngine {
    pub(in crate::engine) async fn recover_swap(&self, task: &Task, store: &Store) -> Recovery {
        let journal = Journal::new(store, task.id);
        let Some(p) = task.swap.clone() else {
            return Recovery::Fail(
                "interrupted before the merge was planned: nothing was written; retry to merge"
                    .into(),
            );
        };
        let c = match self.cluster(task) {
            Ok(c) => c,
            Err(e) => return Recovery::Fail(e.to_string()),
        };
        let mut session = match self.session(c, &journal).await {
            Ok((s, _)) => s,
            Err(e) => return Recovery::Later(e.to_string()),
        };
        let result = self
            .recover_in(c, task, &p, session.as_mut(), &journal)
            .await;
        session.close().await;
        result.unwrap_or_else(|e| Recovery::Later(e.to_string()))
    }

    async fn recover_in(
        &self,
        c: &ClusterEngine,
        task: &Task,
        p: &SwapProgress,
        session: &mut dyn SqlSession,
        journal: &Journal<'_>,
    ) -> Result<Recovery, EngineError> {
        let stage_names: Vec<String> = p
            .plan
            .units
            .iter()
            .zip(&p.units)
            .map(|(u, s)| {
                format!(
                    "{} {}",
                    u.partition.as_deref().unwrap_or("table"),
                    s.stage.as_str()
                )
            })
            .collect();
        journal.note(format!(
            "recovering after a restart: {}",
            stage_names.join(", ")
        ));
        // A unit at the switch: did the metastore take it, and does the data read the same?
        for (i, (u, state)) in p.plan.units.iter().zip(&p.units).enumerate() {
            if !matches!(state.stage, SwapStage::Switching | SwapStage::Switched) {
                continue;
            }
            let now = self.current_location(task, u.partition.as_deref()).await?;
            let switched = now
                .as_deref()
                .is_some_and(|l| same_location(&c.fs, l, &u.new_location));
            let reads_same = if switched {
                let fp = journal.fingerprint(session, &u.source_fingerprint).await?;
                let change = self.old_directory_change(c, journal, i).await?;
                if let Some(why) = &change {
                    journal.note(why.clone());
                }
                Some(fp) == state.source && change.is_none()
            } else {
                false
            };
            if switched && reads_same {
                set_stage(journal, i, SwapStage::Switched, |_| {})?;
            } else {
                journal.note(format!(
                    "{}: {} the switch; rolling back",
                    u.partition.as_deref().unwrap_or("table"),
                    if switched {
                        "the data reads differently after"
                    } else {
                        "the metastore did not take"
                    }
                ));
                set_stage(journal, i, SwapStage::Switching, |_| {})?;
            }
        }
        let p = progress(&task_now(journal)?)?.clone();
        let unfinished_write = p.units.iter().any(|s| {
            matches!(
                s.stage,
                SwapStage::Writing
                    | SwapStage::Written
                    | SwapStage::Verified
                    | SwapStage::Switching
            )
        });
        let any_switched = p
            .units
            .iter()
            .any(|s| matches!(s.stage, SwapStage::Switched | SwapStage::Finished));
        // Nothing switched: roll back, which also finishes a rollback whose cleanup (the
        // staging table, the staging directory) was cut short.
        if unfinished_write || !any_switched {
            let done = self.roll_back(c, task.id, session, journal).await?;
            let at = task.step.as_deref().unwrap_or("the start");
            return Ok(Recovery::RollBack(format!("interrupted at {at}; {done}")));
        }
        let (before, after, bytes) = self.finish(c, task.id, Some(session), journal).await?;
        let not_started: Vec<&str> = p
            .plan
            .units
            .iter()
            .zip(&p.units)
            .filter(|(_, s)| s.stage == SwapStage::Planned)
            .map(|(u, _)| u.partition.as_deref().unwrap_or("table"))
            .collect();
        if !not_started.is_empty() {
            return Ok(Recovery::RollBack(format!(
                "interrupted; the switched units were finished; not merged: {} (retry to merge them)",
                not_started.join(", ")
            )));
        }
        Ok(Recovery::Finished {
            reason: format!(
                "interrupted at {} after the switch; finished by recovery: the table reads the same through its new location",
                task.step.as_deref().unwrap_or("the switch")
            ),
            files_before: Some(before),
            files_after: Some(after),
            bytes_rewritten: Some(bytes),
        })
    }
}

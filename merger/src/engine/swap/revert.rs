//! The operator's rollback of a finished swap within its rollback window.

use super::*;

impl HiveEngine {
    /// Puts a finished safe swap back within its rollback window: every merged unit is switched
    /// back to its old directory, which then stays, and the merged copy is kept for the window
    /// and removed afterwards. Refused, before anything changes, when a unit no longer points
    /// at its merged copy, when its old directory is gone, or when files were written into
    /// either since the merge (rolling back would hide them).
    pub async fn revert(&self, task: &Task, store: &Store) -> Result<String, EngineError> {
        let journal = Journal::new(store, task.id);
        let p = task.swap.clone().ok_or(EngineError::NoSwapRecord)?;
        let c = self.cluster(task)?;
        let mut units = Vec::new();
        for (i, (u, state)) in p.plan.units.iter().zip(&p.units).enumerate() {
            if state.stage != SwapStage::Finished {
                continue;
            }
            let label = u.partition.as_deref().unwrap_or("the table");
            let now = self.current_location(task, u.partition.as_deref()).await?;
            if !now
                .as_deref()
                .is_some_and(|l| same_location(&c.fs, l, &u.new_location))
            {
                return Err(EngineError::Refused(format!(
                    "{label} no longer points at the merged copy {} (now {})",
                    u.new_location,
                    now.unwrap_or_default()
                )));
            }
            let old = summarize(&c.fs, &u.old_location).await.map_err(|e| {
                EngineError::Refused(format!(
                    "the old directory {} cannot be read (removed after the rollback window?): {e}",
                    u.old_location
                ))
            })?;
            if state.old_digest.as_deref() != Some(old.digest.as_str()) {
                return Err(EngineError::Refused(format!(
                    "the files in the old directory {} changed since the merge",
                    u.old_location
                )));
            }
            let merged = summarize(&c.fs, &u.new_location)
                .await
                .map_err(|e| listing_error(&u.new_location, e))?;
            if state.new_digest.as_deref() != Some(merged.digest.as_str()) {
                return Err(EngineError::Refused(format!(
                    "files were written into the merged copy {} since the merge: rolling back would hide them",
                    u.new_location
                )));
            }
            units.push(i);
        }
        if units.is_empty() {
            return Err(EngineError::Refused(
                "no merged partition is left to roll back".into(),
            ));
        }
        let (mut session, _) = self.session(c, &journal).await?;
        let mut refresh = Vec::new();
        let mut done = Vec::new();
        for &i in &units {
            let u = &p.plan.units[i];
            if let Err(source) = journal.run(session.as_mut(), &u.switch_back).await {
                session.close().await;
                return Err(if done.is_empty() {
                    EngineError::Sql(source)
                } else {
                    EngineError::PartlyReverted { done, source }
                });
            }
            if journal.run(session.as_mut(), &u.analyze).await.is_err() {
                journal.note("warning: statistics not refreshed; run the ANALYZE above by hand");
            }
            set_stage(&journal, i, SwapStage::RolledBack, |_| {})?;
            let store_err = |e: crate::Error| EngineError::Store(e.to_string());
            for (id, d) in self.retired.all().map_err(store_err)? {
                if d.task == task.id && same_location(&c.fs, &d.location, &u.old_location) {
                    self.retired.remove(id).map_err(store_err)?;
                }
            }
            self.retire(c, task, u.partition.as_deref(), &u.new_location, &journal);
            refresh.push(u.refresh.clone());
            done.push(u.partition.clone().unwrap_or_else(|| "the table".into()));
        }
        session.close().await;
        if p.plan.impala_refresh {
            self.refresh(c, &refresh, &journal).await;
        }
        Ok(format!(
            "{} read their old directories again; the merged copies are kept for the rollback window",
            done.join(", ")
        ))
    }
}

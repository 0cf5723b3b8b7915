//! What an operator asks of a task: cancel it, roll a succeeded swap back.

use super::*;

impl Service {
    pub fn cancel(&self, id: u64, by: &str) -> Result<Task> {
        let task = self.store.get(id)?;
        if task.state.is_terminal() {
            return Err(Error::Conflict(format!(
                "task {id} already ended {}",
                task.state.as_str()
            )));
        }
        if task.state == TaskState::Interrupted && task.swap.is_some() {
            // Only recovery knows how to leave the table consistent from here.
            return Err(Error::Conflict(format!(
                "task {id} stopped half-way through a swap: recovery settles it (retried every minute); cancel does not"
            )));
        }
        if task.state.is_queued() || task.state == TaskState::Interrupted {
            return self.store.apply(
                id,
                Event::Cancelled {
                    message: format!("cancelled by {by}"),
                    seconds: None,
                },
            );
        }
        // Running: ask the engine to stop; it ends the task.
        if let Some((_, token)) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            token.cancel();
        }
        self.store.log(id, &format!("cancel requested by {by}"))
    }

    /// Rolls a succeeded safe swap back within its rollback window (see
    /// [`HiveEngine::revert`]); the task ends `rolled_back` with who asked.
    pub async fn roll_back(&self, id: u64, by: &str) -> Result<Task> {
        let task = self.store.get(id)?;
        if task.state != TaskState::Succeeded
            || task.dry_run
            || task.resolved_strategy != Strategy::InsertOverwrite
        {
            return Err(Error::Conflict(format!(
                "task {id} is not a succeeded insert_overwrite merge: only those are rolled back"
            )));
        }
        if let Some(active) = self.store.active_overlapping(&task.target)? {
            return Err(Error::Conflict(format!(
                "task {active} is active on the same target: roll back once it ended"
            )));
        }
        match self.cluster_engine.revert(&task, &self.store).await {
            Ok(done) => {
                let reason = format!("rolled back by {by}: {done}");
                let t = self.store.apply(id, Event::RolledBackByHand { reason })?;
                self.announce(&t);
                Ok(t)
            }
            // Refused before anything changed, or stopped by the cluster midway: the task
            // stays succeeded either way and its log says which.
            Err(e @ (EngineError::Refused(_) | EngineError::NoSwapRecord)) => {
                self.store
                    .log(id, &format!("rollback asked by {by} refused: {e}"))?;
                Err(Error::Conflict(format!(
                    "task {id} cannot be rolled back: {e}"
                )))
            }
            Err(e) => {
                self.store
                    .log(id, &format!("rollback asked by {by} failed: {e}"))?;
                Err(Error::Conflict(format!(
                    "task {id} was not rolled back: {e}"
                )))
            }
        }
    }
}

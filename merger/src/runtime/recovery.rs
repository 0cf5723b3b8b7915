//! Tasks the last stop interrupted, settled by their engine; the periodic maintenance.

use super::*;

impl Service {
    /// Tasks found running at start were interrupted by a crash: mark them, then let their
    /// engine finish or roll them back. Nothing is re-run silently. A task whose cluster
    /// cannot be reached stays `interrupted`; [`Service::run_recovery`] tries again.
    pub async fn recover(&self) -> Result<usize> {
        let stale = self.store.in_states(&[
            TaskState::Running,
            TaskState::Verifying,
            TaskState::Interrupted,
        ])?;
        self.settle(&stale).await
    }

    /// Settles tasks listed as running or interrupted; each is read again first, since a
    /// list is already old when it is walked.
    pub(super) async fn settle(&self, stale: &[Task]) -> Result<usize> {
        let mut settled = 0;
        for task in stale {
            if self
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&task.id)
            {
                continue;
            }
            // Read again: a task that ended since the list was read (and left the running
            // map) must not be taken for a crashed one.
            let task = self.store.get(task.id)?;
            if !matches!(
                task.state,
                TaskState::Running | TaskState::Verifying | TaskState::Interrupted
            ) {
                continue;
            }
            let task = if task.state == TaskState::Interrupted {
                task
            } else {
                self.store.apply(
                    task.id,
                    Event::Interrupted {
                        message: format!(
                            "the merger stopped while the task was {}",
                            task.state.as_str()
                        ),
                    },
                )?
            };
            let recovery = self.engine_for(&task).recover(&task, &self.store).await;
            let (state, reason, category, counts) = match recovery {
                Recovery::Fail(r) => (TaskState::Failed, r, Some(FailureReason::Interrupted), None),
                Recovery::RollBack(r) => (
                    TaskState::RolledBack,
                    r,
                    Some(FailureReason::Interrupted),
                    None,
                ),
                Recovery::Finished {
                    reason,
                    files_before,
                    files_after,
                    bytes_rewritten,
                } => (
                    TaskState::Succeeded,
                    reason,
                    None,
                    Some((files_before, files_after, bytes_rewritten)),
                ),
                Recovery::Later(why) => {
                    tracing::warn!(task = task.id, reason = %why, "recovery postponed");
                    self.store
                        .log(task.id, &format!("recovery postponed: {why}"))?;
                    continue;
                }
            };
            let ended = self.store.apply(
                task.id,
                Event::Recovered {
                    state,
                    reason: reason.clone(),
                    counts: counts.map(|(files_before, files_after, bytes_rewritten)| Counts {
                        files_before,
                        files_after,
                        bytes_rewritten,
                    }),
                },
            )?;
            self.record_end(&ended, category, 0.0);
            settled += 1;
            tracing::warn!(task = task.id, state = state.as_str(), reason = %reason, "recovered an interrupted task");
        }
        Ok(settled)
    }

    /// Retries recovery of interrupted tasks and removes replaced directories whose rollback
    /// window has passed.
    pub async fn run_maintenance(self: Arc<Self>) {
        let mut last_recovery = Instant::now();
        let every = Duration::from_secs(5).min(self.settings.merger.recovery_interval.0);
        loop {
            tokio::time::sleep(every).await;
            if last_recovery.elapsed() >= self.settings.merger.recovery_interval.0 {
                last_recovery = Instant::now();
                if let Err(e) = self.recover().await {
                    tracing::error!(error = %e, "recovery failed");
                }
            }
            self.cluster_engine.sweep_retired(&self.store).await;
        }
    }
}

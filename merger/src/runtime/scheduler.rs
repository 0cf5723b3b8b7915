//! The scheduler: queued tasks started within the windows and limits, never two over one
//! partition, each run by its engine and ended through the lifecycle.

use super::*;

impl Service {
    /// The scheduler: starts queued tasks inside the windows and within the limits.
    pub async fn run_scheduler(self: Arc<Self>) {
        loop {
            if let Err(e) = self.schedule_once() {
                tracing::error!(error = %e, "scheduling failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    fn schedule_once(self: &Arc<Self>) -> Result<()> {
        if !self.settings.windows.open_at(chrono::Utc::now()) {
            // Only the new arrivals change: tasks already waiting are not read again (the
            // scheduler wakes at every new task, and thousands may wait for a window).
            for t in self.store.in_states(&[TaskState::Pending])? {
                self.store.apply(t.id, Event::OutsideWindows)?;
            }
            return Ok(());
        }
        let queued = self
            .store
            .in_states(&[TaskState::Pending, TaskState::WaitingWindow])?;
        let limits = &self.settings.merger.concurrency;
        for task in queued {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if running.len() >= limits.global {
                break;
            }
            if running
                .values()
                .filter(|(t, _)| t.cluster == task.target.cluster)
                .count()
                >= limits.per_cluster
            {
                continue;
            }
            // Never two merges over one partition, even for overlapping tasks queued by an
            // earlier release (creation refuses them now): the later one waits.
            if running.values().any(|(t, _)| t.overlaps(&task.target)) {
                continue;
            }
            // Committed before anything acts.
            let task = self.store.apply(task.id, Event::Started)?;
            let token = CancellationToken::new();
            running.insert(task.id, (task.target.clone(), token.clone()));
            drop(running);
            let me = self.clone();
            tokio::spawn(async move { me.execute(task, token).await });
        }
        Ok(())
    }

    async fn execute(self: Arc<Self>, task: Task, token: CancellationToken) {
        let started = Instant::now();
        let outcome = self
            .engine_for(&task)
            .run(
                &task,
                RunContext {
                    store: &self.store,
                    cancel: token,
                },
            )
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let result = match outcome {
            EngineOutcome::Succeeded {
                files_before,
                files_after,
                bytes_rewritten,
            } => self
                .store
                .apply(task.id, Event::Verifying)
                .and_then(|t| {
                    self.store.apply(
                        task.id,
                        Event::Succeeded {
                            counts: Counts {
                                files_before,
                                files_after,
                                bytes_rewritten,
                            },
                            seconds,
                            message: if t.dry_run {
                                "dry run complete".into()
                            } else {
                                "merge verified".into()
                            },
                        },
                    )
                })
                .map(|t| (t, None)),
            EngineOutcome::Failed { category, message } => self
                .store
                .apply(task.id, Event::Failed { message, seconds })
                .map(|t| (t, Some(category))),
            EngineOutcome::RolledBack(message) => self
                .store
                .apply(task.id, Event::RolledBack { message, seconds })
                .map(|t| (t, Some(FailureReason::RolledBack))),
            EngineOutcome::NothingToMerge(message) => self
                .store
                .apply(task.id, Event::NothingToMerge { message, seconds })
                .map(|t| (t, None)),
            EngineOutcome::Interrupted(message) => self
                .store
                .apply(task.id, Event::Interrupted { message })
                .map(|t| (t, None)),
            EngineOutcome::Cancelled => self
                .store
                .apply(
                    task.id,
                    Event::Cancelled {
                        message: "cancelled while running".into(),
                        seconds: Some(seconds),
                    },
                )
                .map(|t| (t, None)),
        };
        match result {
            Ok((t, failure)) => {
                tracing::info!(task = t.id, state = t.state.as_str(), seconds, "task ended");
                if t.state != TaskState::Interrupted {
                    self.record_end(&t, failure, seconds);
                }
            }
            Err(e) => tracing::error!(task = task.id, error = %e, "task end not recorded"),
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&task.id);
        self.wake.notify_one();
    }
}

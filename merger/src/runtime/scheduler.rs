//! The scheduler: queued tasks started within the windows and limits, never two over one
//! partition, each run by its engine and ended through the lifecycle.

use super::*;
use crate::config::Concurrency;

impl Service {
    /// The scheduler: starts queued tasks inside the windows and within the limits.
    pub async fn run_scheduler(self: Arc<Self>) {
        loop {
            // Its reads and durable writes block: kept off the workers that answer webhooks.
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.schedule_once()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "scheduling failed"),
                Err(e) => tracing::error!(error = %e, "scheduling panicked"),
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
            // scheduler wakes at every new task, and thousands may wait for a window). All
            // of them in one change, in the group commit that also writes the webhooks' new
            // tasks: a burst of webhooks would otherwise pay more fsyncs than tasks, and every
            // commit of its own holds the write lock the webhooks' tasks wait for.
            let arrived = self.store.ids_in_states(&[TaskState::Pending])?;
            if !arrived.is_empty() {
                self.commit
                    .apply_each_blocking(arrived, Event::OutsideWindows)?;
            }
            return Ok(());
        }
        let queued = self
            .store
            .in_states(&[TaskState::Pending, TaskState::WaitingWindow])?;
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let busy: Vec<Target> = running.values().map(|(t, _)| t.clone()).collect();
        let start = startable(
            queued.iter().map(|t| (t.id, &t.target)),
            &busy,
            &self.settings.merger.concurrency,
        );
        for id in start {
            // Committed before anything acts.
            let task = self.store.apply(id, Event::Started)?;
            let token = CancellationToken::new();
            running.insert(task.id, (task.target.clone(), token.clone()));
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

/// Which queued tasks start now, in queue order: at most `global` running in all and
/// `per_cluster` on one cluster, and never one whose target overlaps a running task or one
/// chosen before it — two merges over one partition, even of overlapping tasks queued by an
/// earlier release (creation refuses them now): the later one waits.
pub(crate) fn startable<'a>(
    queued: impl IntoIterator<Item = (u64, &'a Target)>,
    running: &'a [Target],
    limits: &Concurrency,
) -> Vec<u64> {
    let mut busy: Vec<&Target> = running.iter().collect();
    let mut start = Vec::new();
    for (id, target) in queued {
        if busy.len() >= limits.global {
            break;
        }
        let on_cluster = busy.iter().filter(|t| t.cluster == target.cluster).count();
        if on_cluster >= limits.per_cluster || busy.iter().any(|t| t.overlaps(target)) {
            continue;
        }
        busy.push(target);
        start.push(id);
    }
    start
}

#[cfg(test)]
mod tests {
    use super::{startable, Concurrency, Target};
    use proptest::prelude::*;

    fn target() -> impl Strategy<Value = Target> {
        (0..2u8, 0..3u8, prop::option::of(0..2u8)).prop_map(|(c, t, p)| Target {
            cluster: format!("c{c}"),
            database: "db".into(),
            table: format!("t{t}"),
            partition: p.map(|p| format!("dt={p}")),
        })
    }

    proptest! {
        /// Within the limits, never two over one partition, and nothing held back that the
        /// limits would let start.
        #[test]
        fn starts_within_the_limits_and_as_many_as_they_allow(
            queued in prop::collection::vec(target(), 0..12),
            running in prop::collection::vec(target(), 0..4),
            global in 1..6usize,
            per_cluster in 1..4usize,
        ) {
            let limits = Concurrency { global, per_cluster };
            let start = startable(
                queued.iter().enumerate().map(|(i, t)| (i as u64, t)),
                &running,
                &limits,
            );
            let chosen: Vec<&Target> = start.iter().map(|&i| &queued[i as usize]).collect();
            let mut busy: Vec<&Target> = running.iter().collect();
            busy.extend(chosen.iter().copied());
            // In queue order, each once.
            prop_assert!(start.windows(2).all(|w| w[0] < w[1]));
            if !chosen.is_empty() {
                prop_assert!(busy.len() <= global);
            }
            for (n, t) in chosen.iter().enumerate() {
                let on_cluster = busy.iter().filter(|b| b.cluster == t.cluster).count();
                prop_assert!(on_cluster <= per_cluster.max(
                    running.iter().filter(|r| r.cluster == t.cluster).count()));
                prop_assert!(!running.iter().any(|r| r.overlaps(t)), "{t:?} overlaps a running task");
                prop_assert!(!chosen[..n].iter().any(|c| c.overlaps(t)), "{t:?} overlaps one started with it");
            }
            for (i, t) in queued.iter().enumerate() {
                if start.contains(&(i as u64)) {
                    continue;
                }
                let blocked = busy.len() >= global
                    || busy.iter().filter(|b| b.cluster == t.cluster).count() >= per_cluster
                    || busy.iter().any(|b| b.overlaps(t));
                prop_assert!(blocked, "{t:?} could have started");
            }
        }
    }
}

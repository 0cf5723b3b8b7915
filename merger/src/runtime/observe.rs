//! What the metrics see: a task's end counted, and what a scrape reads from the store.

use super::*;

impl Service {
    pub(super) fn record_end(&self, t: &Task, failure: Option<FailureReason>, seconds: f64) {
        self.announce(t);
        self.metrics.finished(Finished {
            cluster: &t.target.cluster,
            database: &t.target.database,
            table: &t.target.table,
            strategy: t.resolved_strategy.as_str(),
            outcome: t.state.as_str(),
            failure_reason: failure.map(FailureReason::as_str),
            files_removed: t
                .files_before
                .zip(t.files_after)
                .map(|(b, a)| b.saturating_sub(a))
                .unwrap_or(0),
            bytes_rewritten: t.bytes_rewritten.unwrap_or(0),
            duration_seconds: seconds,
        });
    }

    /// Replaced directories still in their rollback window, per configured cluster.
    pub fn retired_per_cluster(&self) -> std::collections::BTreeMap<String, u64> {
        let mut per_cluster: std::collections::BTreeMap<String, u64> = self
            .settings
            .clusters
            .iter()
            .map(|c| (c.name.clone(), 0))
            .collect();
        for (_, d) in self.cluster_engine.retired.all().unwrap_or_default() {
            if let Some(n) = per_cluster.get_mut(&d.target.cluster) {
                *n += 1;
            }
        }
        per_cluster
    }

    /// What `/metrics` reads from the store.
    pub fn scrape(&self) -> crate::metrics::Scrape {
        let mut oldest = std::collections::BTreeMap::new();
        let queued = self
            .store
            .in_states(&[TaskState::Pending, TaskState::WaitingWindow])
            .unwrap_or_default();
        for t in &queued {
            let Ok(created) = chrono::DateTime::parse_from_rfc3339(&t.created_at) else {
                continue;
            };
            let age = (chrono::Utc::now() - created.with_timezone(&chrono::Utc)).num_milliseconds()
                as f64
                / 1000.0;
            let e = oldest.entry(t.target.cluster.clone()).or_insert(0.0f64);
            *e = e.max(age);
        }
        crate::metrics::Scrape {
            clusters: self
                .settings
                .clusters
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            states: self.store.cluster_state_counts().unwrap_or_default(),
            oldest_queued_seconds: oldest,
            retired: self.retired_per_cluster(),
        }
    }
}

//! The merger's loops, owned: the scheduler, maintenance (recovery retries, retired
//! directories), audit pruning, the notifier and the daily digest start together and stop
//! together. A stop ends each loop at its next await and writes the audit entries still
//! queued; merges still running are settled by recovery at the next start.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::*;

pub struct Background {
    stop: CancellationToken,
    loops: Vec<(&'static str, JoinHandle<()>)>,
}

impl Service {
    /// Starts every loop of the service.
    pub fn start_background(self: &Arc<Self>) -> Background {
        let stop = CancellationToken::new();
        let mut loops = Vec::new();
        let mut spawn = |name: &'static str, work: futures::future::BoxFuture<'static, ()>| {
            let stop = stop.clone();
            loops.push((
                name,
                tokio::spawn(async move {
                    tokio::select! {
                        _ = work => {}
                        _ = stop.cancelled() => {}
                    }
                }),
            ));
        };
        spawn("scheduler", Box::pin(self.clone().run_scheduler()));
        spawn("maintenance", Box::pin(self.clone().run_maintenance()));
        spawn("pruning", Box::pin(self.clone().run_pruning()));
        spawn("probes", Box::pin(self.clone().run_probes()));
        if let Some(n) = self.notifier.clone() {
            spawn("notifier", Box::pin(n.run()));
            spawn("digest", Box::pin(self.clone().run_digest()));
        }
        Background { stop, loops }
    }

    /// Reaches every cluster's services at the start and every five minutes; says what fails
    /// (at the start, and whenever a component's state changes) and sets `smallfiles_up`.
    pub async fn run_probes(self: Arc<Self>) {
        let mut last: HashMap<(String, &'static str), bool> = HashMap::new();
        loop {
            for p in self.cluster_engine.probe().await {
                let up = p.result.is_ok();
                self.metrics.set_up(&p.cluster, p.component, up);
                let changed = last.insert((p.cluster.clone(), p.component), up) != Some(up);
                match (&p.result, changed) {
                    (Ok(detail), true) => {
                        tracing::info!(cluster = %p.cluster, component = p.component, detail = %detail, "reachable")
                    }
                    (Err(e), true) => {
                        tracing::error!(cluster = %p.cluster, component = p.component, error = %e, "unreachable: merges on this cluster will fail until it is fixed")
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_secs(300)).await;
        }
    }

    /// Every hour: removes audit entries older than `merger.audit_retention` and ended tasks
    /// older than `merger.task_retention`.
    pub async fn run_pruning(self: Arc<Self>) {
        loop {
            let m = &self.settings.merger;
            let cutoff = |keep: Duration| {
                (chrono::Utc::now()
                    - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(90)))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            };
            match self.store.prune_audit(&cutoff(m.audit_retention.0)) {
                Ok(0) => {}
                Ok(n) => tracing::info!(entries = n, "old audit entries removed"),
                Err(e) => tracing::warn!(error = %e, "audit pruning failed"),
            }
            match self.store.prune_tasks(&cutoff(m.task_retention.0), 1000) {
                Ok(0) => {}
                Ok(n) => tracing::info!(tasks = n, "old ended tasks removed"),
                Err(e) => tracing::warn!(error = %e, "task pruning failed"),
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

impl Background {
    /// Stops every loop (waiting at most a few seconds for each) and flushes the audit log.
    pub async fn shutdown(self, svc: &Service) {
        self.stop.cancel();
        for (name, handle) in self.loops {
            if tokio::time::timeout(Duration::from_secs(5), handle)
                .await
                .is_err()
            {
                tracing::warn!(task = name, "a background loop did not stop in time");
            }
        }
        if let Err(e) = svc.flush_audit().await {
            tracing::error!(error = %e, "audit entries not written at shutdown");
        }
        tracing::info!("merger stopped");
    }
}

//! The merger's runtime: the service that owns the store, the engines and the notifier, and
//! what runs on it — requests turned into tasks (`submit.rs`), operators' actions
//! (`operator.rs`), the scheduler that runs tasks (`scheduler.rs`), recovery and maintenance
//! (`recovery.rs`), notices of how tasks ended and the digest (`notices.rs`), and what
//! `/metrics` reads (`observe.rs`), and the loops that run it all, owned and stopped together
//! (`background.rs`). HTTP lives in `http/`; this is what it calls. A task's
//! state changes only through `lifecycle.rs`.

mod background;
pub use background::Background;
mod notices;
mod observe;
mod operator;
mod recovery;
mod scheduler;
mod submit;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::db::{new_task, Created, GroupCommit, Plan, Store};
use crate::engine::hive::HiveEngine;
use crate::engine::{
    DryRunEngine, Engine, EngineError, EngineOutcome, FailureReason, Recovery, RunContext,
};
use crate::error::{Error, Result};
use crate::lifecycle::{Counts, Event};
use crate::metrics::{Finished, Metrics};
use crate::model::{now_rfc3339, AuditEntry, Strategy, Target, Task, TaskState};
use crate::plan::{choose_strategy, partition_refusal, statements, Dialect, PlanSettings};
use crate::validate::{Catalog, LookupError};

pub struct Service {
    pub settings: Settings,
    pub store: Arc<Store>,
    commit: GroupCommit,
    pub auth: Authenticator,
    pub metrics: Metrics,
    catalog: Arc<dyn Catalog>,
    dry_run_engine: DryRunEngine,
    cluster_engine: Arc<HiveEngine>,
    wake: Notify,
    pub notifier: Option<Arc<crate::notify::Notifier>>,
    /// Tasks being executed: their targets (for the limits and overlaps) and cancel tokens.
    running: Mutex<HashMap<u64, (Target, CancellationToken)>>,
}

/// What became of a request for a merge.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    Queued(u64),
    Duplicate(u64),
    Cooldown {
        until: i64,
    },
    Rejected(String),
    /// The metastore could not be asked; try again later.
    Deferred(String),
}

pub struct Request {
    pub target: Target,
    pub strategy: Strategy,
    pub dry_run: bool,
    pub requested_by: String,
    pub fingerprint: Option<String>,
    pub retry_of: Option<u64>,
}

impl Service {
    pub fn new(
        settings: Settings,
        store: Store,
        catalog: Arc<dyn Catalog>,
    ) -> Result<Arc<Service>> {
        let metrics = Metrics::default();
        for c in &settings.clusters {
            metrics.declare_cluster(&c.name);
        }
        let unfinished: Vec<TaskState> = crate::model::ALL_STATES
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect();
        for t in store.in_states(&unfinished)? {
            metrics.declare_table(&t.target.cluster, &t.target.database, &t.target.table);
        }
        let delay = settings
            .merger
            .dry_run_statement_delay
            .map(|d| d.0)
            .unwrap_or(Duration::ZERO);
        let store = Arc::new(store);
        let notifier = match &settings.notify {
            Some(n) => Some(crate::notify::Notifier::new(
                n.clone(),
                crate::db::outbox::Outbox::new(store.database())?,
            )?),
            None => None,
        };
        let cluster_engine = Arc::new(HiveEngine::new(
            &settings.clusters,
            &settings.defaults,
            catalog.clone(),
            &store,
        )?);
        Ok(Arc::new(Service {
            auth: Authenticator::new(settings.tokens.clone()),
            settings,
            commit: store.group_commit(),
            store,
            metrics,
            catalog,
            dry_run_engine: DryRunEngine {
                statement_delay: delay,
                planner: Some(cluster_engine.clone()),
            },
            cluster_engine,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            notifier,
        }))
    }

    /// The statements' settings for a cluster, in its configured dialect (Hive unless
    /// `merge.dialect: spark`; the engine asks the server and plans again before it runs).
    fn plan_settings(&self, cluster: &str) -> PlanSettings {
        match self.settings.cluster(cluster) {
            Some(c) => PlanSettings::for_cluster(c, Dialect::configured(c).unwrap_or_default()),
            None => PlanSettings::default(),
        }
    }

    fn engine_for(&self, task: &Task) -> &dyn Engine {
        if task.dry_run {
            &self.dry_run_engine
        } else {
            self.cluster_engine.as_ref() as &dyn Engine
        }
    }

    pub async fn audit(
        &self,
        who: &str,
        peer: &str,
        action: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) {
        let entry = AuditEntry {
            id: 0,
            at: now_rfc3339(),
            who: who.into(),
            peer: peer.into(),
            action: action.into(),
            outcome: outcome.into(),
            detail,
        };
        // Answers do not wait for the audit's fsync; the task writes before it are durable.
        if let Err(e) = self.commit.audit_soon(entry) {
            tracing::error!(error = %e, "audit entry not written");
        }
    }

    /// Remembers the last alert seen for a target (for the digest), without making the
    /// webhook's answer wait for a commit of its own.
    pub fn remember_alert(&self, key: String, seen: crate::db::SeenAlert) {
        if let Err(e) = self.commit.record_alert_soon(key, seen) {
            tracing::warn!(error = %e, "alert not remembered for the digest");
        }
    }

    /// Returns once every audit entry of an answered request is on disk.
    pub async fn flush_audit(&self) -> Result<()> {
        self.commit.flush().await
    }
}

//! The merger's core: turning requests into tasks, the scheduler, cancel, retry, and recovery
//! after a crash. HTTP lives in `api.rs`; this is what it calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::engine::hive::HiveEngine;
use crate::engine::{DryRunEngine, Engine, EngineOutcome, FailureReason, Recovery, RunContext};
use crate::error::{Error, Result};
use crate::lifecycle::{Counts, Event};
use crate::metrics::{Finished, Metrics};
use crate::model::{now_rfc3339, AuditEntry, Strategy, Target, Task, TaskState};
use crate::plan::{choose_strategy, partition_refusal, statements, Dialect, PlanSettings};
use crate::store::{new_task, Created, GroupCommit, Plan, Store};
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
                crate::notify::outbox::Outbox::new(store.database())?,
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

    /// Validates a target against the metastore and queues a task for it, unless one is
    /// active or the target cools down.
    pub async fn submit(&self, req: Request) -> Submitted {
        let cooldown = self.settings.merger.cooldown.0.as_secs() as i64;
        let now = chrono::Utc::now().timestamp();
        // Duplicates are the common case (HA pairs, repeat_interval): answer them from the
        // store before asking the metastore. The write below checks again.
        if req.retry_of.is_none() {
            let key = req.target.key();
            match (
                self.store.active_overlapping(&req.target),
                self.store.cooling_until(&key, cooldown, now),
            ) {
                (Ok(Some(id)), _) => return Submitted::Duplicate(id),
                (_, Ok(Some(until))) => return Submitted::Cooldown { until },
                _ => {}
            }
        }
        let resolved = match self.catalog.resolve(&req.target).await {
            Ok(r) => r,
            Err(LookupError::Rejected(reason)) => return Submitted::Rejected(reason),
            Err(LookupError::Unavailable(reason)) => return Submitted::Deferred(reason),
        };
        let plan_settings = self.plan_settings(&req.target.cluster);
        let strategy = match choose_strategy(
            &resolved.table,
            req.strategy,
            self.settings.merger.allow_external_tables,
            plan_settings.dialect,
        ) {
            Ok(s) => s,
            Err(why) => {
                return Submitted::Rejected(format!("{} cannot be merged: {why}", req.target.table))
            }
        };
        // A table-level task leaves out the partitions it cannot merge (the engine says why);
        // the table is refused only when none is left.
        let mut resolved = resolved;
        if !resolved.one_partition && resolved.table.is_partitioned() {
            let table = &resolved.table;
            let mut refusals = Vec::new();
            resolved
                .partitions
                .retain(|p| match partition_refusal(table, p, strategy) {
                    Some(e) => {
                        refusals.push(e);
                        false
                    }
                    None => true,
                });
            if resolved.partitions.is_empty() {
                let why = refusals
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "it has no partitions".into());
                return Submitted::Rejected(format!(
                    "{} cannot be merged: no partition can be merged ({why})",
                    req.target.table
                ));
            }
        }
        // Refuse early what cannot be planned; the statements are written with the task's id.
        if let Err(why) = statements(
            0,
            &resolved.table,
            &resolved.partitions,
            strategy,
            &plan_settings,
        ) {
            return Submitted::Rejected(format!("{} cannot be merged: {why}", req.target.table));
        }
        let target = Target {
            cluster: req.target.cluster.clone(),
            database: resolved.table.qualified_database(),
            table: resolved.table.name.clone(),
            partition: if resolved.one_partition {
                resolved.partitions.first().map(|p| p.name.clone())
            } else {
                None
            },
        };
        let mut task = new_task(
            target,
            req.strategy,
            strategy,
            req.dry_run,
            &req.requested_by,
        );
        task.alert_fingerprint = req.fingerprint;
        task.retry_of = req.retry_of;
        let plan: Plan = Box::new(move |id| {
            statements(
                id,
                &resolved.table,
                &resolved.partitions,
                strategy,
                &plan_settings,
            )
            .unwrap_or_default()
        });
        match self.commit.create(task, cooldown, now, Some(plan)).await {
            Ok(Created::New(task)) => {
                let t = &task.target;
                self.metrics
                    .declare_table(&t.cluster, &t.database, &t.table);
                self.wake.notify_one();
                Submitted::Queued(task.id)
            }
            Ok(Created::Duplicate(id)) => Submitted::Duplicate(id),
            Ok(Created::Cooldown { until }) => Submitted::Cooldown { until },
            Err(e) => Submitted::Deferred(e.to_string()),
        }
    }

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
            Err(why) => {
                self.store
                    .log(id, &format!("rollback asked by {by} refused: {why}"))?;
                Err(Error::Conflict(format!(
                    "task {id} cannot be rolled back: {why}"
                )))
            }
        }
    }

    pub async fn retry(&self, id: u64, by: &str) -> Result<Submitted> {
        let task = self.store.get(id)?;
        if !matches!(
            task.state,
            TaskState::Failed | TaskState::Cancelled | TaskState::RolledBack
        ) {
            return Err(Error::Conflict(format!(
                "task {id} is {}: only failed, cancelled or rolled-back tasks are retried",
                task.state.as_str()
            )));
        }
        if let Some(next) = task.retried_by {
            return Err(Error::Conflict(format!(
                "task {id} was already retried as task {next}"
            )));
        }
        Ok(self
            .submit(Request {
                target: task.target.clone(),
                strategy: task.strategy,
                dry_run: task.dry_run,
                requested_by: by.to_string(),
                fingerprint: None,
                retry_of: Some(id),
            })
            .await)
    }

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
    async fn settle(&self, stale: &[Task]) -> Result<usize> {
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
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if last_recovery.elapsed() >= Duration::from_secs(60) {
                last_recovery = Instant::now();
                if let Err(e) = self.recover().await {
                    tracing::error!(error = %e, "recovery failed");
                }
            }
            self.cluster_engine.sweep_retired(&self.store).await;
        }
    }

    /// Returns once every audit entry of an answered request is on disk.
    pub async fn flush_audit(&self) -> Result<()> {
        self.commit.flush().await
    }

    /// Tells the configured channels how a task ended.
    fn announce(&self, t: &Task) {
        let Some(n) = &self.notifier else { return };
        let event = match t.state {
            TaskState::Succeeded => "task_succeeded",
            TaskState::Failed => "task_failed",
            TaskState::RolledBack => "task_rolled_back",
            _ => return,
        };
        if !n.wants(event) {
            return;
        }
        let vars = crate::notify::render::task_vars(t);
        let text = crate::notify::render::fill(
            &crate::notify::render::template(event, n.config.templates_dir.as_deref()),
            &vars,
        );
        let subject = format!(
            "[smallfiles] merge {} {}: {}",
            t.state.as_str().replace('_', " "),
            t.target.cluster,
            vars["target"]
        );
        if let Err(e) = n.broadcast(&subject, &text) {
            tracing::error!(error = %e, "notification not queued");
        }
    }

    /// The daily digest: merges of the last 24 hours and the tables still alerting.
    pub fn digest(&self) -> Result<(String, String)> {
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let ended = self.store.in_states(&[
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::RolledBack,
        ])?;
        let recent: Vec<&Task> = ended
            .iter()
            .filter(|t| t.updated_at >= since_text)
            .collect();
        let count = |s: TaskState| recent.iter().filter(|t| t.state == s).count();
        let removed: u64 = recent
            .iter()
            .filter_map(|t| t.files_before.zip(t.files_after))
            .map(|(b, a)| b.saturating_sub(a))
            .sum();
        let mut alerting: Vec<crate::store::SeenAlert> = self
            .store
            .seen_alerts()?
            .into_iter()
            .filter(|a| a.status == "firing" && a.at_unix >= since.timestamp())
            .collect();
        alerting.sort_by_key(|a| std::cmp::Reverse(a.at_unix));
        let tables: Vec<String> = alerting
            .iter()
            .take(20)
            .map(|a| {
                let p = a
                    .target
                    .partition
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                format!(
                    "- {} {}.{}{p}: {}",
                    a.target.cluster, a.target.database, a.target.table, a.summary
                )
            })
            .collect();
        let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let vars = std::collections::BTreeMap::from([
            ("date", date.clone()),
            ("succeeded", count(TaskState::Succeeded).to_string()),
            ("failed", count(TaskState::Failed).to_string()),
            ("rolled_back", count(TaskState::RolledBack).to_string()),
            ("files_removed", removed.to_string()),
            (
                "tables",
                if tables.is_empty() {
                    "- none".to_string()
                } else {
                    tables.join("\n")
                },
            ),
        ]);
        let dir = self
            .notifier
            .as_ref()
            .and_then(|n| n.config.templates_dir.clone());
        let text = crate::notify::render::fill(
            &crate::notify::render::template("daily_digest", dir.as_deref()),
            &vars,
        );
        Ok((format!("[smallfiles] daily digest {date}"), text))
    }

    /// Sends the digest every day at `notify.digest_at`, merger.timezone.
    pub async fn run_digest(self: Arc<Self>) {
        let Some(n) = self.notifier.clone() else {
            return;
        };
        let tz: chrono_tz::Tz = self
            .settings
            .merger
            .timezone
            .parse()
            .unwrap_or(chrono_tz::UTC);
        let at =
            chrono::NaiveTime::parse_from_str(&n.config.digest_at, "%H:%M").unwrap_or_default();
        loop {
            let now = chrono::Utc::now().with_timezone(&tz);
            let mut next = now.date_naive().and_time(at);
            if next <= now.naive_local() {
                next += chrono::Duration::days(1);
            }
            let wait = (next - now.naive_local())
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(60));
            tokio::time::sleep(wait).await;
            if n.wants("daily_digest") {
                match self.digest() {
                    Ok((subject, text)) => {
                        if let Err(e) = n.broadcast(&subject, &text) {
                            tracing::error!(error = %e, "digest not queued");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "digest not built"),
                }
            }
        }
    }

    fn record_end(&self, t: &Task, failure: Option<FailureReason>, seconds: f64) {
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
                .apply(
                    task.id,
                    Event::Succeeded {
                        counts: Counts::default(),
                        seconds,
                        message: message.clone(),
                    },
                )
                .and_then(|_| {
                    // The reason says why nothing was merged.
                    self.store.update(task.id, |t| {
                        t.reason = Some(message);
                        Ok(())
                    })
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SwapProgress, SwapStage, UnitProgress};
    use crate::validate::MetastoreCatalog;

    fn service(dir: &std::path::Path) -> Arc<Service> {
        let settings = Settings::parse(&format!(
            "merger:\n  data_dir: {}\nclusters:\n  - name: prod\n    warehouse: file:///w\n",
            dir.display()
        ))
        .unwrap();
        let store = Store::open(&dir.join("merger.redb")).unwrap();
        let catalog = Arc::new(MetastoreCatalog::new(&settings.clusters).unwrap());
        Service::new(settings, store, catalog).unwrap()
    }

    /// Recovery reads each listed task again: one that ended after the list was read (and
    /// left the running set) is not taken for a crashed one.
    #[tokio::test]
    async fn recovery_leaves_a_task_that_ended_since_the_list_alone() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path());
        let t = new_task(
            Target {
                cluster: "prod".into(),
                database: "sales".into(),
                table: "orders".into(),
                partition: None,
            },
            Strategy::Auto,
            Strategy::Concatenate,
            true,
            "ops",
        );
        let Created::New(t) = svc.store.create(t, 0, 0).unwrap() else {
            panic!()
        };
        let listed = svc
            .store
            .update(t.id, |t| {
                t.state = TaskState::Running;
                Ok(())
            })
            .unwrap();
        // It ends between the listing and the recovery's walk.
        svc.store
            .update(t.id, |t| {
                t.state = TaskState::Succeeded;
                Ok(())
            })
            .unwrap();
        assert_eq!(svc.settle(&[listed]).await.unwrap(), 0);
        let now = svc.store.get(t.id).unwrap();
        assert_eq!(now.state, TaskState::Succeeded);
        assert!(!now
            .log
            .iter()
            .any(|l| l.message.contains("the merger stopped")));
    }

    /// A swap that stopped half-way can only be settled by recovery: cancel is refused and the
    /// task is left as it was.
    #[tokio::test]
    async fn an_interrupted_swap_cannot_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path());
        let target = Target {
            cluster: "prod".into(),
            database: "sales".into(),
            table: "orders".into(),
            partition: Some("dt=1".into()),
        };
        let t = new_task(
            target,
            Strategy::InsertOverwrite,
            Strategy::InsertOverwrite,
            false,
            "ops",
        );
        let Created::New(t) = svc.store.create(t, 0, 0).unwrap() else {
            panic!()
        };
        let plan = crate::plan::SwapPlan {
            staging_database: "sales".into(),
            staging_table: "s".into(),
            staging_root: "file:///w/s".into(),
            setup: vec![],
            create_staging: String::new(),
            drop_staging: String::new(),
            units: vec![],
            impala_refresh: false,
        };
        svc.store
            .update(t.id, |t| {
                t.state = TaskState::Interrupted;
                t.swap = Some(SwapProgress {
                    plan,
                    units: vec![UnitProgress {
                        stage: SwapStage::Switching,
                        source: None,
                        files_before: None,
                        bytes_before: None,
                        files_after: None,
                        bytes_after: None,
                        old_digest: None,
                        new_digest: None,
                    }],
                });
                Ok(())
            })
            .unwrap();
        let before = svc.store.get(t.id).unwrap();
        let err = svc.cancel(t.id, "ops").unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert!(err.to_string().contains("recovery settles it"), "{err}");
        assert_eq!(svc.store.get(t.id).unwrap(), before, "nothing changed");
        // A queued task is cancelled at once.
        let other = new_task(
            Target {
                partition: Some("dt=2".into()),
                ..before.target.clone()
            },
            Strategy::Auto,
            Strategy::Concatenate,
            true,
            "ops",
        );
        let Created::New(other) = svc.store.create(other, 0, 0).unwrap() else {
            panic!()
        };
        assert_eq!(
            svc.cancel(other.id, "ops").unwrap().state,
            TaskState::Cancelled
        );
    }
}

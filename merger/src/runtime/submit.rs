//! Requests (webhooks, the API, retries) turned into tasks: the fast duplicate answer, the
//! lookup in the metastore, the strategy, the partitions that can be merged, one write.

use super::*;

impl Service {
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
}

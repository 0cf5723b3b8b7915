//! Changes to tasks inside a write transaction, each keeping the indexes it moves (by state,
//! the active target, the cooldown): the group commit applies many of them in one
//! transaction, [`Store::update`] one in a transaction of its own.

use super::*;

/// The tables a new task, an audit entry or a seen alert writes, opened once per write
/// transaction: the group commit applies hundreds of writes in one transaction, and opening
/// the tables again for each cost more than the writes themselves.
pub(super) struct Writes<'t> {
    tasks: redb::Table<'t, u64, &'static [u8]>,
    active: redb::Table<'t, &'static str, u64>,
    last_success: redb::Table<'t, &'static str, i64>,
    audit: redb::Table<'t, u64, &'static [u8]>,
    meta: redb::Table<'t, &'static str, u64>,
    alerts: redb::Table<'t, &'static str, &'static [u8]>,
    by_state: redb::Table<'t, (&'static str, u64), ()>,
    by_cluster_state: redb::Table<'t, (&'static str, &'static str, u64), ()>,
}

impl<'t> Writes<'t> {
    pub(super) fn open(tx: &'t redb::WriteTransaction) -> Result<Writes<'t>> {
        Ok(Writes {
            tasks: tx.open_table(TASKS).map_err(store_err)?,
            active: tx.open_table(ACTIVE).map_err(store_err)?,
            last_success: tx.open_table(LAST_SUCCESS).map_err(store_err)?,
            audit: tx.open_table(AUDIT).map_err(store_err)?,
            meta: tx.open_table(META).map_err(store_err)?,
            alerts: tx.open_table(ALERTS).map_err(store_err)?,
            by_state: tx.open_table(BY_STATE).map_err(store_err)?,
            by_cluster_state: tx.open_table(BY_CLUSTER_STATE).map_err(store_err)?,
        })
    }
}

/// The change `f` makes to task `id`, inside the caller's write transaction, with the
/// indexes it moves: by state, the active target, the cooldown.
pub(super) fn update_in(
    w: &mut Writes,
    id: u64,
    f: impl FnOnce(&mut Task) -> Result<()>,
) -> Result<Task> {
    let bytes = w
        .tasks
        .get(id)
        .map_err(store_err)?
        .ok_or(Error::NotFound(id))?
        .value()
        .to_vec();
    let mut task: Task = decode(&bytes)?;
    let was_terminal = task.state.is_terminal();
    let old_state = task.state;
    f(&mut task)?;
    if task.state != old_state {
        w.by_state
            .remove((old_state.as_str(), id))
            .map_err(store_err)?;
        w.by_state
            .insert((task.state.as_str(), id), ())
            .map_err(store_err)?;
        let cluster = task.target.cluster.as_str();
        w.by_cluster_state
            .remove((cluster, old_state.as_str(), id))
            .map_err(store_err)?;
        w.by_cluster_state
            .insert((cluster, task.state.as_str(), id), ())
            .map_err(store_err)?;
    }
    task.updated_at = now_rfc3339();
    w.tasks
        .insert(id, encode(&task)?.as_slice())
        .map_err(store_err)?;
    if task.state.is_terminal() && !was_terminal {
        let key = task.target.key();
        if w.active
            .get(key.as_str())
            .map_err(store_err)?
            .map(|v| v.value())
            == Some(id)
        {
            w.active.remove(key.as_str()).map_err(store_err)?;
        }
        // A table with partitions left for the next task does not cool down.
        let work_left = task.selection.as_ref().is_some_and(|s| s.work_left() > 0);
        if task.state == TaskState::Succeeded && !work_left {
            w.last_success
                .insert(key.as_str(), chrono::Utc::now().timestamp())
                .map_err(store_err)?;
        }
    }
    Ok(task)
}

/// The body of [`Store::create`] inside a caller's write transaction.
pub(super) fn create_in(
    w: &mut Writes,
    mut task: Task,
    cooldown_secs: i64,
    now_unix: i64,
    plan: Option<Plan>,
) -> Result<Created> {
    let key = task.target.key();
    if let Some(id) = overlapping_in(&w.active, &task.target)? {
        return Ok(Created::Duplicate(id));
    }
    let last = w
        .last_success
        .get(key.as_str())
        .map_err(store_err)?
        .map(|v| v.value());
    if let Some(t) = last.filter(|t| cooldown_secs > 0 && now_unix < t + cooldown_secs) {
        return Ok(Created::Cooldown {
            until: t + cooldown_secs,
        });
    }
    let id = next_id(&mut w.meta, "next_task_id")?;
    task.id = id;
    if let Some(plan) = plan {
        task.statements = plan(id);
    }
    w.active.insert(key.as_str(), id).map_err(store_err)?;
    if let Some(old) = task.retry_of {
        let prev = w
            .tasks
            .get(old)
            .map_err(store_err)?
            .map(|v| v.value().to_vec());
        if let Some(prev) = prev {
            let mut prev: Task = decode(&prev)?;
            prev.retried_by = Some(id);
            w.tasks
                .insert(old, encode(&prev)?.as_slice())
                .map_err(store_err)?;
        }
    }
    w.tasks
        .insert(id, encode(&task)?.as_slice())
        .map_err(store_err)?;
    w.by_state
        .insert((task.state.as_str(), id), ())
        .map_err(store_err)?;
    w.by_cluster_state
        .insert((task.target.cluster.as_str(), task.state.as_str(), id), ())
        .map_err(store_err)?;
    Ok(Created::New(Box::new(task)))
}

/// The active task whose target overlaps `target` (the same partition, or the whole table on
/// either side), found by a range read over the table's keys.
pub(super) fn overlapping_in(
    active: &impl ReadableTable<&'static str, u64>,
    target: &Target,
) -> Result<Option<u64>> {
    let prefix = target.table_key();
    let own = target.key();
    for row in active.range(prefix.as_str()..).map_err(store_err)? {
        let (k, v) = row.map_err(store_err)?;
        let k = k.value();
        if !k.starts_with(prefix.as_str()) {
            break;
        }
        // The table-level key, the same partition, or any partition when this is the table.
        if k == prefix || k == own || target.partition.is_none() {
            return Ok(Some(v.value()));
        }
    }
    Ok(None)
}

pub(super) fn seen_alert_in(w: &mut Writes, key: &str, alert: &SeenAlert) -> Result<()> {
    w.alerts
        .insert(key, encode(alert)?.as_slice())
        .map_err(store_err)?;
    Ok(())
}

pub(super) fn audit_in(w: &mut Writes, mut entry: AuditEntry) -> Result<u64> {
    let id = next_id(&mut w.meta, "next_audit_id")?;
    entry.id = id;
    w.audit
        .insert(id, encode(&entry)?.as_slice())
        .map_err(store_err)?;
    Ok(id)
}

/// The next id of the counter `key` in `meta` (ids start at 1), counted on.
pub(super) fn next_id(meta: &mut redb::Table<&'static str, u64>, key: &str) -> Result<u64> {
    let id = meta
        .get(key)
        .map_err(store_err)?
        .map(|v| v.value())
        .unwrap_or(1);
    meta.insert(key, id + 1).map_err(store_err)?;
    Ok(id)
}

/// A change of a task's life, as `lifecycle.rs` decides it; a refused change is an
/// [`Error::Conflict`].
pub(super) fn apply_event(task: &mut Task, event: crate::lifecycle::Event) -> Result<()> {
    crate::lifecycle::apply(task, event).map_err(|r| Error::Conflict(r.to_string()))
}

/// The same change for many tasks (the group commit's [`GroupCommit::apply_each_blocking`]): a task the
/// change no longer applies to (it moved meanwhile) or that is gone is left as it is.
pub(super) fn apply_each_in(
    w: &mut Writes,
    ids: &[u64],
    event: &crate::lifecycle::Event,
) -> Result<Vec<Task>> {
    let mut changed = Vec::with_capacity(ids.len());
    for &id in ids {
        match update_in(w, id, |t| apply_event(t, event.clone())) {
            Ok(t) => changed.push(t),
            Err(Error::Conflict(_) | Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}

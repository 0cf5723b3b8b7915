//! What ages out of the store: ended tasks older than `merger.task_retention` and audit entries
//! older than `merger.audit_retention`. Without it the file grows by every task for as long as
//! the merger runs; with it, redb reuses the freed pages and the file stays the size of the
//! retained history (figures in BENCHMARKS.md, `benches/store.rs`).

use std::collections::HashSet;

use redb::ReadableTable;

use super::{decode, retired::Retired, Store, AUDIT, BY_CLUSTER_STATE, BY_STATE, TASKS};
use crate::error::{store_err, Result};
use crate::model::{AuditEntry, Task, ALL_STATES};

impl Store {
    /// Removes ended tasks last changed before `cutoff` (RFC 3339 as the tasks store it,
    /// compared as text), at most `batch` per write transaction so that webhooks never wait
    /// long behind it. A task whose replaced directory still awaits removal is kept: the sweep
    /// writes its outcome into that task. Returns how many were removed.
    pub fn prune_tasks(&self, cutoff: &str, batch: usize) -> Result<usize> {
        let pending: HashSet<u64> = Retired::new(self.db.clone())?
            .all()?
            .into_iter()
            .map(|(_, d)| d.task)
            .collect();
        let mut old = Vec::new();
        {
            let tx = self.db.begin_read().map_err(store_err)?;
            let by_state = tx.open_table(BY_STATE).map_err(store_err)?;
            let tasks = tx.open_table(TASKS).map_err(store_err)?;
            for state in ALL_STATES.iter().filter(|s| s.is_terminal()) {
                let s = state.as_str();
                for row in by_state.range((s, 0)..=(s, u64::MAX)).map_err(store_err)? {
                    let id = row.map_err(store_err)?.0.value().1;
                    if pending.contains(&id) {
                        continue;
                    }
                    if let Some(v) = tasks.get(id).map_err(store_err)? {
                        let task: Task = decode(v.value())?;
                        if task.updated_at.as_str() < cutoff {
                            old.push(id);
                        }
                    }
                }
            }
        }
        old.sort_unstable();
        let mut removed = 0;
        for ids in old.chunks(batch.max(1)) {
            let tx = self.db.begin_write().map_err(store_err)?;
            {
                let mut tasks = tx.open_table(TASKS).map_err(store_err)?;
                let mut by_state = tx.open_table(BY_STATE).map_err(store_err)?;
                let mut by_cluster = tx.open_table(BY_CLUSTER_STATE).map_err(store_err)?;
                for &id in ids {
                    // Read again in the writing transaction: it may have changed since.
                    let Some(v) = tasks.get(id).map_err(store_err)? else {
                        continue;
                    };
                    let task: Task = decode(v.value())?;
                    drop(v);
                    if !task.state.is_terminal() || task.updated_at.as_str() >= cutoff {
                        continue;
                    }
                    let state = task.state.as_str();
                    tasks.remove(id).map_err(store_err)?;
                    by_state.remove((state, id)).map_err(store_err)?;
                    by_cluster
                        .remove((task.target.cluster.as_str(), state, id))
                        .map_err(store_err)?;
                    removed += 1;
                }
            }
            tx.commit().map_err(store_err)?;
        }
        Ok(removed)
    }

    /// Drops audit entries older than `cutoff` (RFC 3339, compared as text: same format).
    pub fn prune_audit(&self, cutoff: &str) -> Result<usize> {
        let tx = self.db.begin_write().map_err(store_err)?;
        let n = {
            let mut t = tx.open_table(AUDIT).map_err(store_err)?;
            let mut old = Vec::new();
            for row in t.iter().map_err(store_err)? {
                let (k, v) = row.map_err(store_err)?;
                let e: AuditEntry = decode(v.value())?;
                if e.at.as_str() < cutoff {
                    old.push(k.value());
                } else {
                    break;
                }
            }
            for k in &old {
                t.remove(*k).map_err(store_err)?;
            }
            old.len()
        };
        tx.commit().map_err(store_err)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use crate::db::retired::{Retired, RetiredDir};
    use crate::db::tests::target;
    use crate::db::{new_task, Created, Store};
    use crate::lifecycle::Event;
    use crate::model::{Strategy, TaskState};

    fn create(s: &Store, t: &str) -> u64 {
        let task = new_task(target(t), Strategy::Auto, Strategy::Concatenate, false, "x");
        let Created::New(task) = s.create(task, 0, 0).unwrap() else {
            panic!("created")
        };
        task.id
    }

    #[test]
    fn ended_tasks_before_the_cutoff_go_the_rest_stay() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("m.redb")).unwrap();
        let ended = create(&s, "t1");
        let pending = create(&s, "t2");
        let awaiting_removal = create(&s, "t3");
        for id in [ended, awaiting_removal] {
            s.apply(id, Event::Started).unwrap();
            s.apply(
                id,
                Event::Failed {
                    message: "x".into(),
                    seconds: 1.0,
                },
            )
            .unwrap();
        }
        Retired::new(s.database())
            .unwrap()
            .add(&RetiredDir {
                task: awaiting_removal,
                target: target("t3"),
                location: "hdfs://ns/w/t3".into(),
                delete_after: 0,
            })
            .unwrap();
        // Nothing ended before a cutoff in the past.
        assert_eq!(s.prune_tasks("2000-01-01T00:00:00.000Z", 10).unwrap(), 0);
        assert_eq!(s.prune_tasks("9999-01-01T00:00:00.000Z", 1).unwrap(), 1);
        assert!(s.get(ended).is_err(), "the ended task is gone");
        assert_eq!(s.get(pending).unwrap().state, TaskState::Pending);
        assert!(s.get(awaiting_removal).is_ok(), "kept for the sweep's note");
        // Its index entries went with it: the counts add up.
        let counted: u64 = s.state_counts().unwrap().iter().map(|(_, n)| n).sum();
        assert_eq!(counted, 2);
        assert_eq!(s.cluster_state_counts().unwrap().values().sum::<u64>(), 2);
        assert_eq!(s.count().unwrap(), 2);
        // The target of the removed task can be merged again (it was not left active).
        create(&s, "t1");
    }
}

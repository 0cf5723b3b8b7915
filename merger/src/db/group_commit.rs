//! The group commit: concurrent writers (new tasks from webhooks, the scheduler's batches,
//! audit entries, alerts seen) share one durable redb commit, and each is answered once its
//! write is on disk. The redb write lock has one holder under load: a writer with a commit of
//! its own would make every webhook in flight wait for its fsync.

use super::*;

enum Op {
    Create {
        task: Box<Task>,
        cooldown: i64,
        now: i64,
        plan: Option<Plan>,
        reply: tokio::sync::oneshot::Sender<Result<Created>>,
    },
    /// An audit entry; `reply` is `None` when nobody waits for it.
    Audit {
        entry: Box<AuditEntry>,
        reply: Option<tokio::sync::oneshot::Sender<Result<u64>>>,
    },
    /// One change for many tasks (the scheduler's batch of new arrivals).
    ApplyEach {
        ids: Vec<u64>,
        event: crate::lifecycle::Event,
        reply: tokio::sync::oneshot::Sender<Result<Vec<Task>>>,
    },
    /// The last alert seen for a target (the digest's view): committed with the next group,
    /// nobody waits for it.
    SeenAlert { key: String, alert: Box<SeenAlert> },
    /// Answered once every write queued before it is committed.
    Barrier {
        reply: tokio::sync::oneshot::Sender<Result<()>>,
    },
}

/// Answers every write of a batch whose transaction could not begin.
fn fail_ops(ops: Vec<Op>, msg: &str) {
    let err = || Error::Store(msg.to_string());
    for op in ops {
        match op {
            Op::Create { reply, .. } => drop(reply.send(Err(err()))),
            Op::Audit { reply, entry } => match reply {
                Some(reply) => drop(reply.send(Err(err()))),
                None => {
                    tracing::error!(error = %msg, action = %entry.action, "audit entry not written")
                }
            },
            Op::ApplyEach { reply, .. } => drop(reply.send(Err(err()))),
            Op::Barrier { reply } => drop(reply.send(Err(err()))),
            Op::SeenAlert { .. } => {
                tracing::warn!(error = %msg, "alert not remembered for the digest")
            }
        }
    }
}

/// One write of a batch, inside the batch's transaction; answered once it is committed.
fn apply_op(w: &mut Writes, op: Op) -> Done {
    match op {
        Op::Create {
            task,
            cooldown,
            now,
            plan,
            reply,
        } => Done::Create(reply, create_in(w, *task, cooldown, now, plan)),
        Op::Audit { entry, reply } => Done::Audit(reply, audit_in(w, *entry)),
        Op::ApplyEach { ids, event, reply } => {
            Done::ApplyEach(reply, apply_each_in(w, &ids, &event))
        }
        Op::Barrier { reply } => Done::Barrier(reply),
        Op::SeenAlert { key, alert } => {
            if let Err(e) = seen_alert_in(w, &key, &alert) {
                tracing::warn!(error = %e, "alert not remembered for the digest");
            }
            Done::Quiet
        }
    }
}

enum Done {
    Create(
        tokio::sync::oneshot::Sender<Result<Created>>,
        Result<Created>,
    ),
    Audit(
        Option<tokio::sync::oneshot::Sender<Result<u64>>>,
        Result<u64>,
    ),
    ApplyEach(
        tokio::sync::oneshot::Sender<Result<Vec<Task>>>,
        Result<Vec<Task>>,
    ),
    Barrier(tokio::sync::oneshot::Sender<Result<()>>),
    Quiet,
}

/// Concurrent writers share one durable commit: under load, many new tasks and audit entries
/// go to disk with one fsync, and each caller is answered only once its write is durable.
#[derive(Clone)]
pub struct GroupCommit {
    tx: std::sync::mpsc::Sender<Op>,
}

impl Store {
    pub fn group_commit(self: &std::sync::Arc<Store>) -> GroupCommit {
        let (tx, rx) = std::sync::mpsc::channel::<Op>();
        let store = self.clone();
        std::thread::Builder::new()
            .name("redb-group-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut ops = vec![first];
                    while ops.len() < 512 {
                        match rx.try_recv() {
                            Ok(op) => ops.push(op),
                            Err(_) => break,
                        }
                    }
                    store.apply_ops(ops);
                }
            })
            .expect("starting the commit thread");
        GroupCommit { tx }
    }

    /// One durable transaction for a batch of writes.
    fn apply_ops(&self, ops: Vec<Op>) {
        let txn = match self.db.begin_write() {
            Ok(t) => t,
            Err(e) => return fail_ops(ops, &e.to_string()),
        };
        let done: Vec<Done> = match Writes::open(&txn) {
            Ok(mut w) => ops.into_iter().map(|op| apply_op(&mut w, op)).collect(),
            Err(e) => return fail_ops(ops, &e.to_string()),
        };
        let committed = txn.commit().map_err(|e| e.to_string());
        if let Err(e) = &committed {
            tracing::error!(error = %e, "a group commit failed");
        }
        let failed = |m: &String| Error::Store(m.clone());
        for d in done {
            match (d, &committed) {
                (Done::Create(reply, r), Ok(())) => drop(reply.send(r)),
                (Done::Create(reply, _), Err(m)) => drop(reply.send(Err(failed(m)))),
                (Done::Audit(Some(reply), r), Ok(())) => drop(reply.send(r)),
                (Done::Audit(Some(reply), _), Err(m)) => drop(reply.send(Err(failed(m)))),
                (Done::Audit(None, _), _) => {}
                (Done::ApplyEach(reply, r), Ok(())) => drop(reply.send(r)),
                (Done::ApplyEach(reply, _), Err(m)) => drop(reply.send(Err(failed(m)))),
                (Done::Barrier(reply), Ok(())) => drop(reply.send(Ok(()))),
                (Done::Barrier(reply), Err(m)) => drop(reply.send(Err(failed(m)))),
                (Done::Quiet, _) => {}
            }
        }
    }

    /// The database, for the notification outbox that shares the file.
    pub fn database(&self) -> std::sync::Arc<Database> {
        self.db.clone()
    }

    /// Remembers the last alert seen for a target, for the daily digest.
    pub fn seen_alerts(&self) -> Result<Vec<SeenAlert>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = match tx.open_table(ALERTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(store_err(e)),
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(store_err)? {
            out.push(decode(row.map_err(store_err)?.1.value())?);
        }
        Ok(out)
    }

    /// The active task whose target overlaps `target`, read without a write transaction.
    pub fn active_overlapping(&self, target: &Target) -> Result<Option<u64>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(ACTIVE).map_err(store_err)?;
        overlapping_in(&t, target)
    }

    /// When the target's cooldown ends, if it is cooling down at `now_unix`.
    pub fn cooling_until(
        &self,
        key: &str,
        cooldown_secs: i64,
        now_unix: i64,
    ) -> Result<Option<i64>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let t = tx.open_table(LAST_SUCCESS).map_err(store_err)?;
        Ok(t.get(key)
            .map_err(store_err)?
            .map(|v| v.value() + cooldown_secs)
            .filter(|until| cooldown_secs > 0 && now_unix < *until))
    }
}

impl GroupCommit {
    fn closed() -> Error {
        Error::Store("the commit thread has stopped".into())
    }

    pub async fn create(
        &self,
        task: Task,
        cooldown: i64,
        now: i64,
        plan: Option<Plan>,
    ) -> Result<Created> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Op::Create {
                task: Box::new(task),
                cooldown,
                now,
                plan,
                reply,
            })
            .map_err(|_| Self::closed())?;
        answer.await.map_err(|_| Self::closed())?
    }

    pub async fn audit(&self, entry: AuditEntry) -> Result<u64> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Op::Audit {
                entry: Box::new(entry),
                reply: Some(reply),
            })
            .map_err(|_| Self::closed())?;
        answer.await.map_err(|_| Self::closed())?
    }

    /// The same change for many tasks, in the next durable commit (one fsync, however many
    /// tasks, shared with the webhooks' new tasks). For callers on a blocking thread (the
    /// scheduler); a task the change no longer applies to is left as it is.
    pub fn apply_each_blocking(
        &self,
        ids: Vec<u64>,
        event: crate::lifecycle::Event,
    ) -> Result<Vec<Task>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Op::ApplyEach { ids, event, reply })
            .map_err(|_| Self::closed())?;
        answer.blocking_recv().map_err(|_| Self::closed())?
    }

    /// Waits until every write queued so far is committed (FIFO), e.g. before reading the audit.
    pub async fn flush(&self) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Op::Barrier { reply })
            .map_err(|_| Self::closed())?;
        answer.await.map_err(|_| Self::closed())?
    }

    /// Remembers the last alert of a target for the digest with the next group commit; the
    /// webhook's answer does not wait for it.
    pub fn record_alert_soon(&self, key: String, alert: SeenAlert) -> Result<()> {
        self.tx
            .send(Op::SeenAlert {
                key,
                alert: Box::new(alert),
            })
            .map_err(|_| Self::closed())
    }

    /// Queues an audit entry for the next group commit without waiting for it: it reaches the
    /// disk within milliseconds, behind every task write queued before it.
    pub fn audit_soon(&self, entry: AuditEntry) -> Result<()> {
        self.tx
            .send(Op::Audit {
                entry: Box::new(entry),
                reply: None,
            })
            .map_err(|_| Self::closed())
    }
}

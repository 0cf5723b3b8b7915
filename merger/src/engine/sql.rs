//! Where merge statements go: a SQL session behind a small trait (HiveServer2 for Hive, Spark's
//! Thrift Server and Impala), and the journal that writes every statement, its duration and
//! the server's message into the task's log.

use std::time::Instant;

use futures::future::BoxFuture;
use smallfiles_cluster::hiveserver2::{Cell, Hs2Config, ResultSet, Session};
use tokio_util::sync::CancellationToken;

use crate::db::Store;
use crate::model::{now_rfc3339, Fingerprint, LogLine, Task};

/// Why a statement (or a session) did not give a result. A caller matches on it; the text is
/// the server's or the transport's own, for the task's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// The server refused or failed the statement (its message).
    #[error("{0}")]
    Failed(String),
    /// The statement was stopped because the task was cancelled.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// No session could be opened, or the connection broke.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered something the merge cannot read (a count without a row).
    #[error("unexpected answer: {0}")]
    BadAnswer(String),
}

pub trait SqlSession: Send {
    /// Runs a statement; when `cancel` fires first, the server is told to stop it.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        cancel: Option<CancellationToken>,
    ) -> BoxFuture<'a, Result<ResultSet, SqlError>>;
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A new session and the server's product name ("Apache Hive", "Spark SQL", "Impala").
pub type Opened = (Box<dyn SqlSession>, String);

pub trait Connector: Send + Sync {
    fn open(&self) -> BoxFuture<'_, Result<Opened, SqlError>>;
}

/// A HiveServer2-protocol endpoint.
pub struct Hs2Connector {
    pub config: Hs2Config,
}

struct Hs2Session(Session);

impl SqlSession for Hs2Session {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        cancel: Option<CancellationToken>,
    ) -> BoxFuture<'a, Result<ResultSet, SqlError>> {
        Box::pin(async move {
            let result = match &cancel {
                Some(token) => {
                    let token = token.clone();
                    self.0
                        .execute_until(sql, async move { token.cancelled().await })
                        .await
                }
                None => self.0.execute(sql).await,
            };
            // Whether it was cancelled is the task's token's to say, not the message's.
            result.map_err(|e| match (&cancel, &e) {
                (Some(t), _) if t.is_cancelled() => SqlError::Cancelled(e.to_string()),
                // The server went away mid-call: not a refusal (recovery finishes the step).
                (_, smallfiles_cluster::Error::HiveServer2Lost(_)) => {
                    SqlError::Unreachable(e.to_string())
                }
                _ => SqlError::Failed(e.to_string()),
            })
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Err(e) = self.0.close().await {
                tracing::debug!(error = %e, "closing a HiveServer2 session");
            }
        })
    }
}

impl Connector for Hs2Connector {
    fn open(&self) -> BoxFuture<'_, Result<Opened, SqlError>> {
        Box::pin(async move {
            let mut s = Session::open(&self.config)
                .await
                .map_err(|e| SqlError::Unreachable(e.to_string()))?;
            // Servers without GetInfo answer as Hive does.
            let name = s
                .server_name()
                .await
                .unwrap_or_else(|_| "Apache Hive".into());
            Ok((Box::new(Hs2Session(s)) as Box<dyn SqlSession>, name))
        })
    }
}

/// Writes what a task does into its log as it happens, and runs its statements (cancelled
/// with the task, when it has a token).
pub struct Journal<'a> {
    pub store: &'a Store,
    pub task: u64,
    pub cancel: Option<CancellationToken>,
}

impl<'a> Journal<'a> {
    pub fn new(store: &'a Store, task: u64) -> Journal<'a> {
        Journal {
            store,
            task,
            cancel: None,
        }
    }

    pub fn with_cancel(mut self, token: CancellationToken) -> Journal<'a> {
        self.cancel = Some(token);
        self
    }

    /// The same journal for statements that must run even after a cancel (rollback).
    pub fn uncancellable(&self) -> Journal<'a> {
        Journal::new(self.store, self.task)
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }

    pub fn note(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(task = self.task, "{message}");
        if let Err(e) = self.store.update(self.task, |t| {
            t.log.push(LogLine {
                at: now_rfc3339(),
                message,
            });
            Ok(())
        }) {
            tracing::error!(task = self.task, error = %e, "task log not written");
        }
    }

    /// Applies `f` to the task in one commit (stages, counters).
    pub fn record(&self, f: impl FnOnce(&mut Task)) -> Result<Task, super::EngineError> {
        self.store
            .update(self.task, |t| {
                f(t);
                Ok(())
            })
            .map_err(|e| super::EngineError::Store(format!("task store: {e}")))
    }

    /// Runs one statement, logging it with its duration or the server's message.
    pub async fn run(
        &self,
        session: &mut dyn SqlSession,
        sql: &str,
    ) -> Result<ResultSet, SqlError> {
        let started = Instant::now();
        let result = session.execute(sql, self.cancel.clone()).await;
        let secs = started.elapsed().as_secs_f64();
        match &result {
            Ok(rs) if rs.rows.is_empty() => self.note(format!("ran in {secs:.2} s: {sql}")),
            Ok(rs) => self.note(format!(
                "ran in {secs:.2} s ({} rows): {sql}",
                rs.rows.len()
            )),
            Err(e) => self.note(format!("failed after {secs:.2} s: {sql}: {e}")),
        }
        result
    }

    pub async fn fingerprint(
        &self,
        session: &mut dyn SqlSession,
        sql: &str,
    ) -> Result<Fingerprint, SqlError> {
        let rs = self.run(session, sql).await?;
        let fp = parse_fingerprint(&rs)?;
        self.note(format!("  = {fp}"));
        Ok(fp)
    }
}

/// The one row of `SELECT COUNT(*), SUM(…)`.
pub fn parse_fingerprint(rs: &ResultSet) -> Result<Fingerprint, SqlError> {
    let row = rs
        .rows
        .first()
        .ok_or_else(|| SqlError::BadAnswer("the count returned no row".into()))?;
    let int = |c: Option<&Cell>| match c {
        Some(Cell::Int(n)) => Some(*n),
        Some(Cell::Text(t)) => t.trim().parse().ok(),
        Some(Cell::Double(d)) if d.fract() == 0.0 => Some(*d as i64),
        _ => None,
    };
    let rows = int(row.first())
        .ok_or_else(|| SqlError::BadAnswer(format!("the count is not a number: {row:?}")))?;
    Ok(Fingerprint {
        rows,
        checksum: int(row.get(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_from_result_rows() {
        let rs = |row: Vec<Cell>| ResultSet {
            columns: vec!["c".into(), "s".into()],
            rows: vec![row],
        };
        assert_eq!(
            parse_fingerprint(&rs(vec![Cell::Int(500), Cell::Int(-77)])).unwrap(),
            Fingerprint {
                rows: 500,
                checksum: Some(-77)
            }
        );
        // An empty unit: SUM is NULL.
        assert_eq!(
            parse_fingerprint(&rs(vec![Cell::Int(0), Cell::Null])).unwrap(),
            Fingerprint {
                rows: 0,
                checksum: None
            }
        );
        assert_eq!(
            parse_fingerprint(&rs(vec![Cell::Text("12".into()), Cell::Text("3".into())]))
                .unwrap()
                .rows,
            12
        );
        assert!(parse_fingerprint(&ResultSet::default()).is_err());
        assert!(parse_fingerprint(&rs(vec![Cell::Null, Cell::Null])).is_err());
    }
}

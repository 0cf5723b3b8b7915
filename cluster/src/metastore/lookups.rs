//! Lookups of single tables that arrive together share one metastore query, as concurrent
//! writers share one commit: a burst of alerts (Alertmanager restarted, a cluster-wide
//! incident) asks the metastore a few queries for many tables instead of five per table.
//!
//! A lookup that arrives alone goes out at once, as one query for one table. While
//! [`IN_FLIGHT`] queries are out, new lookups wait and go together in the next one.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{MetastoreSource, TableName, TableRecord};
use crate::error::{Error, Result};

/// Queries out at once; the rest of the lookups wait for the next one.
const IN_FLIGHT: usize = 2;
/// Tables in one query at most.
const MAX_TABLES: usize = 64;

struct Lookup {
    name: TableName,
    reply: oneshot::Sender<Result<Option<TableRecord>>>,
}

/// A metastore whose single-table lookups are gathered into shared queries.
pub struct TableLookups<S> {
    source: Arc<S>,
    /// Started with the first lookup, on the runtime that asks.
    queue: OnceLock<mpsc::UnboundedSender<Lookup>>,
}

impl<S: MetastoreSource + 'static> TableLookups<S> {
    pub fn new(source: Arc<S>) -> Self {
        TableLookups {
            source,
            queue: OnceLock::new(),
        }
    }

    /// The metastore itself, for everything but table lookups.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// One table; `database` may be `@catalog#db`.
    pub async fn find_table(&self, database: &str, table: &str) -> Result<Option<TableRecord>> {
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup {
            name: TableName::new(database, table),
            reply,
        };
        let stopped = || Error::Metastore {
            url: self.source.describe(),
            message: "the table lookups have stopped".into(),
        };
        self.queue().send(lookup).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn queue(&self) -> &mpsc::UnboundedSender<Lookup> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(gather(self.source.clone(), rx));
            tx
        })
    }
}

/// Takes what has queued up while the queries in flight were out, up to [`MAX_TABLES`], and
/// sends it as one query. Ends when the [`TableLookups`] is dropped.
async fn gather<S: MetastoreSource + 'static>(
    source: Arc<S>,
    mut queue: mpsc::UnboundedReceiver<Lookup>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_TABLES {
            match queue.try_recv() {
                Ok(l) => batch.push(l),
                Err(_) => break,
            }
        }
        let source = source.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let names: Vec<TableName> = batch.iter().map(|l| l.name.clone()).collect();
            match source.find_tables(&names).await {
                Ok(found) => {
                    for (lookup, table) in batch.into_iter().zip(found) {
                        let _ = lookup.reply.send(Ok(table));
                    }
                }
                Err(e) => {
                    for lookup in batch {
                        let _ = lookup.reply.send(Err(shared(&e, &*source)));
                    }
                }
            }
        });
    }
}

/// The error of a shared query, for each lookup that was in it.
fn shared(e: &Error, source: &impl MetastoreSource) -> Error {
    match e {
        Error::Metastore { url, message } => Error::Metastore {
            url: url.clone(),
            message: message.clone(),
        },
        other => Error::Metastore {
            url: source.describe(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metastore::{PartitionRecord, PartitionSpan, SchemaInfo};
    use std::sync::Mutex;

    /// A metastore that knows every table but `missing`, fails a query that asks for `boom`,
    /// and records the size of each query.
    #[derive(Default)]
    struct Recording {
        queries: Mutex<Vec<usize>>,
    }

    impl MetastoreSource for Recording {
        fn describe(&self) -> String {
            "recording".into()
        }
        async fn schema_info(&self) -> Result<SchemaInfo> {
            unimplemented!("not asked by lookups")
        }
        async fn tables(&self) -> Result<Vec<TableRecord>> {
            unimplemented!("not asked by lookups")
        }
        async fn partitions_after(&self, _: i64, _: u32) -> Result<Vec<PartitionRecord>> {
            unimplemented!("not asked by lookups")
        }
        async fn partition_span(&self) -> Result<Option<PartitionSpan>> {
            unimplemented!("not asked by lookups")
        }
        async fn partitions_in(&self, _: i64, _: i64) -> Result<Vec<PartitionRecord>> {
            unimplemented!("not asked by lookups")
        }
        async fn find_tables(&self, names: &[TableName]) -> Result<Vec<Option<TableRecord>>> {
            self.queries.lock().unwrap().push(names.len());
            tokio::task::yield_now().await;
            if names.iter().any(|n| n.table == "boom") {
                return Err(Error::Metastore {
                    url: "recording".into(),
                    message: "lost connection".into(),
                });
            }
            Ok(names
                .iter()
                .map(|n| {
                    (n.table != "missing").then(|| TableRecord {
                        database: n.database.clone(),
                        name: n.table.clone(),
                        ..Default::default()
                    })
                })
                .collect())
        }
        async fn partitions_of(&self, _: i64) -> Result<Vec<PartitionRecord>> {
            unimplemented!("not asked by lookups")
        }
        async fn find_partition(&self, _: i64, _: &str) -> Result<Option<PartitionRecord>> {
            unimplemented!("not asked by lookups")
        }
    }

    #[tokio::test]
    async fn lookups_that_arrive_together_share_queries_and_each_gets_its_own_answer() {
        let source = Arc::new(Recording::default());
        let lookups = TableLookups::new(source.clone());
        let names: Vec<String> = (0..100).map(|i| format!("T{i}")).collect();
        let found = futures::future::join_all(
            names
                .iter()
                .map(|n| lookups.find_table("Sales", n))
                .chain([lookups.find_table("sales", "missing")]),
        )
        .await;
        for (i, t) in found[..100].iter().enumerate() {
            let t = t.as_ref().unwrap().as_ref().unwrap();
            assert_eq!(
                (t.database.as_str(), t.name.clone()),
                ("sales", format!("t{i}"))
            );
        }
        assert!(found[100].as_ref().unwrap().is_none());
        let queries = source.queries.lock().unwrap().clone();
        assert_eq!(
            queries.iter().sum::<usize>(),
            101,
            "every lookup asked once"
        );
        assert!(
            queries.len() <= 101_usize.div_ceil(MAX_TABLES) + IN_FLIGHT,
            "101 lookups at once went in {} queries",
            queries.len()
        );
        assert!(queries.iter().all(|&n| n <= MAX_TABLES));
    }

    #[tokio::test]
    async fn a_failed_query_fails_each_lookup_in_it_and_the_next_ones_still_go_out() {
        let source = Arc::new(Recording::default());
        let lookups = TableLookups::new(source.clone());
        let (a, boom) = futures::future::join(
            lookups.find_table("db", "a"),
            lookups.find_table("db", "boom"),
        )
        .await;
        assert!(
            matches!(boom, Err(Error::Metastore { ref message, .. }) if message == "lost connection")
        );
        // `a` shared the failed query or went alone before it.
        if let Err(e) = a {
            assert!(e.to_string().contains("lost connection"), "{e}");
        }
        let later = lookups.find_table("db", "b").await.unwrap().unwrap();
        assert_eq!(later.name, "b");
    }
}

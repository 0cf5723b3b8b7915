//! Checking a target against the cluster's metastore before a task is queued: the names are
//! looked up with bound parameters and the metastore's spelling is kept.

use std::collections::HashMap;

use futures::future::BoxFuture;
use smallfiles_cluster::metastore::{Metastore, MetastoreSource, PartitionRecord, TableRecord};

use crate::model::Target;

pub struct Resolved {
    pub table: TableRecord,
    /// The named partition, or every partition of a partitioned table for a table-level target.
    pub partitions: Vec<PartitionRecord>,
    /// Whether the target named one partition.
    pub one_partition: bool,
}

impl Resolved {
    /// Where the target's data is now: the named partition's location, or the table's.
    pub fn location(&self) -> Option<&str> {
        if self.one_partition {
            self.partitions.first()?.location.as_deref()
        } else {
            self.table.data_location()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LookupError {
    /// The target is wrong: answer and audit, never queue.
    Rejected(String),
    /// The metastore could not be asked: Alertmanager should retry later.
    Unavailable(String),
}

pub trait Catalog: Send + Sync {
    fn resolve<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Resolved, LookupError>>;
    /// One table as the metastore has it now (`Ok(None)`: there is none).
    fn table<'a>(
        &'a self,
        cluster: &'a str,
        database: &'a str,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<TableRecord>, LookupError>>;
}

pub struct MetastoreCatalog {
    metastores: HashMap<String, Metastore>,
}

impl MetastoreCatalog {
    pub fn new(
        clusters: &[smallfiles_cluster::config::ClusterConfig],
    ) -> crate::Result<MetastoreCatalog> {
        let mut metastores = HashMap::new();
        for c in clusters {
            if let Some(m) = &c.metastore {
                metastores.insert(c.name.clone(), Metastore::from_config(m)?);
            }
        }
        Ok(MetastoreCatalog { metastores })
    }
}

impl Catalog for MetastoreCatalog {
    fn table<'a>(
        &'a self,
        cluster: &'a str,
        database: &'a str,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<TableRecord>, LookupError>> {
        Box::pin(async move {
            let ms = self.metastores.get(cluster).ok_or_else(|| {
                LookupError::Rejected(format!("cluster {cluster} has no metastore"))
            })?;
            ms.find_table(database, table)
                .await
                .map_err(|e| LookupError::Unavailable(e.to_string()))
        })
    }

    fn resolve<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Resolved, LookupError>> {
        Box::pin(async move {
            let ms = self.metastores.get(&target.cluster).ok_or_else(|| {
                LookupError::Rejected(format!(
                    "cluster {} has no metastore: merges need one",
                    target.cluster
                ))
            })?;
            let unavailable =
                |e: smallfiles_cluster::Error| LookupError::Unavailable(e.to_string());
            let table = ms
                .find_table(&target.database, &target.table)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    LookupError::Rejected(format!(
                        "table {}.{} does not exist in the metastore of {}",
                        target.database, target.table, target.cluster
                    ))
                })?;
            let partitions = match &target.partition {
                None if table.is_partitioned() => {
                    ms.partitions_of(table.id).await.map_err(unavailable)?
                }
                None => Vec::new(),
                Some(p) => vec![ms
                    .find_partition(table.id, p)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| {
                        LookupError::Rejected(format!(
                            "partition {p} of {}.{} does not exist",
                            table.database, table.name
                        ))
                    })?],
            };
            if table.is_partitioned() && partitions.is_empty() {
                return Err(LookupError::Rejected(format!(
                    "{}.{} has no partitions",
                    table.database, table.name
                )));
            }
            Ok(Resolved {
                table,
                partitions,
                one_partition: target.partition.is_some(),
            })
        })
    }
}

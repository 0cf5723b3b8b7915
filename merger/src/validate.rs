//! Checking a target against the cluster's metastore before a task is queued: the names are
//! looked up with bound parameters and the metastore's spelling is kept.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use smallfiles_cluster::hdfs::{ClusterFs, Location, RequestCounters};
use smallfiles_cluster::metastore::{
    Metastore, MetastoreSource, PartitionRecord, TableLookups, TableRecord,
};
use smallfiles_cluster::warehouse::{find_table, DiscoveredTable};

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

/// Where a cluster's tables are looked up.
enum Source {
    /// Lookups of single tables that arrive together (a burst of alerts) share one query.
    Metastore(TableLookups<Metastore>),
    /// A metastore-less cluster, read from its warehouse layout: enough to plan a dry run,
    /// never to merge (the layout does not tell a table's format, columns or owner).
    Warehouse { fs: ClusterFs, root: Location },
}

pub struct ClusterCatalog {
    sources: HashMap<String, Source>,
}

impl ClusterCatalog {
    /// Clusters with a metastore are asked there. With `dry_run` (the merger's own setting:
    /// every task is then a dry run), metastore-less clusters are read from their warehouse
    /// directories; otherwise they cannot be merged.
    pub fn new(
        clusters: &[smallfiles_cluster::config::ClusterConfig],
        defaults: &smallfiles_cluster::config::Defaults,
        dry_run: bool,
    ) -> crate::Result<ClusterCatalog> {
        let mut sources = HashMap::new();
        for c in clusters {
            if let Some(m) = &c.metastore {
                sources.insert(
                    c.name.clone(),
                    Source::Metastore(TableLookups::new(Arc::new(Metastore::from_config(m)?))),
                );
            } else if let (Some(raw), true) = (&c.warehouse, dry_run) {
                let fs = ClusterFs::for_cluster(
                    c,
                    &c.effective(defaults),
                    Arc::new(RequestCounters::default()),
                )?;
                let root = fs.location(raw);
                sources.insert(c.name.clone(), Source::Warehouse { fs, root });
            }
        }
        Ok(ClusterCatalog { sources })
    }

    fn source(&self, cluster: &str) -> Result<&Source, LookupError> {
        self.sources.get(cluster).ok_or_else(|| {
            LookupError::Rejected(format!(
                "cluster {cluster} has no metastore: merges need one (a metastore-less cluster can only be planned by a merger with dry_run: true)"
            ))
        })
    }
}

fn from_layout(found: DiscoveredTable) -> (TableRecord, Vec<PartitionRecord>) {
    let partitions = found
        .partitions
        .into_iter()
        .enumerate()
        .map(|(i, p)| PartitionRecord {
            id: i as i64 + 1,
            table_id: found.record.id,
            location: p.location.uri(),
            name: p.name,
            ..Default::default()
        })
        .collect();
    (found.record, partitions)
}

impl Catalog for ClusterCatalog {
    fn table<'a>(
        &'a self,
        cluster: &'a str,
        database: &'a str,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<TableRecord>, LookupError>> {
        Box::pin(async move {
            match self.source(cluster)? {
                Source::Metastore(ms) => ms.find_table(database, table).await.map_err(unavailable),
                Source::Warehouse { fs, root } => Ok(find_table(fs, root, database, table)
                    .await
                    .map_err(unavailable)?
                    .map(|t| t.record)),
            }
        })
    }

    fn resolve<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Resolved, LookupError>> {
        Box::pin(async move {
            let (table, partitions) = match self.source(&target.cluster)? {
                Source::Metastore(ms) => from_metastore(ms, target).await?,
                Source::Warehouse { fs, root } => from_warehouse(fs, root, target).await?,
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

fn unavailable(e: smallfiles_cluster::Error) -> LookupError {
    LookupError::Unavailable(e.to_string())
}

fn no_partition(p: &str, table: &TableRecord) -> LookupError {
    LookupError::Rejected(format!(
        "partition {p} of {}.{} does not exist",
        table.database, table.name
    ))
}

/// The table, and the named partition or all of them for a table-level target.
async fn from_metastore(
    lookups: &TableLookups<Metastore>,
    target: &Target,
) -> Result<(TableRecord, Vec<PartitionRecord>), LookupError> {
    let ms = lookups.source();
    let table = lookups
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
        None if table.is_partitioned() => ms.partitions_of(table.id).await.map_err(unavailable)?,
        None => Vec::new(),
        Some(p) => vec![ms
            .find_partition(table.id, p)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| no_partition(p, &table))?],
    };
    Ok((table, partitions))
}

/// The same from the warehouse layout (dry runs of metastore-less clusters).
async fn from_warehouse(
    fs: &ClusterFs,
    root: &Location,
    target: &Target,
) -> Result<(TableRecord, Vec<PartitionRecord>), LookupError> {
    let found = find_table(fs, root, &target.database, &target.table)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            LookupError::Rejected(format!(
                "table {}.{} does not exist in the warehouse of {}",
                target.database, target.table, target.cluster
            ))
        })?;
    let (table, mut partitions) = from_layout(found);
    if let Some(p) = &target.partition {
        partitions.retain(|q| &q.name == p);
        if partitions.is_empty() {
            return Err(no_partition(p, &table));
        }
    }
    Ok((table, partitions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallfiles_cluster::config::Config;

    fn target(table: &str, partition: Option<&str>) -> Target {
        Target {
            cluster: "w".into(),
            database: "sales".into(),
            table: table.into(),
            partition: partition.map(Into::into),
        }
    }

    /// A metastore-less cluster is resolved from its directories by a dry-run merger only.
    #[tokio::test]
    async fn warehouse_clusters_are_planned_in_dry_runs_only() {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "sales.db/orders/dt=1",
            "sales.db/orders/dt=2",
            "sales.db/empty_parts/dt=3",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let config = Config::parse(&format!(
            "clusters:\n  - name: w\n    warehouse: \"file://{}\"\n",
            dir.path().display()
        ))
        .unwrap();
        let merging = ClusterCatalog::new(&config.clusters, &config.defaults, false).unwrap();
        match merging.resolve(&target("orders", None)).await {
            Err(LookupError::Rejected(why)) => assert!(why.contains("dry_run"), "{why}"),
            _ => panic!("a merging merger resolved a metastore-less table"),
        }
        let dry = ClusterCatalog::new(&config.clusters, &config.defaults, true).unwrap();
        let r = dry.resolve(&target("orders", None)).await.unwrap();
        assert_eq!(
            r.table.partition_keys,
            [("dt".to_string(), "string".to_string())]
        );
        let names: Vec<&str> = r.partitions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dt=1", "dt=2"]);
        assert_eq!(
            r.partitions[1].location.as_deref(),
            Some(format!("file://{}/sales.db/orders/dt=2", dir.path().display()).as_str())
        );
        let one = dry.resolve(&target("orders", Some("dt=2"))).await.unwrap();
        assert!(one.one_partition && one.partitions.len() == 1);
        assert!(matches!(
            dry.resolve(&target("orders", Some("dt=9"))).await,
            Err(LookupError::Rejected(_))
        ));
        assert!(matches!(
            dry.resolve(&target("missing", None)).await,
            Err(LookupError::Rejected(_))
        ));
        assert!(dry.table("w", "sales", "orders").await.unwrap().is_some());
        assert!(dry.table("w", "sales", "nope").await.unwrap().is_none());
    }
}

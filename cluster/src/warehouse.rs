//! Clusters without a metastore: tables are found from the Hive warehouse layout
//! `<warehouse>/<db>.db/<table>/<k1=v1>/<k2=v2>/…`; tables directly under the warehouse root
//! belong to the `default` database, as in Hive.

use std::future::Future;

use crate::hdfs::fsimage::Namespace;
use crate::hdfs::{is_hidden, ClusterFs, FileKind, FileStatus, Location};
use crate::metastore::TableRecord;
use crate::{Error, HdfsErrorKind, Result};

/// What the layout is read from: the file system's listings, or the directories of an
/// fsimage (`hdfs.mode: fsimage`), where only directories are listed and times are 0.
pub trait Layout: Sync {
    fn list(&self, loc: &Location) -> impl Future<Output = Result<Vec<FileStatus>>> + Send;
}

impl Layout for ClusterFs {
    fn list(&self, loc: &Location) -> impl Future<Output = Result<Vec<FileStatus>>> + Send {
        ClusterFs::list(self, loc)
    }
}

impl Layout for Namespace {
    async fn list(&self, loc: &Location) -> Result<Vec<FileStatus>> {
        let path = match loc {
            Location::Hdfs(p) => p,
            Location::Local(p) | Location::Unsupported(p) => {
                return Err(Error::UnsupportedScheme(p.clone()))
            }
        };
        let dirs = self.list_dirs(path).ok_or_else(|| Error::Hdfs {
            op: "FSIMAGE",
            path: path.clone(),
            kind: HdfsErrorKind::NotFound(format!("{path} is not a directory of the image")),
        })?;
        Ok(dirs
            .into_iter()
            .map(|name| FileStatus {
                name,
                kind: FileKind::Directory,
                length: 0,
                modification_time: 0,
                owner: String::new(),
            })
            .collect())
    }
}

/// A table found on disk, with its partitions. The directory times come from the listings the
/// discovery made anyway, so the incremental scan needs no status call of its own.
#[derive(Debug, Clone)]
pub struct DiscoveredTable {
    pub record: TableRecord,
    pub location: Location,
    /// The table directory's modification time (milliseconds since the epoch).
    pub mtime: i64,
    pub partitions: Vec<DiscoveredPartition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredPartition {
    /// Directory names joined by `/`, as Hive names partitions.
    pub name: String,
    pub location: Location,
    pub mtime: i64,
}

fn is_partition_dir(name: &str) -> bool {
    matches!(name.split_once('='), Some((k, _)) if !k.is_empty())
}

pub async fn discover(
    fs: &impl Layout,
    root: &Location,
    wanted: impl Fn(&str, &str) -> bool,
) -> Result<Vec<DiscoveredTable>> {
    let mut tables = Vec::new();
    let mut databases = Vec::new();
    let mut default_tables = Vec::new();
    for e in fs.list(root).await? {
        if e.kind != FileKind::Directory || is_hidden(&e.name) {
            continue;
        }
        match e.name.strip_suffix(".db") {
            Some(db) if !db.is_empty() => {
                databases.push((db.to_string(), ClusterFs::child(root, &e.name)))
            }
            _ => default_tables.push((e.name, e.modification_time)),
        }
    }
    let mut candidates: Vec<(String, String, Location, i64)> = default_tables
        .into_iter()
        .map(|(t, mtime)| {
            let loc = ClusterFs::child(root, &t);
            ("default".to_string(), t, loc, mtime)
        })
        .collect();
    for (db, loc) in databases {
        for e in fs.list(&loc).await? {
            if e.kind == FileKind::Directory && !is_hidden(&e.name) {
                let table = ClusterFs::child(&loc, &e.name);
                candidates.push((db.clone(), e.name, table, e.modification_time));
            }
        }
    }
    for (db, name, loc, mtime) in candidates {
        if wanted(&db, &name) {
            let id = tables.len() as i64 + 1;
            tables.push(table_at(fs, id, db, name, loc, mtime).await?);
        }
    }
    Ok(tables)
}

/// One table of the layout, `<root>/<db>.db/<table>` (`<root>/<table>` for `default`), as
/// [`discover`] would find it; `Ok(None)` when there is no such directory.
pub async fn find_table(
    fs: &impl Layout,
    root: &Location,
    database: &str,
    table: &str,
) -> Result<Option<DiscoveredTable>> {
    if table.is_empty() || is_hidden(table) || table.contains('/') || database.contains('/') {
        return Ok(None);
    }
    let parent = if database == "default" {
        root.clone()
    } else {
        ClusterFs::child(root, &format!("{database}.db"))
    };
    let entries = match fs.list(&parent).await {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(dir) = entries
        .into_iter()
        .find(|e| e.kind == FileKind::Directory && e.name == table)
    else {
        return Ok(None);
    };
    let loc = ClusterFs::child(&parent, table);
    let found = table_at(fs, 1, database.into(), dir.name, loc, dir.modification_time).await?;
    Ok(Some(found))
}

/// The table at `loc` with the partitions its directories show; its record is what the
/// metastore would say of an external text table there (the layout tells no more).
async fn table_at(
    fs: &impl Layout,
    id: i64,
    db: String,
    name: String,
    loc: Location,
    mtime: i64,
) -> Result<DiscoveredTable> {
    let (keys, partitions) = match partitions_of(fs, &loc).await {
        Ok(found) => found,
        Err(e) if e.is_namenode_unreachable() => return Err(e),
        // A table whose layout cannot be read is counted as one directory: its listing
        // fails again there and the table alone is reported failed.
        Err(e) => {
            tracing::warn!(database = %db, table = %name, error = %e, "partitions not discovered");
            (Vec::new(), Vec::new())
        }
    };
    Ok(DiscoveredTable {
        record: TableRecord {
            id,
            catalog: "hive".into(),
            database: db,
            name,
            table_type: "EXTERNAL_TABLE".into(),
            location: loc.uri(),
            partition_keys: keys.into_iter().map(|k| (k, "string".into())).collect(),
            num_buckets: -1,
            ..Default::default()
        },
        location: loc,
        mtime,
        partitions,
    })
}

/// Descends `k=v` directories as long as a level consists of them; the keys are those of the
/// first partition found.
async fn partitions_of(
    fs: &impl Layout,
    table: &Location,
) -> Result<(Vec<String>, Vec<DiscoveredPartition>)> {
    let mut keys: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut pending: Vec<(String, Location, i64)> = vec![(String::new(), table.clone(), 0)];
    while let Some((prefix, loc, mtime)) = pending.pop() {
        let entries = fs.list(&loc).await?;
        let dirs: Vec<(&str, i64)> = entries
            .iter()
            .filter(|e| {
                e.kind == FileKind::Directory && !is_hidden(&e.name) && is_partition_dir(&e.name)
            })
            .map(|e| (e.name.as_str(), e.modification_time))
            .collect();
        if dirs.is_empty() {
            if !prefix.is_empty() {
                out.push(DiscoveredPartition {
                    name: prefix,
                    location: loc,
                    mtime,
                });
            }
            continue;
        }
        let depth = if prefix.is_empty() {
            0
        } else {
            prefix.matches('/').count() + 1
        };
        if keys.len() == depth {
            keys.push(
                dirs[0]
                    .0
                    .split_once('=')
                    .map(|(k, _)| k.to_string())
                    .unwrap_or_default(),
            );
        }
        for (d, mtime) in dirs {
            let name = if prefix.is_empty() {
                d.to_string()
            } else {
                format!("{prefix}/{d}")
            };
            pending.push((name, ClusterFs::child(&loc, d), mtime));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((keys, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdfs::LocalFs;

    #[tokio::test]
    async fn finds_databases_tables_and_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in [
            "sales.db/orders/dt=2024-01-01/hr=0",
            "sales.db/orders/dt=2024-01-01/hr=1",
            "sales.db/orders/dt=2024-01-02/hr=0",
            "sales.db/customers",
            "logs",
            ".Trash/x",
            "sales.db/.hive-staging",
        ] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::write(p.join("sales.db/customers/000000_0"), b"x").unwrap();
        let fs = ClusterFs {
            webhdfs: None,
            rpc: None,
            local: LocalFs,
        };
        let root = Location::Local(p.to_string_lossy().into_owned());
        let mut t = discover(&fs, &root, |_, _| true).await.unwrap();
        t.sort_by(|a, b| {
            (&a.record.database, &a.record.name).cmp(&(&b.record.database, &b.record.name))
        });
        let names: Vec<String> = t
            .iter()
            .map(|t| format!("{}.{}", t.record.database, t.record.name))
            .collect();
        assert_eq!(names, ["default.logs", "sales.customers", "sales.orders"]);
        let orders = &t[2];
        assert_eq!(
            orders
                .record
                .partition_keys
                .iter()
                .map(|k| k.0.as_str())
                .collect::<Vec<_>>(),
            ["dt", "hr"]
        );
        let parts: Vec<&str> = orders.partitions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            parts,
            [
                "dt=2024-01-01/hr=0",
                "dt=2024-01-01/hr=1",
                "dt=2024-01-02/hr=0"
            ]
        );
        assert!(t[1].partitions.is_empty() && t[1].record.partition_keys.is_empty());
        // The directory times come from the discovery's own listings: no status call needed.
        let mtime = |rel: &str| {
            let m = std::fs::metadata(p.join(rel)).unwrap().modified().unwrap();
            m.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        };
        assert_eq!(
            orders.partitions[1].mtime,
            mtime("sales.db/orders/dt=2024-01-01/hr=1")
        );
        assert_eq!(orders.mtime, mtime("sales.db/orders"));
        assert_eq!(t[0].mtime, mtime("logs"));
        let only = discover(&fs, &root, |db, _| db == "sales").await.unwrap();
        assert_eq!(only.len(), 2);
    }

    #[tokio::test]
    async fn finds_one_table_as_discovery_does() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in [
            "sales.db/orders/dt=1/hr=0",
            "sales.db/orders/dt=2/hr=0",
            "logs",
        ] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::write(p.join("sales.db/file"), b"x").unwrap();
        let fs = ClusterFs {
            webhdfs: None,
            rpc: None,
            local: LocalFs,
        };
        let root = Location::Local(p.to_string_lossy().into_owned());
        let orders = find_table(&fs, &root, "sales", "orders")
            .await
            .unwrap()
            .unwrap();
        let all = discover(&fs, &root, |_, t| t == "orders").await.unwrap();
        assert_eq!(orders.partitions, all[0].partitions);
        assert_eq!(orders.record.partition_keys, all[0].record.partition_keys);
        assert_eq!(orders.mtime, all[0].mtime);
        let logs = find_table(&fs, &root, "default", "logs")
            .await
            .unwrap()
            .unwrap();
        assert!(logs.partitions.is_empty());
        assert_eq!(logs.record.database, "default");
        for (db, t) in [
            ("sales", "nope"),
            ("nodb", "orders"),
            ("sales", "file"),
            ("sales", "../logs"),
            ("sales", ".hidden"),
            ("default", ""),
        ] {
            assert!(
                find_table(&fs, &root, db, t).await.unwrap().is_none(),
                "{db}.{t}"
            );
        }
    }
}

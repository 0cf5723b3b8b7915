//! Reading the Hive Metastore database directly over SQL.
//!
//! One bulk read for tables (TBLS ⋈ DBS ⋈ SDS ⋈ SERDES, each needed parameter as its own
//! primary-key LEFT JOIN) and partitions paged by primary key, so memory stays bounded and no
//! long read transaction is held on the metastore. Facts: `shared/reference/hive-metastore.md`.

pub mod format;
mod lookups;
mod mysql;
mod pages;
mod postgres;
mod rows;
mod sql;

use std::future::Future;

pub use lookups::TableLookups;
pub use mysql::MysqlMetastore;
pub use pages::{keyset_pages, page_ranges, partition_pages, partition_pages_ahead, PartitionSpan};
use pages::{sd_lookup, SdLookup};
pub use postgres::PostgresMetastore;
use rows::{
    asked_rows, assemble_partitions, assemble_tables, key_rows, location_rows, lookup_answer,
    page_of, page_rows, param_rows, partition_param_rows, scan_param_rows, serde_path_rows, Cells,
};

use crate::config::{MetastoreConfig, MetastoreKind, MetastoreUrl, Secret};
use crate::error::Result;

/// The catalog every Hive table lives in before 3.0, and the default one after.
pub const DEFAULT_CATALOG: &str = "hive";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaInfo {
    /// `VERSION.SCHEMA_VERSION`, or `unknown` when the table is empty or missing.
    pub version: String,
    /// 3.0+: `DBS.CTLG_NAME` exists.
    pub has_catalogs: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableRecord {
    pub id: i64,
    pub catalog: String,
    pub database: String,
    pub name: String,
    /// MANAGED_TABLE, EXTERNAL_TABLE, VIRTUAL_VIEW, MATERIALIZED_VIEW, INDEX_TABLE.
    pub table_type: String,
    pub owner: String,
    /// `SDS.LOCATION`; `None` for views.
    pub location: Option<String>,
    pub input_format: Option<String>,
    pub output_format: Option<String>,
    pub serde_lib: Option<String>,
    /// `SERDE_PARAMS['path']`: the real location of a Spark data-source table.
    pub serde_path: Option<String>,
    pub num_buckets: i64,
    /// (name, type) in key order. Non-empty means partitioned, even with no partitions yet.
    pub partition_keys: Vec<(String, String)>,
    /// (name, type) of the data columns in order; filled by point lookups only.
    pub columns: Vec<(String, String)>,
    pub params: TableParams,
}

/// The table parameters we read, parsed defensively: junk, `-1` and missing all become `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableParams {
    pub num_files: Option<u64>,
    pub total_size: Option<u64>,
    pub last_ddl_time: Option<i64>,
    pub transactional: bool,
    pub insert_only: bool,
    pub external: bool,
    pub spark_provider: Option<String>,
    pub storage_handler: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionRecord {
    pub id: i64,
    pub table_id: i64,
    /// `k1=v1/k2=v2` with values path-escaped, exactly as the metastore stores it.
    pub name: String,
    pub location: Option<String>,
    pub num_files: Option<u64>,
    pub total_size: Option<u64>,
    pub last_ddl_time: Option<i64>,
    /// The partition's own input format (read by the merger's lookups only; a partition may
    /// differ from its table after `ALTER TABLE … SET FILEFORMAT`).
    pub input_format: Option<String>,
}

impl TableRecord {
    pub fn is_view(&self) -> bool {
        matches!(
            self.table_type.as_str(),
            "VIRTUAL_VIEW" | "MATERIALIZED_VIEW"
        ) && self.location.as_deref().map(str::is_empty).unwrap_or(true)
    }

    pub fn is_partitioned(&self) -> bool {
        !self.partition_keys.is_empty()
    }

    /// Where the data is: Spark data-source tables keep a placeholder in `SDS.LOCATION` and the
    /// real path in the serde parameter `path` (SPARK-15269).
    pub fn data_location(&self) -> Option<&str> {
        let loc = self.location.as_deref().filter(|l| !l.is_empty());
        let placeholder = loc.map(|l| l.ends_with("-__PLACEHOLDER__")).unwrap_or(true);
        if placeholder || self.params.spark_provider.is_some() {
            if let Some(p) = self.serde_path.as_deref().filter(|p| !p.is_empty()) {
                return Some(p);
            }
        }
        loc.filter(|l| !l.ends_with("-__PLACEHOLDER__"))
    }

    /// The name used in metric labels and globs: the plain database name in the default catalog,
    /// and Hive's own `@catalog#database` form elsewhere so that Spark's catalog stays distinct.
    pub fn qualified_database(&self) -> String {
        qualified_database(&self.catalog, &self.database)
    }
}

pub fn qualified_database(catalog: &str, database: &str) -> String {
    if catalog.is_empty() || catalog.eq_ignore_ascii_case(DEFAULT_CATALOG) {
        database.to_string()
    } else {
        format!("@{catalog}#{database}")
    }
}

/// Parses a count parameter (`numFiles`, `totalSize`): missing, negative or junk is `None`.
pub fn parse_count(v: Option<&str>) -> Option<u64> {
    v.and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|n| u64::try_from(n).ok())
}

pub fn parse_epoch(v: Option<&str>) -> Option<i64> {
    v.and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|n| *n > 0)
}

pub fn parse_flag(v: Option<&str>) -> bool {
    v.map(|s| s.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

/// What every metastore adapter offers. Implementations own their connection handling.
pub trait MetastoreSource: Send + Sync {
    fn describe(&self) -> String;
    fn schema_info(&self) -> impl Future<Output = Result<SchemaInfo>> + Send;
    /// Every table of every catalog, with partition keys, ordered by `TBL_ID`.
    fn tables(&self) -> impl Future<Output = Result<Vec<TableRecord>>> + Send;
    /// Up to `limit` partitions with `PART_ID > after`, ordered by `PART_ID`.
    fn partitions_after(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PartitionRecord>>> + Send;
    /// The smallest and largest `PART_ID` and the number of partitions; `None` when empty.
    fn partition_span(&self) -> impl Future<Output = Result<Option<PartitionSpan>>> + Send;
    /// The partitions with `after < PART_ID <= last`, ordered by `PART_ID`.
    fn partitions_in(
        &self,
        after: i64,
        last: i64,
    ) -> impl Future<Output = Result<Vec<PartitionRecord>>> + Send;
    /// Tables by name, looked up with bound parameters in one query; the answers are in the
    /// order asked, `None` for a table that does not exist.
    fn find_tables(
        &self,
        names: &[TableName],
    ) -> impl Future<Output = Result<Vec<Option<TableRecord>>>> + Send;
    /// One table, looked up with bound parameters; `database` may be `@catalog#db`.
    fn find_table(
        &self,
        database: &str,
        table: &str,
    ) -> impl Future<Output = Result<Option<TableRecord>>> + Send {
        let names = [TableName::new(database, table)];
        async move { Ok(self.find_tables(&names).await?.pop().flatten()) }
    }
    /// Every partition of a table with its location (parameters are not read).
    fn partitions_of(
        &self,
        table_id: i64,
    ) -> impl Future<Output = Result<Vec<PartitionRecord>>> + Send;
    /// One partition of a table by its exact (escaped) name.
    fn find_partition(
        &self,
        table_id: i64,
        name: &str,
    ) -> impl Future<Output = Result<Option<PartitionRecord>>> + Send;
}

/// A table as asked for: catalog, database and name in lower case, as Hive stores them (it
/// normalises every identifier).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    pub catalog: String,
    pub database: String,
    pub table: String,
}

impl TableName {
    /// `database` may be `@catalog#db`.
    pub fn new(database: &str, table: &str) -> TableName {
        let (catalog, database) = split_catalog(database);
        TableName {
            catalog: catalog.to_lowercase(),
            database: database.to_lowercase(),
            table: table.to_lowercase(),
        }
    }

    /// Whether a table of the metastore is this one; `catalog` is `None` where the schema
    /// has no catalogs.
    fn is(&self, catalog: Option<&str>, database: &str, table: &str) -> bool {
        catalog.is_none_or(|c| c.to_lowercase() == self.catalog)
            && database.to_lowercase() == self.database
            && table.to_lowercase() == self.table
    }
}

/// Splits Hive's `@catalog#database` form; a plain name is in the default catalog.
pub fn split_catalog(database: &str) -> (&str, &str) {
    database
        .strip_prefix('@')
        .and_then(|rest| rest.split_once('#'))
        .unwrap_or((DEFAULT_CATALOG, database))
}

/// The configured metastore of a cluster.
pub enum Metastore {
    Mysql(MysqlMetastore),
    Postgres(Box<PostgresMetastore>),
}

impl Metastore {
    pub fn from_config(cfg: &MetastoreConfig) -> Result<Metastore> {
        let url = MetastoreUrl::parse(&cfg.url).map_err(crate::Error::Invalid)?;
        let password = Secret::resolve(cfg.password_file.as_deref(), cfg.password_env.as_deref())?
            .or_else(|| url.inline_password.clone().map(Secret::new));
        let timeout = cfg.connect_timeout.0;
        Ok(match url.kind {
            MetastoreKind::Mysql => Metastore::Mysql(MysqlMetastore::new(url, password, timeout)),
            MetastoreKind::Postgres => {
                Metastore::Postgres(Box::new(PostgresMetastore::new(url, password, timeout)))
            }
        })
    }

    pub fn page_size(cfg: &MetastoreConfig) -> u32 {
        cfg.partition_page_size.clamp(100, 1_000_000)
    }
}

impl MetastoreSource for Metastore {
    fn describe(&self) -> String {
        match self {
            Metastore::Mysql(m) => m.describe(),
            Metastore::Postgres(m) => m.describe(),
        }
    }
    async fn schema_info(&self) -> Result<SchemaInfo> {
        match self {
            Metastore::Mysql(m) => m.schema_info().await,
            Metastore::Postgres(m) => m.schema_info().await,
        }
    }
    async fn tables(&self) -> Result<Vec<TableRecord>> {
        match self {
            Metastore::Mysql(m) => m.tables().await,
            Metastore::Postgres(m) => m.tables().await,
        }
    }
    async fn partitions_after(&self, after: i64, limit: u32) -> Result<Vec<PartitionRecord>> {
        match self {
            Metastore::Mysql(m) => m.partitions_after(after, limit).await,
            Metastore::Postgres(m) => m.partitions_after(after, limit).await,
        }
    }
    async fn partition_span(&self) -> Result<Option<PartitionSpan>> {
        match self {
            Metastore::Mysql(m) => m.partition_span().await,
            Metastore::Postgres(m) => m.partition_span().await,
        }
    }
    async fn partitions_in(&self, after: i64, last: i64) -> Result<Vec<PartitionRecord>> {
        match self {
            Metastore::Mysql(m) => m.partitions_in(after, last).await,
            Metastore::Postgres(m) => m.partitions_in(after, last).await,
        }
    }
    async fn find_tables(&self, names: &[TableName]) -> Result<Vec<Option<TableRecord>>> {
        match self {
            Metastore::Mysql(m) => m.find_tables(names).await,
            Metastore::Postgres(m) => m.find_tables(names).await,
        }
    }
    async fn partitions_of(&self, table_id: i64) -> Result<Vec<PartitionRecord>> {
        match self {
            Metastore::Mysql(m) => m.partitions_of(table_id).await,
            Metastore::Postgres(m) => m.partitions_of(table_id).await,
        }
    }
    async fn find_partition(&self, table_id: i64, name: &str) -> Result<Option<PartitionRecord>> {
        match self {
            Metastore::Mysql(m) => m.find_partition(table_id, name).await,
            Metastore::Postgres(m) => m.find_partition(table_id, name).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_parameters_parse_to_none() {
        assert_eq!(parse_count(Some("12")), Some(12));
        assert_eq!(parse_count(Some(" 7 ")), Some(7));
        assert_eq!(parse_count(Some("-1")), None);
        assert_eq!(parse_count(Some("12abc")), None);
        assert_eq!(parse_count(Some("")), None);
        assert_eq!(parse_count(None), None);
        assert!(parse_flag(Some("TRUE")));
        assert!(parse_flag(Some("true")));
        assert!(!parse_flag(Some("yes")));
        assert_eq!(parse_epoch(Some("0")), None);
    }

    #[test]
    fn spark_placeholder_location_uses_serde_path() {
        let mut t = TableRecord {
            location: Some("hdfs://ns/warehouse/db.db/t-__PLACEHOLDER__".into()),
            serde_path: Some("hdfs://ns/data/t".into()),
            ..Default::default()
        };
        assert_eq!(t.data_location(), Some("hdfs://ns/data/t"));
        t.serde_path = None;
        assert_eq!(t.data_location(), None);
        t.location = Some("hdfs://ns/w/t".into());
        assert_eq!(t.data_location(), Some("hdfs://ns/w/t"));
    }

    #[test]
    fn catalogs_stay_distinct() {
        assert_eq!(qualified_database("hive", "sales"), "sales");
        assert_eq!(qualified_database("", "sales"), "sales");
        assert_eq!(qualified_database("spark", "sales"), "@spark#sales");
    }
}

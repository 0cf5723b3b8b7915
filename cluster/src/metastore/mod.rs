//! Reading the Hive Metastore database directly over SQL.
//!
//! One bulk read for tables (TBLS ⋈ DBS ⋈ SDS ⋈ SERDES, each needed parameter as its own
//! primary-key LEFT JOIN) and partitions paged by primary key, so memory stays bounded and no
//! long read transaction is held on the metastore. Facts: `shared/reference/hive-metastore.md`.

pub mod format;
mod mysql;
mod postgres;
mod sql;

use std::future::Future;

pub use mysql::MysqlMetastore;
pub use postgres::PostgresMetastore;

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
    /// One table, looked up with bound parameters; `database` may be `@catalog#db`.
    fn find_table(
        &self,
        database: &str,
        table: &str,
    ) -> impl Future<Output = Result<Option<TableRecord>>> + Send;
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

/// The primary-key span of `PARTITIONS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSpan {
    pub min: i64,
    pub max: i64,
    pub count: u64,
}

/// How a page's storage descriptors are read: by id range when their ids lie close together
/// (the metastore allocates them in sequence as partitions are created), so the server scans
/// one stretch of its primary key instead of probing it once per id; else by id list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SdLookup {
    /// `first <= SD_ID <= last`; rows of other descriptors in between are dropped.
    Range(i64, i64),
    List,
}

/// `ids` sorted and without duplicates. A range is read when it spans at most eight ids per
/// wanted descriptor, which bounds the rows read and dropped.
fn sd_lookup(ids: &[i64]) -> SdLookup {
    match (ids.first(), ids.last()) {
        (Some(&first), Some(&last))
            if ids.len() > 1 && (last as i128 - first as i128 + 1) <= 8 * ids.len() as i128 =>
        {
            SdLookup::Range(first, last)
        }
        _ => SdLookup::List,
    }
}

/// Pages read ahead while the caller works on the current one.
const PAGES_AHEAD: usize = 2;

/// The pages of a partition read as id ranges `(after, last]` that can be read at once, each
/// holding about `page` partitions when ids are dense (Hive allocates them in sequence). Ids
/// spread thinner than one in eight leave ranges that are mostly empty or, where they cluster,
/// too full for the memory bound: `None`, and pages are read one after another by keyset.
pub fn page_ranges(span: Option<PartitionSpan>, page: u32) -> Option<Vec<(i64, i64)>> {
    let Some(span) = span else {
        return Some(Vec::new());
    };
    let width = (span.max as i128 - span.min as i128 + 1).max(1);
    let count = span.count.max(1) as i128;
    if width > 8 * count {
        return None;
    }
    // Each range spans the ids of about `page` partitions, never more than 8 × `page`.
    let step = ((page as i128 * width + count - 1) / count).max(1);
    let mut ranges = Vec::new();
    let mut after = span.min as i128 - 1;
    while after < span.max as i128 {
        let last = (after + step).min(span.max as i128);
        ranges.push((after as i64, last as i64));
        after = last;
    }
    Some(ranges)
}

/// Every partition, page by page (see [`page_ranges`]); up to two pages are read ahead on
/// pooled connections while the caller works on the current one.
pub fn partition_pages(
    ms: &Metastore,
    page: u32,
) -> futures::stream::BoxStream<'_, Result<Vec<PartitionRecord>>> {
    use futures::stream::{self, StreamExt};
    stream::once(ms.partition_span())
        .flat_map(move |span| match span.map(|s| page_ranges(s, page)) {
            Err(e) => stream::once(async move { Err(e) }).boxed(),
            Ok(Some(ranges)) => stream::iter(ranges)
                .map(move |(after, last)| ms.partitions_in(after, last))
                .buffered(PAGES_AHEAD)
                .filter(|p| futures::future::ready(!matches!(p, Ok(v) if v.is_empty())))
                .boxed(),
            Ok(None) => keyset_pages(ms, page),
        })
        .boxed()
}

/// [`partition_pages`] read by a task of its own, so that the next pages arrive while the
/// caller works on the current one (a stream is only read while it is polled); at most
/// [`PAGES_AHEAD`] pages wait. Dropping the receiver stops the reading.
pub fn partition_pages_ahead(
    ms: std::sync::Arc<Metastore>,
    page: u32,
) -> tokio::sync::mpsc::Receiver<Result<Vec<PartitionRecord>>> {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    tokio::spawn(async move {
        let mut pages = partition_pages(&ms, page);
        while let Some(p) = pages.next().await {
            let failed = p.is_err();
            if tx.send(p).await.is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Every partition in pages of `page` read one after another, each starting after the last id
/// of the one before.
pub fn keyset_pages(
    ms: &Metastore,
    page: u32,
) -> futures::stream::BoxStream<'_, Result<Vec<PartitionRecord>>> {
    use futures::stream::{self, StreamExt};
    stream::unfold(Some(0i64), move |after| async move {
        let after = after?;
        match ms.partitions_after(after, page).await {
            Ok(parts) if parts.is_empty() => None,
            Ok(parts) => {
                let full = parts.len() as u32 >= page;
                let next = parts.last().map(|p| p.id).filter(|_| full);
                Some((Ok(parts), next))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
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
    async fn find_table(&self, database: &str, table: &str) -> Result<Option<TableRecord>> {
        match self {
            Metastore::Mysql(m) => m.find_table(database, table).await,
            Metastore::Postgres(m) => m.find_table(database, table).await,
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

/// Column access shared by the MySQL and PostgreSQL rows, so both map rows the same way.
trait Cells {
    /// A text cell, borrowed from the row where it can be (not-UTF-8 bytes are replaced).
    fn str(&self, i: usize) -> Option<std::borrow::Cow<'_, str>>;
    fn int(&self, i: usize) -> Option<i64>;
    fn text(&self, i: usize) -> Option<String> {
        self.str(i).map(std::borrow::Cow::into_owned)
    }
}

/// A partition parameter the scan reads, parsed from the row as it is decoded: a million
/// partitions' parameters are millions of rows, and keeping their keys and values as strings
/// first cost more than reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartitionParam {
    NumFiles(Option<u64>),
    TotalSize(Option<u64>),
    LastDdlTime(Option<i64>),
}

/// The rows of [`sql::Dialect::scan_partition_params_query`]: (id, numFiles, DDL time).
fn scan_param_rows<R: Cells>(rows: &[R]) -> Vec<(i64, PartitionParam)> {
    let mut out = Vec::with_capacity(rows.len() * 2);
    for r in rows {
        let Some(id) = r.int(0) else { continue };
        out.push((
            id,
            PartitionParam::NumFiles(parse_count(r.str(1).as_deref())),
        ));
        out.push((
            id,
            PartitionParam::LastDdlTime(parse_epoch(r.str(2).as_deref())),
        ));
    }
    out
}

/// (partition id, parameter) rows of the partition parameter queries; other keys are dropped.
fn partition_param_rows<R: Cells>(rows: &[R]) -> Vec<(i64, PartitionParam)> {
    rows.iter()
        .filter_map(|r| {
            let id = r.int(0)?;
            let value = r.str(2);
            let v = value.as_deref();
            let param = match &*r.str(1)? {
                "numFiles" => PartitionParam::NumFiles(parse_count(v)),
                "totalSize" => PartitionParam::TotalSize(parse_count(v)),
                "transient_lastDdlTime" => PartitionParam::LastDdlTime(parse_epoch(v)),
                _ => return None,
            };
            Some((id, param))
        })
        .collect()
}

/// (id, key, value) rows of a parameter table.
type ParamRows = Vec<(i64, String, Option<String>)>;

fn param_rows<R: Cells>(rows: &[R]) -> ParamRows {
    rows.iter()
        .filter_map(|r| Some((r.int(0)?, r.text(1)?, r.text(2))))
        .collect()
}

/// (serde id, "", path) rows of the serde `path` queries.
fn serde_path_rows<R: Cells>(rows: &[R]) -> ParamRows {
    rows.iter()
        .filter_map(|r| Some((r.int(0)?, String::new(), r.text(1))))
        .collect()
}

/// (table id, key, type, position) rows of the partition keys queries.
fn key_rows<R: Cells>(rows: &[R]) -> Vec<(i64, String, String, i64)> {
    rows.iter()
        .filter_map(|r| {
            Some((
                r.int(0)?,
                r.text(1)?,
                r.text(2).unwrap_or_default(),
                r.int(3).unwrap_or_default(),
            ))
        })
        .collect()
}

/// (part id, table id, name, sd id) rows of the partition queries.
fn page_rows<R: Cells>(rows: &[R]) -> Vec<(i64, i64, String, Option<i64>)> {
    rows.iter()
        .filter_map(|r| {
            Some((
                r.int(0)?,
                r.int(1)?,
                r.text(2).unwrap_or_default(),
                r.int(3),
            ))
        })
        .collect()
}

/// A page of partitions as read: its rows, its last id and its storage descriptors (sorted,
/// once each), which the parameter and location lookups take.
struct Page {
    rows: Vec<(i64, i64, String, Option<i64>)>,
    last: i64,
    sd_ids: Vec<i64>,
}

fn page_of<R: Cells>(rows: &[R]) -> Option<Page> {
    let rows = page_rows(rows);
    let last = rows.iter().map(|p| p.0).max()?;
    let mut sd_ids: Vec<i64> = rows.iter().filter_map(|p| p.3).collect();
    sd_ids.sort_unstable();
    sd_ids.dedup();
    Some(Page { rows, last, sd_ids })
}

/// (sd id, location, input format) rows of the location lookups.
type LocationRow = (i64, Option<String>, Option<String>);

fn location_rows<R: Cells>(rows: &[R]) -> Vec<LocationRow> {
    rows.iter()
        .filter_map(|r| Some((r.int(0)?, r.text(1), r.text(2))))
        .collect()
}

/// (name, type) rows of the columns query.
fn column_rows<R: Cells>(rows: &[R]) -> Vec<(String, String)> {
    rows.iter()
        .filter_map(|r| Some((r.text(0)?, r.text(1).unwrap_or_default())))
        .collect()
}

/// Builds the tables from the rows of [`sql::Dialect::tables_query`], the table parameters,
/// the serde `path` parameters and the partition keys (table id, name, type, position).
fn assemble_tables<R: Cells>(
    rows: &[R],
    params: ParamRows,
    serde_paths: ParamRows,
    keys: Vec<(i64, String, String, i64)>,
) -> Vec<TableRecord> {
    use std::collections::HashMap;
    let paths: HashMap<i64, String> = serde_paths
        .into_iter()
        .filter_map(|(id, _, v)| Some((id, v?)))
        .collect();
    let mut tables: Vec<TableRecord> = rows
        .iter()
        .map(|r| TableRecord {
            id: r.int(0).unwrap_or_default(),
            catalog: r.text(1).unwrap_or_else(|| DEFAULT_CATALOG.into()),
            database: r.text(2).unwrap_or_default(),
            name: r.text(3).unwrap_or_default(),
            table_type: r.text(4).unwrap_or_default(),
            owner: r.text(5).unwrap_or_default(),
            location: r.text(6),
            input_format: r.text(7),
            output_format: r.text(8),
            num_buckets: r.int(9).unwrap_or(-1),
            serde_lib: r.text(10),
            serde_path: r.int(11).and_then(|sid| paths.get(&sid).cloned()),
            partition_keys: Vec::new(),
            columns: Vec::new(),
            params: TableParams::default(),
        })
        .collect();
    tables.sort_unstable_by_key(|t| t.id);
    let find = |tables: &[TableRecord], id: i64| tables.binary_search_by_key(&id, |t| t.id).ok();
    for (id, key, value) in params {
        let Some(i) = find(&tables, id) else { continue };
        let p = &mut tables[i].params;
        let v = value.as_deref();
        match key.as_str() {
            "numFiles" => p.num_files = parse_count(v),
            "totalSize" => p.total_size = parse_count(v),
            "transient_lastDdlTime" => p.last_ddl_time = parse_epoch(v),
            "transactional" => p.transactional = parse_flag(v),
            "transactional_properties" => {
                p.insert_only = v
                    .map(|s| s.trim().eq_ignore_ascii_case("insert_only"))
                    .unwrap_or(false)
            }
            "EXTERNAL" => p.external = parse_flag(v),
            "spark.sql.sources.provider" => p.spark_provider = value.filter(|s| !s.is_empty()),
            "storage_handler" => p.storage_handler = value.filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    let mut keys = keys;
    keys.sort_unstable_by_key(|k| (k.0, k.3));
    for (id, name, ty, _) in keys {
        if let Some(i) = find(&tables, id) {
            tables[i].partition_keys.push((name, ty));
        }
    }
    tables
}

/// Builds a page of partitions from [`sql::Dialect::partitions_page_query`] rows (id, table,
/// name, sd id), their parameters and the locations of their storage descriptors.
fn assemble_partitions(
    page: Vec<(i64, i64, String, Option<i64>)>,
    params: Vec<(i64, PartitionParam)>,
    locations: Vec<LocationRow>,
) -> Vec<PartitionRecord> {
    use std::collections::HashMap;
    let locations: HashMap<i64, (Option<String>, Option<String>)> = locations
        .into_iter()
        .map(|(id, l, f)| (id, (l, f)))
        .collect();
    let mut parts: Vec<PartitionRecord> = page
        .into_iter()
        .map(|(id, table_id, name, sd)| PartitionRecord {
            id,
            table_id,
            name,
            location: sd.and_then(|sd| locations.get(&sd)?.0.clone()),
            input_format: sd.and_then(|sd| locations.get(&sd)?.1.clone()),
            ..Default::default()
        })
        .collect();
    parts.sort_unstable_by_key(|p| p.id);
    for (id, param) in params {
        let Ok(i) = parts.binary_search_by_key(&id, |p| p.id) else {
            continue;
        };
        match param {
            PartitionParam::NumFiles(n) => parts[i].num_files = n,
            PartitionParam::TotalSize(n) => parts[i].total_size = n,
            PartitionParam::LastDdlTime(t) => parts[i].last_ddl_time = t,
        }
    }
    parts
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
    fn dense_ids_split_into_ranges_of_about_a_page() {
        let span = |min, max, count| Some(PartitionSpan { min, max, count });
        assert_eq!(page_ranges(None, 100), Some(vec![]));
        assert_eq!(
            page_ranges(span(1, 250, 250), 100),
            Some(vec![(0, 100), (100, 200), (200, 250)])
        );
        // Half the ids used (dropped partitions): ranges twice as wide, a page each.
        assert_eq!(
            page_ranges(span(1, 400, 200), 100),
            Some(vec![(0, 200), (200, 400)])
        );
        assert_eq!(page_ranges(span(7, 7, 1), 100), Some(vec![(6, 7)]));
        // One id in ten used: read by keyset, one page after another.
        assert_eq!(page_ranges(span(1, 10_000, 1_000), 100), None);
        assert!(page_ranges(span(1, 8_000, 1_000), 100).is_some());
        // Ranges cover every id exactly once.
        let r = page_ranges(span(-5, 1_000_003, 999_000), 50_000).unwrap();
        assert_eq!(r.first().unwrap().0, -6);
        assert_eq!(r.last().unwrap().1, 1_000_003);
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
    }

    #[test]
    fn storage_descriptors_close_together_are_read_as_a_range() {
        assert_eq!(sd_lookup(&[]), SdLookup::List);
        assert_eq!(sd_lookup(&[5]), SdLookup::List);
        assert_eq!(sd_lookup(&[10, 12, 17]), SdLookup::Range(10, 17));
        assert_eq!(sd_lookup(&[10, 12, 34]), SdLookup::List, "25 ids for 3");
        assert_eq!(sd_lookup(&[1, 16]), SdLookup::Range(1, 16));
        assert_eq!(sd_lookup(&[1, 17]), SdLookup::List);
    }

    #[test]
    fn catalogs_stay_distinct() {
        assert_eq!(qualified_database("hive", "sales"), "sales");
        assert_eq!(qualified_database("", "sales"), "sales");
        assert_eq!(qualified_database("spark", "sales"), "@spark#sales");
    }

    /// For any dense enough id span and page size: the ranges cover every id once, in order,
    /// and none spans more ids than eight pages' worth.
    mod page_properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn ranges_cover_the_span_once(min in -1_000_000i64..1_000_000, count in 1u64..200_000, spread in 1u64..=8, page in 100u32..60_000) {
                let max = min + (count * spread) as i64 - 1;
                let ranges = page_ranges(Some(PartitionSpan { min, max, count }), page).unwrap();
                prop_assert_eq!(ranges.first().unwrap().0, min - 1);
                prop_assert_eq!(ranges.last().unwrap().1, max);
                prop_assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0));
                prop_assert!(ranges.iter().all(|(a, b)| a < b && (b - a) as u64 <= 8 * page as u64));
                prop_assert!(ranges.len() as u64 <= count.div_ceil(page as u64) + 1);
            }
        }
    }
}

//! Choosing a merge strategy for a table and writing the statements of a merge. Plain
//! functions over the metastore's facts. Identifiers are the metastore's own spelling, quoted
//! with backticks; values are HiveQL string literals. Facts: shared/reference/merging-on-hive.md.

use smallfiles_cluster::metastore::format::table_format;
use smallfiles_cluster::metastore::{PartitionRecord, TableRecord};

use crate::model::Strategy;

pub mod select;
pub mod spec;
mod swap;

pub use spec::{KeyValue, PartitionSpec};
pub use swap::{staging_table_name, swap_plan, SwapPlan, SwapUnit};

/// Why a merge cannot be planned. Each is about the target itself: answered to the caller and
/// recorded on the task, never retried as if the cluster were down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("partition {name:?} cannot be read: {why}")]
    PartitionName { name: String, why: String },
    #[error("partition {0} holds NULL partition keys (__HIVE_DEFAULT_PARTITION__), which a static partition spec cannot select")]
    NullPartition(String),
    #[error("partition {name} is stored as {own} but the table as {table}: merge it after `ALTER TABLE … PARTITION (…) SET FILEFORMAT`, or by hand")]
    OtherFormat {
        name: String,
        own: String,
        table: String,
    },
    #[error("partition {0} has no location")]
    NoPartitionLocation(String),
    #[error("the table has no location")]
    NoTableLocation,
    #[error("the metastore lists no columns for the table")]
    NoColumns,
    #[error("a partitioned table is merged partition by partition: no partition given")]
    NoPartitions,
    #[error("the table is not partitioned")]
    NotPartitioned,
    #[error("Spark's Thrift Server has no CONCATENATE: use insert_overwrite")]
    NoConcatenateOnSpark,
    #[error("strategy must be resolved before planning")]
    Unresolved,
}

/// The SQL dialect of the HiveServer2 endpoint: Hive itself, or Spark's Thrift Server (which
/// speaks the protocol but not every statement: no CONCATENATE, hints instead of
/// `hive.merge.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    #[default]
    Hive,
    Spark,
}

impl Dialect {
    /// `merge.dialect` of a cluster; `None`: ask the server.
    pub fn configured(c: &smallfiles_cluster::config::ClusterConfig) -> Option<Dialect> {
        Some(match c.merge.as_ref()?.dialect? {
            smallfiles_cluster::config::SqlDialect::Hive => Dialect::Hive,
            smallfiles_cluster::config::SqlDialect::Spark => Dialect::Spark,
        })
    }

    /// From the server's GetInfo(CLI_DBMS_NAME).
    pub fn from_server_name(name: &str) -> Dialect {
        if name.to_ascii_lowercase().contains("spark") {
            Dialect::Spark
        } else {
            Dialect::Hive
        }
    }
}

/// Settings of the statements, from the cluster's `merge` section.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub target_file_size: u64,
    pub queue: Option<String>,
    pub dialect: Dialect,
    /// `merge.engine_settings`, issued as `SET k=v` before the merge.
    pub engine_settings: Vec<(String, String)>,
    /// Whether an Impala endpoint gets `REFRESH` after the merge.
    pub impala_refresh: bool,
    /// The cluster has no metastore, so a table's data columns are unknown: the swap selects
    /// them by Hive's quoted-identifier regex (every column but the partition keys) and checks
    /// row counts only. Such clusters are planned in dry runs, never merged (`validate.rs`).
    pub columns_from_layout: bool,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            target_file_size: 256 << 20,
            queue: None,
            dialect: Dialect::Hive,
            engine_settings: Vec::new(),
            impala_refresh: false,
            columns_from_layout: false,
        }
    }
}

impl PlanSettings {
    pub fn for_cluster(c: &smallfiles_cluster::config::ClusterConfig, dialect: Dialect) -> Self {
        let merge = c.merge_settings();
        PlanSettings {
            target_file_size: merge.target_file_size.0,
            queue: merge.queue,
            dialect,
            engine_settings: merge.engine_settings.into_iter().collect(),
            impala_refresh: c.impala.is_some(),
            columns_from_layout: c.metastore.is_none(),
        }
    }
}

/// Statements on the Impala endpoint carry this prefix in a task's statement list.
pub const IMPALA_PREFIX: &str = "[impala] ";

pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Why no merge strategy fits a table (the answer to its webhook or request says so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyRefusal {
    #[error("it is a view: there are no files to merge")]
    View,
    #[error("it is a non-native table (storage handler {0})")]
    NonNative(String),
    #[error("it is an external table (merges of external tables are refused unless merger.allow_external_tables is set; HIVE-17403)")]
    External,
    #[error("compact is for transactional (ACID) tables")]
    CompactNeedsTransactional,
    #[error("transactional tables are merged by compaction only")]
    TransactionalNeedsCompact,
    #[error("Spark's Thrift Server has no CONCATENATE: use insert_overwrite")]
    NoConcatenateOnSpark,
    #[error("CONCATENATE is refused on external tables (Hive 3, HIVE-17403)")]
    ConcatenateExternal,
    #[error("CONCATENATE is refused on bucketed tables")]
    ConcatenateBucketed,
    #[error("CONCATENATE needs ORC or RCFile, the table is {0}")]
    ConcatenateFormat(String),
}

/// Picks the strategy for a table, or says why none fits.
pub fn choose_strategy(
    t: &TableRecord,
    requested: Strategy,
    allow_external: bool,
    dialect: Dialect,
) -> Result<Strategy, StrategyRefusal> {
    if t.is_view() {
        return Err(StrategyRefusal::View);
    }
    if let Some(h) = &t.params.storage_handler {
        return Err(StrategyRefusal::NonNative(h.clone()));
    }
    let external = t.params.external || t.table_type == "EXTERNAL_TABLE";
    let format = table_format(t);
    let bucketed = t.num_buckets > 0;
    match requested {
        Strategy::Auto => {
            if t.params.transactional {
                Ok(Strategy::Compact)
            } else if external && !allow_external {
                Err(StrategyRefusal::External)
            } else if !external
                && !bucketed
                && matches!(format, "orc" | "rcfile")
                && dialect == Dialect::Hive
            {
                Ok(Strategy::Concatenate)
            } else {
                Ok(Strategy::InsertOverwrite)
            }
        }
        Strategy::Compact if !t.params.transactional => {
            Err(StrategyRefusal::CompactNeedsTransactional)
        }
        Strategy::Compact => Ok(Strategy::Compact),
        _ if t.params.transactional => Err(StrategyRefusal::TransactionalNeedsCompact),
        _ if external && !allow_external => Err(StrategyRefusal::External),
        Strategy::Concatenate if dialect == Dialect::Spark => {
            Err(StrategyRefusal::NoConcatenateOnSpark)
        }
        Strategy::Concatenate if external => Err(StrategyRefusal::ConcatenateExternal),
        Strategy::Concatenate if bucketed => Err(StrategyRefusal::ConcatenateBucketed),
        Strategy::Concatenate if !matches!(format, "orc" | "rcfile") => {
            Err(StrategyRefusal::ConcatenateFormat(format.to_string()))
        }
        s => Ok(s),
    }
}

/// A merge done by one statement per unit (CONCATENATE, or a compaction request), as typed
/// data: the engine runs each list as it is, and never reads a statement back to learn what it
/// is for.
#[derive(Debug, Clone, PartialEq)]
pub struct InPlacePlan {
    pub strategy: Strategy,
    /// `SET` statements of the session.
    pub setup: Vec<String>,
    /// One request per unit: the partition (none: the unpartitioned table) and its statement.
    pub requests: Vec<UnitRequest>,
    /// Statements for the Impala endpoint once the merge is done (empty without one).
    pub impala_refresh: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnitRequest {
    pub partition: Option<String>,
    pub sql: String,
}

/// Statements that only look (the engine issues them itself while it follows a compaction).
pub const SHOW_COMPACTIONS: &str = "SHOW COMPACTIONS";

impl InPlacePlan {
    /// Every statement in the order the engine issues them, for the task's record and the
    /// dry run; statements for Impala are marked with [`IMPALA_PREFIX`] there (display only).
    pub fn display(&self) -> Vec<String> {
        let mut out = self.setup.clone();
        if self.strategy == Strategy::Compact {
            // The compactions listed before the request are not ours.
            out.push(SHOW_COMPACTIONS.into());
        }
        out.extend(self.requests.iter().map(|r| r.sql.clone()));
        if self.strategy == Strategy::Compact {
            out.push(SHOW_COMPACTIONS.into());
        }
        out.extend(
            self.impala_refresh
                .iter()
                .map(|s| format!("{IMPALA_PREFIX}{s}")),
        );
        out
    }
}

/// The units of a merge: the named partitions, or the unpartitioned table (`[None]`). The one
/// place that decides "one partition at a time or the whole table"; the planners and the
/// engines all go through it.
pub fn units_of<'a>(
    t: &TableRecord,
    partitions: &'a [PartitionRecord],
) -> Result<Vec<Option<&'a PartitionRecord>>, PlanError> {
    match (t.is_partitioned(), partitions.is_empty()) {
        (true, true) => Err(PlanError::NoPartitions),
        (false, false) => Err(PlanError::NotPartitioned),
        (false, true) => Ok(vec![None]),
        (true, false) => Ok(partitions.iter().map(Some).collect()),
    }
}

/// Where a unit's data is: the partition's location, or the table's.
pub fn unit_location<'a>(t: &'a TableRecord, unit: Option<&'a PartitionRecord>) -> Option<&'a str> {
    match unit {
        Some(p) => p.location.as_deref(),
        None => t.data_location(),
    }
}

/// ` PARTITION (…)` of a unit, or nothing for the unpartitioned table.
fn partition_clause(t: &TableRecord, p: Option<&PartitionRecord>) -> Result<String, PlanError> {
    match p {
        Some(p) => Ok(format!(
            " {}",
            PartitionSpec::parse(&p.name, &t.partition_keys)?.partition_clause()?
        )),
        None => Ok(String::new()),
    }
}

/// Why one partition cannot be merged with `strategy`, if it cannot: the same checks the
/// planners make, so that a table-level task leaves such a partition out (with the reason)
/// instead of refusing the whole table.
pub fn partition_refusal(
    t: &TableRecord,
    p: &PartitionRecord,
    strategy: Strategy,
) -> Option<PlanError> {
    let spec = match PartitionSpec::parse(&p.name, &t.partition_keys) {
        Ok(s) => s,
        Err(e) => return Some(e),
    };
    if let Err(e) = spec.partition_clause() {
        return Some(e);
    }
    if strategy == Strategy::InsertOverwrite {
        if let Err(e) = same_format(t, p) {
            return Some(e);
        }
        if p.location.is_none() {
            return Some(PlanError::NoPartitionLocation(p.name.clone()));
        }
    }
    None
}

/// The staging table is `LIKE` the table: a partition in another format would be copied into
/// the wrong one.
fn same_format(t: &TableRecord, p: &PartitionRecord) -> Result<(), PlanError> {
    let (own, table_format) = (p.input_format.as_deref(), t.input_format.as_deref());
    if own.is_some() && table_format.is_some() && own != table_format {
        return Err(PlanError::OtherFormat {
            name: p.name.clone(),
            own: own.unwrap_or_default().to_string(),
            table: table_format.unwrap_or_default().to_string(),
        });
    }
    Ok(())
}

/// CONCATENATE or compaction of the named partitions one after the other, or of the
/// unpartitioned table.
pub fn in_place_plan(
    t: &TableRecord,
    partitions: &[PartitionRecord],
    strategy: Strategy,
    settings: &PlanSettings,
) -> Result<InPlacePlan, PlanError> {
    let table = qualified(t);
    let verb = match strategy {
        Strategy::Concatenate if settings.dialect == Dialect::Spark => {
            return Err(PlanError::NoConcatenateOnSpark)
        }
        Strategy::Concatenate => "CONCATENATE",
        Strategy::Compact => "COMPACT 'major'",
        Strategy::InsertOverwrite | Strategy::Auto => return Err(PlanError::Unresolved),
    };
    let mut requests = Vec::new();
    let mut impala_refresh = Vec::new();
    for p in units_of(t, partitions)? {
        let spec = partition_clause(t, p)?;
        requests.push(UnitRequest {
            partition: p.map(|p| p.name.clone()),
            sql: format!("ALTER TABLE {table}{spec} {verb}"),
        });
        if settings.impala_refresh {
            impala_refresh.push(format!("REFRESH {table}{spec}"));
        }
    }
    Ok(InPlacePlan {
        strategy,
        setup: session_settings(settings),
        requests,
        impala_refresh,
    })
}

/// The statements of a merge in the order they run, for the task's record: the named
/// partitions one after the other, or the unpartitioned table. For the safe swap, the sizes
/// used for Spark's COALESCE hint are the metastore's `totalSize` (the engine plans again with
/// listed sizes before it runs).
pub fn statements(
    task_id: u64,
    t: &TableRecord,
    partitions: &[PartitionRecord],
    strategy: Strategy,
    settings: &PlanSettings,
) -> Result<Vec<String>, PlanError> {
    if strategy == Strategy::InsertOverwrite {
        let units: Vec<(Option<&PartitionRecord>, u64)> = units_of(t, partitions)?
            .into_iter()
            .map(|p| (p, p.and_then(|p| p.total_size).unwrap_or(0)))
            .collect();
        return swap_plan(task_id, t, &units, settings).map(|p| p.all_statements());
    }
    in_place_plan(t, partitions, strategy, settings).map(|p| p.display())
}

fn qualified(t: &TableRecord) -> String {
    format!("{}.{}", quote_ident(&t.database), quote_ident(&t.name))
}

/// `SET` statements of a merge session: queue, file sizes, the operator's engine settings.
pub fn session_settings(settings: &PlanSettings) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(q) = &settings.queue {
        match settings.dialect {
            Dialect::Hive => {
                out.push(format!("SET tez.queue.name={q}"));
                out.push(format!("SET mapreduce.job.queuename={q}"));
            }
            // The server's YARN queue is fixed when it starts (and Spark refuses to SET core
            // settings): the queue names the server's FAIR scheduler pool instead.
            Dialect::Spark => out.push(format!("SET spark.sql.thriftserver.scheduler.pool={q}")),
        }
    }
    for (k, v) in &settings.engine_settings {
        out.push(format!("SET {k}={v}"));
    }
    out
}

#[cfg(test)]
mod tests;

//! The plan of the safe swap: per unit (a partition, or the unpartitioned table) the
//! fingerprints, the write into the staging table, the switch and its way back, statistics and
//! the Impala refresh — typed fields the engine runs and recovery reads after a crash (stored
//! with the task, so renaming a field needs a conversion on read).

use smallfiles_cluster::metastore::{PartitionRecord, TableRecord};

use super::*;

/// The safe swap of one partition (or of the unpartitioned table): the merged copy is written
/// by a staging table created `LIKE` the table (same format, serde and serde properties) whose
/// location is beside the data; the table is switched to it by one metastore update.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SwapUnit {
    pub partition: Option<String>,
    pub old_location: String,
    pub new_location: String,
    /// `SELECT COUNT(*), SUM(CAST(hash(…) AS BIGINT))` of the unit in the table.
    pub source_fingerprint: String,
    pub write: String,
    pub staging_fingerprint: String,
    pub switch: String,
    pub switch_back: String,
    pub analyze: String,
    /// `REFRESH …` for Impala.
    #[serde(deserialize_with = "refresh_without_display_prefix")]
    pub refresh: String,
}

/// Stores written before version 2 kept the display prefix in the refresh statement; it is
/// dropped once, as the task is read, so the engine gets plain SQL either way.
fn refresh_without_display_prefix<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    Ok(match s.strip_prefix(IMPALA_PREFIX) {
        Some(plain) => plain.to_string(),
        None => s,
    })
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SwapPlan {
    pub staging_database: String,
    pub staging_table: String,
    pub staging_root: String,
    pub setup: Vec<String>,
    pub create_staging: String,
    pub drop_staging: String,
    pub units: Vec<SwapUnit>,
    pub impala_refresh: bool,
}

impl SwapPlan {
    /// Every statement in the order the engine runs them.
    pub fn all_statements(&self) -> Vec<String> {
        let mut out = self.setup.clone();
        out.push(self.create_staging.clone());
        for u in &self.units {
            out.extend([
                u.source_fingerprint.clone(),
                u.write.clone(),
                u.staging_fingerprint.clone(),
                u.source_fingerprint.clone(),
                u.switch.clone(),
                u.source_fingerprint.clone(),
            ]);
        }
        out.push(self.drop_staging.clone());
        for u in &self.units {
            out.push(u.analyze.clone());
        }
        if self.impala_refresh {
            out.extend(
                self.units
                    .iter()
                    .map(|u| format!("{IMPALA_PREFIX}{}", u.refresh)),
            );
        }
        out
    }
}

/// The name of a task's staging table (in the table's database).
pub fn staging_table_name(task_id: u64) -> String {
    format!("smallfiles_task_{task_id}_staging")
}

/// A location without the suffix an earlier swap of an unpartitioned table added.
fn swap_base(location: &str) -> &str {
    let loc = location.trim_end_matches('/');
    if let Some(i) = loc.rfind("_smallfiles_task_") {
        let tail = &loc[i + "_smallfiles_task_".len()..];
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            return &loc[..i];
        }
    }
    loc
}

/// Columns whose values Spark's `hash()` refuses (maps); left out of the checksum.
fn hashable(dialect: Dialect, ty: &str) -> bool {
    !(dialect == Dialect::Spark && ty.trim_start().to_ascii_lowercase().starts_with("map"))
}

/// Every column but the partition keys, as Hive's quoted-identifier regex selects them
/// (`` `(?:dt|hr)?+.+` ``, see the Hive manual's "REGEX Column Specification"); `*` for an
/// unpartitioned table.
fn columns_except_keys(t: &TableRecord) -> Result<String, PlanError> {
    if t.partition_keys.is_empty() {
        return Ok("*".into());
    }
    let mut keys = Vec::new();
    for (k, _) in &t.partition_keys {
        // Inside backticks a key must not close the quote; everything else is escaped for
        // the regex.
        if k.contains('`') {
            return Err(PlanError::NoColumns);
        }
        keys.push(
            k.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect::<String>(),
        );
    }
    Ok(format!("`(?:{})?+.+`", keys.join("|")))
}

/// Plans the swap of the given units, each with the bytes it holds now (for the file count).
pub fn swap_plan(
    task_id: u64,
    t: &TableRecord,
    units: &[(Option<&PartitionRecord>, u64)],
    settings: &PlanSettings,
) -> Result<SwapPlan, PlanError> {
    if t.columns.is_empty() && !settings.columns_from_layout {
        return Err(PlanError::NoColumns);
    }
    let table = qualified(t);
    let table_location = t.data_location().ok_or(PlanError::NoTableLocation)?;
    let staging_table = staging_table_name(task_id);
    let staging = format!(
        "{}.{}",
        quote_ident(&t.database),
        quote_ident(&staging_table)
    );
    let staging_root = if t.is_partitioned() {
        format!(
            "{}/_smallfiles/task-{task_id}",
            table_location.trim_end_matches('/')
        )
    } else {
        format!("{}_smallfiles_task_{task_id}", swap_base(table_location))
    };
    let mut setup = session_settings(settings);
    match settings.dialect {
        Dialect::Hive => {
            let size = settings.target_file_size;
            setup.extend([
                "SET hive.merge.mapfiles=true".to_string(),
                "SET hive.merge.mapredfiles=true".to_string(),
                "SET hive.merge.tezfiles=true".to_string(),
                format!("SET hive.merge.size.per.task={size}"),
                format!("SET hive.merge.smallfiles.avgsize={}", size / 2),
            ]);
        }
        // Writes through the Hive serde, in the table's own format (not Spark's converted
        // Parquet/ORC writer).
        Dialect::Spark => {
            setup.push("SET spark.sql.hive.convertInsertingPartitionedTable=false".to_string())
        }
    }
    let external = match settings.dialect {
        Dialect::Hive => "EXTERNAL ",
        Dialect::Spark => "",
    };
    // A LOCATION makes Spark's table external; the purge flag keeps Hive 3 from deleting the
    // data when the staging table is dropped.
    let create_staging = format!(
        "CREATE {external}TABLE {staging} LIKE {table} LOCATION {} TBLPROPERTIES ('external.table.purge'='false', 'smallfiles.task'='{task_id}')",
        quote_string(&staging_root)
    );
    let (select, checksum) = if t.columns.is_empty() {
        // Columns unknown (no metastore): all but the partition keys, by regex; rows counted.
        setup.push(match settings.dialect {
            Dialect::Hive => "SET hive.support.quoted.identifiers=none".to_string(),
            Dialect::Spark => "SET spark.sql.parser.quotedRegexColumnNames=true".to_string(),
        });
        (columns_except_keys(t)?, "0".to_string())
    } else {
        let hashed: Vec<String> = t
            .columns
            .iter()
            .filter(|(_, ty)| hashable(settings.dialect, ty))
            .map(|(c, _)| quote_ident(c))
            .collect();
        let checksum = if hashed.is_empty() {
            "0".to_string()
        } else {
            format!("SUM(CAST(hash({}) AS BIGINT))", hashed.join(", "))
        };
        let cols: Vec<String> = t.columns.iter().map(|(c, _)| quote_ident(c)).collect();
        (cols.join(", "), checksum)
    };
    let mut out_units = Vec::new();
    for (partition, bytes) in units {
        let (spec, filter, old_location, new_location) = match partition {
            Some(p) => {
                let parsed = PartitionSpec::parse(&p.name, &t.partition_keys)?;
                same_format(t, p)?;
                (
                    // Fails for a NULL key: its rows cannot be written by a static spec.
                    format!(" {}", parsed.partition_clause()?),
                    format!(" {}", parsed.where_clause()),
                    p.location
                        .clone()
                        .ok_or_else(|| PlanError::NoPartitionLocation(p.name.clone()))?,
                    // The name as the metastore has it is already escaped for a path.
                    format!("{staging_root}/{}", p.name),
                )
            }
            None => (
                String::new(),
                String::new(),
                table_location.to_string(),
                staging_root.clone(),
            ),
        };
        let hint = match settings.dialect {
            Dialect::Spark => {
                let files = bytes.div_ceil(settings.target_file_size.max(1)).max(1);
                format!("/*+ COALESCE({files}) */ ")
            }
            Dialect::Hive => String::new(),
        };
        out_units.push(SwapUnit {
            partition: partition.map(|p| p.name.clone()),
            source_fingerprint: format!("SELECT COUNT(*), {checksum} FROM {table}{filter}"),
            write: format!(
                "INSERT OVERWRITE TABLE {staging}{spec} SELECT {hint}{select} FROM {table}{filter}"
            ),
            staging_fingerprint: format!("SELECT COUNT(*), {checksum} FROM {staging}{filter}"),
            switch: format!(
                "ALTER TABLE {table}{spec} SET LOCATION {}",
                quote_string(&new_location)
            ),
            switch_back: format!(
                "ALTER TABLE {table}{spec} SET LOCATION {}",
                quote_string(&old_location)
            ),
            analyze: format!("ANALYZE TABLE {table}{spec} COMPUTE STATISTICS"),
            refresh: format!("REFRESH {table}{spec}"),
            old_location,
            new_location,
        });
    }
    Ok(SwapPlan {
        staging_database: t.database.clone(),
        staging_table,
        staging_root,
        setup,
        create_staging,
        drop_staging: format!("DROP TABLE IF EXISTS {staging}"),
        units: out_units,
        impala_refresh: settings.impala_refresh,
    })
}

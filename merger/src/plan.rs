//! Choosing a merge strategy for a table and writing the statements of a merge. Plain
//! functions over the metastore's facts. Identifiers are the metastore's own spelling, quoted
//! with backticks; values are HiveQL string literals. Facts: shared/reference/merging-on-hive.md.

use smallfiles_cluster::metastore::format::table_format;
use smallfiles_cluster::metastore::{PartitionRecord, TableRecord};

use crate::model::Strategy;

/// Settings of the statements (per cluster; defaults until the engines issue adds them).
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub target_file_size: u64,
    pub queue: Option<String>,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            target_file_size: 256 << 20,
            queue: None,
        }
    }
}

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

/// Hive's path unescaping of a partition value (`%3A` → `:`).
pub fn unescape_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_integer_type(t: &str) -> bool {
    matches!(
        t.to_ascii_lowercase().as_str(),
        "tinyint" | "smallint" | "int" | "integer" | "bigint"
    )
}

/// `PARTITION (`k`='v', `n`=1)` from a partition name and the table's typed keys.
pub fn partition_spec(name: &str, keys: &[(String, String)]) -> Result<String, String> {
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() != keys.len() {
        return Err(format!(
            "partition {name:?} does not name all {} partition keys",
            keys.len()
        ));
    }
    let mut items = Vec::new();
    for (kv, (key, ty)) in parts.iter().zip(keys) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("partition {name:?} is not k=v/…"))?;
        if !k.eq_ignore_ascii_case(key) {
            return Err(format!("partition {name:?}: expected key {key}, found {k}"));
        }
        let value = unescape_path(v);
        let literal = if is_integer_type(ty) && value.parse::<i64>().is_ok() {
            value
        } else {
            quote_string(&value)
        };
        items.push(format!("{}={literal}", quote_ident(key)));
    }
    Ok(format!("PARTITION ({})", items.join(", ")))
}

fn where_clause(name: &str, keys: &[(String, String)]) -> Result<String, String> {
    let spec = partition_spec(name, keys)?;
    let inner = spec.trim_start_matches("PARTITION (").trim_end_matches(')');
    Ok(format!(
        "WHERE {}",
        inner.split(", ").collect::<Vec<_>>().join(" AND ")
    ))
}

/// Picks the strategy for a table, or says why none fits.
pub fn choose_strategy(
    t: &TableRecord,
    requested: Strategy,
    allow_external: bool,
) -> Result<Strategy, String> {
    if t.is_view() {
        return Err("it is a view: there are no files to merge".into());
    }
    if let Some(h) = &t.params.storage_handler {
        return Err(format!("it is a non-native table (storage handler {h})"));
    }
    let external = t.params.external || t.table_type == "EXTERNAL_TABLE";
    let format = table_format(t);
    let bucketed = t.num_buckets > 0;
    match requested {
        Strategy::Auto => {
            if t.params.transactional {
                Ok(Strategy::Compact)
            } else if external && !allow_external {
                Err("it is an external table (merges of external tables are refused unless merger.allow_external_tables is set; HIVE-17403)".into())
            } else if !external && !bucketed && matches!(format, "orc" | "rcfile") {
                Ok(Strategy::Concatenate)
            } else {
                Ok(Strategy::InsertOverwrite)
            }
        }
        Strategy::Compact if !t.params.transactional => {
            Err("compact is for transactional (ACID) tables".into())
        }
        Strategy::Compact => Ok(Strategy::Compact),
        _ if t.params.transactional => {
            Err("transactional tables are merged by compaction only".into())
        }
        _ if external && !allow_external => {
            Err("it is an external table (merger.allow_external_tables is not set)".into())
        }
        Strategy::Concatenate if external => {
            Err("CONCATENATE is refused on external tables (Hive 3, HIVE-17403)".into())
        }
        Strategy::Concatenate if bucketed => {
            Err("CONCATENATE is refused on bucketed tables".into())
        }
        Strategy::Concatenate if !matches!(format, "orc" | "rcfile") => Err(format!(
            "CONCATENATE needs ORC or RCFile, the table is {format}"
        )),
        s => Ok(s),
    }
}

/// The statements of a merge, in order: the named partitions one after the other, or the
/// unpartitioned table.
pub fn statements(
    task_id: u64,
    t: &TableRecord,
    partitions: &[PartitionRecord],
    strategy: Strategy,
    settings: &PlanSettings,
) -> Result<Vec<String>, String> {
    let table = format!("{}.{}", quote_ident(&t.database), quote_ident(&t.name));
    if t.is_partitioned() && partitions.is_empty() {
        return Err(
            "a partitioned table is merged partition by partition: no partition given".into(),
        );
    }
    if !t.is_partitioned() && !partitions.is_empty() {
        return Err("the table is not partitioned".into());
    }
    let mut out = Vec::new();
    if let Some(q) = &settings.queue {
        out.push(format!("SET tez.queue.name={q}"));
        out.push(format!("SET mapreduce.job.queuename={q}"));
    }
    if strategy == Strategy::InsertOverwrite {
        if t.columns.is_empty() {
            return Err("the metastore lists no columns for the table".into());
        }
        let size = settings.target_file_size;
        out.extend([
            "SET hive.merge.mapfiles=true".to_string(),
            "SET hive.merge.mapredfiles=true".to_string(),
            "SET hive.merge.tezfiles=true".to_string(),
            format!("SET hive.merge.size.per.task={size}"),
            format!("SET hive.merge.smallfiles.avgsize={}", size / 2),
        ]);
    }
    let units: Vec<Option<&PartitionRecord>> = if partitions.is_empty() {
        vec![None]
    } else {
        partitions.iter().map(Some).collect()
    };
    for partition in units {
        let spec = match partition {
            Some(p) => format!(" {}", partition_spec(&p.name, &t.partition_keys)?),
            None => String::new(),
        };
        match strategy {
            Strategy::Concatenate => out.push(format!("ALTER TABLE {table}{spec} CONCATENATE")),
            Strategy::Compact => out.push(format!("ALTER TABLE {table}{spec} COMPACT 'major'")),
            Strategy::InsertOverwrite => {
                let location = partition
                    .and_then(|p| p.location.as_deref())
                    .or(t.data_location())
                    .ok_or("the table has no location")?;
                let new_dir = match partition {
                    // Hidden from Hive's readers and from MSCK until the switch.
                    Some(p) => format!(
                        "{}/_smallfiles/task-{task_id}/{}",
                        t.data_location().unwrap_or(location).trim_end_matches('/'),
                        p.name
                    ),
                    None => format!(
                        "{}_smallfiles_task_{task_id}",
                        location.trim_end_matches('/')
                    ),
                };
                let cols: Vec<String> = t.columns.iter().map(|(c, _)| quote_ident(c)).collect();
                let filter = match partition {
                    Some(p) => format!(" {}", where_clause(&p.name, &t.partition_keys)?),
                    None => String::new(),
                };
                out.extend([
                    format!(
                        "INSERT OVERWRITE DIRECTORY {} ROW FORMAT SERDE {} STORED AS INPUTFORMAT {} OUTPUTFORMAT {} SELECT {} FROM {table}{filter}",
                        quote_string(&new_dir),
                        quote_string(t.serde_lib.as_deref().unwrap_or_default()),
                        quote_string(t.input_format.as_deref().unwrap_or_default()),
                        quote_string(t.output_format.as_deref().unwrap_or_default()),
                        cols.join(", "),
                    ),
                    format!("SELECT COUNT(*) FROM {table}{filter}"),
                    format!("ALTER TABLE {table}{spec} SET LOCATION {}", quote_string(&new_dir)),
                    format!("ANALYZE TABLE {table}{spec} COMPUTE STATISTICS"),
                ]);
            }
            Strategy::Auto => return Err("strategy must be resolved before planning".into()),
        }
    }
    if strategy == Strategy::Compact {
        out.push("SHOW COMPACTIONS".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallfiles_cluster::metastore::TableParams;

    fn table(format_in: &str, serde: &str) -> TableRecord {
        TableRecord {
            id: 1,
            catalog: "hive".into(),
            database: "sales".into(),
            name: "orders".into(),
            table_type: "MANAGED_TABLE".into(),
            location: Some("hdfs://ns/w/sales.db/orders".into()),
            input_format: Some(format_in.into()),
            output_format: Some("out".into()),
            serde_lib: Some(serde.into()),
            num_buckets: -1,
            partition_keys: vec![("dt".into(), "string".into()), ("hr".into(), "int".into())],
            columns: vec![
                ("id".into(), "bigint".into()),
                ("note".into(), "string".into()),
            ],
            params: TableParams::default(),
            ..Default::default()
        }
    }

    const ORC: &str = "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat";
    const TEXT: &str = "org.apache.hadoop.mapred.TextInputFormat";

    #[test]
    fn strategy_selection_and_refusals() {
        let orc = table(ORC, "org.apache.hadoop.hive.ql.io.orc.OrcSerde");
        assert_eq!(
            choose_strategy(&orc, Strategy::Auto, false),
            Ok(Strategy::Concatenate)
        );
        let text = table(TEXT, "LazySimpleSerDe");
        assert_eq!(
            choose_strategy(&text, Strategy::Auto, false),
            Ok(Strategy::InsertOverwrite)
        );
        assert!(choose_strategy(&text, Strategy::Concatenate, false)
            .unwrap_err()
            .contains("ORC or RCFile"));
        let mut acid = orc.clone();
        acid.params.transactional = true;
        assert_eq!(
            choose_strategy(&acid, Strategy::Auto, false),
            Ok(Strategy::Compact)
        );
        assert!(choose_strategy(&acid, Strategy::InsertOverwrite, false).is_err());
        assert!(choose_strategy(&orc, Strategy::Compact, false).is_err());
        let mut bucketed = orc.clone();
        bucketed.num_buckets = 8;
        assert_eq!(
            choose_strategy(&bucketed, Strategy::Auto, false),
            Ok(Strategy::InsertOverwrite)
        );
        assert!(choose_strategy(&bucketed, Strategy::Concatenate, false)
            .unwrap_err()
            .contains("bucketed"));
        let mut ext = orc.clone();
        ext.table_type = "EXTERNAL_TABLE".into();
        ext.params.external = true;
        assert!(choose_strategy(&ext, Strategy::Auto, false)
            .unwrap_err()
            .contains("external"));
        assert_eq!(
            choose_strategy(&ext, Strategy::Auto, true),
            Ok(Strategy::InsertOverwrite)
        );
        assert!(choose_strategy(&ext, Strategy::Concatenate, true).is_err());
        let mut view = orc.clone();
        view.table_type = "VIRTUAL_VIEW".into();
        view.location = None;
        assert!(choose_strategy(&view, Strategy::Auto, true)
            .unwrap_err()
            .contains("view"));
        let mut hbase = orc;
        hbase.params.storage_handler =
            Some("org.apache.hadoop.hive.hbase.HBaseStorageHandler".into());
        assert!(choose_strategy(&hbase, Strategy::Auto, true)
            .unwrap_err()
            .contains("storage handler"));
    }

    #[test]
    fn partition_specs_are_typed_and_escaped() {
        let keys = vec![
            ("dt".to_string(), "string".to_string()),
            ("hr".to_string(), "int".to_string()),
        ];
        assert_eq!(
            partition_spec("dt=2024-01-01 10%3A00/hr=5", &keys).unwrap(),
            "PARTITION (`dt`='2024-01-01 10:00', `hr`=5)"
        );
        assert_eq!(
            partition_spec("dt=it%27s/hr=x", &keys).unwrap(),
            "PARTITION (`dt`='it\\'s', `hr`='x')"
        );
        assert!(partition_spec("dt=1", &keys).is_err());
        assert!(partition_spec("xx=1/hr=2", &keys).is_err());
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
        assert_eq!(quote_string("a\\b'c"), "'a\\\\b\\'c'");
        assert_eq!(unescape_path("a%2Fb%3dc%"), "a/b=c%");
    }

    #[test]
    fn statements_per_engine() {
        let orc = table(ORC, "org.apache.hadoop.hive.ql.io.orc.OrcSerde");
        let p = PartitionRecord {
            id: 9,
            table_id: 1,
            name: "dt=2024-01-01/hr=3".into(),
            location: Some("hdfs://ns/w/sales.db/orders/dt=2024-01-01/hr=3".into()),
            ..Default::default()
        };
        let s = statements(
            7,
            &orc,
            std::slice::from_ref(&p),
            Strategy::Concatenate,
            &PlanSettings::default(),
        )
        .unwrap();
        assert_eq!(
            s,
            vec!["ALTER TABLE `sales`.`orders` PARTITION (`dt`='2024-01-01', `hr`=3) CONCATENATE"]
        );
        let s = statements(
            7,
            &orc,
            std::slice::from_ref(&p),
            Strategy::Compact,
            &PlanSettings {
                queue: Some("root.maint".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s[0], "SET tez.queue.name=root.maint");
        assert_eq!(
            s[2],
            "ALTER TABLE `sales`.`orders` PARTITION (`dt`='2024-01-01', `hr`=3) COMPACT 'major'"
        );
        let s = statements(
            7,
            &orc,
            std::slice::from_ref(&p),
            Strategy::InsertOverwrite,
            &PlanSettings::default(),
        )
        .unwrap();
        let insert = s
            .iter()
            .find(|x| x.starts_with("INSERT OVERWRITE DIRECTORY"))
            .unwrap();
        assert!(
            insert.contains("'hdfs://ns/w/sales.db/orders/_smallfiles/task-7/dt=2024-01-01/hr=3'"),
            "{insert}"
        );
        assert!(
            insert.ends_with(
                "SELECT `id`, `note` FROM `sales`.`orders` WHERE `dt`='2024-01-01' AND `hr`=3"
            ),
            "{insert}"
        );
        assert!(s.contains(&"ALTER TABLE `sales`.`orders` PARTITION (`dt`='2024-01-01', `hr`=3) SET LOCATION 'hdfs://ns/w/sales.db/orders/_smallfiles/task-7/dt=2024-01-01/hr=3'".to_string()));
        assert!(statements(
            7,
            &orc,
            &[],
            Strategy::Concatenate,
            &PlanSettings::default()
        )
        .unwrap_err()
        .contains("partition by partition"));
        let p2 = PartitionRecord {
            name: "dt=2024-01-02/hr=0".into(),
            ..p.clone()
        };
        let both = statements(
            7,
            &orc,
            &[p.clone(), p2],
            Strategy::Concatenate,
            &PlanSettings::default(),
        )
        .unwrap();
        assert_eq!(both.len(), 2);
        assert!(both[1].contains("`dt`='2024-01-02', `hr`=0"), "{both:?}");
        let compact = statements(
            7,
            &orc,
            std::slice::from_ref(&p),
            Strategy::Compact,
            &PlanSettings::default(),
        )
        .unwrap();
        assert_eq!(compact.last().map(String::as_str), Some("SHOW COMPACTIONS"));
        let mut flat = orc;
        flat.partition_keys.clear();
        assert_eq!(
            statements(
                1,
                &flat,
                &[],
                Strategy::Concatenate,
                &PlanSettings::default()
            )
            .unwrap(),
            vec!["ALTER TABLE `sales`.`orders` CONCATENATE"]
        );
    }
}

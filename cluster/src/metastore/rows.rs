//! Rows of the metastore's tables into records, the same way for MySQL and PostgreSQL rows:
//! each adapter reads cells through [`Cells`], and the joins happen here, in memory.

use super::{
    parse_count, parse_epoch, parse_flag, PartitionRecord, TableName, TableParams, TableRecord,
    DEFAULT_CATALOG,
};

/// Column access shared by the MySQL and PostgreSQL rows, so both map rows the same way.
pub(super) trait Cells {
    /// A text cell, borrowed from the row where it can be (not-UTF-8 bytes are replaced).
    fn str(&self, i: usize) -> Option<std::borrow::Cow<'_, str>>;
    fn int(&self, i: usize) -> Option<i64>;
    fn text(&self, i: usize) -> Option<String> {
        self.str(i).map(std::borrow::Cow::into_owned)
    }
}

impl<R: Cells> Cells for &R {
    fn str(&self, i: usize) -> Option<std::borrow::Cow<'_, str>> {
        (*self).str(i)
    }
    fn int(&self, i: usize) -> Option<i64> {
        (*self).int(i)
    }
}

/// A partition parameter the scan reads, parsed from the row as it is decoded: a million
/// partitions' parameters are millions of rows, and keeping their keys and values as strings
/// first cost more than reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartitionParam {
    NumFiles(Option<u64>),
    TotalSize(Option<u64>),
    LastDdlTime(Option<i64>),
}

/// The rows of [`super::sql::Dialect::scan_partition_params_query`]: (id, numFiles, DDL time).
pub(super) fn scan_param_rows<R: Cells>(rows: &[R]) -> Vec<(i64, PartitionParam)> {
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
pub(super) fn partition_param_rows<R: Cells>(rows: &[R]) -> Vec<(i64, PartitionParam)> {
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
pub(super) type ParamRows = Vec<(i64, String, Option<String>)>;

pub(super) fn param_rows<R: Cells>(rows: &[R]) -> ParamRows {
    rows.iter()
        .filter_map(|r| Some((r.int(0)?, r.text(1)?, r.text(2))))
        .collect()
}

/// (serde id, "", path) rows of the serde `path` queries.
pub(super) fn serde_path_rows<R: Cells>(rows: &[R]) -> ParamRows {
    rows.iter()
        .filter_map(|r| Some((r.int(0)?, String::new(), r.text(1))))
        .collect()
}

/// (table id, key, type, position) rows of the partition keys queries.
pub(super) fn key_rows<R: Cells>(rows: &[R]) -> Vec<(i64, String, String, i64)> {
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
pub(super) fn page_rows<R: Cells>(rows: &[R]) -> Vec<(i64, i64, String, Option<i64>)> {
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
pub(super) struct Page {
    pub rows: Vec<(i64, i64, String, Option<i64>)>,
    pub last: i64,
    pub sd_ids: Vec<i64>,
}

pub(super) fn page_of<R: Cells>(rows: &[R]) -> Option<Page> {
    let rows = page_rows(rows);
    let last = rows.iter().map(|p| p.0).max()?;
    let mut sd_ids: Vec<i64> = rows.iter().filter_map(|p| p.3).collect();
    sd_ids.sort_unstable();
    sd_ids.dedup();
    Some(Page { rows, last, sd_ids })
}

/// (sd id, location, input format) rows of the location lookups.
pub(super) type LocationRow = (i64, Option<String>, Option<String>);

pub(super) fn location_rows<R: Cells>(rows: &[R]) -> Vec<LocationRow> {
    rows.iter()
        .filter_map(|r| Some((r.int(0)?, r.text(1), r.text(2))))
        .collect()
}

/// (table id, name, type) rows of the columns query.
pub(super) fn column_rows<R: Cells>(rows: &[R]) -> Vec<(i64, String, String)> {
    rows.iter()
        .filter_map(|r| Some((r.int(0)?, r.text(1)?, r.text(2).unwrap_or_default())))
        .collect()
}

/// The rows of a lookup (columns as [`super::sql::Dialect::tables_query`]) that answer one of
/// the names asked: the lookup returns every table of any of the databases with any of the
/// names. Without catalogs (schemas before 3.0) the catalog asked is not compared, as Hive
/// does not compare it there either.
pub(super) fn asked_rows<'r, R: Cells>(
    names: &[TableName],
    rows: &'r [R],
    has_catalogs: bool,
) -> Vec<&'r R> {
    rows.iter()
        .filter(|r| {
            let (catalog, database, table) = (
                r.str(1).unwrap_or_default(),
                r.str(2).unwrap_or_default(),
                r.str(3).unwrap_or_default(),
            );
            names
                .iter()
                .any(|n| n.is(has_catalogs.then_some(&*catalog), &database, &table))
        })
        .collect()
}

/// The answer to a lookup by name: the tables asked for, in the order asked (`None` for a
/// table that does not exist), from the lookup rows that answer them ([`asked_rows`]) and the
/// rows of the reads by id that followed (parameters, serde paths, partition keys, columns).
pub(super) fn lookup_answer<R: Cells, C: Cells>(
    names: &[TableName],
    asked: &[R],
    has_catalogs: bool,
    params: &[C],
    serde_paths: &[C],
    keys: &[C],
    columns: &[C],
) -> Vec<Option<TableRecord>> {
    let tables = assemble_tables(
        asked,
        param_rows(params),
        serde_path_rows(serde_paths),
        key_rows(keys),
    );
    tables_asked(names, tables, column_rows(columns), has_catalogs)
}

/// The tables asked for, in the order asked (`None` for a table that does not exist), with
/// their columns (table id, name, type in column order) attached.
fn tables_asked(
    names: &[TableName],
    mut tables: Vec<TableRecord>,
    columns: Vec<(i64, String, String)>,
    has_catalogs: bool,
) -> Vec<Option<TableRecord>> {
    for (id, name, ty) in columns {
        if let Some(t) = tables.iter_mut().find(|t| t.id == id) {
            t.columns.push((name, ty));
        }
    }
    names
        .iter()
        .map(|n| {
            tables
                .iter()
                .find(|t| n.is(has_catalogs.then_some(&t.catalog), &t.database, &t.name))
                .cloned()
        })
        .collect()
}

/// Builds the tables from the rows of [`super::sql::Dialect::tables_query`], the table parameters,
/// the serde `path` parameters and the partition keys (table id, name, type, position).
pub(super) fn assemble_tables<R: Cells>(
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

/// Builds a page of partitions from [`super::sql::Dialect::partitions_page_query`] rows (id, table,
/// name, sd id), their parameters and the locations of their storage descriptors.
pub(super) fn assemble_partitions(
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

    /// A lookup row: id, catalog, database, table, then the serde id in column 11.
    struct Row(i64, &'static str, &'static str, &'static str);

    impl Cells for Row {
        fn str(&self, i: usize) -> Option<std::borrow::Cow<'_, str>> {
            match i {
                1 => Some(self.1.into()),
                2 => Some(self.2.into()),
                3 => Some(self.3.into()),
                _ => None,
            }
        }
        fn int(&self, i: usize) -> Option<i64> {
            (i == 0).then_some(self.0)
        }
    }

    fn ids(rows: &[&Row]) -> Vec<i64> {
        rows.iter().map(|r| r.0).collect()
    }

    #[test]
    fn a_lookup_keeps_the_pairs_asked_and_answers_in_the_order_asked() {
        // The lookup returns every table of the databases asked with any of the names asked.
        let rows = [
            Row(1, "hive", "sales", "orders"),
            Row(2, "hive", "sales", "returns"),
            Row(3, "hive", "ops", "orders"),
            Row(4, "spark", "sales", "orders"),
            Row(5, "hive", "ops", "jobs"),
        ];
        let names = [
            TableName::new("SALES", "Orders"),
            TableName::new("sales", "missing"),
            TableName::new("ops", "jobs"),
            TableName::new("@spark#sales", "orders"),
        ];
        let asked = asked_rows(&names, &rows, true);
        assert_eq!(ids(&asked), vec![1, 4, 5]);
        let tables = assemble_tables(&asked, Vec::new(), Vec::new(), Vec::new());
        let columns = vec![
            (5, "id".to_string(), "int".to_string()),
            (1, "id".to_string(), "bigint".to_string()),
            (1, "amount".to_string(), "decimal(10,2)".to_string()),
        ];
        let found = tables_asked(&names, tables, columns, true);
        let found: Vec<Option<(i64, usize)>> = found
            .iter()
            .map(|t| t.as_ref().map(|t| (t.id, t.columns.len())))
            .collect();
        assert_eq!(found, vec![Some((1, 2)), None, Some((5, 1)), Some((4, 0))]);

        // Schemas before 3.0 have no catalogs: every table reads as catalog `hive`, and the
        // catalog asked is not compared.
        let old = [Row(1, "hive", "sales", "orders")];
        let asked = asked_rows(&names[3..], &old, false);
        assert_eq!(ids(&asked), vec![1]);
        assert!(asked_rows(&names[3..], &old, true).is_empty());
    }
}

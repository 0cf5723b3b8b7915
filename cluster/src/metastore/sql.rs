//! The metastore queries, written once for both dialects: PostgreSQL quotes the upper-case
//! identifiers, MySQL/MariaDB does not. Only constant text and integers read from the
//! metastore itself go into these statements; paging values are bound parameters.
//!
//! Every query is a scan of one table's primary-key range or a set of primary-key lookups, and
//! rows are joined in memory: a multi-way join per page lets the planner pick a hash join over a
//! whole parameter table for every page, which on a metastore with a million partitions costs
//! minutes instead of seconds.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Mysql,
    Postgres,
}

/// Table parameters read.
pub(crate) const TABLE_PARAM_KEYS: [&str; 8] = [
    "numFiles",
    "totalSize",
    "transient_lastDdlTime",
    "transactional",
    "transactional_properties",
    "EXTERNAL",
    "spark.sql.sources.provider",
    "storage_handler",
];

/// Partition parameters read by the merger's lookups.
pub(crate) const PARTITION_PARAM_KEYS: [&str; 3] =
    ["numFiles", "totalSize", "transient_lastDdlTime"];

fn key_list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ids a per-table query selects by: a bound array (PostgreSQL's `= ANY($1)`), or integers
/// read from the metastore itself written into the statement, so several statements can go in
/// one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ids<'a> {
    BoundArray,
    Literals(&'a [i64]),
}

impl Ids<'_> {
    /// The condition on `column`.
    fn condition(self, dialect: Dialect, column: &str) -> String {
        let column = dialect.id(column);
        match self {
            Ids::BoundArray => format!("{column} = ANY({})", dialect.ph(1)),
            Ids::Literals(ids) => {
                let list: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!("{column} IN ({})", list.join(", "))
            }
        }
    }
}

impl Dialect {
    fn id(self, name: &str) -> String {
        match self {
            Dialect::Mysql => name.to_string(),
            Dialect::Postgres => format!("\"{name}\""),
        }
    }

    fn placeholders(self) -> (&'static str, &'static str) {
        match self {
            Dialect::Mysql => ("?", "?"),
            Dialect::Postgres => ("$1", "$2"),
        }
    }

    /// Columns: id, catalog, database, table, type, owner, location, input format, output
    /// format, buckets, serde lib, serde id.
    pub(crate) fn tables_query(self, has_catalogs: bool) -> String {
        let q = |n: &str| self.id(n);
        let catalog = if has_catalogs {
            format!("d.{}", q("CTLG_NAME"))
        } else {
            "'hive'".to_string()
        };
        format!(
            "SELECT t.{tbl_id}, {catalog}, d.{name}, t.{tbl_name}, t.{tbl_type}, t.{owner}, s.{loc}, s.{inf}, s.{outf}, s.{nb}, se.{slib}, s.{serde_id} \
             FROM {tbls} t JOIN {dbs} d ON t.{db_id} = d.{db_id} \
             LEFT JOIN {sds} s ON t.{sd_id} = s.{sd_id} \
             LEFT JOIN {serdes} se ON s.{serde_id} = se.{serde_id}",
            tbl_id = q("TBL_ID"),
            name = q("NAME"),
            tbl_name = q("TBL_NAME"),
            tbl_type = q("TBL_TYPE"),
            owner = q("OWNER"),
            loc = q("LOCATION"),
            inf = q("INPUT_FORMAT"),
            outf = q("OUTPUT_FORMAT"),
            nb = q("NUM_BUCKETS"),
            slib = q("SLIB"),
            serde_id = q("SERDE_ID"),
            tbls = q("TBLS"),
            dbs = q("DBS"),
            sds = q("SDS"),
            serdes = q("SERDES"),
            db_id = q("DB_ID"),
            sd_id = q("SD_ID"),
        )
    }

    /// Columns: table id, key, value.
    pub(crate) fn table_params_query(self) -> String {
        format!(
            "SELECT {id}, {k}, {v} FROM {t} WHERE {k} IN ({keys})",
            id = self.id("TBL_ID"),
            k = self.id("PARAM_KEY"),
            v = self.id("PARAM_VALUE"),
            t = self.id("TABLE_PARAMS"),
            keys = key_list(&TABLE_PARAM_KEYS),
        )
    }

    /// Columns: serde id, value of `path` (Spark data-source tables).
    pub(crate) fn serde_paths_query(self) -> String {
        format!(
            "SELECT {id}, {v} FROM {t} WHERE {k} = 'path'",
            id = self.id("SERDE_ID"),
            k = self.id("PARAM_KEY"),
            v = self.id("PARAM_VALUE"),
            t = self.id("SERDE_PARAMS"),
        )
    }

    pub(crate) fn partition_keys_query(self) -> String {
        let q = |n: &str| self.id(n);
        format!(
            "SELECT {tbl}, {name}, {ty}, {idx} FROM {pk}",
            tbl = q("TBL_ID"),
            name = q("PKEY_NAME"),
            ty = q("PKEY_TYPE"),
            pk = q("PARTITION_KEYS"),
            idx = q("INTEGER_IDX"),
        )
    }

    /// Columns: part id, table id, name, storage descriptor id. Bound: last PART_ID, page size.
    pub(crate) fn partitions_page_query(self) -> String {
        let q = |n: &str| self.id(n);
        let (a, b) = self.placeholders();
        format!(
            "SELECT {id}, {tbl}, {name}, {sd} FROM {parts} WHERE {id} > {a} ORDER BY {id} LIMIT {b}",
            id = q("PART_ID"),
            tbl = q("TBL_ID"),
            name = q("PART_NAME"),
            sd = q("SD_ID"),
            parts = q("PARTITIONS"),
        )
    }

    /// The parameters a scan's page needs, one row per partition (a million partitions are a
    /// million rows, not two million; `totalSize` is left out). Columns: part id, `numFiles`,
    /// `transient_lastDdlTime`. Bound: the page's first-exclusive and last-inclusive ids.
    pub(crate) fn scan_partition_params_query(self) -> String {
        let (a, b) = self.placeholders();
        format!(
            "SELECT {id}, MAX(CASE WHEN {k} = 'numFiles' THEN {v} END), MAX(CASE WHEN {k} = 'transient_lastDdlTime' THEN {v} END) \
             FROM {t} WHERE {id} > {a} AND {id} <= {b} AND {k} IN ('numFiles', 'transient_lastDdlTime') GROUP BY {id}",
            id = self.id("PART_ID"),
            k = self.id("PARAM_KEY"),
            v = self.id("PARAM_VALUE"),
            t = self.id("PARTITION_PARAMS"),
        )
    }

    /// Columns: min id, max id, count of `PARTITIONS`: what the concurrent page plan splits.
    pub(crate) fn partition_span_query(self) -> String {
        format!(
            "SELECT MIN({id}), MAX({id}), COUNT(*) FROM {parts}",
            id = self.id("PART_ID"),
            parts = self.id("PARTITIONS"),
        )
    }

    /// Columns as [`Self::partitions_page_query`]. Bound: first-exclusive, last-inclusive id.
    pub(crate) fn partitions_range_query(self) -> String {
        let q = |n: &str| self.id(n);
        let (a, b) = self.placeholders();
        format!(
            "SELECT {id}, {tbl}, {name}, {sd} FROM {parts} WHERE {id} > {a} AND {id} <= {b} ORDER BY {id}",
            id = q("PART_ID"),
            tbl = q("TBL_ID"),
            name = q("PART_NAME"),
            sd = q("SD_ID"),
            parts = q("PARTITIONS"),
        )
    }

    /// Columns: part id, key, value. Bound: the page's first-exclusive and last-inclusive ids.
    pub(crate) fn partition_params_range_query(self, keys: &[&str]) -> String {
        let (a, b) = self.placeholders();
        format!(
            "SELECT {id}, {k}, {v} FROM {t} WHERE {id} > {a} AND {id} <= {b} AND {k} IN ({keys})",
            id = self.id("PART_ID"),
            k = self.id("PARAM_KEY"),
            v = self.id("PARAM_VALUE"),
            t = self.id("PARTITION_PARAMS"),
            keys = key_list(keys),
        )
    }

    /// Columns: sd id, location (and input format when `with_format`: the merger's lookups;
    /// the scan leaves it out). MySQL: the ids are written into the statement (integers read
    /// from the metastore); PostgreSQL: bound as one array.
    pub(crate) fn locations_query(self, sd_ids: &[i64], with_format: bool) -> String {
        let format = if with_format {
            format!(", {}", self.id("INPUT_FORMAT"))
        } else {
            String::new()
        };
        let head = format!(
            "SELECT {sd}, {loc}{format} FROM {sds} WHERE {sd}",
            sd = self.id("SD_ID"),
            loc = self.id("LOCATION"),
            sds = self.id("SDS")
        );
        match self {
            Dialect::Mysql => {
                let ids: Vec<String> = sd_ids.iter().map(i64::to_string).collect();
                format!("{head} IN ({})", ids.join(","))
            }
            Dialect::Postgres => format!("{head} = ANY($1)"),
        }
    }

    /// Columns: sd id, location, of every storage descriptor with `first <= SD_ID <= last`.
    /// Bound: first, last.
    pub(crate) fn locations_range_query(self) -> String {
        let (a, b) = self.placeholders();
        format!(
            "SELECT {sd}, {loc} FROM {sds} WHERE {sd} >= {a} AND {sd} <= {b}",
            sd = self.id("SD_ID"),
            loc = self.id("LOCATION"),
            sds = self.id("SDS")
        )
    }

    fn ph(self, n: usize) -> String {
        match self {
            Dialect::Mysql => "?".into(),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// Tables by database and name. Hive stores both in lower case (it normalises every
    /// identifier): callers pass lower-case names, and the unique indexes serve the lookup. The
    /// result holds every table of any of the databases with any of the names, and callers keep
    /// the pairs they asked for. Bound on MySQL: `n` databases, `n` tables, `n` catalogs (3.0+
    /// schemas only); on PostgreSQL: an array of each.
    pub(crate) fn tables_lookup_query(self, has_catalogs: bool, n: usize) -> String {
        let q = |n: &str| self.id(n);
        let mut next = 0;
        let mut list = || match self {
            Dialect::Mysql => {
                let marks = vec!["?"; n].join(", ");
                format!("IN ({marks})")
            }
            Dialect::Postgres => {
                next += 1;
                format!("= ANY({})", self.ph(next))
            }
        };
        let mut sql = format!(
            "{} WHERE d.{name} {dbs} AND t.{tbl} {tables}",
            self.tables_query(has_catalogs),
            name = q("NAME"),
            tbl = q("TBL_NAME"),
            dbs = list(),
            tables = list(),
        );
        if has_catalogs {
            sql.push_str(&format!(" AND d.{} {}", q("CTLG_NAME"), list()));
        }
        sql
    }

    /// The parameters of some tables. Columns as [`Self::table_params_query`].
    pub(crate) fn table_params_for_query(self, tables: Ids) -> String {
        format!(
            "{} AND {}",
            self.table_params_query(),
            tables.condition(self, "TBL_ID")
        )
    }

    /// The `path` parameter of some serdes. Columns as [`Self::serde_paths_query`].
    pub(crate) fn serde_path_for_query(self, serdes: Ids) -> String {
        format!(
            "{} AND {}",
            self.serde_paths_query(),
            serdes.condition(self, "SERDE_ID")
        )
    }

    /// The partition keys of some tables. Columns as [`Self::partition_keys_query`].
    pub(crate) fn partition_keys_for_query(self, tables: Ids) -> String {
        format!(
            "{} WHERE {}",
            self.partition_keys_query(),
            tables.condition(self, "TBL_ID")
        )
    }

    /// Data columns of some tables, each table's in order. Columns: table id, name, type.
    pub(crate) fn columns_query(self, tables: Ids) -> String {
        let q = |n: &str| self.id(n);
        format!(
            "SELECT t.{tbl}, c.{name}, c.{ty} FROM {cols} c JOIN {sds} s ON c.{cd} = s.{cd} JOIN {tbls} t ON t.{sd} = s.{sd} WHERE t.{cond} ORDER BY t.{tbl}, c.{idx}",
            name = q("COLUMN_NAME"),
            ty = q("TYPE_NAME"),
            cols = q("COLUMNS_V2"),
            sds = q("SDS"),
            tbls = q("TBLS"),
            cd = q("CD_ID"),
            sd = q("SD_ID"),
            tbl = q("TBL_ID"),
            idx = q("INTEGER_IDX"),
            cond = tables.condition(self, "TBL_ID"),
        )
    }

    /// Every partition of one table. Bound: table id.
    pub(crate) fn partitions_of_query(self) -> String {
        let q = |n: &str| self.id(n);
        format!(
            "SELECT {id}, {tbl}, {name}, {sd} FROM {parts} WHERE {tbl} = {p1} ORDER BY {id}",
            id = q("PART_ID"),
            tbl = q("TBL_ID"),
            name = q("PART_NAME"),
            sd = q("SD_ID"),
            parts = q("PARTITIONS"),
            p1 = self.ph(1),
        )
    }

    /// One partition by exact (escaped) name. Bound: table id, name.
    pub(crate) fn partition_lookup_query(self) -> String {
        let q = |n: &str| self.id(n);
        format!(
            "SELECT {id}, {tbl}, {name}, {sd} FROM {parts} WHERE {tbl} = {p1} AND {name} = {p2}",
            id = q("PART_ID"),
            tbl = q("TBL_ID"),
            name = q("PART_NAME"),
            sd = q("SD_ID"),
            parts = q("PARTITIONS"),
            p1 = self.ph(1),
            p2 = self.ph(2),
        )
    }

    pub(crate) fn version_query(self) -> String {
        format!(
            "SELECT {} FROM {}",
            self.id("SCHEMA_VERSION"),
            self.id("VERSION")
        )
    }
}

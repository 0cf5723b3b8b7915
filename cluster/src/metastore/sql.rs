//! The metastore queries, written once for both dialects: PostgreSQL quotes the upper-case
//! identifiers, MySQL/MariaDB does not. Only constant text goes into these statements; paging
//! values are bound parameters.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Mysql,
    Postgres,
}

/// Table parameters read per table, each as its own primary-key LEFT JOIN.
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

pub(crate) const PARTITION_PARAM_KEYS: [&str; 3] =
    ["numFiles", "totalSize", "transient_lastDdlTime"];

impl Dialect {
    fn id(self, name: &str) -> String {
        match self {
            Dialect::Mysql => name.to_string(),
            Dialect::Postgres => format!("\"{name}\""),
        }
    }

    /// Column list: id, catalog, database, table, type, owner, location, input format, output
    /// format, buckets, serde lib, serde path, then the TABLE_PARAM_KEYS values in order.
    pub(crate) fn tables_query(self, has_catalogs: bool) -> String {
        let q = |n: &str| self.id(n);
        let catalog = if has_catalogs {
            format!("d.{}", q("CTLG_NAME"))
        } else {
            "'hive'".to_string()
        };
        let mut select = vec![
            format!("t.{}", q("TBL_ID")),
            catalog,
            format!("d.{}", q("NAME")),
            format!("t.{}", q("TBL_NAME")),
            format!("t.{}", q("TBL_TYPE")),
            format!("t.{}", q("OWNER")),
            format!("s.{}", q("LOCATION")),
            format!("s.{}", q("INPUT_FORMAT")),
            format!("s.{}", q("OUTPUT_FORMAT")),
            format!("s.{}", q("NUM_BUCKETS")),
            format!("se.{}", q("SLIB")),
            format!("sp.{}", q("PARAM_VALUE")),
        ];
        let mut joins = format!(
            "FROM {tbls} t JOIN {dbs} d ON t.{db_id} = d.{db_id} \
             LEFT JOIN {sds} s ON t.{sd_id} = s.{sd_id} \
             LEFT JOIN {serdes} se ON s.{serde_id} = se.{serde_id} \
             LEFT JOIN {serde_params} sp ON sp.{serde_id} = s.{serde_id} AND sp.{key} = 'path'",
            tbls = q("TBLS"),
            dbs = q("DBS"),
            sds = q("SDS"),
            serdes = q("SERDES"),
            serde_params = q("SERDE_PARAMS"),
            db_id = q("DB_ID"),
            sd_id = q("SD_ID"),
            serde_id = q("SERDE_ID"),
            key = q("PARAM_KEY"),
        );
        for (i, key) in TABLE_PARAM_KEYS.iter().enumerate() {
            select.push(format!("p{i}.{}", q("PARAM_VALUE")));
            joins.push_str(&format!(
                " LEFT JOIN {tp} p{i} ON p{i}.{tbl_id} = t.{tbl_id} AND p{i}.{pk} = '{key}'",
                tp = q("TABLE_PARAMS"),
                tbl_id = q("TBL_ID"),
                pk = q("PARAM_KEY"),
            ));
        }
        format!(
            "SELECT {} {joins} ORDER BY t.{}",
            select.join(", "),
            q("TBL_ID")
        )
    }

    pub(crate) fn partition_keys_query(self) -> String {
        let q = |n: &str| self.id(n);
        format!(
            "SELECT {tbl}, {name}, {ty} FROM {pk} ORDER BY {tbl}, {idx}",
            tbl = q("TBL_ID"),
            name = q("PKEY_NAME"),
            ty = q("PKEY_TYPE"),
            pk = q("PARTITION_KEYS"),
            idx = q("INTEGER_IDX"),
        )
    }

    /// Column list: part id, table id, name, location, then PARTITION_PARAM_KEYS values.
    /// Two bound parameters: the last PART_ID seen and the page size.
    pub(crate) fn partitions_page_query(self) -> String {
        let q = |n: &str| self.id(n);
        let mut select = vec![
            format!("p.{}", q("PART_ID")),
            format!("p.{}", q("TBL_ID")),
            format!("p.{}", q("PART_NAME")),
            format!("s.{}", q("LOCATION")),
        ];
        let mut joins = format!(
            "FROM {parts} p LEFT JOIN {sds} s ON p.{sd} = s.{sd}",
            parts = q("PARTITIONS"),
            sds = q("SDS"),
            sd = q("SD_ID"),
        );
        for (i, key) in PARTITION_PARAM_KEYS.iter().enumerate() {
            select.push(format!("pp{i}.{}", q("PARAM_VALUE")));
            joins.push_str(&format!(
                " LEFT JOIN {pp} pp{i} ON pp{i}.{id} = p.{id} AND pp{i}.{k} = '{key}'",
                pp = q("PARTITION_PARAMS"),
                id = q("PART_ID"),
                k = q("PARAM_KEY"),
            ));
        }
        let (a, b) = match self {
            Dialect::Mysql => ("?", "?"),
            Dialect::Postgres => ("$1", "$2"),
        };
        format!(
            "SELECT {} {joins} WHERE p.{id} > {a} ORDER BY p.{id} LIMIT {b}",
            select.join(", "),
            id = q("PART_ID"),
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

//! Rows inserted the way Hive writes them: databases, tables (`TableSpec`), partitions with
//! their storage descriptors, columns and parameters, in the order the schema's foreign keys
//! need, as SQL statements for either database.

use std::collections::BTreeMap;

use smallfiles_cluster::config::MetastoreKind;

/// A table as the builder inserts it.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub table_type: String,
    pub owner: String,
    pub location: Option<String>,
    pub input_format: String,
    pub output_format: String,
    pub serde_lib: String,
    pub serde_params: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
    pub partition_keys: Vec<(String, String)>,
    pub num_buckets: i32,
    /// Data columns (name, type).
    pub columns: Vec<(String, String)>,
}

pub const TEXT_INPUT: &str = "org.apache.hadoop.mapred.TextInputFormat";
pub const TEXT_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
pub const LAZY_SIMPLE: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
pub const ORC_INPUT: &str = "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat";
pub const ORC_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat";
pub const ORC_SERDE: &str = "org.apache.hadoop.hive.ql.io.orc.OrcSerde";
pub const PARQUET_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const PARQUET_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

impl TableSpec {
    /// A managed text table, as `CREATE TABLE t (…)` makes it.
    pub fn text(name: &str, location: &str) -> TableSpec {
        TableSpec {
            name: name.into(),
            table_type: "MANAGED_TABLE".into(),
            owner: "hive".into(),
            location: Some(location.into()),
            input_format: TEXT_INPUT.into(),
            output_format: TEXT_OUTPUT.into(),
            serde_lib: LAZY_SIMPLE.into(),
            serde_params: vec![("serialization.format".into(), "1".into())],
            params: vec![("transient_lastDdlTime".into(), "1700000000".into())],
            partition_keys: vec![],
            num_buckets: -1,
            columns: vec![
                ("id".into(), "bigint".into()),
                ("amount".into(), "decimal(10,2)".into()),
            ],
        }
    }

    pub fn orc(name: &str, location: &str) -> TableSpec {
        TableSpec {
            input_format: ORC_INPUT.into(),
            output_format: ORC_OUTPUT.into(),
            serde_lib: ORC_SERDE.into(),
            ..TableSpec::text(name, location)
        }
    }

    pub fn parquet(name: &str, location: &str) -> TableSpec {
        TableSpec {
            input_format: PARQUET_INPUT.into(),
            output_format: PARQUET_OUTPUT.into(),
            serde_lib: PARQUET_SERDE.into(),
            ..TableSpec::text(name, location)
        }
    }

    pub fn view(name: &str) -> TableSpec {
        TableSpec {
            table_type: "VIRTUAL_VIEW".into(),
            location: None,
            input_format: String::new(),
            output_format: String::new(),
            ..TableSpec::text(name, "")
        }
    }

    pub fn partitioned_by(mut self, keys: &[(&str, &str)]) -> TableSpec {
        self.partition_keys = keys
            .iter()
            .map(|(k, t)| (k.to_string(), t.to_string()))
            .collect();
        self
    }

    pub fn param(mut self, k: &str, v: &str) -> TableSpec {
        self.params.retain(|(pk, _)| pk != k);
        self.params.push((k.into(), v.into()));
        self
    }

    pub fn external(mut self) -> TableSpec {
        self.table_type = "EXTERNAL_TABLE".into();
        self.param("EXTERNAL", "TRUE")
    }
}

/// Collects rows and renders multi-row INSERT statements in foreign-key order.
pub struct MetastoreBuilder {
    kind: MetastoreKind,
    has_catalogs: bool,
    next_id: i64,
    rows: BTreeMap<usize, (String, Vec<String>)>,
    catalogs: Vec<String>,
}

/// Insert order that satisfies the schemas' foreign keys.
const ORDER: [(&str, &[&str]); 13] = [
    ("CTLGS", &["CTLG_ID", "NAME", "DESC", "LOCATION_URI"]),
    (
        "DBS",
        &[
            "DB_ID",
            "DESC",
            "DB_LOCATION_URI",
            "NAME",
            "OWNER_NAME",
            "OWNER_TYPE",
        ],
    ),
    ("SERDES", &["SERDE_ID", "NAME", "SLIB"]),
    ("SERDE_PARAMS", &["SERDE_ID", "PARAM_KEY", "PARAM_VALUE"]),
    ("CDS", &["CD_ID"]),
    (
        "COLUMNS_V2",
        &[
            "CD_ID",
            "COMMENT",
            "COLUMN_NAME",
            "TYPE_NAME",
            "INTEGER_IDX",
        ],
    ),
    (
        "SDS",
        &[
            "SD_ID",
            "CD_ID",
            "INPUT_FORMAT",
            "IS_COMPRESSED",
            "IS_STOREDASSUBDIRECTORIES",
            "LOCATION",
            "NUM_BUCKETS",
            "OUTPUT_FORMAT",
            "SERDE_ID",
        ],
    ),
    (
        "TBLS",
        &[
            "TBL_ID",
            "CREATE_TIME",
            "DB_ID",
            "LAST_ACCESS_TIME",
            "OWNER",
            "RETENTION",
            "SD_ID",
            "TBL_NAME",
            "TBL_TYPE",
            "VIEW_EXPANDED_TEXT",
            "VIEW_ORIGINAL_TEXT",
        ],
    ),
    ("TABLE_PARAMS", &["TBL_ID", "PARAM_KEY", "PARAM_VALUE"]),
    (
        "PARTITION_KEYS",
        &[
            "TBL_ID",
            "PKEY_COMMENT",
            "PKEY_NAME",
            "PKEY_TYPE",
            "INTEGER_IDX",
        ],
    ),
    (
        "PARTITIONS",
        &[
            "PART_ID",
            "CREATE_TIME",
            "LAST_ACCESS_TIME",
            "PART_NAME",
            "SD_ID",
            "TBL_ID",
        ],
    ),
    ("PARTITION_PARAMS", &["PART_ID", "PARAM_KEY", "PARAM_VALUE"]),
    (
        "PARTITION_KEY_VALS",
        &["PART_ID", "PART_KEY_VAL", "INTEGER_IDX"],
    ),
];

impl MetastoreBuilder {
    pub fn new(kind: MetastoreKind, has_catalogs: bool) -> MetastoreBuilder {
        MetastoreBuilder {
            kind,
            has_catalogs,
            next_id: 1000,
            rows: BTreeMap::new(),
            catalogs: vec!["hive".into()],
        }
    }

    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// A string literal; MySQL's default mode also treats backslash as an escape.
    pub fn lit(&self, s: &str) -> String {
        let s = s.replace('\'', "''");
        match self.kind {
            MetastoreKind::Mysql => format!("'{}'", s.replace('\\', "\\\\")),
            MetastoreKind::Postgres => format!("'{s}'"),
        }
    }

    fn opt(&self, s: Option<&str>) -> String {
        s.map(|s| self.lit(s)).unwrap_or_else(|| "NULL".into())
    }

    fn bool(&self, b: bool) -> &'static str {
        match (self.kind, b) {
            (MetastoreKind::Mysql, true) => "1",
            (MetastoreKind::Mysql, false) => "0",
            (MetastoreKind::Postgres, true) => "true",
            (MetastoreKind::Postgres, false) => "false",
        }
    }

    fn push(&mut self, table: &str, values: Vec<String>) {
        let idx = ORDER
            .iter()
            .position(|(t, _)| *t == table)
            .expect("known table");
        let entry = self
            .rows
            .entry(idx)
            .or_insert_with(|| (table.to_string(), Vec::new()));
        entry.1.push(format!("({})", values.join(", ")));
    }

    pub fn catalog(&mut self, name: &str, location: &str) {
        let id = self.id();
        let v = vec![
            id.to_string(),
            self.lit(name),
            self.lit("catalog"),
            self.lit(location),
        ];
        self.push("CTLGS", v);
        self.catalogs.push(name.into());
    }

    pub fn database(&mut self, name: &str, location: &str) -> i64 {
        self.database_in(None, name, location)
    }

    /// A database in a catalog (3.0+ schemas); `None` is the default catalog.
    pub fn database_in(&mut self, catalog: Option<&str>, name: &str, location: &str) -> i64 {
        let id = self.id();
        let mut v = vec![
            id.to_string(),
            "NULL".into(),
            self.lit(location),
            self.lit(name),
            self.lit("hive"),
            self.lit("USER"),
        ];
        if let (true, Some(c)) = (self.has_catalogs, catalog) {
            v.push(self.lit(c));
            self.push_with_catalog(v);
        } else {
            self.push("DBS", v);
        }
        id
    }

    fn push_with_catalog(&mut self, values: Vec<String>) {
        // DBS rows with an explicit catalog go into their own statement with CTLG_NAME.
        let entry = self
            .rows
            .entry(100)
            .or_insert_with(|| ("DBS_CTLG".to_string(), Vec::new()));
        entry.1.push(format!("({})", values.join(", ")));
    }

    /// A storage descriptor with its serde; the table's own carries serde parameters and
    /// columns, a partition's does not.
    fn storage(&mut self, spec: &TableSpec, location: Option<&str>, table_level: bool) -> i64 {
        let serde_id = self.id();
        let v = vec![
            serde_id.to_string(),
            "NULL".into(),
            self.lit(&spec.serde_lib),
        ];
        self.push("SERDES", v);
        let serde_params = if table_level {
            spec.serde_params.as_slice()
        } else {
            &[]
        };
        for (k, val) in serde_params {
            let v = vec![serde_id.to_string(), self.lit(k), self.lit(val)];
            self.push("SERDE_PARAMS", v);
        }
        let cd = self.id();
        self.push("CDS", vec![cd.to_string()]);
        let columns = if table_level {
            spec.columns.as_slice()
        } else {
            &[]
        };
        for (i, (name, ty)) in columns.iter().enumerate() {
            let v = vec![
                cd.to_string(),
                "NULL".into(),
                self.lit(name),
                self.lit(ty),
                i.to_string(),
            ];
            self.push("COLUMNS_V2", v);
        }
        let sd = self.id();
        let v = vec![
            sd.to_string(),
            cd.to_string(),
            self.opt(Some(spec.input_format.as_str()).filter(|s| !s.is_empty())),
            self.bool(false).into(),
            self.bool(false).into(),
            self.opt(location),
            spec.num_buckets.to_string(),
            self.opt(Some(spec.output_format.as_str()).filter(|s| !s.is_empty())),
            serde_id.to_string(),
        ];
        self.push("SDS", v);
        sd
    }

    pub fn table(&mut self, db_id: i64, spec: &TableSpec) -> i64 {
        let sd = self.storage(spec, spec.location.as_deref(), true);
        let id = self.id();
        let view_text = if spec.table_type.contains("VIEW") {
            self.lit("select 1")
        } else {
            "NULL".into()
        };
        let v = vec![
            id.to_string(),
            "1700000000".into(),
            db_id.to_string(),
            "0".into(),
            self.lit(&spec.owner),
            "0".into(),
            sd.to_string(),
            self.lit(&spec.name),
            self.lit(&spec.table_type),
            view_text.clone(),
            view_text,
        ];
        self.push("TBLS", v);
        for (k, val) in &spec.params {
            let v = vec![id.to_string(), self.lit(k), self.lit(val)];
            self.push("TABLE_PARAMS", v);
        }
        for (i, (k, t)) in spec.partition_keys.iter().enumerate() {
            let v = vec![
                id.to_string(),
                "NULL".into(),
                self.lit(k),
                self.lit(t),
                i.to_string(),
            ];
            self.push("PARTITION_KEYS", v);
        }
        id
    }

    /// A partition named `k=v/…` (values already path-escaped as Hive writes them), with its
    /// own storage descriptor like the table's.
    pub fn partition(
        &mut self,
        tbl_id: i64,
        spec: &TableSpec,
        name: &str,
        location: &str,
        params: &[(&str, &str)],
    ) -> i64 {
        let sd = self.storage(spec, Some(location), false);
        let id = self.id();
        let v = vec![
            id.to_string(),
            "1700000000".into(),
            "0".into(),
            self.lit(name),
            sd.to_string(),
            tbl_id.to_string(),
        ];
        self.push("PARTITIONS", v);
        for (k, val) in params {
            let v = vec![id.to_string(), self.lit(k), self.lit(val)];
            self.push("PARTITION_PARAMS", v);
        }
        for (i, kv) in name.split('/').enumerate() {
            let raw = kv.split_once('=').map(|(_, v)| v).unwrap_or("");
            let unescaped = percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned();
            let v = vec![id.to_string(), self.lit(&unescaped), i.to_string()];
            self.push("PARTITION_KEY_VALS", v);
        }
        id
    }

    /// The statements, in foreign-key order, at most `batch` rows each; the builder is emptied.
    pub fn take_statements(&mut self, batch: usize) -> Vec<String> {
        let q = |n: &str| match self.kind {
            MetastoreKind::Mysql => format!("`{n}`"),
            MetastoreKind::Postgres => format!("\"{n}\""),
        };
        let mut out = Vec::new();
        let rows = std::mem::take(&mut self.rows);
        let mut ordered: Vec<(usize, (String, Vec<String>))> = rows.into_iter().collect();
        // Databases with a catalog go right after the plain DBS rows.
        ordered.sort_by_key(|(i, _)| if *i == 100 { 1 } else { *i });
        for (idx, (table, values)) in ordered {
            let (name, cols): (&str, Vec<&str>) = if idx == 100 {
                let mut c = ORDER[1].1.to_vec();
                c.push("CTLG_NAME");
                ("DBS", c)
            } else {
                (ORDER[idx].0, ORDER[idx].1.to_vec())
            };
            debug_assert!(table == name || idx == 100);
            let col_list = cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
            for chunk in values.chunks(batch.max(1)) {
                out.push(format!(
                    "INSERT INTO {} ({col_list}) VALUES {}",
                    q(name),
                    chunk.join(", ")
                ));
            }
        }
        out
    }
}

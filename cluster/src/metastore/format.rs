//! The storage format of a table, from its input format, serde and Spark provider.

use super::TableRecord;

/// The storage format, from the input format, serde and Spark provider.
pub fn table_format(t: &TableRecord) -> &'static str {
    if let Some(p) = &t.params.spark_provider {
        let p = p.to_ascii_lowercase();
        for (needle, f) in [
            ("parquet", "parquet"),
            ("orc", "orc"),
            ("avro", "avro"),
            ("csv", "text"),
            ("json", "text"),
            ("text", "text"),
        ] {
            if p.contains(needle) {
                return f;
            }
        }
    }
    format_of(
        t.input_format.as_deref().unwrap_or(""),
        t.serde_lib.as_deref().unwrap_or(""),
    )
}

pub fn format_of(input_format: &str, serde: &str) -> &'static str {
    let s = format!("{input_format} {serde}").to_ascii_lowercase();
    if s.contains("parquet") {
        "parquet"
    } else if s.contains("orc") {
        "orc"
    } else if s.contains("avro") {
        "avro"
    } else if s.contains("rcfile") || s.contains("columnarserde") {
        "rcfile"
    } else if s.contains("sequencefile") {
        "sequencefile"
    } else if s.contains("textinputformat")
        || s.contains("lazysimpleserde")
        || s.contains("opencsvserde")
        || s.contains("jsonserde")
        || s.contains("regexserde")
    {
        "text"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = |i: &str, s: &str| format_of(i, s);
        assert_eq!(
            t(
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
            ),
            "text"
        );
        assert_eq!(
            t(
                "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
                "org.apache.hadoop.hive.ql.io.orc.OrcSerde"
            ),
            "orc"
        );
        assert_eq!(
            t(
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                ""
            ),
            "parquet"
        );
        assert_eq!(
            t(
                "org.apache.hadoop.hive.ql.io.RCFileInputFormat",
                "org.apache.hadoop.hive.serde2.columnar.LazyBinaryColumnarSerDe"
            ),
            "rcfile"
        );
        assert_eq!(
            t("org.apache.hadoop.mapred.SequenceFileInputFormat", ""),
            "sequencefile"
        );
        assert_eq!(
            t(
                "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat",
                ""
            ),
            "avro"
        );
        assert_eq!(
            t("org.apache.hudi.hadoop.HoodieParquetInputFormat", ""),
            "parquet"
        );
        assert_eq!(t("com.example.Custom", ""), "other");
        let mut spark = TableRecord::default();
        spark.params.spark_provider = Some("org.apache.spark.sql.parquet".into());
        spark.input_format = Some("org.apache.hadoop.mapred.SequenceFileInputFormat".into());
        assert_eq!(table_format(&spark), "parquet");
    }
}

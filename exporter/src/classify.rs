//! Plain decisions over plain data: what counts as a small file, how file sizes fall into the
//! histogram, which format a table is stored in.

use serde::{Deserialize, Serialize};
use smallfiles_cluster::metastore::TableRecord;

/// Upper bounds of `smallfiles_file_size_bytes`: 1, 8, 16, 32, 64, 128, 256, 512 MiB and 1 GiB.
pub const SIZE_BUCKETS: [u64; 9] = [
    1 << 20,
    8 << 20,
    16 << 20,
    32 << 20,
    64 << 20,
    128 << 20,
    256 << 20,
    512 << 20,
    1 << 30,
];

/// File counts and sizes of a directory tree, a partition or a table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStats {
    pub files: u64,
    pub small_files: u64,
    pub bytes: u64,
    pub small_files_bytes: u64,
    /// Files per bucket of [`SIZE_BUCKETS`] (not cumulative); the last slot is above 1 GiB.
    pub size_buckets: [u64; SIZE_BUCKETS.len() + 1],
}

impl FileStats {
    /// Counts one data file. A file is small when it is strictly below the threshold; empty
    /// files count as small (they cost a NameNode object all the same).
    pub fn add_file(&mut self, length: u64, threshold: u64) {
        self.files += 1;
        self.bytes += length;
        if length < threshold {
            self.small_files += 1;
            self.small_files_bytes += length;
        }
        let slot = SIZE_BUCKETS
            .iter()
            .position(|&b| length <= b)
            .unwrap_or(SIZE_BUCKETS.len());
        self.size_buckets[slot] += 1;
    }

    pub fn merge(&mut self, other: &FileStats) {
        self.files += other.files;
        self.small_files += other.small_files;
        self.bytes += other.bytes;
        self.small_files_bytes += other.small_files_bytes;
        for (a, b) in self.size_buckets.iter_mut().zip(other.size_buckets.iter()) {
            *a += b;
        }
    }
}

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
    fn small_is_strictly_below_threshold() {
        let mut s = FileStats::default();
        let t = 128 << 20;
        s.add_file(0, t);
        s.add_file(t - 1, t);
        s.add_file(t, t);
        s.add_file(2 << 30, t);
        assert_eq!((s.files, s.small_files), (4, 2));
        assert_eq!(s.small_files_bytes, t - 1);
        assert_eq!(s.bytes, t - 1 + t + (2 << 30));
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        let mut s = FileStats::default();
        for len in [0, 1 << 20, (1 << 20) + 1, 128 << 20, 1 << 30, (1 << 30) + 1] {
            s.add_file(len, 1);
        }
        assert_eq!(s.size_buckets, [2, 1, 0, 0, 0, 1, 0, 0, 1, 1]);
        let mut m = s.clone();
        m.merge(&s);
        assert_eq!(m.files, 12);
        assert_eq!(m.size_buckets[0], 4);
    }

    #[test]
    fn formats() {
        use smallfiles_cluster::metastore::TableRecord;
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

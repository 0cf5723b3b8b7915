//! Writes a generated warehouse image: `write_image <path> <databases> <tables> <partitions> <files> [none|zlib|gzip|snappy|lz4]`.
use smallfiles_testkit::fsimage::{write_warehouse, WarehouseShape, WriteCodec};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n = |i: usize| a[i].parse::<u64>().expect("a number");
    let codec = match a.get(6).map(String::as_str) {
        Some("zlib") => WriteCodec::Zlib,
        Some("gzip") => WriteCodec::Gzip,
        Some("snappy") => WriteCodec::Snappy,
        Some("lz4") => WriteCodec::Lz4,
        _ => WriteCodec::None,
    };
    let shape = WarehouseShape {
        databases: n(2),
        tables: n(3),
        partitions: n(4),
        files: n(5),
    };
    let t = std::time::Instant::now();
    let totals = write_warehouse(std::path::Path::new(&a[1]), codec, shape, 128 << 20).unwrap();
    eprintln!("{totals:?} in {:.1} s", t.elapsed().as_secs_f64());
}

//! Reading images: real images from public test suites (`../shared/fixtures/fsimage/`, their
//! totals in ORIGINS.txt), images the test kit writes in each codec, and corrupt, truncated
//! and foreign files (a clear error, never a panic).

use super::*;
use smallfiles_exporter::cache::UnitMap;
use smallfiles_testkit::fsimage::{write_tree, WriteCodec};
use smallfiles_testkit::require_shared;

/// The same warehouse written uncompressed, with zlib (Hadoop's DefaultCodec), gzip, Snappy and
/// LZ4 (Hadoop's block framing), with
/// and without the string table's mask bits (Hadoop 3.2+): the same counts every time.
#[tokio::test]
async fn written_images_count_the_same_in_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    for codec in [
        WriteCodec::None,
        WriteCodec::Zlib,
        WriteCodec::Gzip,
        WriteCodec::Snappy,
        WriteCodec::Lz4,
    ] {
        for mask_bits in [0, 3] {
            let image = dir.path().join(format!("fsimage_{codec:?}_{mask_bits}"));
            write_tree(
                &image,
                codec,
                mask_bits,
                77,
                &warehouse_files(),
                &["/user/hive/warehouse/web.db/clicks/dt=3"],
            )
            .unwrap();
            let s = image_cluster(&image, "warehouse: hdfs:///user/hive/warehouse\n");
            let r = scan(&s).await;
            check_warehouse(&r);
            let info = r.image.as_ref().expect("the image is reported");
            assert_eq!(info.txid, 77, "{codec:?}");
            assert_eq!(r.unit_errors, 0);
        }
    }
}

/// A directory of images: the newest `fsimage_<txid>` is read, not its `.md5` nor a
/// checkpoint still being written.
#[tokio::test]
async fn the_newest_image_of_a_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let files = warehouse_files();
    write_tree(
        &dir.path().join("fsimage_0000000000000000009"),
        WriteCodec::None,
        0,
        9,
        &files[..1],
        &[],
    )
    .unwrap();
    write_tree(
        &dir.path().join("fsimage_0000000000000000042"),
        WriteCodec::None,
        0,
        42,
        &files,
        &["/user/hive/warehouse/web.db/clicks/dt=3"],
    )
    .unwrap();
    std::fs::write(dir.path().join("fsimage_0000000000000000042.md5"), "x").unwrap();
    std::fs::write(
        dir.path().join("fsimage.ckpt_0000000000000000099"),
        "partial",
    )
    .unwrap();
    let s = image_cluster(dir.path(), "warehouse: hdfs:///user/hive/warehouse\n");
    let r = scan(&s).await;
    assert_eq!(r.image.as_ref().unwrap().txid, 42);
    check_warehouse(&r);
}

/// The real images: the totals their origin states (ORIGINS.txt), read through the scan with
/// every top-level directory as a table.
#[tokio::test]
async fn real_images_give_their_known_totals() {
    let shared = require_shared!();
    let dir = shared.join("fixtures/fsimage");
    for (name, layout, files, bytes) in [
        ("fsimage_0001", -63, 16, 356_409_344),
        ("fsi_small_h2x.img", -63, 16, 356_417_536),
        ("fsi_small_h3_2.img", -65, 16, 356_417_536),
        ("fsimage_d800_f210k_compressed.img", -65, 209_560, 0),
        ("fsimage_0000000000000000000", -63, 0, 0),
    ] {
        let s = image_cluster(&dir.join(name), "warehouse: hdfs:///\n");
        let r = scan(&s).await;
        let total_files: u64 = r.snapshot.tables.iter().map(|t| t.stats.files).sum();
        let total_bytes: u64 = r.snapshot.tables.iter().map(|t| t.stats.bytes).sum();
        let ns = smallfiles_cluster::hdfs::fsimage::load(&dir.join(name)).unwrap();
        assert_eq!(ns.namespace.layout_version, layout, "{name}");
        let (mut all_files, mut all_bytes) = (0, 0);
        assert!(ns.namespace.walk("/", |f| {
            all_files += 1;
            all_bytes += f.length;
        }));
        assert_eq!(
            (all_files, all_bytes),
            (files, bytes),
            "{name}: the whole tree"
        );
        // Tables are directories: a file lying in / itself belongs to none.
        assert_eq!(
            (total_files, total_bytes),
            root_excluded(name, files, bytes),
            "{name}: {:?}",
            names(&r)
        );
    }
    // The small tree's owners (mm, root, foo) are those of its files.
    let r = scan(&image_cluster(
        &dir.join("fsi_small_h3_2.img"),
        "warehouse: hdfs:///\n",
    ))
    .await;
    let mut owners: Vec<String> = r
        .snapshot
        .tables
        .iter()
        .flat_map(|t| t.small_files_by_owner.iter().map(|(o, _)| o.clone()))
        .collect();
    owners.sort();
    owners.dedup();
    assert!(
        owners
            .iter()
            .all(|o| ["mm", "root", "foo"].contains(&o.as_str())),
        "{owners:?}"
    );
}

/// What lies in the tables of a real image: the small tree keeps one file directly in `/`.
fn root_excluded(name: &str, files: u64, bytes: u64) -> (u64, u64) {
    match name {
        "fsimage_0001" | "fsi_small_h2x.img" | "fsi_small_h3_2.img" => (files - 1, bytes - 2048),
        _ => (files, bytes),
    }
}

/// Corrupt, truncated and foreign files fail the scan at stage `fsimage` with a clear
/// message; nothing panics, whatever byte is cut or changed.
#[tokio::test]
async fn corrupt_truncated_and_foreign_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    write_tree(&good, WriteCodec::Zlib, 3, 5, &warehouse_files(), &[]).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad");
    let s = image_cluster(&bad, "warehouse: hdfs:///user/hive/warehouse\n");
    let fails = |what: &str, content: &[u8]| {
        std::fs::write(&bad, content).unwrap();
        let s = &s;
        let what = what.to_string();
        async move {
            match s.scan(&UnitMap::new(), None, None).await {
                Err(f) => {
                    assert_eq!(f.stage, "fsimage", "{what}");
                    f.message
                }
                Ok(_) => panic!("{what}: a broken image was read"),
            }
        }
    };
    let m = fails("empty", b"").await;
    assert!(m.contains("not an fsimage"), "{m}");
    let m = fails(
        "foreign",
        b"PK\x03\x04 a zip file, not an image at all .....",
    )
    .await;
    assert!(m.contains("not an fsimage"), "{m}");
    let m = fails("summary cut", &bytes[..bytes.len() - 3]).await;
    assert!(m.contains("corrupt or truncated"), "{m}");
    // Every truncation and a changed byte at many offsets: an error or (for bytes the reader
    // does not need) the same counts, never a panic.
    for cut in (9..bytes.len()).step_by(7) {
        fails(&format!("cut at {cut}"), &bytes[..cut]).await;
    }
    for at in (8..bytes.len()).step_by(3) {
        let mut changed = bytes.clone();
        changed[at] ^= 0x5a;
        std::fs::write(&bad, &changed).unwrap();
        let _ = s.scan(&UnitMap::new(), None, None).await;
    }
    // An absent image is the same kind of failure.
    let s = image_cluster(&dir.path().join("absent"), "warehouse: hdfs:///w\n");
    let f = s
        .scan(&UnitMap::new(), None, None)
        .await
        .err()
        .expect("fails");
    assert_eq!(f.stage, "fsimage");
}

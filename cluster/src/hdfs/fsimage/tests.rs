//! The reader on the real images of `../shared/fixtures/fsimage/` (inode counts from
//! ORIGINS.txt); the exporter's tests count tables in them.

use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/fsimage")
        .join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/fixtures/fsimage/{name} is absent");
        None
    }
}

#[test]
fn every_inode_of_the_real_images_is_read() {
    for (name, dirs, files) in [
        ("fsimage_0001", 14, 16),
        ("fsi_small_h2x.img", 14, 16),
        ("fsi_small_h3_2.img", 14, 16),
        ("fsimage_0000000000000000000", 1, 0),
        ("fsimage_d800_f210k_compressed.img", 807, 209_560),
    ] {
        let Some(p) = fixture(name) else { continue };
        let image = load(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(image.namespace.inodes, dirs + files, "{name}");
        let mut seen = 0;
        assert!(image.namespace.walk("/", |_| seen += 1));
        assert_eq!(seen, files, "{name}: every file under /");
    }
}

#[test]
fn a_directory_yields_its_newest_image() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "fsimage_0000000000000000007",
        "fsimage_0000000000000000012",
        "fsimage_0000000000000000012.md5",
        "fsimage.ckpt_0000000000000000099",
        "fsimage_",
        "edits_0000000000000000100-0000000000000000200",
    ] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    assert_eq!(
        newest_in(dir.path()).unwrap(),
        dir.path().join("fsimage_0000000000000000012")
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        newest_in(empty.path()),
        Err(FsImageError::NoImage(_))
    ));
}

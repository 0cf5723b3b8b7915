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

fn totals(ns: &Namespace, path: &str) -> (u64, u64, Vec<String>) {
    let (mut files, mut bytes, mut owners) = (0, 0, Vec::new());
    assert!(
        ns.walk(path, |f| {
            files += 1;
            bytes += f.length;
            if !owners.iter().any(|o| o == f.owner) {
                owners.push(f.owner.to_string());
            }
        }),
        "{path} exists"
    );
    owners.sort();
    (files, bytes, owners)
}

#[test]
fn probe() {
    for name in [
        "fsimage_0001",
        "fsi_small_h2x.img",
        "fsi_small_h3_2.img",
        "fsimage_0000000000000000000",
        "fsimage_d800_f210k_compressed.img",
    ] {
        let Some(p) = fixture(name) else { continue };
        let img = load(&p).unwrap();
        let t = totals(&img.namespace, "/");
        eprintln!(
            "{name}: txid {} layout {} inodes {} -> {t:?}",
            img.namespace.txid, img.namespace.layout_version, img.namespace.inodes
        );
    }
}

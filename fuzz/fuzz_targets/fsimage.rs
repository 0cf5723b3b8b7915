//! fsimage files as a disk, a copy or an attacker may leave them: any bytes read as an image
//! give an error or a namespace that can be walked, never a panic, a hang or an allocation
//! the file cannot back. Seed it with `../shared/fixtures/fsimage/`.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use smallfiles_cluster::hdfs::fsimage;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(data).expect("written");
    if let Ok(image) = fsimage::load(file.path()) {
        let mut files = 0u64;
        image.namespace.walk("/", |_| files += 1);
        // Every file counted lies in the tree: no more of them than inodes.
        assert!(files <= image.namespace.inodes);
        let _ = image.namespace.list_dirs("/user/hive/warehouse");
    }
});

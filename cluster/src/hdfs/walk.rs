//! Walking the data files under a table or partition directory, as Hive reads it: nested
//! directories are included (union subdirectories, ACID `base_`/`delta_` directories, list
//! bucketing), names starting with `_` or `.` are not data, nor is anything under them. The
//! exporter counts with it, the merger summarizes a directory before and after a merge.

use super::{is_hidden, ClusterFs, FileKind, FileStatus, Location};
use crate::error::Result;

/// Lists `root` recursively. `on_listing` sees each directory's whole listing (hidden entries
/// included) before it is visited, and may stop the walk with an error; `on_file` sees each
/// data file with its path relative to `root` (`""` when `root` is a file itself).
pub async fn walk_data_files(
    fs: &ClusterFs,
    root: &Location,
    mut on_listing: impl FnMut(&Location, &[FileStatus]) -> Result<()>,
    mut on_file: impl FnMut(&str, &FileStatus),
) -> Result<()> {
    let mut pending = vec![(root.clone(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let listing = fs.list(&dir).await?;
        on_listing(&dir, &listing)?;
        for entry in listing {
            if entry.name.is_empty() {
                // The root itself is a file.
                on_file(&prefix, &entry);
                continue;
            }
            if is_hidden(&entry.name) {
                continue;
            }
            let path = format!("{prefix}/{}", entry.name);
            match entry.kind {
                FileKind::Directory => pending.push((ClusterFs::child(&dir, &entry.name), path)),
                FileKind::File | FileKind::Symlink => on_file(&path, &entry),
            }
        }
    }
    Ok(())
}

//! `file://` locations, listed with the same shape as WebHDFS answers.

use std::time::UNIX_EPOCH;

use super::{FileKind, FileStatus, FileSystem};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct LocalFs;

fn status_of(name: String, meta: &std::fs::Metadata) -> FileStatus {
    let kind = if meta.is_dir() {
        FileKind::Directory
    } else if meta.file_type().is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::File
    };
    FileStatus {
        name,
        kind,
        length: if meta.is_dir() { 0 } else { meta.len() },
        modification_time: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        owner: std::os::unix::fs::MetadataExt::uid(meta).to_string(),
    }
}

fn io_err(path: &str, source: std::io::Error) -> Error {
    Error::Local {
        path: path.to_string(),
        source,
    }
}

impl FileSystem for LocalFs {
    async fn list(&self, path: &str) -> Result<Vec<FileStatus>> {
        let path = path.to_string();
        tokio::task::spawn_blocking(move || {
            let meta = std::fs::metadata(&path).map_err(|e| io_err(&path, e))?;
            if !meta.is_dir() {
                return Ok(vec![status_of(String::new(), &meta)]);
            }
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&path).map_err(|e| io_err(&path, e))? {
                let entry = entry.map_err(|e| io_err(&path, e))?;
                // Follows symlinks, as a Hadoop local file system does.
                let meta = match std::fs::metadata(entry.path()) {
                    Ok(m) => m,
                    Err(_) => continue, // dangling link or removed meanwhile
                };
                out.push(status_of(
                    entry.file_name().to_string_lossy().into_owned(),
                    &meta,
                ));
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
        .map_err(|e| io_err("", std::io::Error::other(e)))?
    }

    async fn status(&self, path: &str) -> Result<FileStatus> {
        let p = path.to_string();
        let meta = tokio::fs::metadata(&p).await.map_err(|e| io_err(&p, e))?;
        Ok(status_of(String::new(), &meta))
    }

    async fn delete_recursive(&self, path: &str) -> Result<bool> {
        let p = path.to_string();
        let meta = match tokio::fs::symlink_metadata(&p).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&p, e)),
        };
        let removed = if meta.is_dir() {
            tokio::fs::remove_dir_all(&p).await
        } else {
            tokio::fs::remove_file(&p).await
        };
        removed.map(|_| true).map_err(|e| io_err(&p, e))
    }
}

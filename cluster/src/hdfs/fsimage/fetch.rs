//! Downloading the newest fsimage from a NameNode (`hdfs.fsimage.fetch: true`): the standby
//! of an HA pair when one answers (a checkpoint's image costs the active nothing), else the
//! active one; `GET /imagetransfer?getimage=1&txid=latest` with the cluster's credentials.
//! The image is written beside its final name, its MD5 compared with the one the NameNode
//! announces, then renamed into place: a reader never sees half an image. An image already
//! here (same transaction id) is not downloaded again.

use std::io::Write;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::FsImageError;
use crate::hdfs::WebHdfs;

/// What a fetch left in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedImage {
    pub path: PathBuf,
    pub namenode: String,
    /// False when the NameNode's newest image was here already.
    pub downloaded: bool,
}

/// Fetches the newest image into `dir` and removes the older ones there.
pub async fn fetch_latest(webhdfs: &WebHdfs, dir: &Path) -> Result<FetchedImage, FsImageError> {
    std::fs::create_dir_all(dir)?;
    let mut last = FsImageError::Fetch("no namenode configured".into());
    for nn in namenodes_for_fetch(webhdfs).await {
        match fetch_from(webhdfs, &nn, dir).await {
            Ok(fetched) => {
                remove_older(dir, &fetched.path);
                return Ok(fetched);
            }
            Err(e) => {
                tracing::warn!(namenode = %nn, error = %e, "fsimage not fetched from this namenode");
                last = e;
            }
        }
    }
    Err(last)
}

/// The NameNodes, those that answer as a standby first. Asked with a WebHDFS status of `/`,
/// which a standby refuses with its StandbyException: each NameNode's own answer (`/jmx` would
/// do on real clusters, but NameNodes sharing a JVM, as in tests, share their beans).
pub async fn namenodes_for_fetch(webhdfs: &WebHdfs) -> Vec<String> {
    let mut standby = Vec::new();
    let mut others = Vec::new();
    for nn in webhdfs.namenodes() {
        let answer = webhdfs
            .get_servlet(nn, "HA_STATE", "/webhdfs/v1/?op=GETFILESTATUS")
            .await;
        if matches!(answer, Err(crate::HdfsErrorKind::Standby(_))) {
            standby.push(nn.clone());
        } else {
            others.push(nn.clone());
        }
    }
    standby.extend(others);
    standby
}

async fn fetch_from(webhdfs: &WebHdfs, nn: &str, dir: &Path) -> Result<FetchedImage, FsImageError> {
    let mut reply = webhdfs
        .get_servlet(nn, "GETIMAGE", "/imagetransfer?getimage=1&txid=latest")
        .await
        .map_err(|e| match e {
            crate::HdfsErrorKind::AccessDenied(_) => FsImageError::Fetch(format!(
                "{nn}: {e}: the NameNode serves its image only to the NameNodes and to \
                 dfs.cluster.administrators (log in as an HDFS admin principal)"
            )),
            e => FsImageError::Fetch(format!("{nn}: {e}")),
        })?;
    let header = |name: &str| {
        reply
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let name = header("content-disposition")
        .and_then(|d| image_name(&d))
        .ok_or_else(|| {
            FsImageError::Fetch(format!(
                "{nn} did not name the image (Content-Disposition: fsimage_<txid>)"
            ))
        })?;
    let expected_md5 = header("x-md5-digest").map(|m| m.to_ascii_lowercase());
    let path = dir.join(&name);
    if path.is_file() {
        return Ok(FetchedImage {
            path,
            namenode: nn.to_string(),
            downloaded: false,
        });
    }
    let partial = dir.join(format!("{name}.download"));
    let mut file = std::fs::File::create(&partial)?;
    let mut md5 = Md5::new();
    let result: Result<(), FsImageError> = async {
        while let Some(chunk) = reply
            .chunk()
            .await
            .map_err(|e| FsImageError::Fetch(format!("{nn}: the image was cut short: {e}")))?
        {
            md5.update(&chunk);
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
        let actual = format!("{:x}", md5.finalize_reset());
        match expected_md5 {
            Some(expected) if expected != actual => {
                Err(FsImageError::Checksum { expected, actual })
            }
            _ => Ok(()),
        }
    }
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &path)?;
    Ok(FetchedImage {
        path,
        namenode: nn.to_string(),
        downloaded: true,
    })
}

/// `fsimage_<txid>` from `attachment; filename=fsimage_0000000000000000042`, nothing else (the
/// name becomes a path: no separators, no dots).
fn image_name(disposition: &str) -> Option<String> {
    let name = disposition
        .split("filename=")
        .nth(1)?
        .trim()
        .trim_matches('"');
    let txid = name.strip_prefix("fsimage_")?;
    (!txid.is_empty() && txid.len() <= 20 && txid.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.to_string())
}

/// Removes the other images and unfinished downloads, keeping `keep`.
fn remove_older(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_image = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("fsimage_"));
        if is_image && path != keep {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "old fsimage not removed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::image_name;

    #[test]
    fn only_an_image_name_is_taken_from_the_reply() {
        assert_eq!(
            image_name("attachment; filename=fsimage_0000000000000000042").as_deref(),
            Some("fsimage_0000000000000000042")
        );
        for bad in [
            "attachment; filename=../fsimage_1",
            "attachment; filename=fsimage_1/../../x",
            "attachment; filename=fsimage_",
            "attachment; filename=edits_1",
            "inline",
        ] {
            assert_eq!(image_name(bad), None, "{bad}");
        }
    }
}

//! HDFS fsimage files: the NameNode's own checkpoint of the whole namespace, read instead of
//! listing directories (`hdfs.mode: fsimage`). `read.rs` reads the file (summary, sections,
//! codecs), `namespace.rs` keeps what counting tables needs, `fetch.rs` downloads the newest
//! image from a NameNode. See `../shared/reference/fsimage.md` for the layout.

mod fetch;
mod namespace;
pub mod proto;
mod read;

use std::path::{Path, PathBuf};

pub use fetch::{fetch_latest, namenodes_for_fetch, FetchedImage};
pub use namespace::{ImageFileEntry, Namespace};
pub use read::{Codec, ImageFile};

/// Why an image could not be read or fetched.
#[derive(Debug, thiserror::Error)]
pub enum FsImageError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not an fsimage (no HDFSIMG1 magic)")]
    NotAnImage,
    #[error("corrupt or truncated image: {0}")]
    Corrupt(String),
    #[error("compressed with {0}, which this reader does not support (DefaultCodec, GzipCodec, SnappyCodec and Lz4Codec are)")]
    UnsupportedCodec(String),
    #[error("no fsimage_<txid> file in {0}")]
    NoImage(PathBuf),
    #[error("fetching the image: {0}")]
    Fetch(String),
    #[error("the image's MD5 is {actual}, the NameNode announced {expected}")]
    Checksum { expected: String, actual: String },
}

/// An image read from disk, with what the metrics report about it.
pub struct LoadedImage {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub namespace: Namespace,
}

/// Reads the image at `path`: a file, or a directory whose newest `fsimage_<txid>` is taken
/// (a NameNode's `current/` directory, or where `fetch` keeps them).
pub fn load(path: &Path) -> Result<LoadedImage, FsImageError> {
    let file = if path.is_dir() {
        newest_in(path)?
    } else {
        path.to_path_buf()
    };
    let image = ImageFile::open(&file)?;
    let namespace = Namespace::read(&image)?;
    Ok(LoadedImage {
        size_bytes: image.size_bytes(),
        path: file,
        namespace,
    })
}

/// What `check` says of an image without reading its inodes: the file, its transaction id,
/// layout version, codec and size.
pub fn describe(path: &Path) -> Result<String, FsImageError> {
    let file = if path.is_dir() {
        newest_in(path)?
    } else {
        path.to_path_buf()
    };
    let image = ImageFile::open(&file)?;
    let txid = match image.messages("NS_INFO")? {
        Some(mut m) => m.header::<proto::NameSystemSection>()?.transaction_id,
        None => return Err(FsImageError::Corrupt("no NS_INFO section".into())),
    };
    Ok(format!(
        "fsimage {} txid {txid} layout {} codec {} {} bytes",
        file.display(),
        image.summary.layout_version as i32,
        image.summary.codec.as_deref().unwrap_or("none"),
        image.size_bytes()
    ))
}

/// The `fsimage_<txid>` with the highest transaction id in `dir` (not its `.md5` files, nor
/// the `fsimage.ckpt_…` files a checkpoint is still writing).
pub fn newest_in(dir: &Path) -> Result<PathBuf, FsImageError> {
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(txid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("fsimage_"))
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        if newest.as_ref().is_none_or(|(t, _)| txid > *t) {
            newest = Some((txid, entry.path()));
        }
    }
    newest
        .map(|(_, p)| p)
        .ok_or_else(|| FsImageError::NoImage(dir.to_path_buf()))
}

#[cfg(test)]
mod tests;

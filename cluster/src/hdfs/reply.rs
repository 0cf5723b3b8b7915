//! What a WebHDFS reply means, decided from its bytes alone (no I/O, fuzzed): listing pages
//! checked entry by entry, file statuses, and the RemoteException of a failed request mapped
//! to a typed error and to how the client goes on (next NameNode, retry, fail).

use serde::Deserialize;

use super::shorten;
use super::{FileKind, FileStatus};
use crate::error::HdfsErrorKind;

/// One entry as the NameNode sends it. `pathSuffix`, `type` and `length` are always sent by
/// HDFS: an entry without them is not counted with guessed defaults, it fails the directory.
#[derive(Deserialize)]
struct RawStatus {
    #[serde(rename = "pathSuffix")]
    path_suffix: String,
    #[serde(rename = "type")]
    kind: String,
    length: u64,
    #[serde(rename = "modificationTime", default)]
    modification_time: i64,
    #[serde(default)]
    owner: String,
}

impl RawStatus {
    /// What HDFS can send: a name that is one path component (empty only for a file listed
    /// by its own path), a known type, a length that fits Java's `long`.
    fn check(&self, alone: bool) -> std::result::Result<(), String> {
        let name = &self.path_suffix;
        if name.contains('/') || name == "." || name == ".." || (name.is_empty() && !alone) {
            return Err(format!(
                "entry name {:?} is not one path component",
                shorten(name)
            ));
        }
        if !matches!(self.kind.as_str(), "FILE" | "DIRECTORY" | "SYMLINK") {
            return Err(format!(
                "entry {:?} has type {:?}",
                shorten(name),
                shorten(&self.kind)
            ));
        }
        if self.length > i64::MAX as u64 {
            return Err(format!(
                "entry {:?} has length {}",
                shorten(name),
                self.length
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawStatuses {
    #[serde(rename = "FileStatus", default)]
    file_status: Vec<RawStatus>,
}

#[derive(Deserialize)]
struct ListStatusReply {
    #[serde(rename = "FileStatuses")]
    file_statuses: RawStatuses,
}

#[derive(Deserialize)]
struct PartialListing {
    #[serde(rename = "FileStatuses")]
    file_statuses: RawStatuses,
}

#[derive(Deserialize)]
struct DirectoryListing {
    #[serde(rename = "partialListing")]
    partial_listing: PartialListing,
    #[serde(rename = "remainingEntries", default)]
    remaining_entries: u64,
}

#[derive(Deserialize)]
struct BatchReply {
    #[serde(rename = "DirectoryListing")]
    directory_listing: DirectoryListing,
}

#[derive(Deserialize)]
struct BooleanReply {
    boolean: bool,
}

#[derive(Deserialize)]
struct FileStatusReply {
    #[serde(rename = "FileStatus")]
    file_status: RawStatus,
}

#[derive(Deserialize)]
struct RemoteExceptionReply {
    #[serde(rename = "RemoteException")]
    remote_exception: RemoteException,
}

#[derive(Deserialize)]
struct RemoteException {
    #[serde(default)]
    exception: String,
    #[serde(default)]
    message: String,
}

impl From<RawStatus> for FileStatus {
    fn from(r: RawStatus) -> FileStatus {
        FileStatus {
            name: r.path_suffix,
            kind: match r.kind.as_str() {
                "DIRECTORY" => FileKind::Directory,
                "SYMLINK" => FileKind::Symlink,
                _ => FileKind::File,
            },
            length: r.length,
            modification_time: r.modification_time,
            owner: r.owner,
        }
    }
}

/// A page must hold valid entries, all named after the previous page's last name (the
/// NameNode lists in byte order from `startAfter`): a page that does not advance would be asked
/// for again forever.
fn check_page(page: &[RawStatus], start_after: &str) -> std::result::Result<(), String> {
    let alone = page.len() == 1 && start_after.is_empty();
    for e in page {
        e.check(alone)?;
        if !start_after.is_empty() && e.path_suffix.as_str() <= start_after {
            return Err(format!(
                "the listing does not advance: {:?} on the page after {:?}",
                shorten(&e.path_suffix),
                shorten(start_after)
            ));
        }
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HdfsErrorKind> {
    serde_json::from_slice(body).map_err(|e| HdfsErrorKind::Protocol {
        status: 200,
        body: e.to_string(),
    })
}

/// One page of LISTSTATUS_BATCH, checked: valid entries, all after `start_after`.
pub struct BatchPage {
    pub entries: Vec<FileStatus>,
    /// Entries the NameNode says are left after this page.
    pub remaining: u64,
}

pub fn batch_page(body: &[u8], start_after: &str) -> Result<BatchPage, HdfsErrorKind> {
    let reply: BatchReply = decode(body)?;
    let page = reply
        .directory_listing
        .partial_listing
        .file_statuses
        .file_status;
    check_page(&page, start_after).map_err(HdfsErrorKind::InvalidReply)?;
    Ok(BatchPage {
        entries: page.into_iter().map(FileStatus::from).collect(),
        remaining: reply.directory_listing.remaining_entries,
    })
}

/// A whole LISTSTATUS reply (Hadoop before 2.8), at most `max_entries` entries.
pub fn list_status(body: &[u8], max_entries: u64) -> Result<Vec<FileStatus>, HdfsErrorKind> {
    let reply: ListStatusReply = decode(body)?;
    let entries = reply.file_statuses.file_status;
    if entries.len() as u64 > max_entries {
        return Err(HdfsErrorKind::ListingTooLarge(format!(
            "more than {max_entries} entries (hdfs.listing.max_entries_per_directory)"
        )));
    }
    check_page(&entries, "").map_err(HdfsErrorKind::InvalidReply)?;
    Ok(entries.into_iter().map(FileStatus::from).collect())
}

/// A GETFILESTATUS reply.
pub fn file_status(body: &[u8]) -> Result<FileStatus, HdfsErrorKind> {
    let reply: FileStatusReply = decode(body)?;
    reply
        .file_status
        .check(true)
        .map_err(HdfsErrorKind::InvalidReply)?;
    Ok(reply.file_status.into())
}

/// A `{"boolean": …}` reply (DELETE, MKDIRS, RENAME).
pub fn boolean(body: &[u8]) -> Result<bool, HdfsErrorKind> {
    decode::<BooleanReply>(body).map(|r| r.boolean)
}

/// How the client goes on after a failed request.
#[derive(Debug, PartialEq)]
pub enum ErrorReply {
    /// Ask the next NameNode (a standby).
    Failover(HdfsErrorKind),
    /// Worth retrying on the same NameNode after a pause (5xx, RetriableException).
    Retry(HdfsErrorKind),
    Fail(HdfsErrorKind),
}

/// A non-2xx reply: the outcome label of `smallfiles_hdfs_requests_total` and what it means.
pub fn error_reply(status: u16, body: &[u8]) -> (&'static str, ErrorReply) {
    let server_error = (500..600).contains(&status);
    let remote = serde_json::from_slice::<RemoteExceptionReply>(body)
        .ok()
        .map(|r| r.remote_exception);
    match remote {
        Some(r) => remote_exception(r.exception, r.message, status == 400, server_error),
        None => {
            let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
            let kind = HdfsErrorKind::Protocol { status, body: text };
            if server_error {
                ("error", ErrorReply::Retry(kind))
            } else {
                ("error", ErrorReply::Fail(kind))
            }
        }
    }
}

/// What a NameNode's exception means, whichever protocol carried it (WebHDFS' RemoteException
/// or an RPC error): the outcome label and whether to fail over, retry or give up.
/// `bad_request`: WebHDFS answered 400 (an op or parameter it does not know); `server_error`:
/// a 5xx, worth a retry.
pub fn remote_exception(
    exception: String,
    message: String,
    bad_request: bool,
    server_error: bool,
) -> (&'static str, ErrorReply) {
    let is = |class: &str| exception.contains(class);
    if is("StandbyException") || is("RetriableException") && message.contains("standby") {
        return (
            "standby",
            ErrorReply::Failover(HdfsErrorKind::Standby(message)),
        );
    }
    if is("SafeModeException") || is("RetriableException") && message.contains("safe mode") {
        // In HA a NameNode in safe mode answers RetriableException: it may leave it soon.
        let kind = HdfsErrorKind::SafeMode(message);
        let meaning = if is("RetriableException") {
            ErrorReply::Retry(kind)
        } else {
            ErrorReply::Fail(kind)
        };
        return ("safe_mode", meaning);
    }
    if is("FileNotFoundException") {
        return (
            "not_found",
            ErrorReply::Fail(HdfsErrorKind::NotFound(message)),
        );
    }
    if is("AccessControlException") || is("SecurityException") || is("AuthorizationException") {
        return (
            "denied",
            ErrorReply::Fail(HdfsErrorKind::AccessDenied(message)),
        );
    }
    if bad_request && (is("IllegalArgumentException") || is("UnsupportedOperationException")) {
        return (
            "unsupported",
            ErrorReply::Fail(HdfsErrorKind::Unsupported(message)),
        );
    }
    let retriable = is("RetriableException");
    let kind = HdfsErrorKind::Remote { exception, message };
    if server_error || retriable {
        ("error", ErrorReply::Retry(kind))
    } else {
        ("error", ErrorReply::Fail(kind))
    }
}

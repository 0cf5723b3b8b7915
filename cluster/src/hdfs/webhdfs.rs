//! A WebHDFS client for listing: LISTSTATUS_BATCH with fallback to LISTSTATUS, GETFILESTATUS,
//! RemoteException mapped to typed errors, NameNode HA failover, retries with backoff, and the
//! cluster's request limits. Facts: `shared/reference/webhdfs.md`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::failover::{Attempt, Failover};
use super::reply::{self, ErrorReply};
use super::{FileStatus, FileSystem, RequestCounters, RequestLimiter};
use crate::config::{HdfsConfig, ListingLimits, Secret};
use crate::error::{Error, HdfsErrorKind, Result};
use crate::kerberos::spnego::Spnego;

/// Everything but unreserved characters and `/` is escaped in the path: a literal `%` in a
/// Hive directory name (`ts=10%3A00`) must reach the NameNode as `%25`.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'|')
    .add(b'\\')
    .add(b'+')
    .add(b'&')
    .add(b'=')
    .add(b';')
    .add(b':')
    .add(b'@')
    .add(b'$')
    .add(b',')
    .add(b'\'');
const QUERY: &AsciiSet = &PATH.add(b'/');

pub struct WebHdfs {
    /// The NameNodes' base URLs and which one is active.
    failover: Failover,
    http: reqwest::Client,
    /// For downloads that take longer than a request may (the fsimage): no bound on the
    /// whole exchange, `request_timeout` between two reads.
    download: reqwest::Client,
    user: Option<String>,
    delegation: Option<Secret>,
    batch_supported: AtomicBool,
    limiter: Arc<RequestLimiter>,
    counters: Arc<RequestCounters>,
    limits: ListingLimits,
    /// Kerberized NameNodes: SPNEGO and the `hadoop.auth` cookie.
    spnego: Option<Spnego>,
}

/// The body of a reply, at most `limit` bytes (`Err(None)`: longer than that).
async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
) -> std::result::Result<bytes::Bytes, Option<reqwest::Error>> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(None);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(Some)? {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

impl WebHdfs {
    pub fn new(
        cfg: &HdfsConfig,
        limiter: Arc<RequestLimiter>,
        counters: Arc<RequestCounters>,
    ) -> Result<WebHdfs> {
        let client = |total: Option<Duration>| -> Result<reqwest::Client> {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(cfg.request_timeout.0.min(Duration::from_secs(10)))
                .read_timeout(cfg.request_timeout.0)
                .pool_max_idle_per_host(64)
                .user_agent(concat!("smallfiles/", env!("CARGO_PKG_VERSION")));
            if let Some(total) = total {
                builder = builder.timeout(total);
            }
            if let Some(ca) = &cfg.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| Error::Invalid(format!("hdfs.ca_file {}: {e}", ca.display())))?;
                for cert in reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| Error::Invalid(format!("hdfs.ca_file {}: {e}", ca.display())))?
                {
                    builder = builder.add_root_certificate(cert);
                }
            }
            builder
                .build()
                .map_err(|e| Error::Invalid(format!("http client: {e}")))
        };
        let http = client(Some(cfg.request_timeout.0))?;
        let download = client(None)?;
        let delegation = Secret::resolve(cfg.delegation_token_file.as_deref(), None)?;
        let namenodes: Vec<String> = cfg
            .namenodes
            .iter()
            .map(|n| n.trim_end_matches('/').to_string())
            .collect();
        Ok(WebHdfs {
            failover: Failover::new("webhdfs", namenodes, cfg.retries),
            http,
            download,
            user: cfg.user.clone(),
            delegation,
            batch_supported: AtomicBool::new(true),
            limiter,
            counters,
            limits: cfg.listing,
            spnego: None,
        })
    }

    /// Authenticates with Kerberos (SPNEGO) instead of `user.name`.
    pub fn with_spnego(mut self, spnego: Spnego) -> WebHdfs {
        self.spnego = Some(spnego);
        self
    }

    pub fn spnego(&self) -> Option<&Spnego> {
        self.spnego.as_ref()
    }

    /// The NameNode that answered last as active.
    pub fn active_namenode(&self) -> &str {
        self.failover.active_namenode()
    }

    /// The NameNodes' base URLs, in configuration order.
    pub fn namenodes(&self) -> &[String] {
        self.failover.namenodes()
    }

    /// Sends a request with this cluster's Kerberos credentials when it has them: the
    /// NameNode's cookie, or a negotiation, once more when the server asks for one. A refused
    /// ticket is counted `denied` and returned as the error; the transport's own result is
    /// the caller's to read.
    async fn send_with_credentials(
        &self,
        nn: &str,
        op: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> std::result::Result<reqwest::Result<reqwest::Response>, HdfsErrorKind> {
        let Some(spnego) = &self.spnego else {
            return Ok(build().send().await);
        };
        let denied = |e| {
            self.counters.add(op, "denied");
            HdfsErrorKind::Kerberos(e)
        };
        let mut fresh = false;
        loop {
            let (request, negotiated) =
                spnego.authorize(nn, build(), fresh).await.map_err(denied)?;
            if negotiated {
                self.counters.add_negotiation();
            }
            let reply = request.send().await;
            if let Ok(r) = &reply {
                if spnego.check(nn, r, negotiated).map_err(denied)? {
                    fresh = true;
                    continue;
                }
            }
            return Ok(reply);
        }
    }

    /// A GET of a NameNode servlet other than WebHDFS (`/jmx`, `/imagetransfer`) with this
    /// cluster's credentials (SPNEGO, or `user.name`), for a download of any length; the
    /// caller reads the reply. Counted as `op` in `smallfiles_hdfs_requests_total`.
    pub async fn get_servlet(
        &self,
        nn: &str,
        op: &'static str,
        path_and_query: &str,
    ) -> std::result::Result<reqwest::Response, HdfsErrorKind> {
        let mut url = format!("{nn}{path_and_query}");
        if let (Some(user), None) = (&self.user, &self.spnego) {
            url.push_str(if url.contains('?') { "&" } else { "?" });
            url.push_str("user.name=");
            url.extend(utf8_percent_encode(user, QUERY));
        }
        let reply = self
            .send_with_credentials(nn, op, || self.download.get(&url))
            .await?
            .map_err(|e| {
                let outcome = if e.is_timeout() {
                    "timeout"
                } else {
                    "unreachable"
                };
                self.counters.add(op, outcome);
                HdfsErrorKind::Unreachable(format!("{nn}: connection failed"))
            })?;
        let status = reply.status();
        if status.is_success() {
            self.counters.add(op, "success");
            return Ok(reply);
        }
        // What the NameNode says, typed as for WebHDFS (a standby, a RemoteException).
        let body = read_capped(reply, 64 * 1024).await.unwrap_or_default();
        let (outcome, meaning) = reply::error_reply(status.as_u16(), &body);
        let kind = match meaning {
            ErrorReply::Failover(k) | ErrorReply::Retry(k) | ErrorReply::Fail(k) => k,
        };
        let kind = match kind {
            HdfsErrorKind::Protocol {
                status: 401 | 403, ..
            } => HdfsErrorKind::AccessDenied(format!("{nn} answered HTTP {}", status.as_u16())),
            k => k,
        };
        let outcome = if matches!(kind, HdfsErrorKind::AccessDenied(_)) {
            "denied"
        } else {
            outcome
        };
        self.counters.add(op, outcome);
        Err(kind)
    }

    pub fn counters(&self) -> &Arc<RequestCounters> {
        &self.counters
    }

    fn url(&self, nn: &str, op: &str, path: &str, extra: &[(&str, &str)]) -> String {
        let mut url = format!("{nn}/webhdfs/v1{}?op={op}", utf8_percent_encode(path, PATH));
        if let Some(token) = &self.delegation {
            url.push_str("&delegation=");
            url.extend(utf8_percent_encode(token.expose(), QUERY));
        } else if let (Some(user), None) = (&self.user, &self.spnego) {
            url.push_str("&user.name=");
            url.extend(utf8_percent_encode(user, QUERY));
        }
        for (k, v) in extra {
            url.push('&');
            url.push_str(k);
            url.push('=');
            url.extend(utf8_percent_encode(v, QUERY));
        }
        url
    }

    async fn attempt(
        &self,
        nn: &str,
        op: &'static str,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Attempt<bytes::Bytes> {
        let _permit = self.limiter.acquire().await;
        let url = self.url(nn, op, path, extra);
        let build = || match op {
            "DELETE" => self.http.delete(&url),
            _ => self.http.get(&url),
        };
        let reply = match self.send_with_credentials(nn, op, build).await {
            Ok(reply) => reply,
            Err(kind) => return Attempt::Fail(kind),
        };
        let resp = match reply {
            Ok(r) => r,
            Err(e) => {
                let (outcome, kind) = if e.is_timeout() {
                    ("timeout", HdfsErrorKind::Timeout)
                } else {
                    // reqwest's message names the URL, which may carry a delegation token.
                    (
                        "unreachable",
                        HdfsErrorKind::Unreachable(format!("{nn}: connection failed")),
                    )
                };
                self.counters.add(op, outcome);
                return Attempt::Failover(kind);
            }
        };
        let status = resp.status();
        let limit = self.limits.max_bytes_per_directory.0;
        let body = match read_capped(resp, limit).await {
            Ok(b) => b,
            Err(None) => {
                self.counters.add(op, "error");
                return Attempt::Fail(HdfsErrorKind::ListingTooLarge(format!(
                    "a reply longer than {limit} bytes (hdfs.listing.max_bytes_per_directory)"
                )));
            }
            Err(Some(e)) => {
                self.counters
                    .add(op, if e.is_timeout() { "timeout" } else { "error" });
                return Attempt::Retry(HdfsErrorKind::Protocol {
                    status: status.as_u16(),
                    body: "truncated body".into(),
                });
            }
        };
        self.counters.add_reply_bytes(body.len() as u64);
        if status.is_success() {
            self.counters.add(op, "success");
            return Attempt::Done(body);
        }
        let (outcome, meaning) = reply::error_reply(status.as_u16(), &body);
        let attempt = match meaning {
            ErrorReply::Failover(kind) => Attempt::Failover(kind),
            ErrorReply::Retry(kind) => Attempt::Retry(kind),
            ErrorReply::Fail(kind) => Attempt::Fail(kind),
        };
        self.counters.add(op, outcome);
        attempt
    }

    /// One logical request over the NameNodes (`failover.rs`).
    async fn request(
        &self,
        op: &'static str,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Result<bytes::Bytes> {
        self.failover
            .request(|i| self.attempt(&self.failover.namenodes()[i], op, path, extra))
            .await
            .map_err(|kind| Error::Hdfs {
                op,
                path: path.into(),
                kind,
            })
    }

    async fn list_batched(&self, path: &str) -> Result<Vec<FileStatus>> {
        let op = "LISTSTATUS_BATCH";
        let fail = |kind: HdfsErrorKind| Error::Hdfs {
            op,
            path: path.into(),
            kind,
        };
        let limits = &self.limits;
        let mut out = Vec::new();
        let mut start_after = String::new();
        let (mut pages, mut bytes) = (0u64, 0u64);
        loop {
            pages += 1;
            if pages > limits.max_pages_per_directory {
                return Err(fail(HdfsErrorKind::ListingTooLarge(format!(
                    "more than {} pages (hdfs.listing.max_pages_per_directory)",
                    limits.max_pages_per_directory
                ))));
            }
            let extra: Vec<(&str, &str)> = if start_after.is_empty() {
                vec![]
            } else {
                vec![("startAfter", start_after.as_str())]
            };
            let body = self.request(op, path, &extra).await?;
            bytes += body.len() as u64;
            if bytes > limits.max_bytes_per_directory.0 {
                return Err(fail(HdfsErrorKind::ListingTooLarge(format!(
                    "more than {} reply bytes (hdfs.listing.max_bytes_per_directory)",
                    limits.max_bytes_per_directory.0
                ))));
            }
            let page = reply::batch_page(&body, &start_after).map_err(fail)?;
            match page.entries.last() {
                Some(last) => start_after = last.name.clone(),
                None => break,
            }
            let single_file = page.entries.len() == 1 && page.entries[0].name.is_empty();
            let remaining = page.remaining;
            out.extend(page.entries);
            if out.len() as u64 > limits.max_entries_per_directory {
                return Err(fail(HdfsErrorKind::ListingTooLarge(format!(
                    "more than {} entries (hdfs.listing.max_entries_per_directory)",
                    limits.max_entries_per_directory
                ))));
            }
            if remaining == 0 || single_file {
                break;
            }
        }
        Ok(out)
    }
}

impl FileSystem for WebHdfs {
    async fn list(&self, path: &str) -> Result<Vec<FileStatus>> {
        if self.batch_supported.load(Ordering::Relaxed) {
            match self.list_batched(path).await {
                Err(Error::Hdfs {
                    kind: HdfsErrorKind::Unsupported(msg),
                    ..
                }) if msg.contains("LISTSTATUS_BATCH") || msg.contains("\"op\"") => {
                    // Hadoop before 2.8 (HDFS-10784) answers an unknown op with 400.
                    tracing::info!(reason = %msg, "LISTSTATUS_BATCH unsupported, falling back to LISTSTATUS");
                    self.batch_supported.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        let body = self.request("LISTSTATUS", path, &[]).await?;
        let invalid = |kind| Error::Hdfs {
            op: "LISTSTATUS",
            path: path.into(),
            kind,
        };
        let entries =
            reply::list_status(&body, self.limits.max_entries_per_directory).map_err(invalid)?;
        Ok(entries)
    }

    async fn status(&self, path: &str) -> Result<FileStatus> {
        let body = self.request("GETFILESTATUS", path, &[]).await?;
        reply::file_status(&body).map_err(|kind| Error::Hdfs {
            op: "GETFILESTATUS",
            path: path.into(),
            kind,
        })
    }

    async fn delete_recursive(&self, path: &str) -> Result<bool> {
        let body = self
            .request("DELETE", path, &[("recursive", "true")])
            .await?;
        reply::boolean(&body).map_err(|kind| Error::Hdfs {
            op: "DELETE",
            path: path.into(),
            kind,
        })
    }
}

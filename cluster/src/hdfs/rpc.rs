//! HDFS over Hadoop's native RPC (`hdfs.mode: rpc`), on the maintained `hdfs-native` client:
//! listing (`getListing`), file status (`getFileInfo`) and the merger's deletes (`delete`),
//! behind the same [`FileSystem`] as WebHDFS, with the same request limits, counters and
//! error classes.
//!
//! NameNode HA is ours, not the client's: one `hdfs-native` client per NameNode (its own
//! failover switched off), the active one asked first, a standby's `StandbyException` counted
//! `standby` and the next NameNode asked — so the counters show what each NameNode answered and
//! `check` can say which one is active, as over WebHDFS.
//!
//! What one counted request is: one RPC for `getFileInfo` and `delete`; for `getListing`, one
//! directory (the NameNode's pages of `dfs.ls.limit` entries, 1,000 by default, are fetched
//! inside it; each page is bounded by `request_timeout`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hdfs_native::HdfsError;

use super::failover::{Attempt, Failover};
use super::reply::{remote_exception, ErrorReply};
use super::{hadoop_conf, FileKind, FileStatus, FileSystem, RequestCounters, RequestLimiter};
use crate::config::{HdfsConfig, ListingLimits};
use crate::error::{Error, HdfsErrorKind, Result};
use crate::kerberos::{KerberosConfig, KerberosError};

/// The NameNodes `mode: rpc` talks to, and the Hadoop properties the client gets: from
/// `rpc_addresses`, or the `url` (a nameservice of `hadoop_conf_dir`, or `host:port`).
pub fn resolve(
    h: &HdfsConfig,
) -> std::result::Result<(Vec<String>, HashMap<String, String>), String> {
    let props = match hadoop_conf::dir_of(h.hadoop_conf_dir.as_deref()) {
        Some(dir) => hadoop_conf::read_dir(&dir)?,
        None => HashMap::new(),
    };
    let namenodes = if h.rpc_addresses.is_empty() {
        hadoop_conf::namenodes_of(h.url.as_deref(), &props)?
    } else {
        if h.url.is_some() {
            return Err("give url or rpc_addresses, not both".into());
        }
        h.rpc_addresses.clone()
    };
    if let Some(bad) = namenodes.iter().find(|a| !hadoop_conf::is_host_port(a)) {
        return Err(format!("NameNode RPC address {bad:?} is not host:port"));
    }
    Ok((namenodes, props))
}

/// The configuration check of `mode: rpc` (when the file is read).
pub fn check_config(h: &HdfsConfig) -> std::result::Result<(), String> {
    if h.delegation_token_file.is_some() || h.ca_file.is_some() {
        return Err(
            "delegation_token_file and ca_file are WebHDFS settings; over RPC the cluster's kerberos block authenticates"
                .into(),
        );
    }
    resolve(h).map(|_| ())
}

pub struct RpcHdfs {
    /// One client per NameNode, in the order of the failover's addresses.
    clients: Vec<hdfs_native::Client>,
    /// The NameNodes' addresses and which one is active.
    failover: Failover,
    timeout: Duration,
    limiter: Arc<RequestLimiter>,
    counters: Arc<RequestCounters>,
    limits: ListingLimits,
    /// Whether Kerberos logs in from a keytab (krb5 then reports a keytab without the
    /// principal's key as "no credentials cache").
    keytab_login: bool,
}

/// Why a call failed before the NameNode's answer could be used.
enum CallError {
    Hdfs(HdfsError),
    Timeout,
    TooLarge(String),
}

impl From<HdfsError> for CallError {
    fn from(e: HdfsError) -> Self {
        CallError::Hdfs(e)
    }
}

impl RpcHdfs {
    pub fn new(
        cfg: &HdfsConfig,
        kerberos: Option<&KerberosConfig>,
        cluster: &str,
        limiter: Arc<RequestLimiter>,
        counters: Arc<RequestCounters>,
    ) -> Result<RpcHdfs> {
        let invalid = |why: String| Error::Invalid(format!("cluster {cluster}: hdfs: {why}"));
        let (addresses, mut props) = resolve(cfg).map_err(invalid)?;
        // Our failover, not the client's: one try per NameNode and call.
        props.insert("dfs.client.failover.max.attempts".into(), "0".into());
        props.insert(
            "dfs.client.socket-timeout".into(),
            cfg.request_timeout.0.as_millis().to_string(),
        );
        if let Some(k) = kerberos {
            props.insert("hadoop.security.authentication".into(), "kerberos".into());
            if let Some(conf) = &k.krb5_conf {
                crate::kerberos::use_krb5_conf(conf);
            }
        }
        let mut clients = Vec::new();
        for address in &addresses {
            let mut b = hdfs_native::ClientBuilder::new()
                .with_url(format!("hdfs://{address}"))
                .with_config(props.clone());
            if let Some(k) = kerberos {
                if let Some(p) = &k.principal {
                    b = b.with_kerberos_principal(p);
                }
                if let Some(keytab) = &k.keytab {
                    // A private cache: krb5 keeps the keytab's tickets there and renews them.
                    let label: String = cluster
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                        .collect();
                    b = b
                        .with_kerberos_keytab(keytab.display().to_string())
                        .with_kerberos_cache(format!(
                            "MEMORY:smallfiles-rpc-{label}-{}",
                            std::process::id()
                        ));
                } else if let Some(c) = &k.ccache {
                    b = b.with_kerberos_cache(c);
                }
            } else if let Some(u) = &cfg.user {
                b = b.with_user(u);
            }
            let client = b
                .build()
                .map_err(|e| invalid(format!("NameNode {address}: {e}")))?;
            clients.push(client);
        }
        Ok(RpcHdfs {
            clients,
            failover: Failover::new("rpc", addresses, cfg.retries),
            timeout: cfg.request_timeout.0,
            limiter,
            counters,
            limits: cfg.listing,
            keytab_login: kerberos.is_some_and(|k| k.keytab.is_some()),
        })
    }

    /// The NameNode that answered last as active.
    pub fn active_namenode(&self) -> &str {
        self.failover.active_namenode()
    }

    /// The NameNodes' RPC addresses, in configuration order.
    pub fn namenodes(&self) -> Vec<&str> {
        self.failover
            .namenodes()
            .iter()
            .map(String::as_str)
            .collect()
    }

    /// What an error of one call means, counted under `op`.
    fn classify<T>(&self, op: &'static str, nn: &str, e: CallError) -> Attempt<T> {
        let (outcome, attempt) = match e {
            CallError::Timeout => ("timeout", Attempt::Failover(HdfsErrorKind::Timeout)),
            CallError::TooLarge(why) => {
                ("error", Attempt::Fail(HdfsErrorKind::ListingTooLarge(why)))
            }
            CallError::Hdfs(e) => classify_error(nn, e),
        };
        let attempt = match attempt {
            Attempt::Fail(HdfsErrorKind::Kerberos(KerberosError::NoTicket(m)))
                if self.keytab_login =>
            {
                Attempt::Fail(HdfsErrorKind::Kerberos(KerberosError::WrongKeytab(
                    format!("it holds no key for the principal (GSSAPI: {m})"),
                )))
            }
            other => other,
        };
        self.counters.add(op, outcome);
        attempt
    }

    /// One call to NameNode `i`.
    async fn attempt<T, F, Fut>(&self, i: usize, op: &'static str, call: &F) -> Attempt<T>
    where
        F: Fn(hdfs_native::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, CallError>>,
    {
        let _permit = self.limiter.acquire().await;
        match call(self.clients[i].clone()).await {
            Ok(v) => {
                self.counters.add(op, "success");
                Attempt::Done(v)
            }
            Err(e) => self.classify(op, &self.failover.namenodes()[i], e),
        }
    }

    /// One logical request over the NameNodes (`failover.rs`).
    async fn request<T, F, Fut>(&self, op: &'static str, path: &str, call: F) -> Result<T>
    where
        F: Fn(hdfs_native::Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, CallError>>,
    {
        self.failover
            .request(|i| self.attempt(i, op, &call))
            .await
            .map_err(|kind| Error::Hdfs {
                op,
                path: path.into(),
                kind,
            })
    }

    /// `call` with this client's per-call bound.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = std::result::Result<T, HdfsError>>,
    ) -> std::result::Result<T, CallError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r.map_err(CallError::Hdfs),
            Err(_) => Err(CallError::Timeout),
        }
    }
}

/// An `hdfs-native` error in our classes, with its outcome label.
fn classify_error<T>(nn: &str, e: HdfsError) -> (&'static str, Attempt<T>) {
    let meaning = |(outcome, reply): (&'static str, ErrorReply)| {
        let attempt = match reply {
            ErrorReply::Failover(k) => Attempt::Failover(k),
            ErrorReply::Retry(k) => Attempt::Retry(k),
            ErrorReply::Fail(k) => Attempt::Fail(k),
        };
        (outcome, attempt)
    };
    match e {
        HdfsError::FileNotFound(p) => ("not_found", Attempt::Fail(HdfsErrorKind::NotFound(p))),
        HdfsError::RPCError(class, message) | HdfsError::FatalRPCError(class, message) => {
            if class.contains("SaslException") || class.contains("GSSException") {
                return (
                    "denied",
                    Attempt::Fail(HdfsErrorKind::Kerberos(KerberosError::Refused(format!(
                        "{nn}: {message}"
                    )))),
                );
            }
            if class.contains("InvalidToken") {
                return ("denied", Attempt::Fail(HdfsErrorKind::AccessDenied(message)));
            }
            meaning(remote_exception(class, message, false, false))
        }
        HdfsError::GSSAPIError(_, minor, message) => (
            "denied",
            Attempt::Fail(HdfsErrorKind::Kerberos(KerberosError::classify(
                minor as i32,
                message,
                "the NameNode (hdfs/_HOST)",
            ))),
        ),
        HdfsError::SASLError(m) => (
            "denied",
            Attempt::Fail(HdfsErrorKind::Kerberos(KerberosError::Refused(format!(
                "{nn}: SASL: {m}"
            )))),
        ),
        HdfsError::NoSASLMechanism => (
            "denied",
            Attempt::Fail(HdfsErrorKind::Kerberos(KerberosError::Refused(format!(
                "{nn} offers no SASL mechanism this client can use (a Kerberized NameNode needs the cluster's kerberos block)"
            )))),
        ),
        HdfsError::IOError(io) => {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut | WouldBlock => ("timeout", Attempt::Failover(HdfsErrorKind::Timeout)),
                // Accepted, then closed at the first call: what a Kerberized NameNode does to a
                // client without Kerberos (its refusal does not reach the client), and what a
                // NameNode going down does.
                ConnectionAborted | ConnectionReset | UnexpectedEof => (
                    "unreachable",
                    Attempt::Failover(HdfsErrorKind::Unreachable(format!(
                        "{nn} closed the connection ({io}); a Kerberized NameNode does so to a client without Kerberos — configure the cluster's kerberos block"
                    ))),
                ),
                _ => (
                    "unreachable",
                    Attempt::Failover(HdfsErrorKind::Unreachable(format!("{nn}: {io}"))),
                ),
            }
        }
        HdfsError::InvalidRPCResponse(e) => (
            "error",
            Attempt::Fail(HdfsErrorKind::InvalidReply(format!("{nn}: {e}"))),
        ),
        HdfsError::UnsupportedFeature(m) => {
            ("unsupported", Attempt::Fail(HdfsErrorKind::Unsupported(m)))
        }
        other => (
            "error",
            Attempt::Fail(HdfsErrorKind::Remote {
                exception: "hdfs-native".into(),
                message: other.to_string(),
            }),
        ),
    }
}

/// Our status of an entry listed under `dir` (or of `dir` itself).
fn status_of(dir: &str, s: hdfs_native::client::FileStatus) -> FileStatus {
    let trimmed = s.path.trim_end_matches('/');
    let name = if trimmed == dir.trim_end_matches('/') {
        String::new()
    } else {
        trimmed.rsplit('/').next().unwrap_or("").to_string()
    };
    FileStatus {
        name,
        kind: if s.isdir {
            FileKind::Directory
        } else {
            FileKind::File
        },
        length: s.length as u64,
        modification_time: s.modification_time as i64,
        owner: s.owner,
    }
}

impl FileSystem for RpcHdfs {
    async fn list(&self, path: &str) -> Result<Vec<FileStatus>> {
        let max = self.limits.max_entries_per_directory;
        self.request("getListing", path, |client| async move {
            let entries = client.list_status_iter(path, false);
            let mut out = Vec::new();
            // Each `next` fetches at most one page from the NameNode.
            while let Some(entry) = self
                .bounded(async { entries.next().await.transpose() })
                .await?
            {
                out.push(status_of(path, entry));
                if out.len() as u64 > max {
                    return Err(CallError::TooLarge(format!(
                        "more than {max} entries (hdfs.listing.max_entries_per_directory)"
                    )));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn status(&self, path: &str) -> Result<FileStatus> {
        self.request("getFileInfo", path, |client| async move {
            let s = self.bounded(client.get_file_info(path)).await?;
            let mut st = status_of(path, s);
            st.name = String::new();
            Ok(st)
        })
        .await
    }

    async fn delete_recursive(&self, path: &str) -> Result<bool> {
        self.request("delete", path, |client| async move {
            self.bounded(client.delete(path, true)).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> HdfsConfig {
        serde_saphyr::from_str(s).unwrap()
    }

    #[test]
    fn addresses_from_the_configuration() {
        let h = yaml("mode: rpc\nrpc_addresses: [nn1:8020, nn2:8020]\n");
        assert_eq!(resolve(&h).unwrap().0, ["nn1:8020", "nn2:8020"]);
        let h = yaml("mode: rpc\nurl: hdfs://nn1:9000\n");
        assert_eq!(resolve(&h).unwrap().0, ["nn1:9000"]);
        let h = yaml("mode: rpc\nurl: hdfs://nn1:9000\nrpc_addresses: [nn2:8020]\n");
        assert!(resolve(&h).unwrap_err().contains("not both"));
        let h = yaml("mode: rpc\nrpc_addresses: [\"http://nn1:9870\"]\n");
        assert!(resolve(&h).unwrap_err().contains("host:port"));
        let h = yaml("mode: rpc\nurl: hdfs://ns\nhadoop_conf_dir: /nonexistent/conf\n");
        assert!(resolve(&h).unwrap_err().contains("does not exist"));
    }

    #[test]
    fn errors_in_our_classes() {
        let standby = HdfsError::RPCError(
            "org.apache.hadoop.ipc.StandbyException".into(),
            "Operation category READ is not supported in state standby".into(),
        );
        let (outcome, a) = classify_error::<()>("nn1:8020", standby);
        assert_eq!(outcome, "standby");
        assert!(matches!(a, Attempt::Failover(HdfsErrorKind::Standby(_))));
        let denied = HdfsError::RPCError(
            "org.apache.hadoop.security.AccessControlException".into(),
            "Permission denied: user=x".into(),
        );
        assert!(matches!(
            classify_error::<()>("nn", denied),
            ("denied", Attempt::Fail(HdfsErrorKind::AccessDenied(_)))
        ));
        let safe = HdfsError::RPCError(
            "org.apache.hadoop.hdfs.server.namenode.SafeModeException".into(),
            "Cannot delete /w/t. Name node is in safe mode.".into(),
        );
        assert!(matches!(
            classify_error::<()>("nn", safe),
            ("safe_mode", Attempt::Fail(HdfsErrorKind::SafeMode(_)))
        ));
        assert!(matches!(
            classify_error::<()>("nn", HdfsError::FileNotFound("/w/x".into())),
            ("not_found", Attempt::Fail(HdfsErrorKind::NotFound(_)))
        ));
        let refused =
            HdfsError::IOError(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            classify_error::<()>("nn", refused),
            (
                "unreachable",
                Attempt::Failover(HdfsErrorKind::Unreachable(_))
            )
        ));
    }

    /// A "NameNode" that accepts and then answers `reply` (nothing at all when empty) and
    /// holds the connection open.
    async fn hostile_namenode(reply: &'static [u8]) -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut sock, _)) = listener.accept().await {
                let _ = sock.write_all(reply).await;
                held.push(sock);
            }
        });
        addr
    }

    fn client_of(addr: &str) -> (RpcHdfs, Arc<RequestCounters>) {
        let h = yaml(&format!(
            "mode: rpc\nrpc_addresses: [\"{addr}\"]\nuser: hive\nretries: 1\nrequest_timeout: 1s\n"
        ));
        let counters = Arc::new(RequestCounters::default());
        let limiter = Arc::new(RequestLimiter::new(4, 0));
        let c = RpcHdfs::new(&h, None, "t", limiter, counters.clone()).unwrap();
        (c, counters)
    }

    /// A NameNode that never answers, or answers garbage, costs a bounded wait and a typed
    /// error — never a stalled scan or a panic.
    #[tokio::test]
    async fn a_silent_or_garbled_namenode_is_bounded() {
        let silent = hostile_namenode(b"").await;
        let (c, counters) = client_of(&silent);
        let started = std::time::Instant::now();
        let e = c.list("/w/t").await.unwrap_err();
        assert!(e.is_namenode_unreachable(), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "two tries of 1 s and a backoff: {:?}",
            started.elapsed()
        );
        assert_eq!(
            counters.snapshot(),
            vec![(("getListing", "timeout"), 2)],
            "each try counted"
        );

        let garbled = hostile_namenode(b"\xff\xff\xff\xf0HTTP/1.1 400 Bad Request\r\n\r\n").await;
        let (c, _) = client_of(&garbled);
        let started = std::time::Instant::now();
        assert!(c.status("/").await.is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn names_of_listed_entries() {
        let st = |path: &str, isdir| hdfs_native::client::FileStatus {
            path: path.into(),
            length: 7,
            isdir,
            permission: 0o644,
            owner: "hive".into(),
            group: "hive".into(),
            modification_time: 1_700_000_000_000,
            access_time: 0,
            replication: Some(3),
            blocksize: Some(128 << 20),
        };
        let s = status_of("/w/t", st("/w/t/city=Paris, TX", true));
        assert_eq!(s.name, "city=Paris, TX");
        assert_eq!(s.kind, FileKind::Directory);
        let s = status_of("/w/t/f", st("/w/t/f", false));
        assert_eq!(
            s.name, "",
            "a file listed as itself has no name, as over WebHDFS"
        );
        assert_eq!((s.length, s.owner.as_str()), (7, "hive"));
    }
}

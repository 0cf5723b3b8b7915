//! A WebHDFS test server: serves a local directory as `/` through the documented REST API, so
//! the exporter's HDFS client is tested against the protocol without a Hadoop cluster.
//!
//! Implemented: LISTSTATUS, LISTSTATUS_BATCH (`startAfter`, `remainingEntries`, page size as
//! `dfs.ls.limit`), GETFILESTATUS, GETCONTENTSUMMARY, MKDIRS, RENAME, DELETE; RemoteException
//! JSON with the documented HTTP status per exception; `user.name` / `delegation` accepted, or
//! one delegation token required (401 without, 403 InvalidToken with another); simulated
//! standby NameNode (403 StandbyException, switchable at run time), latency, a
//! random error rate (500 RuntimeException) and a pre-2.8 mode without LISTSTATUS_BATCH.
//! Hostile modes for chosen directories ([`Hostile`]): pages that never end, a page that does
//! not advance, entries without required fields, names holding `/`, impossible lengths.
//!
//! Not covered: SPNEGO, token expiry and renewal, TLS (put `proxy::start_tls` in front), permissions and ACLs (every caller
//! is the superuser), CREATE/APPEND/OPEN and their DataNode redirects, CONCAT, snapshots,
//! symlinks (followed as the target), quotas, storage policies, erasure coding, and block
//! sizes/replication (reported as constants: 128 MiB, 3).
//!
//! Compared with Hadoop 3.4.1's own NameNode (`minidfs.rs`; `exporter/tests/real_namenode.rs`,
//! `merger/tests/merge_on_hdfs.rs`): LISTSTATUS_BATCH pages, GETFILESTATUS, DELETE, names
//! holding spaces, commas and `%`, and the standby's answer (403 with a `StandbyException`
//! RemoteException, for reads as for writes) behave the same; the real server adds fields
//! the client ignores (`snapshotEnabled` on the root, `storagePolicy`). No change to the client
//! was needed. Found on the way, in the launcher: WebHDFS on Java 11+ needs JAXB on the
//! NameNode's classpath, or every WebHDFS call is a 500.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub root: PathBuf,
    /// Entries per LISTSTATUS_BATCH page (`dfs.ls.limit`).
    pub page_size: usize,
    pub latency: Duration,
    /// Fraction (0..1) of requests answered with 500 RuntimeException.
    pub error_rate: f64,
    pub standby: bool,
    /// Answer LISTSTATUS_BATCH as Hadoop before 2.8 does: 400 IllegalArgumentException.
    pub without_batch: bool,
    /// A secure cluster: every request must carry this delegation token (`delegation=`);
    /// none is 401 from the authentication filter, another is 403 `InvalidToken`.
    pub delegation_token: Option<String>,
    /// Listings of directories whose path contains the string misbehave as said.
    pub hostile: Vec<(String, Hostile)>,
}

/// How a broken or malicious NameNode answers a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// Every LISTSTATUS_BATCH page is full of fresh names and says more remain.
    EndlessPages,
    /// The first page again whatever `startAfter` says, with entries said to remain.
    StuckPage,
    /// The real entries, one of them without `length`, `type` and `pathSuffix`.
    MissingFields,
    /// The real entries plus one named `a/b`.
    SlashInName,
    /// The real entries, one of them 2^64-1 bytes long.
    ImpossibleLength,
}

impl ServerOptions {
    pub fn new(root: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            root: root.into(),
            page_size: 1000,
            latency: Duration::ZERO,
            error_rate: 0.0,
            standby: false,
            without_batch: false,
            delegation_token: None,
            hostile: Vec::new(),
        }
    }
}

struct Shared {
    opts: ServerOptions,
    standby: AtomicBool,
    requests: AtomicU64,
}

/// A running test server. Dropping it does not stop it; call [`TestServer::stop`].
pub struct TestServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn set_standby(&self, standby: bool) {
        self.shared.standby.store(standby, Ordering::SeqCst);
    }
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

pub async fn spawn(opts: ServerOptions, addr: SocketAddr) -> std::io::Result<TestServer> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        standby: AtomicBool::new(opts.standby),
        opts,
        requests: AtomicU64::new(0),
    });
    let app = router(shared.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(TestServer {
        addr,
        shared,
        shutdown: Some(tx),
        task,
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/webhdfs/v1", any(handle))
        .route("/webhdfs/v1/", any(handle))
        .route("/webhdfs/v1/{*path}", any(handle))
        .route("/testserver/standby", any(set_standby))
        .route("/testserver/requests", any(count_requests))
        .with_state(shared)
}

async fn set_standby(
    State(s): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> String {
    let on = q.iter().any(|(k, v)| k == "value" && v == "true");
    s.standby.store(on, Ordering::SeqCst);
    format!("standby={on}\n")
}

async fn count_requests(State(s): State<Arc<Shared>>) -> String {
    format!("{}\n", s.requests.load(Ordering::SeqCst))
}

fn remote(status: StatusCode, exception: &str, java: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"RemoteException": {"exception": exception, "javaClassName": java, "message": message}})),
    )
        .into_response()
}

/// A RemoteException to answer with.
struct Failure(StatusCode, &'static str, &'static str, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        remote(self.0, self.1, self.2, &self.3)
    }
}

fn not_found(path: &str) -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        "FileNotFoundException",
        "java.io.FileNotFoundException",
        format!("File does not exist: {path}"),
    )
}

fn illegal(message: &str) -> Failure {
    Failure(
        StatusCode::BAD_REQUEST,
        "IllegalArgumentException",
        "java.lang.IllegalArgumentException",
        message.to_string(),
    )
}

async fn handle(State(s): State<Arc<Shared>>, req: Request<Body>) -> Response {
    s.requests.fetch_add(1, Ordering::Relaxed);
    if !s.opts.latency.is_zero() {
        tokio::time::sleep(s.opts.latency).await;
    }
    if s.standby.load(Ordering::SeqCst) {
        return remote(
            StatusCode::FORBIDDEN,
            "StandbyException",
            "org.apache.hadoop.ipc.StandbyException",
            "Operation category READ is not supported in state standby. Visit https://s.apache.org/sbnn-error",
        );
    }
    if s.opts.error_rate > 0.0 && rand::random::<f64>() < s.opts.error_rate {
        return remote(
            StatusCode::INTERNAL_SERVER_ERROR,
            "RuntimeException",
            "java.lang.RuntimeException",
            "injected failure",
        );
    }
    // The raw path keeps `%25` apart from `/`: decode it ourselves.
    let raw = req.uri().path().strip_prefix("/webhdfs/v1").unwrap_or("/");
    let hdfs_path = percent_encoding::percent_decode_str(if raw.is_empty() { "/" } else { raw })
        .decode_utf8_lossy()
        .into_owned();
    let params: Vec<(String, String)> = req.uri().query().map(url_pairs).unwrap_or_default();
    let param = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if let Some(expected) = &s.opts.delegation_token {
        match param("delegation") {
            None => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [("WWW-Authenticate", "Negotiate")],
                    "Authentication required",
                )
                    .into_response()
            }
            Some(t) if &t != expected => {
                return remote(
                    StatusCode::FORBIDDEN,
                    "InvalidToken",
                    "org.apache.hadoop.security.token.SecretManager$InvalidToken",
                    "token (HDFS_DELEGATION_TOKEN token 17 for hive) can't be found in cache",
                )
            }
            Some(_) => {}
        }
    }
    let Some(op) = param("op") else {
        return illegal("op is required").into_response();
    };
    let Some(local) = resolve(&s.opts.root, &hdfs_path) else {
        return illegal(&format!("Invalid path: {hdfs_path}")).into_response();
    };
    let method = req.method().as_str().to_string();
    let op = op.to_ascii_uppercase();
    let hostile = s
        .opts
        .hostile
        .iter()
        .find(|(marker, _)| hdfs_path.contains(marker.as_str()))
        .map(|(_, h)| *h);
    let result = match (method.as_str(), op.as_str()) {
        ("GET", "LISTSTATUS" | "LISTSTATUS_BATCH") if hostile.is_some() => hostile_listing(
            hostile.unwrap_or(Hostile::StuckPage),
            &local,
            &hdfs_path,
            param("startAfter").unwrap_or_default(),
            s.opts.page_size,
            op == "LISTSTATUS_BATCH",
        ),
        ("GET", "LISTSTATUS") => list_status(&local, &hdfs_path),
        ("GET", "LISTSTATUS_BATCH") if s.opts.without_batch => Err(illegal(
            "Invalid value for webhdfs parameter \"op\": No enum constant org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.LISTSTATUS_BATCH",
        )),
        ("GET", "LISTSTATUS_BATCH") => list_batch(&local, &hdfs_path, param("startAfter").unwrap_or_default(), s.opts.page_size),
        ("GET", "GETFILESTATUS") => std::fs::metadata(&local)
            .map(|m| json!({"FileStatus": status_json("", &m)}))
            .map_err(|_| not_found(&hdfs_path)),
        ("GET", "GETCONTENTSUMMARY") => content_summary(&local, &hdfs_path),
        ("PUT", "MKDIRS") => Ok(json!({"boolean": std::fs::create_dir_all(&local).is_ok()})),
        ("PUT", "RENAME") => {
            let dest = param("destination").and_then(|d| resolve(&s.opts.root, &d));
            Ok(json!({"boolean": dest.map(|d| !d.exists() && std::fs::rename(&local, d).is_ok()).unwrap_or(false)}))
        }
        ("DELETE", "DELETE") => {
            let recursive = param("recursive").as_deref() == Some("true");
            let ok = match std::fs::metadata(&local) {
                Ok(m) if m.is_dir() && recursive => std::fs::remove_dir_all(&local).is_ok(),
                Ok(m) if m.is_dir() => std::fs::remove_dir(&local).is_ok(),
                Ok(_) => std::fs::remove_file(&local).is_ok(),
                Err(_) => false,
            };
            Ok(json!({"boolean": ok}))
        }
        (_, other) => Err(illegal(&format!(
            "Invalid value for webhdfs parameter \"op\": No enum constant for {method} {other}"
        ))),
    };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// Maps an HDFS path to the served directory; `..` is refused.
fn resolve(root: &Path, hdfs_path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for c in Path::new(hdfs_path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    Some(out)
}

fn status_json(name: &str, m: &std::fs::Metadata) -> Value {
    let ms = |t: std::io::Result<std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    };
    let dir = m.is_dir();
    json!({
        "accessTime": if dir { 0 } else { ms(m.accessed()) },
        "blockSize": if dir { 0 } else { 134217728 },
        "childrenNum": 0,
        "fileId": 16386,
        "group": "supergroup",
        "length": if dir { 0 } else { m.len() },
        "modificationTime": ms(m.modified()),
        "owner": "hive",
        "pathSuffix": name,
        "permission": if dir { "755" } else { "644" },
        "replication": if dir { 0 } else { 3 },
        "storagePolicy": 0,
        "type": if dir { "DIRECTORY" } else { "FILE" },
    })
}

/// Sorted entries, as the NameNode lists them (byte order of names).
fn entries(local: &Path, hdfs_path: &str) -> Result<Vec<(String, std::fs::Metadata)>, Failure> {
    let meta = std::fs::metadata(local).map_err(|_| not_found(hdfs_path))?;
    if !meta.is_dir() {
        return Ok(vec![(String::new(), meta)]);
    }
    let mut out: Vec<(String, std::fs::Metadata)> = std::fs::read_dir(local)
        .map_err(|_| not_found(hdfs_path))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            Some((
                e.file_name().to_string_lossy().into_owned(),
                std::fs::metadata(e.path()).ok()?,
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn list_status(local: &Path, hdfs_path: &str) -> Result<Value, Failure> {
    let list: Vec<Value> = entries(local, hdfs_path)?
        .iter()
        .map(|(n, m)| status_json(n, m))
        .collect();
    Ok(json!({"FileStatuses": {"FileStatus": list}}))
}

fn list_batch(
    local: &Path,
    hdfs_path: &str,
    start_after: String,
    page: usize,
) -> Result<Value, Failure> {
    let all = entries(local, hdfs_path)?;
    let from = if start_after.is_empty() {
        0
    } else {
        all.partition_point(|(n, _)| n.as_str() <= start_after.as_str())
    };
    let end = (from + page.max(1)).min(all.len());
    let list: Vec<Value> = all[from..end]
        .iter()
        .map(|(n, m)| status_json(n, m))
        .collect();
    Ok(json!({"DirectoryListing": {
        "partialListing": {"FileStatuses": {"FileStatus": list}},
        "remainingEntries": all.len() - end,
    }}))
}

fn hostile_listing(
    mode: Hostile,
    local: &Path,
    hdfs_path: &str,
    start_after: String,
    page: usize,
    batch: bool,
) -> Result<Value, Failure> {
    let mut list: Vec<Value> = match mode {
        Hostile::EndlessPages => {
            // Names count up from the last one asked for: always new, always after it.
            let from: u64 = start_after
                .strip_prefix("f")
                .and_then(|n| n.parse().ok())
                .map_or(0, |n: u64| n + 1);
            (from..from + page.max(1) as u64)
                .map(|n| {
                    json!({"pathSuffix": format!("f{n:012}"), "type": "FILE", "length": 1,
                           "modificationTime": 1, "owner": "hive", "group": "hive", "permission": "644"})
                })
                .collect()
        }
        _ => entries(local, hdfs_path)?
            .iter()
            .take(page.max(1))
            .map(|(n, m)| status_json(n, m))
            .collect(),
    };
    match mode {
        Hostile::MissingFields => {
            if let Some(e) = list.first_mut().and_then(Value::as_object_mut) {
                for k in ["length", "type", "pathSuffix"] {
                    e.remove(k);
                }
            }
        }
        Hostile::SlashInName => list
            .push(json!({"pathSuffix": "a/b", "type": "FILE", "length": 5, "modificationTime": 1})),
        Hostile::ImpossibleLength => {
            if let Some(e) = list.first_mut() {
                e["length"] = json!(u64::MAX);
            }
        }
        Hostile::EndlessPages | Hostile::StuckPage => {}
    }
    Ok(if batch {
        let remaining = match mode {
            Hostile::EndlessPages | Hostile::StuckPage => 1000,
            _ => 0,
        };
        json!({"DirectoryListing": {
            "partialListing": {"FileStatuses": {"FileStatus": list}},
            "remainingEntries": remaining,
        }})
    } else {
        json!({"FileStatuses": {"FileStatus": list}})
    })
}

fn content_summary(local: &Path, hdfs_path: &str) -> Result<Value, Failure> {
    fn walk(p: &Path, dirs: &mut u64, files: &mut u64, bytes: &mut u64) {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                *dirs += 1;
                for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                    walk(&e.path(), dirs, files, bytes);
                }
            }
            Ok(m) => {
                *files += 1;
                *bytes += m.len();
            }
            Err(_) => {}
        }
    }
    if !local.exists() {
        return Err(not_found(hdfs_path));
    }
    let (mut d, mut f, mut b) = (0, 0, 0);
    walk(local, &mut d, &mut f, &mut b);
    Ok(json!({"ContentSummary": {
        "directoryCount": d, "fileCount": f, "length": b, "quota": -1,
        "spaceConsumed": b * 3, "spaceQuota": -1, "typeQuota": {}
    }}))
}

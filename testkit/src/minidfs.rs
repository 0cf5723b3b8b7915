//! Hadoop's own NameNode for the tests: `MiniDFSCluster` (Maven `hadoop-client-minicluster`,
//! the version pinned in `testkit/minidfs/pom.xml`) with one DataNode, started by the small
//! Java launcher in `testkit/minidfs/` and driven over its stdin (see `MiniHadoop.java` for the
//! protocol). Files are written through Hadoop's own client, so the warehouse a test lists is
//! what a real cluster would hold.
//!
//! Modes: plain (one NameNode) and HA (two; the first one a client is configured with is the
//! standby, and [`MiniDfs::failover`] swaps them on request, e.g. in the middle of a scan).
//! The cluster stops when dropped, and with its parent (end of stdin).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The launcher's Maven module.
fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("minidfs")
}

/// Whether Java and Maven are here (CI must have them; elsewhere the test says SKIPPED).
pub fn available() -> bool {
    let java = Command::new("java").arg("-version").output().is_ok();
    let built = module_dir().join("target/dependency").is_dir();
    let mvn = built || Command::new("mvn").arg("-v").output().is_ok();
    if !(java && mvn) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Java and Maven for the MiniDFSCluster tests"
        );
        eprintln!("SKIPPED: Hadoop's MiniDFSCluster needs Java and Maven: java={java} mvn={mvn}");
    }
    java && mvn
}

/// Builds the launcher once (Maven resolves Hadoop from Maven Central into `~/.m2`); later
/// runs find `target/` and start at once.
fn ensure_built() -> Result<(), String> {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if *built {
        return Ok(());
    }
    let dir = module_dir();
    let class = dir.join("target/classes/smallfiles/MiniHadoop.class");
    let source = dir.join("src/main/java/smallfiles/MiniHadoop.java");
    let fresh = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let up_to_date = matches!((fresh(&class), fresh(&source)), (Some(c), Some(s)) if c >= s)
        && dir.join("target/dependency").is_dir();
    if !up_to_date {
        let out = Command::new("mvn")
            .args(["-q", "-B", "package", "dependency:copy-dependencies"])
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("running mvn: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building testkit/minidfs failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    *built = true;
    Ok(())
}

#[derive(Debug, serde::Deserialize)]
struct Ready {
    rpc: Vec<String>,
    http: Vec<String>,
    active: usize,
    nameservice: Option<String>,
    #[serde(flatten)]
    kerberos: Option<Kdc>,
}

/// The MiniKdc of a secure cluster: its realm, its krb5.conf (MIT clients read it too), a
/// keytab for the client `smallfiles@REALM`, and a keytab of another principal.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Kdc {
    pub realm: String,
    pub krb5_conf: PathBuf,
    pub client_principal: String,
    pub client_keytab: PathBuf,
    pub other_keytab: PathBuf,
    /// `hdfs/localhost`, `HTTP/localhost` and `hive/localhost` (for a Kerberized HiveServer2).
    pub service_keytab: PathBuf,
}

struct Io {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    active: usize,
}

pub struct MiniDfs {
    child: Child,
    io: Mutex<Io>,
    /// `host:port` of each NameNode's RPC server, in configuration order.
    pub rpc: Vec<String>,
    /// `http://host:port` of each NameNode's HTTP server (WebHDFS), in configuration order.
    pub http: Vec<String>,
    pub nameservice: Option<String>,
    /// Secure mode only.
    pub kdc: Option<Kdc>,
    _dir: tempfile::TempDir,
}

impl Kdc {
    /// A HiveServer2 client with Kerberos: `keytab` logs in as the client principal; the
    /// server's principal is `service_principal` (`hive/_HOST@REALM`, `HTTP/_HOST@REALM`).
    pub fn hs2_config(
        &self,
        url: &str,
        keytab: &Path,
        service_principal: &str,
    ) -> smallfiles_cluster::hiveserver2::Hs2Config {
        use smallfiles_cluster::hiveserver2::{Auth, Hs2Config, Hs2Kerberos};
        Hs2Config {
            url: url.to_string(),
            auth: Auth::Kerberos,
            user: "smallfiles".into(),
            password: None,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(300),
            settings: Default::default(),
            tls: false,
            ca_file: None,
            kerberos: Some(Hs2Kerberos {
                login: smallfiles_cluster::kerberos::KerberosConfig {
                    principal: Some(self.client_principal.clone()),
                    keytab: Some(keytab.to_path_buf()),
                    krb5_conf: Some(self.krb5_conf.clone()),
                    ccache: None,
                },
                label: format!("test-{}", keytab.display()),
                principal: service_principal.into(),
            }),
        }
    }
}

impl MiniDfs {
    /// One NameNode and one DataNode.
    pub fn start() -> MiniDfs {
        Self::launch(false, None)
    }

    /// Two NameNodes of the nameservice `minidfs-ns`; the first is the standby.
    pub fn start_ha() -> MiniDfs {
        Self::launch(true, None)
    }

    /// Kerberized (Hadoop's MiniKdc): Kerberos RPC, SPNEGO on WebHDFS (`HTTP/localhost`); the
    /// KDC issues tickets, and the NameNode `hadoop.auth` cookies, for `ticket_lifetime`.
    pub fn start_secure(ticket_lifetime: Duration) -> MiniDfs {
        Self::launch(false, Some(ticket_lifetime))
    }

    fn launch(ha: bool, secure: Option<Duration>) -> MiniDfs {
        ensure_built().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().expect("a directory for the cluster");
        let module = module_dir();
        let classpath = format!(
            "{}:{}/*",
            module.join("target/classes").display(),
            module.join("target/dependency").display()
        );
        let log = std::fs::File::create(dir.path().join("minidfs.log")).expect("log file");
        let mut args = vec![
            "-Xmx512m".to_string(),
            "-cp".into(),
            classpath,
            "smallfiles.MiniHadoop".into(),
            "--base-dir".into(),
            dir.path().join("dfs").display().to_string(),
        ];
        if ha {
            args.push("--ha".into());
        }
        if let Some(lifetime) = secure {
            args.push("--secure".into());
            args.push("--ticket-lifetime-secs".into());
            args.push(lifetime.as_secs().max(1).to_string());
        }
        let mut child = Command::new("java")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("java starts");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).expect("reading the launcher");
            if n == 0 {
                let log =
                    std::fs::read_to_string(dir.path().join("minidfs.log")).unwrap_or_default();
                panic!("MiniDFSCluster did not start:\n{log}");
            }
            if line.starts_with("READY ") {
                break;
            }
        }
        let ready: Ready = serde_json::from_str(line["READY ".len()..].trim())
            .unwrap_or_else(|e| panic!("the launcher's READY line {line:?}: {e}"));
        MiniDfs {
            child,
            io: Mutex::new(Io {
                stdin,
                stdout,
                active: ready.active,
            }),
            rpc: ready.rpc,
            http: ready.http,
            nameservice: ready.nameservice,
            kdc: ready.kerberos,
            _dir: dir,
        }
    }

    /// Runs one command of the launcher's protocol; its `OK` value, or its `ERR` message.
    fn command(&self, fields: &[&str]) -> Result<String, String> {
        let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            fields.iter().all(|f| !f.contains(['\t', '\n'])),
            "tabs and newlines separate the launcher's fields: {fields:?}"
        );
        writeln!(io.stdin, "{}", fields.join("\t")).map_err(|e| e.to_string())?;
        io.stdin.flush().map_err(|e| e.to_string())?;
        let mut line = String::new();
        io.stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end_matches('\n');
        if let Some(v) = line.strip_prefix("OK") {
            if fields[0] == "failover" {
                io.active = v.trim().parse().map_err(|_| format!("failover: {line}"))?;
            }
            Ok(v.trim_start().to_string())
        } else {
            Err(line.strip_prefix("ERR ").unwrap_or(line).to_string())
        }
    }

    /// Writes a file of `size` bytes through Hadoop's client (parents are made).
    pub fn write(&self, path: &str, size: u64) {
        self.command(&["write", path, &size.to_string()])
            .unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }

    pub fn mkdir(&self, path: &str) {
        self.command(&["mkdir", path])
            .unwrap_or_else(|e| panic!("mkdir {path}: {e}"));
    }

    pub fn exists(&self, path: &str) -> bool {
        self.command(&["exists", path])
            .unwrap_or_else(|e| panic!("exists {path}: {e}"))
            == "true"
    }

    /// Data files below `path` (names starting with `_` or `.` are not data).
    pub fn data_files(&self, path: &str) -> u64 {
        self.command(&["files", path])
            .unwrap_or_else(|e| panic!("files {path}: {e}"))
            .parse()
            .expect("a count")
    }

    /// Sets a path's modification time (milliseconds since the epoch).
    pub fn set_mtime(&self, path: &str, mtime_ms: i64) {
        self.command(&["times", path, &mtime_ms.to_string()])
            .unwrap_or_else(|e| panic!("times {path}: {e}"));
    }

    /// Creates `tables × partitions × files` empty files under `dir`
    /// (`t<t>/dt=<p>/part-<i>`), for benchmarks.
    pub fn bulk_empty_files(&self, dir: &str, tables: u64, partitions: u64, files: u64) {
        self.command(&[
            "bulk",
            dir,
            &tables.to_string(),
            &partitions.to_string(),
            &files.to_string(),
        ])
        .unwrap_or_else(|e| panic!("bulk {dir}: {e}"));
    }

    /// Sets a path's owner and group (the launcher runs as the superuser).
    pub fn chown(&self, path: &str, owner: &str, group: &str) {
        self.command(&["chown", path, owner, group])
            .unwrap_or_else(|e| panic!("chown {path}: {e}"));
    }

    /// A checkpoint: safe mode, `saveNamespace`, safe mode off. Returns the active
    /// NameNode's `current/` directory, where the new `fsimage_<txid>` is.
    pub fn save_namespace(&self) -> PathBuf {
        PathBuf::from(
            self.command(&["save"])
                .unwrap_or_else(|e| panic!("saveNamespace: {e}")),
        )
    }

    /// Hadoop's own image reader (`hdfs oiv -p Delimited`) on `image`: the number of files
    /// and their bytes under `prefix`.
    pub fn offline_image_viewer(&self, image: &Path, prefix: &str) -> (u64, u64) {
        let out = self
            .command(&["oiv", &image.display().to_string(), prefix])
            .unwrap_or_else(|e| panic!("oiv {}: {e}", image.display()));
        let mut it = out.split(' ').map(|n| n.parse::<u64>().expect("a number"));
        (it.next().expect("files"), it.next().expect("bytes"))
    }

    /// HA only: the active NameNode steps down and the standby takes over. Returns the index
    /// of the new active NameNode.
    pub fn failover(&self) -> usize {
        self.command(&["failover"])
            .unwrap_or_else(|e| panic!("failover: {e}"))
            .parse()
            .expect("an index")
    }

    /// The process holding the NameNodes and the DataNode (one JVM): its CPU time is what
    /// the NameNode spent serving clients, give or take the DataNode's idle heartbeats.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The index of the active NameNode.
    pub fn active(&self) -> usize {
        self.io.lock().unwrap_or_else(|e| e.into_inner()).active
    }

    /// A delegation token from the NameNode, as the URL string WebHDFS takes.
    pub fn delegation_token(&self, renewer: &str) -> String {
        self.command(&["token", renewer])
            .unwrap_or_else(|e| panic!("token: {e}"))
    }

    /// The `hdfs:` block of a cluster's configuration for Hadoop's RPC on these NameNodes, by
    /// their addresses (configuration order: in HA the standby first).
    pub fn rpc_yaml(&self, user: &str) -> String {
        let nns: Vec<String> = self.rpc.iter().map(|a| format!("\"{a}\"")).collect();
        format!(
            "mode: rpc\n      rpc_addresses: [{}]\n      user: {user}",
            nns.join(", ")
        )
    }

    /// An edge node's Hadoop configuration for these NameNodes in `dir` (core-site.xml and
    /// hdfs-site.xml, as Cloudera Manager or Ambari deploy them): `fs.defaultFS` is the
    /// nameservice in HA, else the NameNode. Returns the URL a client names.
    pub fn write_hadoop_conf(&self, dir: &Path) -> String {
        let prop = |k: &str, v: &str| {
            format!("  <property>\n    <name>{k}</name>\n    <value>{v}</value>\n  </property>\n")
        };
        let mut hdfs_site = String::new();
        let url = match &self.nameservice {
            Some(ns) => {
                let ids: Vec<String> = (0..self.rpc.len()).map(|i| format!("nn{i}")).collect();
                hdfs_site += &prop("dfs.nameservices", ns);
                hdfs_site += &prop(&format!("dfs.ha.namenodes.{ns}"), &ids.join(","));
                for (id, addr) in ids.iter().zip(&self.rpc) {
                    hdfs_site += &prop(&format!("dfs.namenode.rpc-address.{ns}.{id}"), addr);
                }
                hdfs_site += &prop(
                    &format!("dfs.client.failover.proxy.provider.{ns}"),
                    "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider",
                );
                format!("hdfs://{ns}")
            }
            None => format!("hdfs://{}", self.rpc[0]),
        };
        let wrap = |body: &str| {
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<configuration>\n{body}</configuration>\n")
        };
        std::fs::create_dir_all(dir).expect("the configuration directory");
        std::fs::write(dir.join("core-site.xml"), wrap(&prop("fs.defaultFS", &url)))
            .expect("core-site.xml");
        std::fs::write(dir.join("hdfs-site.xml"), wrap(&hdfs_site)).expect("hdfs-site.xml");
        url
    }

    /// The `hdfs:` block of a cluster's configuration for WebHDFS on these NameNodes.
    pub fn webhdfs_yaml(&self, user: &str) -> String {
        let nns: Vec<String> = self.http.iter().map(|u| format!("\"{u}\"")).collect();
        format!("namenodes: [{}]\n      user: {user}", nns.join(", "))
    }
}

impl Drop for MiniDfs {
    fn drop(&mut self) {
        if let Ok(mut io) = self.io.lock() {
            let _ = writeln!(io.stdin, "quit");
            let _ = io.stdin.flush();
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

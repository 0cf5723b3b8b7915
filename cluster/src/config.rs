//! The one YAML file of the whole system. Key names are a contract shared with the dashboards,
//! the deploy files and the merger; `deploy/smallfiles.example.yml` documents every key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, IgnoredAny};
use serde::Deserialize;

use crate::error::{Error, Result};
pub use crate::kerberos::KerberosConfig;

pub const DEFAULT_EXPORTER_LISTEN: &str = "0.0.0.0:9942";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub exporter: ExporterConfig,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// Read by the merger; the exporter only tolerates the section.
    #[serde(default)]
    pub merger: Option<IgnoredSection>,
    /// Read by the merger's notifications; the exporter only tolerates the section.
    #[serde(default)]
    pub notify: Option<IgnoredSection>,
}

/// A section owned by another component of the system.
#[derive(Debug, Clone, Default)]
pub struct IgnoredSection;

impl<'de> Deserialize<'de> for IgnoredSection {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| IgnoredSection)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExporterConfig {
    pub listen_address: String,
    /// Where the incremental-scan cache lives. `None` keeps the cache in memory only.
    pub state_dir: Option<PathBuf>,
    /// Partitions exported individually per table: those with most small files.
    pub top_partitions: usize,
    /// This replica's share of a sharded estate (`crate::shard`); `None`: everything.
    pub shard: Option<crate::shard::Shard>,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            listen_address: DEFAULT_EXPORTER_LISTEN.to_string(),
            state_dir: None,
            top_partitions: 5,
            shard: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    pub small_file_threshold: ByteSize,
    pub scan_interval: HumanDuration,
    /// How often a scan ignores the incremental cache and lists every directory again, to see
    /// what directory times cannot show (files changed deep inside a partition).
    pub full_rescan_interval: HumanDuration,
    pub max_concurrent_requests: usize,
    pub max_requests_per_second: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            small_file_threshold: ByteSize(128 * 1024 * 1024),
            scan_interval: HumanDuration(Duration::from_secs(3600)),
            full_rescan_interval: HumanDuration(Duration::from_secs(24 * 3600)),
            max_concurrent_requests: 16,
            max_requests_per_second: 500,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub name: String,
    #[serde(default)]
    pub metastore: Option<MetastoreConfig>,
    #[serde(default)]
    pub hdfs: Option<HdfsConfig>,
    /// A metastore-less cluster: tables come from the Hive directory layout under this URL.
    #[serde(default)]
    pub warehouse: Option<String>,
    #[serde(default)]
    pub small_file_threshold: Option<ByteSize>,
    #[serde(default)]
    pub scan_interval: Option<HumanDuration>,
    #[serde(default)]
    pub full_rescan_interval: Option<HumanDuration>,
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
    #[serde(default)]
    pub max_requests_per_second: Option<u32>,
    /// Where the merger runs merge statements (Hive, or Spark's Thrift Server).
    #[serde(default)]
    pub hiveserver2: Option<Hs2EndpointConfig>,
    /// Impala, for `REFRESH` after a merge.
    #[serde(default)]
    pub impala: Option<Hs2EndpointConfig>,
    #[serde(default)]
    pub merge: Option<MergeConfig>,
    /// Kerberos for every service of the cluster (a service's own block overrides it).
    #[serde(default)]
    pub kerberos: Option<KerberosConfig>,
}

/// A HiveServer2-protocol endpoint: `hive2://host:port` (binary) or `http(s)://host:port/cliservice`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hs2EndpointConfig {
    pub url: String,
    /// `nosasl`, `plain` (SASL PLAIN; HTTP uses Basic auth with the same user and password), or
    /// `kerberos` (with `principal`: SASL GSSAPI on the binary transport, SPNEGO on HTTP).
    #[serde(default)]
    pub auth: Hs2Auth,
    #[serde(default = "default_hs2_user")]
    pub user: String,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default = "default_metastore_timeout")]
    pub connect_timeout: HumanDuration,
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: HumanDuration,
    /// TLS on the binary transport (`hive.server2.use.SSL=true`); `https://` URLs use TLS anyway.
    #[serde(default)]
    pub tls: bool,
    /// Extra trusted CA certificates (PEM) for TLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// With `auth: kerberos`: the server's principal as the JDBC URL writes it,
    /// `hive/_HOST@REALM` or `impala/_HOST@REALM` (`_HOST`: the server's host).
    #[serde(default)]
    pub principal: Option<String>,
    /// Kerberos for this endpoint only (overrides the cluster's `kerberos`).
    #[serde(default)]
    pub kerberos: Option<KerberosConfig>,
}

/// How a HiveServer2 endpoint authenticates, checked by the parser (with the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hs2Auth {
    Nosasl,
    #[default]
    Plain,
    /// SASL GSSAPI on the binary transport (QOP auth), SPNEGO on the HTTP transport.
    Kerberos,
}

fn default_hs2_user() -> String {
    "smallfiles".into()
}

fn default_statement_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(6 * 3600))
}

impl Hs2EndpointConfig {
    /// The client settings, with the password read from its file or variable; with Kerberos,
    /// the endpoint's block or else `cluster_kerberos`, its login named after `label`.
    pub fn client_config(
        &self,
        settings: std::collections::BTreeMap<String, String>,
        cluster_kerberos: Option<&KerberosConfig>,
        label: &str,
    ) -> Result<crate::hiveserver2::Hs2Config> {
        let kerberos = match self.auth {
            Hs2Auth::Kerberos => Some(crate::hiveserver2::Hs2Kerberos {
                login: self
                    .kerberos
                    .as_ref()
                    .or(cluster_kerberos)
                    .cloned()
                    .unwrap_or_default(),
                label: label.to_string(),
                principal: self.principal.clone().unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(crate::hiveserver2::Hs2Config {
            url: self.url.clone(),
            auth: match self.auth {
                Hs2Auth::Nosasl => crate::hiveserver2::Auth::NoSasl,
                Hs2Auth::Plain => crate::hiveserver2::Auth::Plain,
                Hs2Auth::Kerberos => crate::hiveserver2::Auth::Kerberos,
            },
            kerberos,
            user: self.user.clone(),
            password: Secret::resolve(self.password_file.as_deref(), self.password_env.as_deref())?,
            connect_timeout: self.connect_timeout.0,
            statement_timeout: self.statement_timeout.0,
            settings,
            tls: self.tls,
            ca_file: self.ca_file.clone(),
        })
    }
}

/// The SQL a cluster's HiveServer2 speaks: Hive's, or Spark's Thrift Server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlDialect {
    Hive,
    Spark,
}

/// How merges run on a cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// YARN / Tez queue of merge jobs.
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default = "default_target_file_size")]
    pub target_file_size: ByteSize,
    /// Extra session settings for merge statements.
    #[serde(default)]
    pub engine_settings: std::collections::BTreeMap<String, String>,
    /// How long a replaced directory is kept (the rollback window).
    #[serde(default = "default_rollback_retention")]
    pub rollback_retention: HumanDuration,
    /// `hive` or `spark` (Spark's Thrift Server); unset: asked from the server (GetInfo).
    #[serde(default)]
    pub dialect: Option<SqlDialect>,
    /// How often a requested compaction is looked up in `SHOW COMPACTIONS`.
    #[serde(default = "default_compaction_poll")]
    pub compaction_poll_interval: HumanDuration,
    /// A table-level task merges a partition only when it holds at least this many small files.
    #[serde(default = "default_min_small_files")]
    pub min_small_files: u64,
    /// …and nothing in it changed for this long (a job may be writing into a younger one).
    #[serde(default = "default_min_partition_age")]
    pub min_partition_age: HumanDuration,
    /// At most this many partitions per task, most small files first; the rest wait.
    #[serde(default = "default_max_partitions_per_task")]
    pub max_partitions_per_task: usize,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig {
            queue: None,
            target_file_size: default_target_file_size(),
            engine_settings: Default::default(),
            rollback_retention: default_rollback_retention(),
            dialect: None,
            compaction_poll_interval: default_compaction_poll(),
            min_small_files: default_min_small_files(),
            min_partition_age: default_min_partition_age(),
            max_partitions_per_task: default_max_partitions_per_task(),
        }
    }
}

impl ClusterConfig {
    /// The Kerberos block WebHDFS uses: its own, else the cluster's.
    pub fn hdfs_kerberos(&self) -> Option<&KerberosConfig> {
        self.hdfs
            .as_ref()
            .and_then(|h| h.kerberos.as_ref())
            .or(self.kerberos.as_ref())
    }

    /// The `merge` section, or its defaults where there is none.
    pub fn merge_settings(&self) -> MergeConfig {
        self.merge.clone().unwrap_or_default()
    }
}

fn default_compaction_poll() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_min_small_files() -> u64 {
    2
}

fn default_min_partition_age() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}

fn default_max_partitions_per_task() -> usize {
    50
}

fn default_target_file_size() -> ByteSize {
    ByteSize(256 << 20)
}

fn default_rollback_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(72 * 3600))
}

fn default_include() -> Vec<String> {
    vec!["*.*".to_string()]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetastoreConfig {
    /// `mysql://user@host:3306/db` (MariaDB too) or `postgresql://user@host:5432/db`.
    pub url: String,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// Rows per partition page; bounds memory on metastores with millions of partitions.
    #[serde(default = "default_page_size")]
    pub partition_page_size: u32,
    #[serde(default = "default_metastore_timeout")]
    pub connect_timeout: HumanDuration,
}

fn default_page_size() -> u32 {
    50_000
}

fn default_metastore_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HdfsConfig {
    /// WebHDFS base URLs of the NameNodes (HA: all of them, in preference order).
    pub namenodes: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// A delegation token (its URL string) read from this file, instead of `user.name`.
    #[serde(default)]
    pub delegation_token_file: Option<PathBuf>,
    /// PEM bundle of extra CA certificates for https:// NameNodes.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_request_timeout")]
    pub request_timeout: HumanDuration,
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Bounds on what one directory listing may hold: a NameNode (or something posing as one)
    /// that pages forever must not stall a scan or fill memory.
    #[serde(default)]
    pub listing: ListingLimits,
    /// Kerberos for WebHDFS only (overrides the cluster's `kerberos`).
    #[serde(default)]
    pub kerberos: Option<KerberosConfig>,
    /// The NameNodes' SPNEGO principal; `_HOST` is each NameNode's host name.
    #[serde(default = "default_spnego_principal")]
    pub spnego_principal: String,
}

fn default_spnego_principal() -> String {
    "HTTP/_HOST".into()
}

/// Bounds of a directory listing. The default entries are twice what HDFS allows a directory
/// by default (`dfs.namenode.fs-limits.max-directory-items`: 1,048,576; at most 6,400,000 when
/// raised — raise this bound with it).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ListingLimits {
    /// LISTSTATUS_BATCH pages of one directory.
    pub max_pages_per_directory: u64,
    /// Entries of one directory.
    pub max_entries_per_directory: u64,
    /// Reply bytes of one directory (all its pages), and of any one reply.
    pub max_bytes_per_directory: ByteSize,
    /// Entries listed in one scan of the cluster; directories past it fail.
    pub max_entries_per_scan: u64,
    /// Reply bytes read in one scan of the cluster; directories past it fail.
    pub max_bytes_per_scan: ByteSize,
}

impl Default for ListingLimits {
    fn default() -> Self {
        ListingLimits {
            max_pages_per_directory: 10_000,
            max_entries_per_directory: 2_000_000,
            max_bytes_per_directory: ByteSize(1 << 30),
            max_entries_per_scan: 2_000_000_000,
            max_bytes_per_scan: ByteSize(1 << 40),
        }
    }
}

fn default_request_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_retries() -> u32 {
    3
}

/// A cluster's settings with the defaults applied.
#[derive(Debug, Clone)]
pub struct EffectiveSettings {
    pub small_file_threshold: u64,
    pub scan_interval: Duration,
    pub full_rescan_interval: Duration,
    pub max_concurrent_requests: usize,
    pub max_requests_per_second: u32,
}

impl ClusterConfig {
    pub fn effective(&self, defaults: &Defaults) -> EffectiveSettings {
        EffectiveSettings {
            small_file_threshold: self
                .small_file_threshold
                .unwrap_or(defaults.small_file_threshold)
                .0,
            scan_interval: self.scan_interval.unwrap_or(defaults.scan_interval).0,
            full_rescan_interval: self
                .full_rescan_interval
                .unwrap_or(defaults.full_rescan_interval)
                .0,
            max_concurrent_requests: self
                .max_concurrent_requests
                .unwrap_or(defaults.max_concurrent_requests)
                .max(1),
            max_requests_per_second: self
                .max_requests_per_second
                .unwrap_or(defaults.max_requests_per_second),
        }
    }

    /// Whether `database.table` passes the include and exclude globs (case-insensitive, as Hive
    /// names are).
    pub fn selects(&self, database: &str, table: &str) -> bool {
        let name = format!("{database}.{table}").to_ascii_lowercase();
        let hit = |pats: &[String]| {
            pats.iter()
                .any(|p| glob_match(&p.to_ascii_lowercase(), &name))
        };
        hit(&self.include) && !hit(&self.exclude)
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Config::parse(&text).map_err(|message| Error::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Every Kerberos block of every cluster.
    pub fn kerberos_blocks(&self) -> impl Iterator<Item = &KerberosConfig> {
        self.clusters.iter().flat_map(|c| {
            [
                c.kerberos.as_ref(),
                c.hdfs.as_ref().and_then(|h| h.kerberos.as_ref()),
                c.hiveserver2.as_ref().and_then(|h| h.kerberos.as_ref()),
                c.impala.as_ref().and_then(|h| h.kerberos.as_ref()),
            ]
            .into_iter()
            .flatten()
        })
    }

    /// Parses and validates; the error names the key and the line.
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        let config: Config = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        config.validate(text)?;
        Ok(config)
    }

    fn validate(&self, text: &str) -> std::result::Result<(), String> {
        if let Some(shard) = &self.exporter.shard {
            shard.validate()?;
        }
        crate::kerberos::krb5_conf_of(self.kerberos_blocks())?;
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.clusters.iter().enumerate() {
            let at = |key: &str| {
                let line = line_of_cluster(text, &c.name)
                    .map(|l| format!(" (line {l})"))
                    .unwrap_or_default();
                format!("clusters[{i}].{key} of cluster {:?}{line}", c.name)
            };
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            {
                return Err(format!(
                    "{}: a name of letters, digits, '-', '_' or '.' is required",
                    at("name")
                ));
            }
            if !seen.insert(c.name.clone()) {
                return Err(format!("{}: cluster names must be unique", at("name")));
            }
            match (&c.metastore, &c.warehouse) {
                (None, None) => {
                    return Err(format!(
                        "{}: a cluster needs `metastore` or `warehouse`",
                        at("metastore")
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{}: give either `metastore` or `warehouse`, not both",
                        at("warehouse")
                    ))
                }
                _ => {}
            }
            if let Some(m) = &c.metastore {
                MetastoreUrl::parse(&m.url).map_err(|e| format!("{}: {e}", at("metastore.url")))?;
                if m.password_file.is_some() && m.password_env.is_some() {
                    return Err(format!(
                        "{}: give password_file or password_env, not both",
                        at("metastore")
                    ));
                }
            }
            for (key, block) in [
                ("kerberos", c.kerberos.as_ref()),
                (
                    "hdfs.kerberos",
                    c.hdfs.as_ref().and_then(|h| h.kerberos.as_ref()),
                ),
            ] {
                let Some(k) = block else { continue };
                if !cfg!(feature = "kerberos") {
                    return Err(format!(
                        "{}: this build has no Kerberos support (build with the cargo feature `kerberos`)",
                        at(key)
                    ));
                }
                if let Some(problem) = k.problem() {
                    return Err(format!("{}: {problem}", at(key)));
                }
            }
            if let (Some(h), Some(_)) = (&c.hdfs, c.hdfs_kerberos()) {
                if h.user.is_some() {
                    return Err(format!(
                        "{}: with Kerberos the NameNode takes the user from the ticket; remove hdfs.user",
                        at("hdfs.user")
                    ));
                }
            }
            if let Some(h) = &c.hdfs {
                if let Some(u) = &h.user {
                    let ok = !u.is_empty()
                        && u.len() <= 256
                        && u.chars().all(|ch| !ch.is_control() && !ch.is_whitespace());
                    if !ok {
                        return Err(format!(
                            "{}: a user name of 1 to 256 characters without spaces or control characters is required",
                            at("hdfs.user")
                        ));
                    }
                }
                if h.namenodes.is_empty() {
                    return Err(format!(
                        "{}: at least one NameNode URL is required",
                        at("hdfs.namenodes")
                    ));
                }
                for nn in &h.namenodes {
                    let u = url::Url::parse(nn)
                        .map_err(|e| format!("{}: {nn:?}: {e}", at("hdfs.namenodes")))?;
                    if !matches!(u.scheme(), "http" | "https") {
                        return Err(format!(
                            "{}: {nn:?} must be an http:// or https:// WebHDFS address",
                            at("hdfs.namenodes")
                        ));
                    }
                }
            }
            for (key, ep) in [("hiveserver2", &c.hiveserver2), ("impala", &c.impala)] {
                if let Some(ep) = ep {
                    if ep.auth == Hs2Auth::Kerberos {
                        if !cfg!(feature = "kerberos") {
                            return Err(format!(
                                "{}: this build has no Kerberos support (build with the cargo feature `kerberos`)",
                                at(&format!("{key}.auth"))
                            ));
                        }
                        if ep.principal.as_deref().is_none_or(str::is_empty) {
                            return Err(format!(
                                "{}: auth kerberos needs the server's principal, e.g. {}/_HOST@EXAMPLE.COM",
                                at(&format!("{key}.principal")),
                                if key == "impala" { "impala" } else { "hive" }
                            ));
                        }
                    }
                    if let Some(problem) = ep.kerberos.as_ref().and_then(KerberosConfig::problem) {
                        return Err(format!("{}: {problem}", at(&format!("{key}.kerberos"))));
                    }
                    let scheme_ok = ["hive2://", "http://", "https://"]
                        .iter()
                        .any(|p| ep.url.starts_with(p));
                    if !scheme_ok {
                        return Err(format!(
                            "{}: {:?} must be hive2://host:port or http(s)://host:port/cliservice",
                            at(&format!("{key}.url")),
                            ep.url
                        ));
                    }
                }
            }
            if let Some(m) = &c.merge {
                if !(1..=10_000).contains(&m.max_partitions_per_task) {
                    return Err(format!(
                        "{}: {} must be between 1 and 10000",
                        at("merge.max_partitions_per_task"),
                        m.max_partitions_per_task
                    ));
                }
                if m.min_small_files == 0 {
                    return Err(format!(
                        "{}: must be at least 1",
                        at("merge.min_small_files")
                    ));
                }
            }
            if let Some(w) = &c.warehouse {
                if !w.starts_with("file:") && !w.starts_with("hdfs:") {
                    return Err(format!(
                        "{}: {w:?} must be a file:// or hdfs:// URL",
                        at("warehouse")
                    ));
                }
                if w.starts_with("hdfs:") && c.hdfs.is_none() {
                    return Err(format!(
                        "{}: an hdfs:// warehouse needs the `hdfs` section",
                        at("warehouse")
                    ));
                }
            }
            for pat in c.include.iter().chain(&c.exclude) {
                if !pat.contains('.') {
                    return Err(format!(
                        "{}: {pat:?} must be a database.table glob",
                        at("include")
                    ));
                }
            }
        }
        Ok(())
    }
}

fn line_of_cluster(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ").trim();
            t.strip_prefix("name:")
                .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == name)
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// `*` matches any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A size in bytes: a number, or a number with B, KiB, MiB, GiB, TiB (also KB, MB, GB, TB, which
/// Hadoop operators mean as powers of 1024 too: `dfs.blocksize 128m` is 128 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> std::result::Result<ByteSize, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = (s[..split].trim(), s[split..].trim());
        let value: f64 = num.parse().map_err(|_| {
            format!("{s:?} is not a size (expected e.g. 134217728, 128MiB or 128MB)")
        })?;
        let mult: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => {
                return Err(format!(
                    "{s:?}: unknown size unit {unit:?} (use B, KiB, MiB, GiB, TiB)"
                ))
            }
        };
        let bytes = value * mult as f64;
        if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(format!("{s:?} is not a positive size"));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 134217728, 128MiB or 128MB")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<ByteSize, E> {
                if v == 0 {
                    return Err(E::custom("size must be positive"));
                }
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<ByteSize, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("size must be positive"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written as Prometheus does: `90s`, `30m`, `1h`, `1h30m`, `2d`, `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(s: &str) -> std::result::Result<HumanDuration, String> {
        let bad = || format!("{s:?} is not a duration (expected e.g. 90s, 30m, 1h30m, 2d)");
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total = Duration::ZERO;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            total += match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                "d" => Duration::from_secs(n * 86400),
                "w" => Duration::from_secs(n * 7 * 86400),
                _ => return Err(bad()),
            };
        }
        if total.is_zero() {
            return Err(format!("{s:?}: duration must be positive"));
        }
        Ok(HumanDuration(total))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).map_err(de::Error::custom)
    }
}

/// A metastore database address. The password never lives here: see [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetastoreUrl {
    pub kind: MetastoreKind,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    /// A password written into the URL itself (discouraged; kept out of every message).
    pub inline_password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetastoreKind {
    Mysql,
    Postgres,
}

impl MetastoreUrl {
    pub fn parse(s: &str) -> std::result::Result<MetastoreUrl, String> {
        let u = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        let kind = match u.scheme() {
            "mysql" | "mariadb" => MetastoreKind::Mysql,
            "postgres" | "postgresql" => MetastoreKind::Postgres,
            other => {
                return Err(format!(
                    "scheme {other:?} is not supported (use mysql:// or postgresql://)"
                ))
            }
        };
        let host = u.host_str().ok_or("the URL has no host")?.to_string();
        let database = u.path().trim_start_matches('/').to_string();
        if database.is_empty() {
            return Err("the URL names no database (…/metastore)".into());
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Ok(MetastoreUrl {
            kind,
            port: u.port().unwrap_or(match kind {
                MetastoreKind::Mysql => 3306,
                MetastoreKind::Postgres => 5432,
            }),
            user: if u.username().is_empty() {
                "hive".into()
            } else {
                decode(u.username())
            },
            inline_password: u.password().map(decode),
            database: decode(&database),
            host,
        })
    }

    /// The address as it may appear in logs and errors.
    pub fn redacted(&self) -> String {
        let scheme = match self.kind {
            MetastoreKind::Mysql => "mysql",
            MetastoreKind::Postgres => "postgresql",
        };
        format!(
            "{scheme}://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

/// A secret value. Its Debug and Display never show it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Reads a secret from a file (trailing newline stripped) or an environment variable.
    pub fn resolve(file: Option<&Path>, env: Option<&str>) -> Result<Option<Secret>> {
        if let Some(f) = file {
            let text = std::fs::read_to_string(f).map_err(|e| Error::Secret {
                source_name: f.display().to_string(),
                reason: e.kind().to_string(),
            })?;
            return Ok(Some(Secret(
                text.trim_end_matches(['\r', '\n']).to_string(),
            )));
        }
        if let Some(var) = env {
            let v = std::env::var(var).map_err(|_| Error::Secret {
                source_name: format!("environment variable {var}"),
                reason: "not set".into(),
            })?;
            return Ok(Some(Secret(v)));
        }
        Ok(None)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("128MiB").unwrap().0, 128 << 20);
        assert_eq!(ByteSize::parse("64MB").unwrap().0, 64 << 20);
        assert_eq!(ByteSize::parse("1 GiB").unwrap().0, 1 << 30);
        assert_eq!(ByteSize::parse("4096").unwrap().0, 4096);
        assert_eq!(ByteSize::parse("1.5KiB").unwrap().0, 1536);
        assert!(ByteSize::parse("12XB").is_err());
        assert!(ByteSize::parse("MiB").is_err());
        assert!(ByteSize::parse("0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            HumanDuration::parse("1h30m").unwrap().0,
            Duration::from_secs(5400)
        );
        assert_eq!(
            HumanDuration::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            HumanDuration::parse("2d").unwrap().0,
            Duration::from_secs(172800)
        );
        for bad in ["", "1", "h", "1x", "0s", "-1s"] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.*", "db.t"));
        assert!(glob_match("tmp_*.*", "tmp_x.y"));
        assert!(!glob_match("tmp_*.*", "prod.tmp_y"));
        assert!(glob_match("sales.fact_?", "sales.fact_a"));
        assert!(!glob_match("sales.fact_?", "sales.fact_ab"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn contract_example_parses() {
        let yaml = r#"
exporter:
  listen_address: "0.0.0.0:9942"
  state_dir: /var/lib/smallfiles
  top_partitions: 5
defaults:
  small_file_threshold: 128MiB
  scan_interval: 1h
clusters:
  - name: prod
    metastore:
      url: mysql://hive@10.0.0.5:3306/metastore
      password_file: /etc/smallfiles/metastore.pw
    hdfs:
      namenodes: ["http://nn1:9870", "http://nn2:9870"]
      user: hdfs
    small_file_threshold: 64MiB
    scan_interval: 30m
    include: ["*.*"]
    exclude: ["tmp_*.*"]
    max_concurrent_requests: 16
    max_requests_per_second: 500
    hiveserver2: { url: "hive2://hs2:10000", auth: plain, user: smallfiles, password_file: /etc/pw }
    impala:      { url: "hive2://impalad:21050", auth: nosasl }
    merge:
      queue: root.maintenance
      target_file_size: 256MiB
      engine_settings: { hive.merge.tezfiles: "true" }
      rollback_retention: 72h
  - name: local
    warehouse: file:///data/warehouse
"#;
        let c = Config::parse(yaml).unwrap();
        let m = c.clusters[0].merge.as_ref().unwrap();
        assert_eq!(
            (m.target_file_size.0, m.rollback_retention.0),
            (256 << 20, Duration::from_secs(72 * 3600))
        );
        assert_eq!(c.clusters[0].impala.as_ref().unwrap().auth, Hs2Auth::Nosasl);
        let bad = yaml.replace("hive2://hs2:10000", "thrift://hs2:10000");
        assert!(Config::parse(&bad).unwrap_err().contains("hiveserver2.url"));
        assert_eq!(c.clusters.len(), 2);
        let prod = c.clusters[0].effective(&c.defaults);
        assert_eq!(prod.small_file_threshold, 64 << 20);
        assert_eq!(prod.scan_interval, Duration::from_secs(1800));
        let local = c.clusters[1].effective(&c.defaults);
        assert_eq!(local.small_file_threshold, 128 << 20);
        assert!(c.clusters[0].selects("sales", "orders"));
        assert!(!c.clusters[0].selects("tmp_x", "orders"));
    }

    #[test]
    fn bad_config_names_key_and_line() {
        let err = Config::parse("defaults:\n  small_file_threshold: 12XB\n").unwrap_err();
        assert!(err.contains("line 2") || err.contains("2:"), "{err}");
        assert!(err.contains("XB"), "{err}");
        let err = Config::parse("clusters:\n  - name: a\n    metastor: {}\n").unwrap_err();
        assert!(err.contains("metastor"), "{err}");
        assert!(err.contains("line 3") || err.contains("3:"), "{err}");
        let err = Config::parse("clusters:\n  - name: a\n    include: ['*.*']\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("metastore"), "{err}");
        let huge_user = format!(
            "clusters:\n  - name: a\n    warehouse: hdfs:///w\n    hdfs:\n      namenodes: [\"http://nn:9870\"]\n      user: {}\n",
            "u".repeat(50 << 20)
        );
        let err = Config::parse(&huge_user).unwrap_err();
        assert!(
            err.contains("hdfs.user") && err.len() < 300,
            "{}",
            &err[..err.len().min(300)]
        );
    }

    #[test]
    fn metastore_urls() {
        let u = MetastoreUrl::parse("mysql://hive:s3cret@db:3307/metastore").unwrap();
        assert_eq!(u.kind, MetastoreKind::Mysql);
        assert_eq!(u.port, 3307);
        assert_eq!(u.inline_password.as_deref(), Some("s3cret"));
        assert!(!u.redacted().contains("s3cret"));
        let u = MetastoreUrl::parse("postgresql://hive@pg/hms").unwrap();
        assert_eq!((u.kind, u.port), (MetastoreKind::Postgres, 5432));
        assert!(MetastoreUrl::parse("oracle://x/y").is_err());
        assert!(MetastoreUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

#[cfg(test)]
mod example_file {
    #[test]
    fn deploy_example_parses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/smallfiles.example.yml");
        let c = super::Config::load(&path).unwrap();
        assert_eq!(c.clusters.len(), 2);
        assert_eq!(c.clusters[0].hdfs.as_ref().unwrap().namenodes.len(), 2);
    }
}

/// `glob_match` against a plainly recursive matcher over a small alphabet, where `*`, `?`
/// and the characters they can stand for collide often.
#[cfg(test)]
mod glob_properties {
    use crate::config::glob_match;
    use proptest::prelude::*;

    fn reference(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn matches_as_the_reference(pattern in "[ab.*?]{0,8}", text in "[ab.]{0,10}") {
            let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
            prop_assert_eq!(glob_match(&pattern, &text), reference(&p, &t));
        }

        #[test]
        fn a_name_with_any_part_starred_still_matches(name in "[a-z_.]{1,16}", a in 0usize..16, b in 0usize..16) {
            let (a, b) = (a.min(name.len()), b.min(name.len()));
            let (a, b) = (a.min(b), a.max(b));
            let pattern = format!("{}*{}", &name[..a], &name[b..]);
            prop_assert!(glob_match(&pattern, &name), "{} vs {}", pattern, name);
            prop_assert!(glob_match(&name, &name));
        }
    }
}

//! The one YAML file of the whole system. Key names are a contract shared with the dashboards,
//! the deploy files and the merger; `deploy/smallfiles.example.yml` documents every key.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, IgnoredAny};
use serde::Deserialize;

use crate::error::{Error, Result};
pub use crate::kerberos::KerberosConfig;

mod validate;
mod values;
pub use values::{glob_match, ByteSize, HumanDuration, MetastoreKind, MetastoreUrl, Secret};

#[cfg(test)]
mod tests;

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
    /// How table directories are counted: listed over WebHDFS, or read from the fsimage.
    #[serde(default)]
    pub mode: HdfsMode,
    /// Where the fsimage comes from (`mode: fsimage`).
    #[serde(default)]
    pub fsimage: Option<FsImageConfig>,
    /// WebHDFS base URLs of the NameNodes (HA: all of them, in preference order). Optional
    /// only for `mode: fsimage` with an image `path` and no merger deletes, and for
    /// `mode: rpc`.
    #[serde(default)]
    pub namenodes: Vec<String>,
    /// `mode: rpc`: `hdfs://nameservice1` (its NameNodes from `hadoop_conf_dir`) or
    /// `hdfs://host:8020` (one NameNode).
    #[serde(default)]
    pub url: Option<String>,
    /// `mode: rpc`: a Hadoop configuration directory (core-site.xml, hdfs-site.xml) as on an
    /// edge node; names the NameNodes of the `url`'s nameservice. Default: `HADOOP_CONF_DIR`.
    #[serde(default)]
    pub hadoop_conf_dir: Option<PathBuf>,
    /// `mode: rpc`: the NameNodes' RPC addresses (`host:8020`, HA: all of them, in preference
    /// order) instead of a Hadoop configuration.
    #[serde(default)]
    pub rpc_addresses: Vec<String>,
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HdfsMode {
    /// List every table and partition directory (WebHDFS, or `file://`).
    #[default]
    Webhdfs,
    /// Read the NameNode's fsimage and join it to the metastore: no listing requests.
    Fsimage,
    /// List every table and partition directory over Hadoop's native RPC (as `hdfs dfs -ls`
    /// does from an edge node).
    Rpc,
}

/// `hdfs.fsimage`: an image on disk, or fetched from the NameNodes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FsImageConfig {
    /// A file, or a directory whose newest `fsimage_<txid>` is read (a NameNode's
    /// `dfs.namenode.name.dir/current`, or where a checkpoint job copies it).
    pub path: Option<PathBuf>,
    /// Download the newest image from the NameNodes (the standby in HA) at each scan into
    /// `exporter.state_dir`; on a Kerberized cluster the principal must be an HDFS admin.
    pub fetch: bool,
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

use std::path::PathBuf;

/// Errors of the cluster library. Texts never carry secrets: URLs are shown without passwords
/// and secret files are named, never read back into a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config file {path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("config: {0}")]
    Invalid(String),

    #[error("reading secret from {source_name}: {reason}")]
    Secret { source_name: String, reason: String },

    #[error("metastore {url}: {message}")]
    Metastore { url: String, message: String },

    #[error("unsupported metastore schema: {0}")]
    MetastoreSchema(String),

    #[error("hdfs {op} {path}: {kind}")]
    Hdfs {
        op: &'static str,
        path: String,
        kind: HdfsErrorKind,
    },

    #[error("local filesystem {path}: {source}")]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("hiveserver2 {0}")]
    HiveServer2(String),

    /// The connection to HiveServer2 broke while a call was under way (the server went away):
    /// what the statement did is unknown, unlike a statement the server answered with an error.
    #[error("hiveserver2 {0}")]
    HiveServer2Lost(String),

    #[error("location {0} uses a scheme this tool cannot list")]
    UnsupportedScheme(String),
}

impl Error {
    /// The path does not exist (on HDFS or on local disk).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Hdfs {
                kind: HdfsErrorKind::NotFound(_),
                ..
            }
        ) || matches!(self, Error::Local { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// No NameNode answered (unreachable or timed out): a scan cannot go on, whereas any other
    /// error concerns one directory.
    pub fn is_namenode_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Hdfs {
                kind: HdfsErrorKind::Unreachable(_) | HdfsErrorKind::Timeout,
                ..
            }
        )
    }
}

/// What went wrong talking to a NameNode, typed after WebHDFS' RemoteException classes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HdfsErrorKind {
    #[error("file not found: {0}")]
    NotFound(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("operation not supported by the server: {0}")]
    Unsupported(String),
    #[error("standby namenode: {0}")]
    Standby(String),
    #[error("the namenode is in safe mode: {0}")]
    SafeMode(String),
    #[error("remote exception {exception}: {message}")]
    Remote { exception: String, message: String },
    #[error("unexpected response (HTTP {status}): {body}")]
    Protocol { status: u16, body: String },
    #[error("invalid reply from the namenode: {0}")]
    InvalidReply(String),
    #[error("listing bound crossed: {0}")]
    ListingTooLarge(String),
    #[error("no namenode reachable: {0}")]
    Unreachable(String),
    #[error("timed out")]
    Timeout,
    #[error(transparent)]
    Kerberos(#[from] crate::kerberos::KerberosError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the merger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] smallfiles_cluster::Error),
    #[error("config: {0}")]
    Config(String),
    #[error("task store: {0}")]
    Store(String),
    #[error("task {0} not found")]
    NotFound(u64),
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn store_err(e: impl std::fmt::Display) -> Error {
    Error::Store(e.to_string())
}

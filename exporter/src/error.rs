/// Errors of the exporter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] smallfiles_cluster::Error),
    #[error("scan cache: {0}")]
    Cache(String),
    #[error("scan of cluster {cluster} failed at {stage}: {message}")]
    Scan {
        cluster: String,
        stage: &'static str,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

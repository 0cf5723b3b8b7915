//! Talking to a Hive cluster: the shared configuration, the metastore database (MySQL/MariaDB,
//! PostgreSQL) and the file systems that hold table data (WebHDFS, `file://`).

#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod error;
pub mod exposition;

pub use error::{Error, HdfsErrorKind, Result};

/// The release, and the git revision it was built from (`build.rs`; "unknown" outside a checkout).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("SMALLFILES_REVISION");
pub mod hdfs;
pub mod hiveserver2;
pub mod kerberos;
pub mod logging;
pub mod metastore;
pub mod shard;
pub mod warehouse;

#[cfg(test)]
mod tests {
    /// Built from a checkout, the binaries say which commit (`smallfiles_build_info`).
    #[test]
    fn the_revision_is_the_checkouts() {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output();
        let Some(out) = out.ok().filter(|o| o.status.success()) else {
            eprintln!("skipped: not a git checkout");
            return;
        };
        let head = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(
            super::REVISION.starts_with(&head),
            "{} is not HEAD {head}",
            super::REVISION
        );
    }
}

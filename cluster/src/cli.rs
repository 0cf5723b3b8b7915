//! The flags both binaries share, in Prometheus' style (`--config.file`, `--web.listen-address`,
//! `--log.level`, `--log.format`). Flattened into each binary's own clap parser.

use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct CommonFlags {
    /// The YAML configuration file.
    #[arg(
        long = "config.file",
        global = true,
        default_value = "/etc/smallfiles/smallfiles.yml"
    )]
    pub config_file: PathBuf,
    /// Address to serve on; overrides the configuration's listen_address.
    #[arg(long = "web.listen-address", global = true)]
    pub listen_address: Option<String>,
    #[arg(long = "log.level", global = true, default_value = "info", value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,
    #[arg(long = "log.format", global = true, value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

impl CommonFlags {
    /// Starts structured logging as the flags say.
    pub fn init_logging(&self) {
        crate::logging::init(&self.log_level, self.log_format == LogFormat::Json);
    }
}

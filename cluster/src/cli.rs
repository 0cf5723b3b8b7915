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

/// `completions` and `man`: what both binaries generate from their own CLI definitions.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DocsCommand {
    /// Print a shell completion script (bash: `source <(smallfiles-exporter completions bash)`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `… man > /usr/local/share/man/man1/<binary>.1`.
    Man,
}

impl DocsCommand {
    /// Writes what was asked for `cmd` (the binary's `clap::Command`) to `out`.
    pub fn write(
        &self,
        mut cmd: clap::Command,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        match self {
            DocsCommand::Completions { shell } => {
                let name = cmd.get_name().to_string();
                clap_complete::generate(*shell, &mut cmd, name, out);
                Ok(())
            }
            DocsCommand::Man => clap_mangen::Man::new(cmd).render(out),
        }
    }
}

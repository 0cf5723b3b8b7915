//! The `merger:` section of the shared YAML file. Key names are a contract.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use smallfiles_cluster::config::{
    ByteSize, ClusterConfig, Config, Defaults, HumanDuration, IgnoredSection, Secret,
};

use crate::auth::Role;
use crate::error::{Error, Result};
use crate::model::Strategy;
use crate::window::Windows;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergerConfig {
    #[serde(default = "default_listen")]
    pub listen_address: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Local times when merges may start, `HH:MM-HH:MM` (may wrap midnight). Empty: always.
    #[serde(default)]
    pub windows: Vec<String>,
    /// IANA time zone of the windows (`Asia/Shanghai`), or `UTC`.
    #[serde(default = "default_tz")]
    pub timezone: String,
    #[serde(default = "default_cooldown")]
    pub cooldown: HumanDuration,
    #[serde(default = "default_alertnames")]
    pub alertnames: Vec<String>,
    #[serde(default)]
    pub default_strategy: Strategy,
    /// Record the statements a merge would run, run none of them.
    #[serde(default)]
    pub dry_run: bool,
    /// How long a dry run dwells on each statement: tests only (cargo feature `test-hooks`).
    #[serde(default)]
    pub dry_run_statement_delay: Option<HumanDuration>,
    /// External tables are refused unless this is set (HIVE-17403).
    #[serde(default)]
    pub allow_external_tables: bool,
    #[serde(default = "default_body")]
    pub max_body_size: ByteSize,
    /// Connections served at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A request's headers must arrive within this.
    #[serde(default = "default_header_timeout")]
    pub header_read_timeout: HumanDuration,
    /// A request's body must arrive within this.
    #[serde(default = "default_body_timeout")]
    pub body_read_timeout: HumanDuration,
    /// Alerts in one webhook (Alertmanager sends one group; thousands are already abnormal).
    #[serde(default = "default_max_alerts")]
    pub max_alerts_per_webhook: usize,
    #[serde(default = "default_retention")]
    pub audit_retention: HumanDuration,
    /// Ended tasks last changed longer ago than this are removed from the store (their
    /// history: the API, `tasks list`); active ones never are.
    #[serde(default = "default_retention")]
    pub task_retention: HumanDuration,
    /// How often tasks left `interrupted` (their HiveServer2 or metastore was unreachable
    /// when a step or a rollback needed it) are tried again.
    #[serde(default = "default_recovery_interval")]
    pub recovery_interval: HumanDuration,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    #[serde(default = "four")]
    pub global: usize,
    #[serde(default = "two")]
    pub per_cluster: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            global: 4,
            per_cluster: 2,
        }
    }
}

fn four() -> usize {
    4
}
fn two() -> usize {
    2
}
fn default_listen() -> String {
    "0.0.0.0:9943".into()
}
fn default_data_dir() -> PathBuf {
    "/var/lib/smallfiles/merger".into()
}
fn default_tz() -> String {
    "UTC".into()
}
fn default_cooldown() -> HumanDuration {
    HumanDuration(Duration::from_secs(86400))
}
fn default_alertnames() -> Vec<String> {
    vec!["HiveTableTooManySmallFiles".into()]
}
fn default_body() -> ByteSize {
    ByteSize(1 << 20)
}
fn default_max_connections() -> usize {
    1024
}
fn default_header_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_body_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_max_alerts() -> usize {
    1000
}
fn default_recovery_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_retention() -> HumanDuration {
    HumanDuration(Duration::from_secs(90 * 86400))
}

/// What the merger reads of the shared file: its own section and the clusters.
#[derive(Debug, Clone, Deserialize)]
struct MergerView {
    #[serde(default)]
    merger: Option<MergerConfig>,
    #[serde(default)]
    #[allow(dead_code)]
    exporter: Option<IgnoredSection>,
    #[serde(default)]
    #[allow(dead_code)]
    defaults: Option<IgnoredSection>,
    #[serde(default)]
    notify: Option<crate::notify::NotifyConfig>,
    #[serde(default)]
    #[allow(dead_code)]
    clusters: Option<IgnoredSection>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub merger: MergerConfig,
    pub clusters: Vec<ClusterConfig>,
    /// The shared `defaults` (request limits of the clusters' NameNodes).
    pub defaults: Defaults,
    pub windows: Windows,
    pub tokens: Vec<(String, Secret, Role)>,
    pub notify: Option<crate::notify::NotifyConfig>,
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Settings::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and validates the file without reading the token files.
    pub fn parse_unresolved(
        text: &str,
    ) -> std::result::Result<(MergerConfig, Vec<ClusterConfig>, Windows), String> {
        Settings::parse_sections(text).map(|s| (s.merger, s.clusters, s.windows))
    }

    /// The merger's and the notifications' sections, validated; tokens not yet read.
    fn parse_sections(text: &str) -> std::result::Result<Settings, String> {
        let shared = Config::parse(text)?;
        let view: MergerView = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let merger = view.merger.ok_or("the file has no `merger` section")?;
        let at = |key: &str| match line_of_merger_key(text, key) {
            Some(l) => format!("merger.{key} (line {l})"),
            None => format!("merger.{key}"),
        };
        if merger.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "{}: unknown time zone {:?} (an IANA name such as Asia/Shanghai, or UTC)",
                at("timezone"),
                merger.timezone
            ));
        }
        let windows = Windows::parse(&merger.windows, &merger.timezone)
            .map_err(|e| format!("{}: {e}", at("windows")))?;
        for (key, n, max) in [
            ("concurrency", merger.concurrency.global, 256),
            ("concurrency", merger.concurrency.per_cluster, 256),
            ("max_connections", merger.max_connections, 65_536),
            (
                "max_alerts_per_webhook",
                merger.max_alerts_per_webhook,
                100_000,
            ),
        ] {
            if n == 0 || n > max {
                return Err(format!("{}: {n} must be between 1 and {max}", at(key)));
            }
        }
        if merger.dry_run_statement_delay.is_some() && !cfg!(feature = "test-hooks") {
            return Err(format!(
                "{}: a test setting; this build does not take it",
                at("dry_run_statement_delay")
            ));
        }
        // History kept for less than an hour is a typo (`90` meant as days), not a choice.
        for (key, d) in [
            ("audit_retention", merger.audit_retention.0),
            ("task_retention", merger.task_retention.0),
        ] {
            if d < Duration::from_secs(3600) {
                return Err(format!("{}: {d:?} must be at least 1h", at(key)));
            }
        }
        // Bounds that protect the service: a limit set far out is no limit.
        let body = merger.max_body_size.0;
        if !(1 << 10..=64 << 20).contains(&body) {
            return Err(format!(
                "{}: {body} bytes must be between 1KiB and 64MiB",
                at("max_body_size")
            ));
        }
        for (key, d) in [
            ("header_read_timeout", merger.header_read_timeout.0),
            ("body_read_timeout", merger.body_read_timeout.0),
            ("recovery_interval", merger.recovery_interval.0),
        ] {
            if d < Duration::from_secs(1) || d > Duration::from_secs(600) {
                return Err(format!("{}: {d:?} must be between 1s and 10m", at(key)));
            }
        }
        if let Some(n) = &view.notify {
            n.validate()?;
        }
        Ok(Settings {
            merger,
            clusters: shared.clusters,
            defaults: shared.defaults,
            windows,
            tokens: Vec::new(),
            notify: view.notify,
        })
    }

    pub fn parse(text: &str) -> std::result::Result<Settings, String> {
        let mut settings = Settings::parse_sections(text)?;
        for t in &settings.merger.auth.tokens {
            let at = match line_of_token(text, &t.name) {
                Some(l) => format!("merger.auth.tokens {:?} (line {l})", t.name),
                None => format!("merger.auth.tokens {:?}", t.name),
            };
            if t.token_file.is_some() == t.token_env.is_some() {
                return Err(format!("{at}: give exactly one of token_file, token_env"));
            }
            let secret = Secret::resolve(t.token_file.as_deref(), t.token_env.as_deref())
                .map_err(|e| format!("{at}: {e}"))?
                .filter(|s| !s.expose().is_empty())
                .ok_or_else(|| format!("{at}: the token is empty"))?;
            settings.tokens.push((t.name.clone(), secret, t.role));
        }
        Ok(settings)
    }

    pub fn cluster(&self, name: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

/// The line (1-based) of `key:` inside the top-level `merger:` section.
fn line_of_merger_key(text: &str, key: &str) -> Option<usize> {
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with(' ') && !line.starts_with('\t') && !line.trim().is_empty() {
            inside = line.trim_end() == "merger:";
            continue;
        }
        if inside && line.trim_start().starts_with(&format!("{key}:")) {
            return Some(i + 1);
        }
    }
    None
}

/// The line (1-based) that names a token.
fn line_of_token(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.contains("name:")
                && (l.contains(&format!("name: {name}"))
                    || l.contains(&format!("name: \"{name}\"")))
                && (l.contains("token_file") || l.contains("token_env") || l.contains("role"))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_example_parses() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/smallfiles.example.yml"),
        )
        .unwrap();
        let (m, clusters, _) = Settings::parse_unresolved(&text).unwrap();
        assert_eq!(m.auth.tokens.len(), 3);
        assert_eq!(m.concurrency.per_cluster, 2);
        assert_eq!(m.cooldown.0, Duration::from_secs(86400));
        assert!(m.dry_run);
        assert_eq!(m.task_retention.0, Duration::from_secs(90 * 86400));
        assert_eq!(m.recovery_interval.0, Duration::from_secs(60));
        assert_eq!(clusters.len(), 2);
        let view: MergerView = serde_saphyr::from_str(&text).unwrap();
        let n = view.notify.unwrap();
        n.validate().unwrap();
        assert_eq!(n.dingtalk[0].rate_limit, 20);
        assert_eq!(n.events.len(), 4);
    }

    #[test]
    fn bad_merger_sections_are_refused() {
        let base = "clusters:\n  - name: a\n    warehouse: file:///w\n";
        assert!(Settings::parse(base).unwrap_err().contains("merger"));
        let err =
            Settings::parse(&format!("{base}merger:\n  windows: [\"25:00-01:00\"]\n")).unwrap_err();
        assert!(err.contains("windows"), "{err}");
        let err = Settings::parse(&format!("{base}merger:\n  concurency: {{}}\n")).unwrap_err();
        assert!(err.contains("concurency"), "{err}");
        let err = Settings::parse(&format!("{base}merger:\n  auth:\n    tokens:\n      - {{ name: x, token_file: /nonexistent/t, role: admin }}\n")).unwrap_err();
        assert!(err.contains("/nonexistent/t"), "{err}");
        std::env::set_var("SMALLFILES_TEST_TOKEN_XYZ", "s3cr3t-value");
        let s = Settings::parse(&format!("{base}merger:\n  auth:\n    tokens:\n      - {{ name: x, token_env: SMALLFILES_TEST_TOKEN_XYZ, role: admin }}\n")).unwrap();
        assert_eq!(s.tokens[0].1.expose(), "s3cr3t-value");
        assert!(!format!("{:?}", s.tokens).contains("s3cr3t"));
    }

    #[test]
    fn errors_name_the_key_and_the_line_and_bounds_hold() {
        let base = "clusters:\n  - name: a\n    warehouse: file:///w\nmerger:\n";
        let err = Settings::parse(&format!(
            "{base}  windows: [\"01:00-02:00\"]\n  timezone: Mars/Olympus\n"
        ))
        .unwrap_err();
        assert!(err.starts_with("merger.timezone (line 6)"), "{err}");
        let err = Settings::parse(&format!("{base}  windows: [\"x\"]\n")).unwrap_err();
        assert!(err.starts_with("merger.windows (line 5)"), "{err}");
        let err = Settings::parse(&format!(
            "{base}  auth:\n    tokens:\n      - {{ name: ops, token_file: /nonexistent/t, role: operator }}\n"
        ))
        .unwrap_err();
        assert!(
            err.starts_with("merger.auth.tokens \"ops\" (line 7)"),
            "{err}"
        );
        let err = Settings::parse(&format!("{base}  max_body_size: 1000TiB\n")).unwrap_err();
        assert!(err.starts_with("merger.max_body_size (line 5)"), "{err}");
        let err = Settings::parse(&format!("{base}  max_connections: 0\n")).unwrap_err();
        assert!(err.contains("max_connections"), "{err}");
        let err = Settings::parse(&format!("{base}  header_read_timeout: 2h\n")).unwrap_err();
        assert!(err.contains("header_read_timeout"), "{err}");
        let err = Settings::parse(&format!("{base}  recovery_interval: 2h\n")).unwrap_err();
        assert!(
            err.starts_with("merger.recovery_interval (line 5)"),
            "{err}"
        );
        let err = Settings::parse(&format!("{base}  task_retention: 90s\n")).unwrap_err();
        assert!(
            err.starts_with("merger.task_retention (line 5)") && err.contains("at least 1h"),
            "{err}"
        );
        assert!(Settings::parse(&format!("{base}  max_body_size: 4MiB\n")).is_ok());
    }
}

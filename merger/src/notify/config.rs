//! The `notify:` section of the shared YAML file.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use smallfiles_cluster::config::{HumanDuration, Secret};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default)]
    pub email: Option<EmailConfig>,
    #[serde(default)]
    pub dingtalk: Vec<DingTalkConfig>,
    /// Which merge events are sent: task_failed, task_succeeded, task_rolled_back, daily_digest.
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// Local time (merger.timezone) of the daily digest.
    #[serde(default = "default_digest_at")]
    pub digest_at: String,
    /// Files overriding the built-in texts: task_succeeded.md, task_failed.md,
    /// task_rolled_back.md, daily_digest.md, alerts.md.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Base URL of Grafana, for the dashboard links of alerts (the `dashboard` annotation).
    #[serde(default)]
    pub grafana_url: Option<String>,
    /// Sends of one message before it is given up (counted as `given_up`); 1–100.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_max_attempts() -> u32 {
    20
}

fn default_events() -> Vec<String> {
    ["task_failed", "task_rolled_back", "daily_digest"]
        .map(String::from)
        .to_vec()
}

fn default_digest_at() -> String {
    "09:00".into()
}

pub const EVENTS: [&str; 4] = [
    "task_failed",
    "task_succeeded",
    "task_rolled_back",
    "daily_digest",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp: SmtpConfig,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Upgrade to TLS with STARTTLS (port 587).
    #[serde(default)]
    pub starttls: bool,
    /// Implicit TLS from the first byte (port 465).
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Extra CA certificate (PEM) to trust for the server's TLS certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_smtp_port() -> u16 {
    25
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingTalkConfig {
    pub name: String,
    /// `https://oapi.dingtalk.com/robot/send?access_token=…` (or from `webhook_file`).
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default)]
    pub webhook_file: Option<PathBuf>,
    /// The signing secret of a signed robot.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub at_mobiles: Vec<String>,
    #[serde(default)]
    pub at_all: bool,
    /// DingTalk allows 20 messages a minute per robot and throttles it for 10 minutes beyond.
    #[serde(default = "default_rate")]
    pub rate_limit: usize,
    #[serde(default = "default_window")]
    pub rate_window: HumanDuration,
    #[serde(default = "default_throttle")]
    pub throttle: HumanDuration,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_rate() -> usize {
    20
}
fn default_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_throttle() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

impl NotifyConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err(format!(
                "notify.max_attempts: {} must be between 1 and 100",
                self.max_attempts
            ));
        }
        for e in &self.events {
            if !EVENTS.contains(&e.as_str()) {
                return Err(format!(
                    "notify.events: unknown event {e:?} (known: {})",
                    EVENTS.join(", ")
                ));
            }
        }
        chrono::NaiveTime::parse_from_str(&self.digest_at, "%H:%M")
            .map_err(|_| format!("notify.digest_at: {:?} is not HH:MM", self.digest_at))?;
        let mut names = std::collections::HashSet::new();
        for r in &self.dingtalk {
            if !names.insert(&r.name) {
                return Err(format!(
                    "notify.dingtalk: robot name {:?} is used twice",
                    r.name
                ));
            }
            if r.webhook.is_some() == r.webhook_file.is_some() {
                return Err(format!(
                    "notify.dingtalk {:?}: give exactly one of webhook, webhook_file",
                    r.name
                ));
            }
            if r.rate_limit == 0 {
                return Err(format!(
                    "notify.dingtalk {:?}: rate_limit must be at least 1",
                    r.name
                ));
            }
        }
        if let Some(e) = &self.email {
            if e.to.is_empty() {
                return Err("notify.email.to: at least one recipient".into());
            }
            if e.smtp.starttls && e.smtp.tls {
                return Err("notify.email.smtp: starttls and tls exclude each other".into());
            }
        }
        Ok(())
    }
}

impl DingTalkConfig {
    pub fn resolve_webhook(&self) -> crate::Result<Secret> {
        match (&self.webhook, &self.webhook_file) {
            (Some(w), _) => Ok(Secret::new(w.clone())),
            (None, Some(f)) => Secret::resolve(Some(f), None)?.ok_or_else(|| {
                crate::Error::Config(format!(
                    "notify.dingtalk {:?}: empty webhook file",
                    self.name
                ))
            }),
            (None, None) => Err(crate::Error::Config(format!(
                "notify.dingtalk {:?}: no webhook",
                self.name
            ))),
        }
    }
}

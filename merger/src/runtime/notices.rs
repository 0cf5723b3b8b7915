//! How tasks ended, told to the configured channels; the daily digest.

use super::*;

impl Service {
    /// Tells the configured channels how a task ended.
    pub(super) fn announce(&self, t: &Task) {
        let Some(n) = &self.notifier else { return };
        let event = match t.state {
            TaskState::Succeeded => "task_succeeded",
            TaskState::Failed => "task_failed",
            TaskState::RolledBack => "task_rolled_back",
            _ => return,
        };
        if !n.wants(event) {
            return;
        }
        let vars = crate::notify::render::task_vars(t);
        let text = crate::notify::render::fill(
            &crate::notify::render::template(event, n.config.templates_dir.as_deref()),
            &vars,
        );
        let subject = format!(
            "[smallfiles] merge {} {}: {}",
            t.state.as_str().replace('_', " "),
            t.target.cluster,
            vars["target"]
        );
        if let Err(e) = n.broadcast(&subject, &text) {
            tracing::error!(error = %e, "notification not queued");
        }
    }

    /// The daily digest: merges of the last 24 hours and the tables still alerting.
    pub fn digest(&self) -> Result<(String, String)> {
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let ended = self.store.in_states(&[
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::RolledBack,
        ])?;
        let recent: Vec<&Task> = ended
            .iter()
            .filter(|t| t.updated_at >= since_text)
            .collect();
        let count = |s: TaskState| recent.iter().filter(|t| t.state == s).count();
        let removed: u64 = recent
            .iter()
            .filter_map(|t| t.files_before.zip(t.files_after))
            .map(|(b, a)| b.saturating_sub(a))
            .sum();
        let mut alerting: Vec<crate::db::SeenAlert> = self
            .store
            .seen_alerts()?
            .into_iter()
            .filter(|a| a.status == "firing" && a.at_unix >= since.timestamp())
            .collect();
        alerting.sort_by_key(|a| std::cmp::Reverse(a.at_unix));
        let tables: Vec<String> = alerting
            .iter()
            .take(20)
            .map(|a| {
                let p = a
                    .target
                    .partition
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                format!(
                    "- {} {}.{}{p}: {}",
                    a.target.cluster, a.target.database, a.target.table, a.summary
                )
            })
            .collect();
        let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let vars = std::collections::BTreeMap::from([
            ("date", date.clone()),
            ("succeeded", count(TaskState::Succeeded).to_string()),
            ("failed", count(TaskState::Failed).to_string()),
            ("rolled_back", count(TaskState::RolledBack).to_string()),
            ("files_removed", removed.to_string()),
            (
                "tables",
                if tables.is_empty() {
                    "- none".to_string()
                } else {
                    tables.join("\n")
                },
            ),
        ]);
        let dir = self
            .notifier
            .as_ref()
            .and_then(|n| n.config.templates_dir.clone());
        let text = crate::notify::render::fill(
            &crate::notify::render::template("daily_digest", dir.as_deref()),
            &vars,
        );
        Ok((format!("[smallfiles] daily digest {date}"), text))
    }

    /// Sends the digest every day at `notify.digest_at`, merger.timezone.
    pub async fn run_digest(self: Arc<Self>) {
        let Some(n) = self.notifier.clone() else {
            return;
        };
        let tz: chrono_tz::Tz = self
            .settings
            .merger
            .timezone
            .parse()
            .unwrap_or(chrono_tz::UTC);
        let at =
            chrono::NaiveTime::parse_from_str(&n.config.digest_at, "%H:%M").unwrap_or_default();
        loop {
            let now = chrono::Utc::now().with_timezone(&tz);
            let mut next = now.date_naive().and_time(at);
            if next <= now.naive_local() {
                next += chrono::Duration::days(1);
            }
            let wait = (next - now.naive_local())
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(60));
            tokio::time::sleep(wait).await;
            if n.wants("daily_digest") {
                match self.digest() {
                    Ok((subject, text)) => {
                        if let Err(e) = n.broadcast(&subject, &text) {
                            tracing::error!(error = %e, "digest not queued");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "digest not built"),
                }
            }
        }
    }
}

//! Texts of notifications: built-in markdown templates with `{{variable}}` placeholders,
//! overridable by files, and the formatting of Alertmanager groups for DingTalk.
//!
//! Variables of the task templates (task_succeeded.md, task_failed.md, task_rolled_back.md):
//! `id`, `cluster`, `database`, `table`, `partition`, `target`, `strategy`, `state`, `dry_run`,
//! `reason`, `files_before`, `files_after`, `files_removed`, `bytes_rewritten`, `duration`,
//! `log` (the last lines). Of daily_digest.md: `date`, `succeeded`, `failed`, `rolled_back`,
//! `files_removed`, `tables` (a list of tables still over the threshold). Of alerts.md:
//! `status`, `count`, `alerts` (one section per alert), `external_url`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::alerts::Webhook;
use crate::db::outbox::Message;
use crate::model::Task;

pub const TASK_SUCCEEDED: &str = "### Merge succeeded: {{target}}\n\n- cluster: {{cluster}}\n- strategy: {{strategy}} (task {{id}}{{dry_run}})\n- files: {{files_before}} → {{files_after}} ({{files_removed}} removed)\n- bytes rewritten: {{bytes_rewritten}}\n- duration: {{duration}}\n";
pub const TASK_FAILED: &str = "### Merge failed: {{target}}\n\n- cluster: {{cluster}}\n- strategy: {{strategy}} (task {{id}}{{dry_run}})\n- reason: {{reason}}\n\nLast log lines:\n\n{{log}}\n";
pub const TASK_ROLLED_BACK: &str = "### Merge rolled back: {{target}}\n\n- cluster: {{cluster}}\n- strategy: {{strategy}} (task {{id}})\n- reason: {{reason}}\n\nThe table keeps its previous files.\n\n{{log}}\n";
pub const DAILY_DIGEST: &str = "### Small files: daily digest {{date}}\n\n- merges succeeded: {{succeeded}}\n- merges failed: {{failed}}, rolled back: {{rolled_back}}\n- files removed: {{files_removed}}\n\nTables still over the threshold:\n\n{{tables}}\n";
pub const ALERTS: &str = "### [{{status}}] {{count}} alert(s)\n\n{{alerts}}\n";

fn builtin(name: &str) -> &'static str {
    match name {
        "task_succeeded" => TASK_SUCCEEDED,
        "task_failed" => TASK_FAILED,
        "task_rolled_back" => TASK_ROLLED_BACK,
        "daily_digest" => DAILY_DIGEST,
        _ => ALERTS,
    }
}

/// Fills `{{name}}` placeholders; unknown ones are left as they are.
pub fn fill(template: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find("}}") {
            Some(end) => {
                let key = rest[start + 2..start + 2 + end].trim();
                match vars.get(key) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 4 + end]),
                }
                rest = &rest[start + 4 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A template from `dir` when it has the file, else the built-in one.
pub fn template(name: &str, dir: Option<&Path>) -> String {
    dir.and_then(|d| std::fs::read_to_string(d.join(format!("{name}.md"))).ok())
        .unwrap_or_else(|| builtin(name).to_string())
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

pub fn task_vars(t: &Task) -> BTreeMap<&'static str, String> {
    let target = match &t.target.partition {
        Some(p) => format!("{}.{} ({p})", t.target.database, t.target.table),
        None => format!("{}.{}", t.target.database, t.target.table),
    };
    let log: Vec<String> = t
        .log
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|l| {
            format!(
                "    {} {}",
                l.at,
                l.message.chars().take(300).collect::<String>()
            )
        })
        .collect();
    BTreeMap::from([
        ("id", t.id.to_string()),
        ("cluster", t.target.cluster.clone()),
        ("database", t.target.database.clone()),
        ("table", t.target.table.clone()),
        ("partition", t.target.partition.clone().unwrap_or_default()),
        ("target", target),
        ("strategy", t.resolved_strategy.as_str().to_string()),
        ("state", t.state.as_str().to_string()),
        (
            "dry_run",
            if t.dry_run {
                ", dry run".to_string()
            } else {
                String::new()
            },
        ),
        ("reason", t.reason.clone().unwrap_or_default()),
        ("files_before", or_dash(t.files_before)),
        ("files_after", or_dash(t.files_after)),
        (
            "files_removed",
            or_dash(
                t.files_before
                    .zip(t.files_after)
                    .map(|(b, a)| b.saturating_sub(a)),
            ),
        ),
        ("bytes_rewritten", or_dash(t.bytes_rewritten)),
        (
            "duration",
            t.duration_seconds
                .map(|d| format!("{d:.1}s"))
                .unwrap_or_else(|| "-".into()),
        ),
        ("log", log.join("\n")),
    ])
}

/// Markdown of an Alertmanager group, firing first, for DingTalk.
pub fn alerts_markdown(
    hook: &Webhook,
    grafana_url: Option<&str>,
    dir: Option<&Path>,
) -> (String, String) {
    let mut sections = Vec::new();
    let mut firing: Vec<_> = hook
        .alerts
        .iter()
        .filter(|a| a.status == "firing")
        .collect();
    let resolved: Vec<_> = hook
        .alerts
        .iter()
        .filter(|a| a.status != "firing")
        .collect();
    firing.extend(resolved);
    for a in firing {
        let name = a
            .labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("alert");
        let mark = if a.status == "firing" {
            "🔥 FIRING"
        } else {
            "✅ RESOLVED"
        };
        let mut s = format!("#### {mark} {name}\n\n");
        if let Some(summary) = a.annotations.get("summary") {
            s.push_str(&format!("**{summary}**\n\n"));
        }
        if let Some(d) = a.annotations.get("description") {
            s.push_str(&format!("{d}\n\n"));
        }
        for (k, v) in a.labels.iter().filter(|(k, _)| k.as_str() != "alertname") {
            s.push_str(&format!("- {k}: {v}\n"));
        }
        if let Some(d) = a.annotations.get("dashboard") {
            let link = match grafana_url {
                Some(base) if d.starts_with('/') => format!("{}{d}", base.trim_end_matches('/')),
                _ => d.clone(),
            };
            s.push_str(&format!("\n[Dashboard]({link})\n"));
        }
        sections.push(s);
    }
    let status = if hook.alerts.iter().any(|a| a.status == "firing") {
        "FIRING"
    } else {
        "RESOLVED"
    };
    let title = match hook.common_labels.get("alertname") {
        Some(n) => format!("[{status}] {n} ({})", hook.alerts.len()),
        None => format!("[{status}] {} alerts", hook.alerts.len()),
    };
    let vars = BTreeMap::from([
        ("status", status.to_string()),
        ("count", hook.alerts.len().to_string()),
        ("alerts", sections.join("\n")),
        ("external_url", hook.external_url.clone()),
    ]);
    (title, fill(&template("alerts", dir), &vars))
}

/// Packs waiting messages into at most `capacity` groups of at most ~18,000 bytes each, in
/// order. What does not fit stays for the next window.
pub fn aggregate(messages: Vec<Message>, capacity: usize) -> Vec<Vec<Message>> {
    const ROOM: usize = 18_000;
    let mut groups: Vec<Vec<Message>> = Vec::new();
    let mut size = 0;
    for m in messages {
        let len = m.markdown.len() + m.subject.len() + 16;
        match groups.last_mut() {
            Some(g) if size + len <= ROOM => {
                g.push(m);
                size += len;
            }
            _ => {
                if groups.len() == capacity {
                    break;
                }
                size = len;
                groups.push(vec![m]);
            }
        }
    }
    groups
}

/// One message out of several.
pub fn combine(batch: &[Message]) -> (String, String) {
    let title = format!("{} notifications: {}", batch.len(), batch[0].subject);
    let text = batch
        .iter()
        .map(|m| m.markdown.as_str())
        .collect::<Vec<_>>()
        .join("\n\n---\n\n");
    (title, text)
}

/// The plain-text part of an email: the markdown as it is, which reads well as text.
pub fn plain_text(markdown: &str) -> String {
    markdown.to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML part of an email: headings, list items, paragraphs and links of the markdown.
pub fn html(subject: &str, markdown: &str) -> String {
    let mut body = String::new();
    let mut in_list = false;
    for line in markdown.lines() {
        let t = line.trim_end();
        let item = t.strip_prefix("- ");
        if in_list && item.is_none() {
            body.push_str("</ul>\n");
            in_list = false;
        }
        if let Some(h) = t
            .trim_start_matches('#')
            .strip_prefix(' ')
            .filter(|_| t.starts_with('#'))
        {
            body.push_str(&format!("<h3>{}</h3>\n", links(&escape(h))));
        } else if let Some(i) = item {
            if !in_list {
                body.push_str("<ul>\n");
                in_list = true;
            }
            body.push_str(&format!("<li>{}</li>\n", links(&escape(i))));
        } else if !t.is_empty() {
            body.push_str(&format!("<p>{}</p>\n", links(&escape(t))));
        }
    }
    if in_list {
        body.push_str("</ul>\n");
    }
    format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n{body}</body></html>\n", escape(subject))
}

/// `[text](url)` to a link (the input is already HTML-escaped).
fn links(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        let text = &rest[open + 1..open + mid];
        let url = &rest[open + mid + 2..open + mid + close];
        out.push_str(&format!("<a href=\"{url}\">{text}</a>"));
        rest = &rest[open + mid + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let vars = BTreeMap::from([("a", "1".to_string()), ("b", "two".to_string())]);
        assert_eq!(
            fill("x {{a}} y {{ b }} z {{c}} {{", &vars),
            "x 1 y two z {{c}} {{"
        );
    }

    #[test]
    fn templates_are_overridden_by_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(template("task_failed", Some(dir.path())), TASK_FAILED);
        std::fs::write(
            dir.path().join("task_failed.md"),
            "FAILED {{target}} because {{reason}}",
        )
        .unwrap();
        let vars = BTreeMap::from([
            ("target", "db.t".to_string()),
            ("reason", "boom".to_string()),
        ]);
        assert_eq!(
            fill(&template("task_failed", Some(dir.path())), &vars),
            "FAILED db.t because boom"
        );
        assert_eq!(template("daily_digest", None), DAILY_DIGEST);
    }

    #[test]
    fn html_part() {
        let h = html(
            "s <x>",
            "### Title\n\n- a: <b>\n- [Dashboard](http://g/d?x=1&y=2)\n\ntext",
        );
        assert!(h.contains("<h3>Title</h3>"));
        assert!(h.contains("<li>a: &lt;b&gt;</li>"));
        assert!(h.contains("<a href=\"http://g/d?x=1&amp;y=2\">Dashboard</a>"));
        assert!(h.contains("<p>text</p>") && h.contains("<title>s &lt;x&gt;</title>"));
    }

    #[test]
    fn aggregation_keeps_order_and_leaves_the_rest() {
        let msgs: Vec<Message> = (0..100)
            .map(|i| Message {
                id: i,
                ..Message::new("dingtalk:r", &format!("m{i}"), &"x".repeat(1000))
            })
            .collect();
        let groups = aggregate(msgs, 3);
        assert_eq!(groups.len(), 3);
        let ids: Vec<u64> = groups.iter().flatten().map(|m| m.id).collect();
        assert_eq!(ids, (0..ids.len() as u64).collect::<Vec<_>>());
        assert!(ids.len() >= 50 && ids.len() < 100, "{}", ids.len());
        let (title, text) = combine(&groups[0]);
        assert!(title.starts_with(&format!("{} notifications", groups[0].len())));
        assert!(text.len() < 20_000);
    }
}

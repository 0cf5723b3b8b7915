//! Alertmanager webhooks (payload version 4): parsing, and what each alert asks for. Plain
//! functions; nothing here touches the network or the store.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::Target;

#[derive(Debug, Deserialize)]
pub struct Webhook {
    pub version: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(rename = "groupKey", default)]
    pub group_key: String,
    #[serde(default)]
    pub alerts: Vec<Alert>,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    #[serde(rename = "commonLabels", default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(rename = "commonAnnotations", default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "groupLabels", default)]
    pub group_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Alert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt", default)]
    pub starts_at: String,
    #[serde(rename = "endsAt", default)]
    pub ends_at: String,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// Why a webhook body was refused: the reason of its 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("malformed webhook body: {0}")]
    Malformed(String),
    #[error("unsupported webhook payload version {0:?} (expected \"4\")")]
    Version(String),
    #[error("alerts[{index}].status is {status:?} (expected firing or resolved)")]
    AlertStatus { index: usize, status: String },
}

/// Parses an Alertmanager webhook body (payload version 4).
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, WebhookError> {
    let hook: Webhook =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if hook.version != "4" {
        return Err(WebhookError::Version(hook.version));
    }
    if let Some((index, a)) = hook
        .alerts
        .iter()
        .enumerate()
        .find(|(_, a)| a.status != "firing" && a.status != "resolved")
    {
        return Err(WebhookError::AlertStatus {
            index,
            status: a.status.clone(),
        });
    }
    Ok(hook)
}

/// What one alert asks for, before the metastore is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triage {
    Candidate(Target),
    ResolvedIgnored,
    Rejected(String),
}

/// A Hive identifier as the merger accepts it from a label: letters, digits, underscore.
pub fn valid_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A database name, possibly in Hive's `@catalog#database` form.
pub fn valid_database(s: &str) -> bool {
    match s.strip_prefix('@').and_then(|r| r.split_once('#')) {
        Some((catalog, db)) => valid_identifier(catalog) && valid_identifier(db),
        None => valid_identifier(s),
    }
}

/// A partition name `k=v[/k=v…]` as the metastore stores it (values path-escaped).
pub fn valid_partition(s: &str) -> bool {
    s.len() <= 767
        && s.split('/').all(|kv| match kv.split_once('=') {
            Some((k, v)) => {
                valid_identifier(k) && !v.is_empty() && !v.chars().any(char::is_control)
            }
            None => false,
        })
}

fn shown(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

pub fn triage(alert: &Alert, alertnames: &[String], clusters: &[&str]) -> Triage {
    let name = alert
        .labels
        .get("alertname")
        .map(String::as_str)
        .unwrap_or("");
    if !alertnames.iter().any(|a| a == name) {
        return Triage::Rejected(format!(
            "alertname {} is not one the merger acts on",
            shown(name)
        ));
    }
    if alert.status == "resolved" {
        return Triage::ResolvedIgnored;
    }
    let missing: Vec<&str> = ["cluster", "database", "table"]
        .into_iter()
        .filter(|l| alert.labels.get(*l).is_none_or(|v| v.is_empty()))
        .collect();
    if !missing.is_empty() {
        return Triage::Rejected(format!("missing labels: {}", missing.join(", ")));
    }
    let (cluster, database, table) = (
        &alert.labels["cluster"],
        &alert.labels["database"],
        &alert.labels["table"],
    );
    if !clusters.contains(&cluster.as_str()) {
        return Triage::Rejected(format!("unknown cluster {}", shown(cluster)));
    }
    if !valid_database(database) {
        return Triage::Rejected(format!("invalid database name {}", shown(database)));
    }
    if !valid_identifier(table) {
        return Triage::Rejected(format!("invalid table name {}", shown(table)));
    }
    let partition = alert
        .labels
        .get("partition")
        .filter(|p| !p.is_empty())
        .cloned();
    if let Some(p) = &partition {
        if !valid_partition(p) {
            return Triage::Rejected(format!("invalid partition {}", shown(p)));
        }
    }
    Triage::Candidate(Target {
        cluster: cluster.clone(),
        database: database.clone(),
        table: table.clone(),
        partition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: &str, labels: &[(&str, &str)]) -> Alert {
        Alert {
            status: status.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: BTreeMap::new(),
            starts_at: String::new(),
            ends_at: String::new(),
            generator_url: String::new(),
            fingerprint: "abc".into(),
        }
    }

    #[test]
    fn triage_decisions() {
        let names = vec!["HiveTableTooManySmallFiles".to_string()];
        let ok = [
            ("alertname", "HiveTableTooManySmallFiles"),
            ("cluster", "prod"),
            ("database", "sales"),
            ("table", "orders"),
        ];
        assert!(
            matches!(triage(&alert("firing", &ok), &names, &["prod"]), Triage::Candidate(t) if t.table == "orders" && t.partition.is_none())
        );
        assert_eq!(
            triage(&alert("resolved", &ok), &names, &["prod"]),
            Triage::ResolvedIgnored
        );
        assert!(
            matches!(triage(&alert("firing", &ok), &names, &["dev"]), Triage::Rejected(r) if r.contains("unknown cluster"))
        );
        let mut p = ok.to_vec();
        p.push(("partition", "dt=2024-01-01 10%3A00/hr=1"));
        assert!(
            matches!(triage(&alert("firing", &p), &names, &["prod"]), Triage::Candidate(t) if t.partition.as_deref() == Some("dt=2024-01-01 10%3A00/hr=1"))
        );
        let r = triage(
            &alert(
                "firing",
                &[("alertname", "HiveTableTooManySmallFiles"), ("db", "x")],
            ),
            &names,
            &["prod"],
        );
        assert_eq!(
            r,
            Triage::Rejected("missing labels: cluster, database, table".into())
        );
        assert!(matches!(
            triage(
                &alert("firing", &[("alertname", "Other")]),
                &names,
                &["prod"]
            ),
            Triage::Rejected(_)
        ));
    }

    #[test]
    fn hostile_names_are_rejected() {
        for bad in [
            "x; DROP TABLE y",
            "../etc",
            "a`b",
            "a'b",
            "",
            "a b",
            &"x".repeat(200),
            "tbl\u{0}",
            "名字",
        ] {
            assert!(!valid_identifier(bad), "{bad:?}");
        }
        assert!(
            valid_database("@spark#sales") && !valid_database("@spark#") && !valid_database("@#x")
        );
        for bad in ["dt", "dt=", "=x", "dt=1/../x", "d t=1", "dt=a\nb"] {
            assert!(!valid_partition(bad), "{bad:?}");
        }
        assert!(valid_partition("dt=2024-01-01/hr=00"));
        let long = format!("table {}", "x".repeat(1000));
        let names = vec!["HiveTableTooManySmallFiles".to_string()];
        let r = triage(
            &alert(
                "firing",
                &[
                    ("alertname", "HiveTableTooManySmallFiles"),
                    ("cluster", "prod"),
                    ("database", "db"),
                    ("table", &long),
                ],
            ),
            &names,
            &["prod"],
        );
        match r {
            Triage::Rejected(reason) => assert!(
                reason.len() < 120,
                "the reason does not echo a huge label: {reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn webhook_parsing() {
        assert!(matches!(
            parse_webhook(b"{"),
            Err(WebhookError::Malformed(_))
        ));
        assert_eq!(
            parse_webhook(br#"{"version":"3","alerts":[]}"#).unwrap_err(),
            WebhookError::Version("3".into())
        );
        assert_eq!(
            parse_webhook(br#"{"version":"4","alerts":[{"status":"firing"},{"status":"weird"}]}"#)
                .unwrap_err(),
            WebhookError::AlertStatus {
                index: 1,
                status: "weird".into()
            }
        );
        let h = parse_webhook(br#"{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":"b"}}],"notification_reason":"x"}"#).unwrap();
        assert_eq!(h.alerts.len(), 1);
    }
}

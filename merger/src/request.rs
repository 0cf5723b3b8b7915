//! What a request to create tasks (`POST /api/v1/tasks`) asks for, decided from its bytes
//! alone, before any cluster is consulted (pure, fuzzed): the JSON shape, and names that can
//! only be Hive identifiers and partition names.

use serde::Deserialize;

use crate::alerts::{valid_database, valid_identifier, valid_partition};
use crate::model::Strategy;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTasks {
    pub cluster: String,
    pub database: String,
    pub table: String,
    /// `k=v[/k=v…]` each; none: the whole table.
    #[serde(default)]
    pub partitions: Vec<String>,
    #[serde(default)]
    pub strategy: Option<Strategy>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// Why a request is refused (answered 400, audited with its outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not the JSON the API takes.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// Well-formed, but a name cannot be one.
    #[error("{0}")]
    Rejected(String),
}

impl RequestError {
    /// The audit outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            RequestError::Malformed(_) => "malformed",
            RequestError::Rejected(_) => "rejected",
        }
    }
}

fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

pub fn parse_create_tasks(body: &[u8]) -> Result<CreateTasks, RequestError> {
    let req: CreateTasks =
        serde_json::from_slice(body).map_err(|e| RequestError::Malformed(e.to_string()))?;
    if !valid_database(&req.database) || !valid_identifier(&req.table) {
        return Err(RequestError::Rejected(
            "database and table must be Hive identifiers (letters, digits, underscore)".into(),
        ));
    }
    if let Some(p) = req.partitions.iter().find(|p| !valid_partition(p)) {
        return Err(RequestError::Rejected(format!(
            "invalid partition {:?}",
            shown(p)
        )));
    }
    Ok(req)
}

/// The cluster, as shown in an answer: cut, never the whole of a hostile value.
pub fn shown_cluster(cluster: &str) -> String {
    shown(cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_shaped_and_named_or_refused() {
        let ok = parse_create_tasks(
            br#"{"cluster":"prod","database":"sales","table":"orders","partitions":["dt=2024-01-01"],"dry_run":true}"#,
        )
        .unwrap();
        assert_eq!(ok.partitions, ["dt=2024-01-01"]);
        for (body, outcome) in [
            (&b"{"[..], "malformed"),
            (
                br#"{"cluster":"p","database":"s","table":"t","extra":1}"#,
                "malformed",
            ),
            (
                br#"{"cluster":"p","database":"s;drop","table":"t"}"#,
                "rejected",
            ),
            (
                br#"{"cluster":"p","database":"s","table":"t","partitions":["../x"]}"#,
                "rejected",
            ),
        ] {
            assert_eq!(parse_create_tasks(body).unwrap_err().outcome(), outcome);
        }
    }
}

//! The engine's side of partition selection (`plan/select.rs` decides): a table-level task of a
//! partitioned table lists each partition through the cluster's file system, leaves out those
//! the strategy cannot merge, and merges only those the rules choose. The choice is recorded on
//! the task before any statement runs; the dry run makes the same choice.

use futures::StreamExt;
use smallfiles_cluster::hdfs::ClusterFs;

use super::hive::summarize_with;
use super::EngineError;
use crate::model::Strategy;
use crate::plan::select::{
    select_partitions, Listed, Selection, SelectionRules, SkipReason, Skipped,
};
use crate::plan::{partition_refusal, PlanError};
use crate::validate::Resolved;

/// Partitions listed at once; the cluster's own request limits apply underneath.
const LISTINGS_IN_FLIGHT: usize = 16;

/// Narrows a table-level target to the partitions worth merging. A partition target, or an
/// unpartitioned table, is returned as it is with no selection (the operator named it).
/// Fails only when no partition could be listed at all (the file system is down).
pub async fn choose_partitions(
    fs: &ClusterFs,
    rules: &SelectionRules,
    strategy: Strategy,
    mut resolved: Resolved,
    now_ms: i64,
) -> Result<(Resolved, Option<Selection>), EngineError> {
    if resolved.one_partition || !resolved.table.is_partitioned() {
        return Ok((resolved, None));
    }
    let table = &resolved.table;
    let mut skipped = Vec::new();
    let mut candidates = Vec::new();
    for p in &resolved.partitions {
        match partition_refusal(table, p, strategy) {
            Some(e) => skipped.push(Skipped {
                partition: p.name.clone(),
                reason: SkipReason::CannotMerge {
                    reason: e.to_string(),
                },
            }),
            None => candidates.push(p),
        }
    }
    // Owned items: a stream of futures borrowing from its items is not `Send` for the runtime.
    let items: Vec<(String, Option<String>)> = candidates
        .into_iter()
        .map(|p| (p.name.clone(), p.location.clone()))
        .collect();
    let threshold = rules.small_file_threshold;
    let listings: Vec<(String, Result<Listed, EngineError>)> = futures::stream::iter(items)
        .map(|(name, location)| list_one(fs, name, location, threshold))
        .buffer_unordered(LISTINGS_IN_FLIGHT)
        .collect()
        .await;
    let mut listed = Vec::with_capacity(listings.len());
    let mut first_error = None;
    for (name, l) in listings {
        match l {
            Ok(l) => listed.push((name, l)),
            Err(e) => {
                let reason = e.to_string();
                first_error.get_or_insert(e);
                skipped.push(Skipped {
                    partition: name,
                    reason: SkipReason::Unlisted { reason },
                });
            }
        }
    }
    if listed.is_empty() {
        if let Some(e) = first_error {
            return Err(EngineError::Hdfs(format!(
                "no partition of the table could be listed: {e}"
            )));
        }
    }
    let mut selection = select_partitions(&listed, rules, now_ms);
    selection.skipped.extend(skipped);
    selection
        .skipped
        .sort_by(|a, b| a.partition.cmp(&b.partition));
    let order: std::collections::HashMap<&str, usize> = selection
        .chosen
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut chosen: Vec<_> = std::mem::take(&mut resolved.partitions)
        .into_iter()
        .filter(|p| order.contains_key(p.name.as_str()))
        .collect();
    chosen.sort_by_key(|p| order[p.name.as_str()]);
    resolved.partitions = chosen;
    Ok((resolved, Some(selection)))
}

async fn list_one(
    fs: &ClusterFs,
    name: String,
    location: Option<String>,
    small_file_threshold: u64,
) -> (String, Result<Listed, EngineError>) {
    let listed = match location {
        Some(loc) => summarize_with(fs, &loc, small_file_threshold)
            .await
            .map(|s| Listed {
                files: s.files,
                small_files: s.small_files,
                bytes: s.bytes,
                newest_change_ms: s.newest_change_ms,
            })
            .map_err(|e| EngineError::Hdfs(format!("listing {loc}: {e}"))),
        None => Err(EngineError::Plan(PlanError::NoPartitionLocation(
            name.clone(),
        ))),
    };
    (name, listed)
}

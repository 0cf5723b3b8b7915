//! Which partitions of a table a table-level task merges. An alert names a table; rewriting
//! every partition of it would cost one job per partition, compact or not, and would touch the
//! partition a job is writing into right now. A partition is chosen when it holds at least
//! `min_small_files` small files and nothing in it changed for `min_partition_age`; at most
//! `max_partitions_per_task` are chosen, most small files first, and the rest wait for the
//! next task (the alert keeps firing while they hold small files).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `merge` settings that decide the choice.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionRules {
    pub small_file_threshold: u64,
    pub min_small_files: u64,
    pub min_partition_age: Duration,
    pub max_partitions: usize,
}

impl Default for SelectionRules {
    fn default() -> Self {
        SelectionRules {
            small_file_threshold: 128 << 20,
            min_small_files: 2,
            min_partition_age: Duration::from_secs(3600),
            max_partitions: 50,
        }
    }
}

/// What a listing of one partition found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Listed {
    pub files: u64,
    pub small_files: u64,
    pub bytes: u64,
    /// The newest modification time (ms since the epoch) of anything in the partition.
    pub newest_change_ms: i64,
}

/// Why a partition was left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "why")]
pub enum SkipReason {
    /// Fewer small files than `min_small_files`: nothing worth a job.
    FewSmallFiles { small_files: u64 },
    /// Changed within `min_partition_age`: a job may be writing into it.
    Hot { changed_seconds_ago: u64 },
    /// Over `max_partitions_per_task`: left for the next task.
    OverLimit { small_files: u64 },
    /// The engine cannot merge it (a NULL key, another format than the table, …).
    CannotMerge { reason: String },
    /// Its directory could not be listed.
    Unlisted { reason: String },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::FewSmallFiles { small_files } => {
                write!(f, "{small_files} small files, below merge.min_small_files")
            }
            SkipReason::Hot {
                changed_seconds_ago,
            } => write!(
                f,
                "changed {changed_seconds_ago}s ago, within merge.min_partition_age (a job may be writing into it)"
            ),
            SkipReason::OverLimit { small_files } => write!(
                f,
                "{small_files} small files, over merge.max_partitions_per_task: left for the next task"
            ),
            SkipReason::CannotMerge { reason } => write!(f, "cannot be merged: {reason}"),
            SkipReason::Unlisted { reason } => write!(f, "could not be listed: {reason}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub partition: String,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// The partitions a task merges and why it leaves the others; recorded on the task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Selection {
    /// In the order they are merged: most small files first.
    pub chosen: Vec<String>,
    pub skipped: Vec<Skipped>,
}

impl Selection {
    /// Partitions that still hold work for a later task.
    pub fn work_left(&self) -> usize {
        self.skipped
            .iter()
            .filter(|s| matches!(s.reason, SkipReason::OverLimit { .. }))
            .count()
    }

    /// One line for the task's log.
    pub fn summary(&self) -> String {
        let count =
            |f: fn(&SkipReason) -> bool| self.skipped.iter().filter(|s| f(&s.reason)).count();
        format!(
            "chose {} partitions; left {} with too few small files, {} hot, {} over the limit for the next task, {} that cannot be merged, {} that could not be listed",
            self.chosen.len(),
            count(|r| matches!(r, SkipReason::FewSmallFiles { .. })),
            count(|r| matches!(r, SkipReason::Hot { .. })),
            self.work_left(),
            count(|r| matches!(r, SkipReason::CannotMerge { .. })),
            count(|r| matches!(r, SkipReason::Unlisted { .. })),
        )
    }
}

/// Chooses among listed partitions (`name`, listing) at `now_ms`.
pub fn select_partitions(
    listed: &[(String, Listed)],
    rules: &SelectionRules,
    now_ms: i64,
) -> Selection {
    let min_age_ms = rules.min_partition_age.as_millis() as i64;
    let mut eligible: Vec<(&str, u64)> = Vec::new();
    let mut skipped = Vec::new();
    for (name, l) in listed {
        let age_ms = now_ms.saturating_sub(l.newest_change_ms);
        let reason = if l.small_files < rules.min_small_files.max(1) {
            Some(SkipReason::FewSmallFiles {
                small_files: l.small_files,
            })
        } else if age_ms < min_age_ms {
            Some(SkipReason::Hot {
                changed_seconds_ago: (age_ms.max(0) / 1000) as u64,
            })
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(Skipped {
                partition: name.clone(),
                reason,
            }),
            None => eligible.push((name, l.small_files)),
        }
    }
    eligible.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut chosen = Vec::new();
    for (name, small_files) in eligible {
        if chosen.len() < rules.max_partitions.max(1) {
            chosen.push(name.to_string());
        } else {
            skipped.push(Skipped {
                partition: name.to_string(),
                reason: SkipReason::OverLimit { small_files },
            });
        }
    }
    Selection { chosen, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn listed(small_files: u64, changed_ms: i64) -> Listed {
        Listed {
            files: small_files + 1,
            small_files,
            bytes: 1000,
            newest_change_ms: changed_ms,
        }
    }

    #[test]
    fn most_small_files_first_hot_and_compact_partitions_left_alone() {
        let now = 100 * HOUR_MS;
        let mut parts: Vec<(String, Listed)> = (0..40)
            .map(|i| (format!("dt={i:02}"), listed(1, now - 50 * HOUR_MS)))
            .collect();
        for (i, small) in [(3, 10), (7, 30), (11, 20), (20, 5)] {
            parts[i].1 = listed(small, now - 2 * HOUR_MS);
        }
        // Many small files, but written a minute ago.
        parts[30].1 = listed(99, now - 60_000);
        let s = select_partitions(&parts, &SelectionRules::default(), now);
        assert_eq!(s.chosen, ["dt=07", "dt=11", "dt=03", "dt=20"]);
        assert_eq!(s.skipped.len(), 36);
        let hot = s.skipped.iter().find(|x| x.partition == "dt=30").unwrap();
        assert_eq!(
            hot.reason,
            SkipReason::Hot {
                changed_seconds_ago: 60
            }
        );
        assert!(s
            .skipped
            .iter()
            .filter(|x| x.partition != "dt=30")
            .all(|x| x.reason == SkipReason::FewSmallFiles { small_files: 1 }));
        assert_eq!(s.work_left(), 0);
        assert!(
            s.summary().starts_with("chose 4 partitions"),
            "{}",
            s.summary()
        );
    }

    #[test]
    fn the_limit_leaves_the_rest_for_the_next_task() {
        let now = 100 * HOUR_MS;
        let parts: Vec<(String, Listed)> = (0..5)
            .map(|i| (format!("p={i}"), listed(2 + i, 0)))
            .collect();
        let rules = SelectionRules {
            max_partitions: 2,
            ..Default::default()
        };
        let s = select_partitions(&parts, &rules, now);
        assert_eq!(s.chosen, ["p=4", "p=3"]);
        assert_eq!(s.work_left(), 3);
        // At the boundaries: exactly min_small_files and exactly min_partition_age qualify.
        let edge = [("e=1".to_string(), listed(2, now - HOUR_MS))];
        assert_eq!(
            select_partitions(&edge, &SelectionRules::default(), now).chosen,
            ["e=1"]
        );
        let young = [("e=1".to_string(), listed(2, now - HOUR_MS + 1))];
        assert!(select_partitions(&young, &SelectionRules::default(), now)
            .chosen
            .is_empty());
    }
}

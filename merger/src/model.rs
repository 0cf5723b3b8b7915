//! Tasks, their states and the audit log: plain data, stored as JSON in redb.

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    Auto,
    Concatenate,
    InsertOverwrite,
    Compact,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Concatenate => "concatenate",
            Strategy::InsertOverwrite => "insert_overwrite",
            Strategy::Compact => "compact",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    WaitingWindow,
    Running,
    Verifying,
    Succeeded,
    Failed,
    Cancelled,
    RolledBack,
    Interrupted,
}

pub const ALL_STATES: [TaskState; 9] = [
    TaskState::Pending,
    TaskState::WaitingWindow,
    TaskState::Running,
    TaskState::Verifying,
    TaskState::Succeeded,
    TaskState::Failed,
    TaskState::Cancelled,
    TaskState::RolledBack,
    TaskState::Interrupted,
];

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::WaitingWindow => "waiting_window",
            TaskState::Running => "running",
            TaskState::Verifying => "verifying",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::RolledBack => "rolled_back",
            TaskState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        ALL_STATES.into_iter().find(|t| t.as_str() == s)
    }

    /// A finished task: it holds no table any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled | TaskState::RolledBack
        )
    }

    /// Waiting for the scheduler.
    pub fn is_queued(self) -> bool {
        matches!(self, TaskState::Pending | TaskState::WaitingWindow)
    }
}

/// What a task merges. Names are the metastore's own spelling (validated before queuing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    pub cluster: String,
    pub database: String,
    pub table: String,
    /// `k=v/k2=v2`, escaped as the metastore stores it.
    #[serde(default)]
    pub partition: Option<String>,
}

impl Target {
    /// The key of the target in the active-task index: the table's key followed by the
    /// partition (empty for the whole table), so that every key of a table shares its prefix.
    pub fn key(&self) -> String {
        format!(
            "{}{}",
            self.table_key(),
            self.partition.as_deref().unwrap_or("")
        )
    }

    /// The prefix shared by the keys of the table and of each of its partitions.
    pub fn table_key(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}",
            self.cluster, self.database, self.table
        )
    }

    /// Whether two targets may touch the same data: the same partition, or one of them is
    /// the whole table. At most one active task holds overlapping targets.
    pub fn overlaps(&self, other: &Target) -> bool {
        self.cluster == other.cluster
            && self.database == other.database
            && self.table == other.table
            && match (&self.partition, &other.partition) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    pub target: Target,
    /// Requested strategy; `resolved_strategy` is what validation chose.
    pub strategy: Strategy,
    pub resolved_strategy: Strategy,
    pub dry_run: bool,
    pub state: TaskState,
    pub created_at: String,
    pub updated_at: String,
    /// Who asked: a token name, and the alert fingerprint for webhooks.
    pub requested_by: String,
    #[serde(default)]
    pub alert_fingerprint: Option<String>,
    #[serde(default)]
    pub retry_of: Option<u64>,
    #[serde(default)]
    pub retried_by: Option<u64>,
    /// Why the task ended as it did.
    #[serde(default)]
    pub reason: Option<String>,
    /// The last engine step recorded, for recovery after a crash.
    #[serde(default)]
    pub step: Option<String>,
    #[serde(default)]
    pub statements: Vec<String>,
    #[serde(default)]
    pub files_before: Option<u64>,
    #[serde(default)]
    pub files_after: Option<u64>,
    #[serde(default)]
    pub bytes_rewritten: Option<u64>,
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    #[serde(default)]
    pub log: Vec<LogLine>,
    /// The safe swap's plan and where each unit stands: what recovery after a crash reads.
    #[serde(default)]
    pub swap: Option<SwapProgress>,
    /// For a table-level task of a partitioned table: the partitions chosen and why the
    /// others were left alone.
    #[serde(default)]
    pub selection: Option<crate::plan::select::Selection>,
}

/// Where one unit (partition, or the unpartitioned table) of a safe swap stands. Each stage is
/// committed before the step it names starts, so after a crash the stage tells what may have
/// happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwapStage {
    Planned,
    /// The staging copy is being written; the table is untouched.
    Writing,
    Written,
    Verified,
    /// The location update was sent; whether it happened is read back from the metastore.
    Switching,
    /// Readers see the merged copy; the old directory is kept for the rollback window.
    Switched,
    Finished,
    RolledBack,
}

impl SwapStage {
    pub fn as_str(self) -> &'static str {
        match self {
            SwapStage::Planned => "planned",
            SwapStage::Writing => "writing",
            SwapStage::Written => "written",
            SwapStage::Verified => "verified",
            SwapStage::Switching => "switching",
            SwapStage::Switched => "switched",
            SwapStage::Finished => "finished",
            SwapStage::RolledBack => "rolled_back",
        }
    }
}

/// Rows and a checksum over every column of a unit, read through the table's serde.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub rows: i64,
    pub checksum: Option<i64>,
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.checksum {
            Some(c) => write!(f, "{} rows, checksum {c}", self.rows),
            None => write!(f, "{} rows", self.rows),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitProgress {
    pub stage: SwapStage,
    #[serde(default)]
    pub source: Option<Fingerprint>,
    #[serde(default)]
    pub files_before: Option<u64>,
    #[serde(default)]
    pub bytes_before: Option<u64>,
    #[serde(default)]
    pub files_after: Option<u64>,
    #[serde(default)]
    pub bytes_after: Option<u64>,
    /// Digest of the old directory's files when the merge began: a writer that adds files
    /// there during the merge changes it, and the merge is rolled back.
    #[serde(default)]
    pub old_digest: Option<String>,
    /// Digest of the merged copy when it was verified: a manual rollback is refused once
    /// files were written into it.
    #[serde(default)]
    pub new_digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapProgress {
    pub plan: crate::plan::SwapPlan,
    pub units: Vec<UnitProgress>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    pub at: String,
    /// Token name, or `-` when the caller was not authenticated.
    pub who: String,
    pub peer: String,
    pub action: String,
    pub outcome: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
